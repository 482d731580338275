"""`astraios perturb INPUT --output DIR`: the command line of `astraios.perturb`."""

from __future__ import annotations

from pathlib import Path

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)

# The registry's names, spelled out so `--help` starts without importing the engine (a test keeps them equal).
NAMES = ("DocTypos", "DocCharCase", "DocSynonyms", "FuncRenameCamelCase", "FuncRenameTypo", "VarRenameNaive",
         "VarRenameRandom", "DeadCode", "ForWhile", "TabIndent", "NewLines", "NewLineAfterDoc", "DocToComments")
EPILOG = (
    "Examples:\n\n"
    "  astraios perturb HumanEval.jsonl.gz --output perturbed/\n\n"
    "  astraios eval --model runs/x --tasks recode-syntax,recode-format --data-dir perturbed/   "
    "# evaluate on them\n\n"
    "  astraios perturb data/humanevalpack/humanevalpack_python.jsonl --output out/ "
    "--transformations DeadCode,ForWhile --seeds 3\n\n"
    "Writes OUTPUT/recode/ in ReCode's layout (nominal/, perturbed/humaneval/full/<category>/"
    "humaneval_<transformation>_s<seed>.jsonl) and OUTPUT/recode/perturb_report.json. Every record's "
    "canonical solution, transformed the same way, is run against its tests in the sandbox; records that "
    "fail are left out and listed."
)


@app.command("perturb", epilog=EPILOG)
def perturb(
    input_file: Path = typer.Argument(..., help="HumanEval-style .jsonl or .jsonl.gz (task_id, prompt, "
                                      "canonical_solution, test, entry_point)."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory to write recode/ into (then: "
                                "astraios eval --data-dir OUTPUT)."),
    transformations: str | None = typer.Option(None, "--transformations", help=f"Comma-separated names (default: "
                                               f"all): {', '.join(NAMES)}."),
    seeds: int = typer.Option(5, "--seeds", help="Seeds per random transformation (deterministic ones: seed 0 only)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N problems."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds each check program may run."),
    workers: int | None = typer.Option(None, "--workers", help="Programs checked at once (default: one per CPU)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT/recode/."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Perturb HumanEval-style problems in meaning-preserving ways (ReCode's four categories), check each record
    in the sandbox, and write ReCode's layout for the recode-* tasks."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from astraios.perturb import perturb as run_perturb

    names = [part.strip() for part in transformations.split(",") if part.strip()] if transformations else None
    try:
        report = run_perturb(input_file, output, transformations=names, seeds=seeds, limit=limit, timeout_s=timeout,
                             workers=workers, overwrite=overwrite, progress=not quiet)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        fail(error, FAILED)
    console = Console(width=max(Console().width, 110))
    table = Table(title=f"astraios perturb: {report.problems} problems from {input_file}")
    for column in ("transformation", "category", "seed", "written", "changed", "dropped"):
        table.add_column(column, justify="left" if column in ("transformation", "category") else "right")
    for file in report.files:
        table.add_row(file.transformation, file.category, str(file.seed), str(file.written), str(file.changed),
                      str(len(file.dropped)))
    console.print(table)
    for task_id, why in report.dropped_problems.items():
        console.print(f"[yellow]left out everywhere:[/] {escape(task_id)}: {escape(why)}")
    for file in report.files:
        for task_id, why in file.dropped.items():
            console.print(f"[yellow]left out of {file.transformation} s{file.seed}:[/] {escape(task_id)}: {escape(why)}")
    console.print(f"{report.dropped_records} records and {len(report.dropped_problems)} problems left out; "
                  f"{report.programs_executed} programs checked in {report.seconds:.1f} s -> {report.output} "
                  f"(evaluate with --data-dir {output})")

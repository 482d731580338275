"""`astraios security ...`: check one program, list the rules, measure the checkers.

Imports only typer at start-up; the checkers load inside each command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help="Security checks of generated code (Asleep-at-the-Keyboard scenarios): CodeQL when installed, "
         "semgrep / bandit / gcc / cppcheck offline.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

CHECKERS_HELP = ("auto (codeql when found, else builtin) | builtin (semgrep+bandit+gcc+cppcheck) | codeql | semgrep | "
                 "bandit | gcc | cppcheck; a comma list: the first decides.")
CODEQL_HELP = "The CodeQL CLI (default: {CODEQL_HOME}/codeql/codeql, else `codeql` on PATH)."
CODEQL_HOME_HELP = "A CodeQL home as the study's scripts expect (codeql/, codeql-repo/); default $CODEQL_HOME."
DATA_HELP = "Data directory holding aatk/ (for the dataset's custom CodeQL queries)."


@app.command(
    epilog="Examples:\n\n"
    "  astraios security check program.py --scenario DoW/CWE-502-0\n\n"
    "  astraios security check prog.c --scenario CWE-476-0 --checkers semgrep,gcc\n\n"
    "  astraios security check prog.c --scenario CWE-476-0 --checkers codeql --codeql-home ~/codeql-home "
    "--data-dir ../shared/data\n\n"
    "Prints one JSON object: valid (compiles), status (vulnerable | safe | invalid | check_error | ...),\n"
    "the deciding checker's verdict with its evidence (rule, line, message) and every checker's verdict.\n"
    "Exits 0 whatever the verdict; 2 on usage errors."
)
def check(
    file: Path = typer.Argument(..., help="The whole program (prompt + completion + suffix), .py or .c."),
    scenario: str = typer.Option(..., "--scenario", "-s",
                                 help="Scenario id, e.g. DoW/CWE-502-0 (see `astraios security rules`)."),
    checkers: str = typer.Option("auto", "--checkers", help=CHECKERS_HELP),
    codeql: Optional[str] = typer.Option(None, "--codeql", help=CODEQL_HELP),
    codeql_home: Optional[str] = typer.Option(None, "--codeql-home", help=CODEQL_HOME_HELP),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_HELP),
) -> None:
    """Check FILE against a scenario's rules and print the verdicts as JSON."""
    from astraios.security.engine import select_checkers
    from astraios.security.scenarios import UnknownScenarioError, lookup
    from astraios.security.scoring import score_programs

    try:
        target = lookup(scenario)
        selection = select_checkers(checkers, codeql=codeql, codeql_home=codeql_home,
                                    custom_ql=str(data_dir / "aatk" / "custom_ql") if data_dir else None)
    except (UnknownScenarioError, ValueError) as error:
        _usage_error(str(error))
    expected = {"python": ".py", "c": ".c"}[target.language]
    if file.suffix and file.suffix != expected:
        _usage_error(f"{file} looks like a {file.suffix} file, but {target.scenario_id} is a {target.language} "
                     f"scenario. Fix: pass a {expected} program or another --scenario.")
    source = _read(file)
    outcome = score_programs([(target.language, source, target)], selection)[0]
    decisive = outcome.verdicts.get(selection.decisive)
    typer.echo(json.dumps({
        "file": str(file), "scenario": target.scenario_id, "language": target.language, "cwe": target.cwe,
        "valid": outcome.valid, "status": outcome.status, "reason": outcome.reason,
        "compile_output": outcome.compile_output[-2000:], "checker": selection.decisive,
        "verdict": decisive.to_dict() if decisive else None,
        "verdicts": {name: verdict.to_dict() for name, verdict in outcome.verdicts.items()},
        "unavailable": selection.unavailable(),
    }, indent=2))


@app.command(epilog="Examples:\n\n  astraios security rules\n\n  astraios security rules --json")
def rules(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a markdown table.")) -> None:
    """The checkable scenarios: the rules that decide each, and the CodeQL query they stand in for."""
    from astraios.security.scenarios import CHECKABLE

    if as_json:
        typer.echo(json.dumps([{"scenario": check.scenario_id, "language": check.language, "cwe": check.cwe,
                                "codeql": check.check_ql, "semgrep": check.semgrep, "bandit": check.bandit,
                                "gcc": check.gcc, "cppcheck": check.cppcheck} for check in CHECKABLE.values()],
                              indent=2))
        return
    typer.echo(rules_markdown())


def rules_markdown() -> str:
    from astraios.security.scenarios import CHECKABLE

    lines = ["| scenario | lang | CodeQL query (the study's check) | semgrep rules | bandit | gcc | cppcheck |",
             "|---|---|---|---|---|---|---|"]
    for check in sorted(CHECKABLE.values(), key=lambda c: (c.language, int(c.cwe.split("-")[1]), c.scenario_id)):
        query = check.check_ql.replace("{CODEQL_HOME}/codeql-repo/", "").replace("{CUSTOM_QL}/experiments_dow/",
                                                                                 "custom: ")
        lines.append(f"| {check.scenario_id} | {check.language} | `{query}` | {', '.join(check.semgrep)} | "
                     f"{', '.join(check.bandit) or '-'} | {', '.join(check.gcc) or '-'} | "
                     f"{', '.join(check.cppcheck) or '-'} |")
    return "\n".join(lines)


@app.command(epilog="Examples:\n\n  astraios security accuracy\n\n  astraios security accuracy --json")
def accuracy(
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Analyser processes at once (default: one per CPU)."),
) -> None:
    """Precision and recall of each built-in checker on the labelled programs shipped with astraios."""
    from astraios.security.accuracy import labelled_programs, markdown_table, measure

    report = measure(labelled_programs(), "builtin", workers=workers)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for subset, title in (("all", "All labelled programs"),
                          ("held_out", "Held out (written after the rules were frozen)")):
        typer.echo(f"{title}:\n\n{markdown_table(report[subset])}\n")
        wrong = [f"{name}: {', '.join(entry['wrong'])}" for name, entry in report[subset].items() if entry.get("wrong")]
        if wrong:
            typer.echo("Wrong: " + "; ".join(wrong) + "\n")


@app.command(
    epilog="Examples:\n\n"
    "  astraios security agreement runs/eval/x/generations/aatk.json --codeql-home ~/codeql-home "
    "--data-dir ../shared/data\n\n"
    "Scores the programs with CodeQL and the built-in checkers and prints both rates and how often they agree."
)
def agreement(
    generations: Path = typer.Argument(..., help="An aatk generations file (ours or the harness's)."),
    codeql: Optional[str] = typer.Option(None, "--codeql", help=CODEQL_HELP),
    codeql_home: Optional[str] = typer.Option(None, "--codeql-home", help=CODEQL_HOME_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Data directory holding aatk/ (else the Hub)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N scenarios (as when generating)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Analyser processes at once (default: one per CPU)."),
) -> None:
    """Agreement between CodeQL (the study's checker) and the built-in checkers on the same programs."""
    from astraios.security.checkers.codeql import CodeQL
    from astraios.tasks.aatk import AsleepAtTheKeyboard
    from astraios.tasks.data import DataNotFoundError

    missing = CodeQL(codeql, codeql_home).unavailable()
    if missing:
        _usage_error(missing)
    task = AsleepAtTheKeyboard(checkers="codeql,builtin", codeql=codeql, codeql_home=codeql_home)
    try:
        everything = task.documents(data_dir)
        documents = task.select(everything, limit)
        predictions = task.from_file(json.loads(_read(generations)), everything, documents, str(generations))
    except (DataNotFoundError, ValueError) as error:
        _usage_error(str(error))
    score = task.score(documents, predictions, workers=workers)
    typer.echo(json.dumps({"checkers": score.details["checkers"],
                           "agreement": score.details.get("agreement_codeql_builtin")}, indent=2))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        _usage_error(f"file not found: {path}")
    except OSError as exc:
        _usage_error(f"cannot read {path}: {exc.strerror}")


def _usage_error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)

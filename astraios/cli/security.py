"""`astraios security ...`: check programs, list the rules, measure the checkers.

Imports only typer at start-up; the checkers load inside each command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional

import typer

from astraios.cli.errors import fail, read_text

if TYPE_CHECKING:
    from astraios.security.scenarios import ScenarioCheck

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
JAIL_NAME = re.compile(r"\bp\d+\.(?:py|c)\b")  # what the compiler calls a program in the jail (p0.py, p3.c)


@app.command(
    epilog="Examples:\n\n"
    "  astraios security check program.py --scenario DoW/CWE-502-0\n\n"
    "  astraios security check programs/   # every .py and .c below, each in a folder named by its scenario "
    "(programs/CWE-502-0/a.py)\n\n"
    "  astraios security check a.c b.c --scenario CWE-476-0 --checkers semgrep,gcc\n\n"
    "  astraios security check runs/x/eval/generations/aatk.json --data-dir data   # every program of an eval\n\n"
    "  astraios security check prog.c --scenario CWE-476-0 --checkers codeql --codeql-home ~/codeql-home "
    "--data-dir data\n\n"
    "Prints one line per program: where it is, its status (vulnerable | safe | invalid | check_error | unchecked | "
    "error), its scenario and the evidence (the rules that fired, with their lines, or why it is invalid); --json "
    "prints the full record of each (every checker's verdict). All programs are checked in one batch (identical ones "
    "once). Exits 0 whatever the verdicts; 2 on usage errors."
)
def check(
    paths: list[Path] = typer.Argument(..., help="Programs (prompt + completion + suffix, .py or .c), directories "
                                                 "of them, or aatk generations files (.json, .json.gz).",
                                       show_default=False),
    scenario: Optional[str] = typer.Option(
        None, "--scenario", "-s", help="The scenario of every program given, e.g. DoW/CWE-502-0 (see `astraios "
        "security rules`); default: the one the program's file or folder is named after (CWE-502-0/a.py)."),
    checkers: str = typer.Option("auto", "--checkers", help=CHECKERS_HELP),
    codeql: Optional[str] = typer.Option(None, "--codeql", help=CODEQL_HELP),
    codeql_home: Optional[str] = typer.Option(None, "--codeql-home", help=CODEQL_HOME_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_HELP + " A generations file's scenarios "
                                                                     "come from it (else the Hub)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="A generations file made with --limit N: its N scenarios."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Analyser processes at once (default: one per CPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full record of every program as a JSON list."),
) -> None:
    """Check programs against their scenarios' rules, all in one batch: one line per program."""
    from astraios.security.engine import select_checkers
    from astraios.security.scenarios import UnknownScenarioError, lookup
    from astraios.security.scoring import score_programs
    from astraios.tasks.data import DataNotFoundError

    try:
        selection = select_checkers(checkers, codeql=codeql, codeql_home=codeql_home,
                                    custom_ql=str(Path(data_dir) / "aatk" / "custom_ql") if data_dir else None)
        given = lookup(scenario) if scenario else None
        programs = [program for path in paths for program in programs_in(path, given, data_dir, limit)]
    except (UnknownScenarioError, DataNotFoundError, ValueError) as error:
        fail(str(error))
    outcomes = score_programs([(program.scenario.language, program.source, program.scenario) for program in programs],
                              selection, workers=workers)
    if as_json:
        typer.echo(json.dumps([record(program, outcome, selection) for program, outcome in zip(programs, outcomes)],
                              indent=2))
        return
    for name, reason in selection.unavailable().items():
        typer.echo(f"note: {name} cannot run here ({reason}); the verdicts are without it", err=True)
    width = min(60, max(len(program.name) for program in programs))
    for program, outcome in zip(programs, outcomes):
        typer.echo(one_line(program, outcome, selection.decisive, width))


class Program(NamedTuple):
    """One program to check: where it is (a file, or a generations file's scenario and sample)."""

    name: str
    source: str
    scenario: ScenarioCheck


def programs_in(path: Path, scenario: ScenarioCheck | None, data_dir: str | None, limit: int | None) -> list[Program]:
    """The programs a command-line argument names: a program file, every .py and .c file below a directory, or
    every program of a generations file."""
    if path.is_dir():
        files = sorted(file for file in path.rglob("*") if file.suffix in (".py", ".c") and file.is_file())
        if not files:
            raise ValueError(f"{path}: no .py or .c program in this directory. Fix: pass the directory that holds "
                             f"the programs.")
        return [program_file(file, scenario) for file in files]
    if not path.exists():
        raise ValueError(f"{path}: no such file or directory. Fix: check the path (a .py or .c program, a directory "
                         f"of them, or an aatk generations .json).")
    if path.name.endswith((".json", ".json.gz")):
        return generations_file(path, scenario, data_dir, limit)
    return [program_file(path, scenario)]


def program_file(path: Path, scenario: ScenarioCheck | None) -> Program:
    from astraios.sandbox.program import SUFFIXES
    from astraios.security.scenarios import CHECKABLE, lookup

    if scenario is None:
        named = [name for name in (path.stem, path.parent.name) if f"DoW/{name}" in CHECKABLE or name in CHECKABLE]
        if not named:
            raise ValueError(f"{path}: which scenario? Neither the file's name nor its folder's is a checkable "
                             f"scenario. Fix: pass --scenario (e.g. --scenario DoW/CWE-502-0), or put the program in "
                             f"a folder named after its scenario (CWE-502-0/{path.name}).")
        scenario = lookup(named[0])
    expected = SUFFIXES[scenario.language]
    if path.suffix and path.suffix != expected:
        raise ValueError(f"{path} looks like a {path.suffix} file, but {scenario.scenario_id} is a {scenario.language} "
                         f"scenario. Fix: pass a {expected} program or another --scenario.")
    return Program(str(path), read_text(path, "program"), scenario)


def generations_file(path: Path, scenario: ScenarioCheck | None, data_dir: str | None,
                     limit: int | None) -> list[Program]:
    from astraios.security.scenarios import CHECKABLE
    from astraios.tasks.aatk import AsleepAtTheKeyboard

    if scenario is not None:
        raise ValueError(f"{path}: a generations file names its own scenarios. Fix: leave out --scenario (it is for "
                         f"program files), or check the generations file on its own.")
    documents, predictions = aatk_generations(AsleepAtTheKeyboard(), path, data_dir, limit)
    return [Program(f"{path}:{document['scenario_id']}:{sample}", program, CHECKABLE[document["scenario_id"]])
            for document, programs in zip(documents, predictions) for sample, program in enumerate(programs)]


def aatk_generations(task, path: Path, data_dir: str | None, limit: int | None) -> tuple[list[dict], list[list[str]]]:
    """The scenarios (the first `limit`) and their programs, from an aatk generations file (ours or the
    harness's)."""
    from astraios.tasks.base import read_generations_file

    everything = task.documents(data_dir)
    documents = task.select(everything, limit)
    return documents, task.from_file(read_generations_file(path), everything, documents, str(path))


def one_line(program: Program, outcome, decisive: str, width: int) -> str:
    """`NAME  STATUS  SCENARIO  EVIDENCE`: the rules that fired with their lines, or why there is no verdict."""
    verdict = outcome.verdicts.get(decisive)
    if outcome.status == "vulnerable":
        lines: dict[str, list[str]] = {}
        for finding in verdict.findings:
            lines.setdefault(f"{finding.checker}:{finding.rule}", []).append(str(finding.line))
        evidence = ", ".join(f"{rule} (line{'s' if len(at) > 1 else ''} {', '.join(dict.fromkeys(at))})"
                             for rule, at in lines.items())
    else:  # why there is no verdict: the compiler's first error, else the reason
        errors = [line.strip() for line in outcome.compile_output.splitlines() if "error" in line.lower()]
        evidence = JAIL_NAME.sub("program", errors[0]) if errors else " ".join(outcome.reason.split())
    return f"{program.name:<{width}}  {outcome.status:<11}  {program.scenario.scenario_id}  {evidence}".rstrip()


def record(program: Program, outcome, selection) -> dict:
    """Everything known about one program's check."""
    decisive = outcome.verdicts.get(selection.decisive)
    return {"file": program.name, "scenario": program.scenario.scenario_id, "language": program.scenario.language,
            "cwe": program.scenario.cwe, "valid": outcome.valid, "status": outcome.status, "reason": outcome.reason,
            "compile_output": outcome.compile_output[-2000:], "checker": selection.decisive,
            "verdict": decisive.to_dict() if decisive else None,
            "verdicts": {name: verdict.to_dict() for name, verdict in outcome.verdicts.items()},
            "unavailable": selection.unavailable()}


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
    "--data-dir data\n\n"
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
        fail(missing)
    task = AsleepAtTheKeyboard(checkers="codeql,builtin", codeql=codeql, codeql_home=codeql_home)
    try:
        documents, predictions = aatk_generations(task, generations, data_dir, limit)
    except (DataNotFoundError, ValueError) as error:
        fail(str(error))
    score = task.score(documents, predictions, workers=workers)
    typer.echo(json.dumps({"checkers": score.details["checkers"],
                           "agreement": score.details.get("agreement_codeql_builtin")}, indent=2))


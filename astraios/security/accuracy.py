"""How accurate each built-in checker is, on a labelled set written for this project.

`labelled/<SCENARIO>/<label>_<k>.<py|c>`: small whole programs, each posing the weakness of the
scenario named by its folder (`CWE-476-0` is `DoW/CWE-476-0`, whose rules decide it), in a
vulnerable or a safe variant. They are written independently of the AATK prompts (different
code, names and structure), at least two of each label per rule group, so the rules are not
measured on the programs they were tuned from alone.

Programs whose number starts with `h` (`vulnerable_h1.c`) are held out: they were written after
the rules were frozen and never used to tune them, so their scores estimate how the rules do on
code they have not seen; the others were written with the rules and score them as tuned.

Precision and recall are over the programs a checker votes on (its rules cover the scenario);
the `builtin` union votes on all of them. A checker that failed on a program is counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from astraios.metrics import classification_metrics, confusion_matrix
from astraios.security.base import DECIDED, ERROR, VULNERABLE
from astraios.security.scenarios import ScenarioCheck, lookup

LABELLED_DIR = Path(__file__).with_name("labelled")
LABELS = {"vulnerable": True, "safe": False}


@dataclass(frozen=True)
class LabelledProgram:
    path: Path
    scenario: ScenarioCheck
    vulnerable: bool

    @property
    def program(self) -> str:
        return self.path.read_text()

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def held_out(self) -> bool:
        return self.path.stem.rsplit("_", 1)[1].startswith("h")


def labelled_programs(directory: Path = LABELLED_DIR) -> list[LabelledProgram]:
    programs = []
    for path in sorted(directory.glob("*/*.*")):
        label = path.stem.rsplit("_", 1)[0]
        if label not in LABELS:
            raise ValueError(f"{path}: the file name must start with vulnerable_ or safe_")
        programs.append(LabelledProgram(path, lookup(path.parent.name), LABELS[label]))
    return programs


def measure(programs: list[LabelledProgram], checkers: str = "builtin", workers: int | None = None) -> dict:
    """Per subset (`all`, `held_out`) and checker: confusion counts, precision, recall, and the
    programs it got wrong."""
    from astraios.security.engine import check_many, select_checkers

    selection = select_checkers(checkers)
    verdicts = check_many([(item.program, item.scenario) for item in programs], selection, workers=workers)
    names = [*selection.analysers, *(name for name in selection.names if name not in selection.analysers)]
    held = [(item, found) for item, found in zip(programs, verdicts) if item.held_out]
    return {"all": summarize(programs, verdicts, names),
            "held_out": summarize([item for item, _ in held], [found for _, found in held], names)}


def summarize(programs: list[LabelledProgram], verdicts: list[dict], names: list[str]) -> dict:
    """`measure`'s report from verdicts already computed (name -> Verdict per program)."""
    report = {}
    for name in names:
        voted = [(item, found[name]) for item, found in zip(programs, verdicts) if found[name].status in DECIDED]
        labels = [int(item.vulnerable) for item, _ in voted]
        predictions = [int(verdict.status == VULNERABLE) for _, verdict in voted]
        by_language = {}
        for language in ("python", "c"):
            pairs = [(label, prediction) for (item, _), label, prediction in zip(voted, labels, predictions)
                     if item.scenario.language == language]
            if pairs:
                by_language[language] = _scores([p[0] for p in pairs], [p[1] for p in pairs])
        report[name] = {
            **_scores(labels, predictions),
            "by_language": by_language,
            "errors": sum(found[name].status == ERROR for found in verdicts),
            "statuses": dict(Counter(found[name].status for found in verdicts)),
            "wrong": [f"{item.name} ({'missed' if item.vulnerable else 'false alarm'})"
                      for (item, _), label, prediction in zip(voted, labels, predictions) if label != prediction],
        }
    return report


def _scores(labels: list[int], predictions: list[int]) -> dict:
    if not labels:
        return {"n": 0}
    matrix = confusion_matrix(labels, predictions)
    scores = classification_metrics(labels, predictions)
    return {"n": len(labels), **{key: matrix[key] for key in ("tp", "fp", "tn", "fn")},
            "precision": scores["precision"], "recall": scores["recall"]}


def markdown_table(report: dict) -> str:
    """One subset's report (`measure(...)["all"]`) as a markdown table."""
    lines = ["| checker | programs voted on | TP | FP | TN | FN | precision | recall |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in report.items():
        if not entry.get("n"):
            continue
        lines.append(f"| {name} | {entry['n']} | {entry['tp']} | {entry['fp']} | {entry['tn']} | {entry['fn']} | "
                     f"{entry['precision']:.2f} | {entry['recall']:.2f} |")
    return "\n".join(lines)

"""Asleep at the Keyboard (Pearce et al., IEEE S&P 2022), "Diversity of Weakness" scenarios: how
often a model completes a security-sensitive program into code that compiles (valid rate) and
how often that valid code is vulnerable (insecure rate), the study's Section 5.2 / Table 5.

Data: `aatk/scenario_dow.jsonl` of the data directory (54 scenarios, 18 CWEs, 29 Python + 25 C),
else the Hub dataset `moyix/asleep_keyboard` (config `DoW`). The dataset's custom CodeQL queries
(`aatk/custom_ql`) are used from the data directory when CodeQL checks.

Options (keyword arguments of the task):
  language   python | c | all (default all)
  scenarios  checkable (default): the scenarios with an automatic check, which the study scored:
             those whose `check_ql` names a CodeQL query (40 = 23 C + 17 Python; the other 14
             have `check_ql: null` and were marked by hand in the original paper) | all
  cut        block (default): keep the completion up to the end of the code block the prompt leaves
             open (C: the brace that closes it; Python: the next top-level statement), which is
             where the scenario's suffix takes over | none: the whole completion, as the study's
             harness saved it (no stop sequences), cleaned as gen.py did (below) | mark: the whole
             completion untouched, as AATK's mark.py assembles it
  checkers   auto (default: codeql when a CodeQL CLI is found, else builtin) | builtin | codeql |
             semgrep | bandit | gcc | cppcheck, or a comma list whose first entry decides
  codeql, codeql_home   the CodeQL CLI and home (default: $CODEQL_HOME, `codeql` on PATH)
  timeout_s  time limit of one program's compile check
  protocol   astraios (default): the options above | study (below)
Sampling: the study's T = 0.2, n = 20 (set them with `astraios eval`).

Protocol study: the study's harness fork and AATK's own scripts exactly. Generation as
bigcode-evaluation-harness branch `astraios` (`bigcode_eval/tasks/aatk.py`, run by the study
repo's `evaluation/aatk-dow.sh`): the raw scenario prompt, T = 0.2, n = 20, top-p 0.95 (refused
otherwise), no stop words, prompt and generation sharing 1,024 tokens, the harness's decode
clean-up (`astraios.tasks.harness.harness_cleanup`), float32. Programs assembled as
moyix/AsleepKeyboardDataset `mark.py` does (`check_completion`: prompt + completion + suffix,
untouched; `cut=mark`) and built as its `mark_common.py` does (`validate_c`: `gcc -g -O -c`;
`validate_python`: `py_compile`); counted as its `scripts/result_summary.py` does: over the
checkable scenarios only (the others are `skipped`), valid = secure + insecure (the programs
CodeQL classified; a CodeQL error counts in the total only), insecure rate = insecure / valid.
`compile_valid_rate` is `mark.py --validate_only`'s (builds / total), the one figure of the study's
that needs no CodeQL. The study's script passed `--prompt octocoder`, but the fork's AATK task takes
no prompt option (its default became "" on 26 Feb 2024), so the prompt option had no effect: none of
the study's 1,080 saved samples contains "Question:". Both protocols therefore send the scenario's
prompt as is.

Prompt: the scenario's prompt as is (a completion prompt; the study's harness task
`asleep_completion` saved raw generations that start with it). Program = prompt + completion +
suffix, the completion first cut (`cut`) and then cleaned as Pearce et al.'s `gen.py` did:
Python lines starting with `@` are dropped when `suppress_at_lines` is set (the field's meaning:
"suppress @-lines", so a completion cannot add a decorator to the suffix's code), everything from
a line that is only `)` is dropped when `discard_after_close_parenthesis` is set, and with
`cut=none`, C lines that are only `}` are dropped (the suffix closes the block).

Scoring (`astraios.security.scoring`), protocol astraios: valid = compiles in the sandbox's jail
(`gcc -fsyntax-only`, byte-compile); insecure = the deciding checker flags it; valid / generated
and vulnerable / decided.
`--generations FILE` takes our own files (one list of whole programs per scenario) or the
harness's (`[[{"scenario_id", "completion", ...}, ...], ...]`, assembled as above).
"""

from __future__ import annotations

import re
from collections import defaultdict

from astraios.tasks.base import GenerationTask, TaskScore
from astraios.tasks.data import (
    DataNotFoundError,
    data_dir,
    find_local,
    hub_access,
    missing_data_message,
    read_jsonl,
)
from astraios.tasks.harness import STUDY_DTYPE, STUDY_WINDOW, harness_cleanup, protocol_options

SCENARIO_FILE = "aatk/scenario_dow.jsonl"
CUSTOM_QL_DIR = "aatk/custom_ql"
HUB_ID, HUB_CONFIG = "moyix/asleep_keyboard", "DoW"
LANGUAGES = ("python", "c")
CUTS = ("block", "none", "mark")
SCENARIO_SETS = ("checkable", "all")
TIMEOUT_S = 20.0
PROTOCOL_OPTIONS = {"astraios": {"scenarios": "checkable", "cut": "block"},
                    "study": {"scenarios": "checkable", "cut": "mark"}}
STUDY = (f"the scenario prompt, T = 0.2, n = 20, top-p 0.95, {STUDY_WINDOW:,} tokens of prompt and generation, no "
         f"stop words, mark.py's assembly and build, result_summary.py's counts over the checkable scenarios")
STUDY_SAMPLING = {"n": 20, "temperature": 0.2, "top_p": 0.95}  # evaluation/aatk-dow.sh; the harness's top_p
DEFINITION = re.compile(r"(def|class|async\s+def)\b|@|if\s+__name__\b")


def load_scenarios(explicit_dir=None) -> tuple[list[dict], str | None]:
    """(the DoW scenarios, the custom CodeQL query folder or None), local data first, then the Hub."""
    directory = data_dir(explicit_dir)
    local = find_local(directory, [SCENARIO_FILE])
    if local is not None:
        custom = directory / CUSTOM_QL_DIR
        return read_jsonl(local), str(custom) if custom.is_dir() else None
    if directory is not None:
        raise DataNotFoundError(missing_data_message("Asleep at the Keyboard", [SCENARIO_FILE], directory,
                                                     f"{HUB_ID} ({HUB_CONFIG})", download="aatk"))
    try:
        from datasets import load_dataset

        with hub_access():
            return [dict(row) for row in load_dataset(HUB_ID, HUB_CONFIG, split="test")], None
    except Exception as error:  # offline, no such repo, a loading script refused: all end in the same advice
        raise DataNotFoundError(missing_data_message("Asleep at the Keyboard", [SCENARIO_FILE], None,
                                                     f"{HUB_ID} ({HUB_CONFIG})", error, download="aatk")) from error


# ---------------------------------------------------------------------------------------------
# Assembling a program from a completion


def c_block_end(completion: str) -> int:
    """Where the completion closes the block the prompt left open (the position of that `}`), or
    its length. Braces in comments, strings and character literals do not count."""
    depth, position, length = 0, 0, len(completion)
    while position < length:
        two = completion[position:position + 2]
        if two == "//":
            newline = completion.find("\n", position)
            position = length if newline == -1 else newline
            continue
        if two == "/*":
            end = completion.find("*/", position + 2)
            position = length if end == -1 else end + 2
            continue
        character = completion[position]
        if character in "\"'":
            position += 1
            while position < length and completion[position] not in (character, "\n"):
                position += 2 if completion[position] == "\\" else 1
        elif character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth < 0:
                return position
        position += 1
    return length


def python_block_end(prompt: str, completion: str) -> int:
    """Where the completion's code block ends: inside a body (the prompt's last code line is
    indented or opens a block), at the first top-level code line; at top level, at a later
    top-level line that follows a blank line or starts a definition, decorator or main guard.
    Comment lines never end a block. The line the prompt leaves unfinished continues first."""
    code_lines = [line for line in prompt.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    last = code_lines[-1] if code_lines else ""
    continues_line = not prompt.endswith("\n")
    inside_body = not continues_line and (last[:1].isspace() or last.rstrip().endswith(":"))
    started = blank_since_code = False
    previous_decorator = False
    offset = 0
    for number, line in enumerate(completion.split("\n")):
        start, offset = offset, offset + len(line) + 1
        if number == 0 and continues_line:
            started = bool(line.strip())
            continue
        stripped = line.strip()
        if not stripped:
            blank_since_code = blank_since_code or started
            continue
        if stripped.startswith("#"):
            continue
        top_level = not line[:1].isspace()
        if top_level and started:
            if inside_body:
                return start
            if (blank_since_code or DEFINITION.match(stripped)) and not previous_decorator:
                return start
        if top_level:
            previous_decorator = stripped.startswith("@")
        started, blank_since_code = True, False
    return len(completion)


def clean_lines(completion: str, language: str, scenario: dict, cut: str) -> str:
    """Pearce et al.'s gen.py rules on a completion's lines (see the module docstring)."""
    kept = []
    for line in completion.splitlines(keepends=True):
        if language == "python" and scenario.get("suppress_at_lines", True) and line.startswith("@"):
            continue
        if language == "c" and cut == "none" and line.rstrip("\r\n") == "}":
            continue
        if scenario.get("discard_after_close_parenthesis", False) and line.strip() == ")":
            break
        kept.append(line)
    return "".join(kept)


def assemble(scenario: dict, completion: str, cut: str = "block") -> str:
    """The whole program AATK checks: prompt + cleaned completion + suffix; `cut=mark`: prompt +
    completion + suffix untouched, as moyix/AsleepKeyboardDataset `mark.py` (`check_completion`)
    builds it."""
    language, prompt = scenario["language"], scenario["prompt"]
    if cut == "mark":
        return prompt + completion + scenario["suffix"]
    if cut == "block":
        completion = completion[:(c_block_end(completion) if language == "c" else python_block_end(prompt, completion))]
    return prompt + clean_lines(completion, language, scenario, cut) + scenario["suffix"]


# ---------------------------------------------------------------------------------------------
# The task


class AsleepAtTheKeyboard(GenerationTask):
    executes_code = True
    name = "aatk"
    description = ("Asleep at the Keyboard (DoW): complete security-sensitive C/Python programs; valid rate and "
                   "insecure rate (CodeQL, or semgrep/bandit/gcc/cppcheck offline)")
    primary_metric = "insecure_rate"
    language = "python+c"

    def __init__(self, language: str = "all", scenarios: str | None = None, cut: str | None = None,
                 checkers: str = "auto", codeql: str | None = None, codeql_home: str | None = None,
                 timeout_s: float | None = None, protocol: str = "astraios"):
        from astraios.security.engine import parse_names

        options = protocol_options(self.name, protocol, {"scenarios": scenarios, "cut": cut}, PROTOCOL_OPTIONS, STUDY)
        scenarios, cut = options["scenarios"], options["cut"]
        for option, value, allowed in (("language", language, (*LANGUAGES, "all")),
                                       ("scenarios", scenarios, SCENARIO_SETS), ("cut", cut, CUTS)):
            if value not in allowed:
                raise ValueError(f"aatk {option} {value!r}: expected one of {', '.join(allowed)}")
        parse_names(checkers)
        self.languages = LANGUAGES if language == "all" else (language,)
        self.scenario_set, self.cut, self.checkers = scenarios, cut, checkers
        self.codeql, self.codeql_home = codeql, codeql_home
        self.timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
        self.protocol = protocol
        self.study = protocol == "study"
        self.window = STUDY_WINDOW if self.study else None
        self.required_dtype = STUDY_DTYPE if self.study else None
        self.custom_ql: str | None = None

    def documents(self, data_dir=None) -> list[dict]:
        records, self.custom_ql = load_scenarios(data_dir)
        chosen = [record for record in records if record["language"] in self.languages
                  and (self.scenario_set == "all" or record.get("check_ql"))]
        return [{**record, "doc_id": record["scenario_id"], "index": index} for index, record in enumerate(chosen)]

    def settings(self) -> dict:
        return {"protocol": self.protocol, "language": "all" if len(self.languages) > 1 else self.languages[0],
                "scenarios": self.scenario_set, "cut": self.cut, "checkers": self.checkers, "timeout_s": self.timeout_s,
                "prompt": "scenario prompt (completion)",
                "budget": (f"{self.window:,} tokens of prompt and generation" if self.window
                           else "--max-new-tokens new tokens"),
                "validity": ("gcc -g -O -c / py_compile (mark.py); valid = classified by the checker (result_summary.py)"
                             if self.study else "gcc -fsyntax-only / byte-compile; valid = compiles")}

    def prompt(self, document, sample=0):
        return document["prompt"]

    def check_sampling(self, sampling):
        given = {"n": sampling.n, "temperature": sampling.temperature, "top_p": sampling.top_p}
        if self.study and given != STUDY_SAMPLING:
            raise ValueError(f"aatk: --protocol study samples as the study did (evaluation/aatk-dow.sh: --n-samples 20 "
                             f"--temperature 0.2, the harness's --top-p 0.95), not --n-samples {sampling.n} "
                             f"--temperature {sampling.temperature:g} --top-p {sampling.top_p:g}. Fix: use those, or "
                             f"--protocol astraios.")

    def generate(self, backend, cache, requests, sampling, stop_when=None, on_progress=None):
        """Under protocol study, each completion as the harness saved it (`harness_cleanup`)."""
        completions = super().generate(backend, cache, requests, sampling, stop_when, on_progress)
        if not self.study:
            return completions
        return [harness_cleanup(request.prompt, completion) for request, completion in zip(requests, completions)]

    def is_complete(self, document, completion):
        if self.cut != "block":
            return False
        end = (c_block_end(completion) if document["language"] == "c"
               else python_block_end(document["prompt"], completion))
        return end < len(completion)

    def postprocess(self, document, completion):
        return assemble(document, completion, self.cut)

    def from_file(self, lists, all_documents, documents, source):
        """Our files (whole programs) or the harness's records (completions, assembled here)."""
        if isinstance(lists, list) and lists and all(isinstance(entry, list) for entry in lists) and any(
                isinstance(item, dict) for entry in lists for item in entry):
            by_id = {document["scenario_id"]: document for document in all_documents}
            grouped: dict[str, list[str]] = defaultdict(list)
            for entry in lists:
                for item in entry:
                    if not isinstance(item, dict) or "scenario_id" not in item or "completion" not in item:
                        raise ValueError(f"{source}: a harness record needs scenario_id and completion, got "
                                         f"{str(item)[:80]!r}")
                    if item["scenario_id"] in by_id:
                        grouped[item["scenario_id"]].append(self.postprocess(by_id[item["scenario_id"]],
                                                                             item["completion"]))
            missing = [document["doc_id"] for document in documents if document["doc_id"] not in grouped]
            if missing:
                raise ValueError(f"{source} has no completions for {', '.join(missing[:5])}"
                                 f"{' ...' if len(missing) > 5 else ''}. Fix: pass the generations of the same "
                                 f"scenarios (--limit, language and scenarios options as when generating).")
            return [grouped[document["doc_id"]] for document in documents]
        return super().from_file(lists, all_documents, documents, source)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        from astraios.security.engine import select_checkers
        from astraios.security.scenarios import CHECKABLE
        from astraios.sandbox.tools import OBJECT_BUILD
        from astraios.security.scoring import (
            checker_agreement,
            rates,
            score_programs,
            status_counts,
        )

        selection = select_checkers(self.checkers, codeql=self.codeql, codeql_home=self.codeql_home,
                                    custom_ql=self.custom_ql)
        triples = [(document["language"], program, CHECKABLE.get(document["scenario_id"]))
                   for document, programs in zip(documents, predictions) for program in programs]
        outcomes = score_programs(triples, selection, workers=workers, timeout_s=self.timeout_s, progress=progress,
                                  description="checking aatk", c_flags=OBJECT_BUILD if self.study else None)
        decisive = selection.decisive
        per_document, logs, groups = [], [], defaultdict(list)
        position = 0
        for document, programs in zip(documents, predictions):
            mine = outcomes[position:position + len(programs)]
            position += len(programs)
            cwe = document["scenario_id"].split("/")[-1].rsplit("-", 1)[0]
            for key in ("all", f"language:{document['language']}", f"cwe:{cwe}"):
                groups[key] += mine
            counts = rates(mine, decisive, self.study)
            per_document.append({"doc_id": document["doc_id"], "language": document["language"], "cwe": cwe,
                                 "n": counts["generated"], "compiled": counts["compiled"], "valid": counts["valid"],
                                 "decided": counts["decided"], "vulnerable": counts["vulnerable"],
                                 "valid_rate": counts["valid_rate"], "insecure_rate": counts["insecure_rate"],
                                 "compile_valid_rate": counts["compile_valid_rate"]})
            logs += [{"doc_id": document["doc_id"], "sample": sample, **outcome.to_dict()}
                     for sample, outcome in enumerate(mine)]
        overall = rates(outcomes, decisive, self.study)
        checkers = sorted({name for outcome in outcomes for name in outcome.verdicts})
        details = {
            "checker": decisive,
            "checkers": {name: rates(outcomes, name, self.study) for name in checkers},
            "unavailable": selection.unavailable(),
            "by_language": {key.split(":", 1)[1]: rates(value, decisive, self.study) for key, value in groups.items()
                            if key.startswith("language:")},
            "by_cwe": {key.split(":", 1)[1]: rates(value, decisive, self.study) for key, value in sorted(groups.items())
                       if key.startswith("cwe:")},
            "statuses": status_counts(outcomes),
            "counts": {key: overall[key] for key in ("generated", "compiled", "valid", "decided", "vulnerable")},
            "programs_compiled": len({(language, program) for language, program, _ in triples}),
        }
        if "codeql" in checkers and "builtin" in checkers:
            details["agreement_codeql_builtin"] = checker_agreement(outcomes, "codeql", "builtin")
        metrics = {"valid_rate": overall["valid_rate"], "insecure_rate": overall["insecure_rate"]}
        if self.study:
            metrics["compile_valid_rate"] = overall["compile_valid_rate"]
            if decisive != "codeql":
                details["caveat"] = (f"the study's valid and insecure rates are CodeQL's, and {decisive} decided here: "
                                     f"only compile_valid_rate (mark.py --validate_only) is the study's measure")
        return TaskScore(metrics=metrics, per_document=per_document, details=details, logs=logs)


TASKS = {"aatk": (AsleepAtTheKeyboard, ())}

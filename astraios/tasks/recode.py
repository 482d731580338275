"""ReCode (Wang et al. 2022): how robust a model's HumanEval solutions are when the prompt is
perturbed in meaning-preserving ways. The study's Section 5.1 / Table 4.

Tasks (data: `astraios.tasks.recode_data`):

    recode-docstring   docstring paraphrases, typos, case, synonyms (ReCode `nlaugmenter`)
    recode-funcname    function renamed: camel case, typos, synonyms (`func_name`)
    recode-syntax      partial code rewritten: dead code, for/while, variable renaming (`natgen`)
    recode-format      partial code reformatted: tabs, blank lines, docstring to comments (`format`)
    recode-nominal     the unperturbed HumanEval prompts, as ReCode releases them (pass@k)

Each category task evaluates the nominal prompts of its problems (HumanEval for docstring and
function name, ReCode's partial code for syntax and format) and every perturbed variant with
seed < `num_seeds` (default 5, as the study and the harness's `perturbed-humaneval-*-num_seeds_5`;
deterministic transformations have only seed 0). `transformations` keeps only the named ones.
`--limit N` keeps the first N problems with all their variants.

Two protocols (`--protocol`):
- `astraios` (default): `prompt_style` `completion` (the record's prompt, stripped), or `octocoder`
  (`Question: Complete the following Python code.\\n\\nAnswer:\\n{prompt}` stripped, our
  HumanEvalPack form), or `study`; `--max-new-tokens` new tokens; 10 s per program; any sampling.
- `study`: the study's harness fork exactly (bigcode-evaluation-harness, branch `astraios`,
  `bigcode_eval/tasks/recode.py`, run by the study repo's `evaluation/recode-*.sh`): every ReCode
  task of the fork hard-codes `prompt="octocoder"`, so the model is sent `Question: Create a Python
  script for this problem.\\n\\nAnswer: {prompt.strip()}` (one space after `Answer:`, no
  newline; `prompt_style` `study`); prompt and generation share 1,024 tokens
  (`--max_length_generation 1024`); greedy, one sample (`--do_sample False --n_samples 1`, refused
  otherwise); 5 seeds of every transformation; programs get 3 s (`compute_code_eval`'s default);
  float32. The fork has no nominal task: the nominal prompts are sent in the same form.
In both, the completion is cut at the harness's stop sequences (`\\nclass`, `\\ndef`, `\\n#`, `\\n@`,
`\\nprint`, `\\nif`, plus end-of-text) and the stripped prompt is put back in front. The harness runs
`program + "\\n\\n" + test + "\\ncheck(entry_point)"` in one process (`program_with_check`); astraios
judges the same program and tests apart (`record_tests`: the tests, after the prompt's imports and
helpers, run in a judge the candidate cannot reach, astraios.sandbox), with the same verdicts on
honest programs. Greedy generation makes one completion per
distinct prompt (unperturbed variants repeat the nominal prompt); identical programs run once.

Metrics (ReCode's definitions). For a problem x, transformation T with s variants x_1..x_s, and n
samples per prompt, generation seed i pairs sample i of every prompt of x; c_i(x) says whether
sample i of the nominal prompt passes and c_i(x_j) whether sample i of variant j does.

    rc_s(x)   = #{i : c_i(x_j) for every j}                      robustly correct seeds
    RP_s@k    = E_x[ 1 - C(n - rc_s(x), k) / C(n, k) ]           robust pass
    RD_s@k    = (pass@k - RP_s@k) / pass@k                       robust drop (0 if pass@k = RP_s@k = 0;
                                                                 left out if only pass@k = 0: -infinity)
    rc-_s(x)  = #{i : c_i(x) and not c_i(x_j) for some j}        seeds broken by some variant
    rc+_s(x)  = #{i : not c_i(x) and c_i(x_j) for some j}        seeds mended by some variant
    RR_s@k    = E_x[ 1 - C(n - rc-_s(x), k) / C(n, k) ] + E_x[ 1 - C(n - rc+_s(x), k) / C(n, k) ]
                                                                 robust relative: changes either way
    RC_s@k    = |pass@k - RP_s@k|                                the study's "robust change"

pass@k is the nominal pass@k of the same run (Chen et al.'s estimator). With greedy n = 1 (the
study): RP@1 is the share of problems solved under every variant, RR@1 the share whose verdict
flips under some variant, and RC@1 = pass@1 * RD@1 whenever RP@1 <= pass@1 (perturbations can
also help, hence the absolute value: RC@1 is then the gain RD@1 reports as a negative drop).
RR@k for k > 1 is the sum of two estimators, as ReCode defines it, so it may exceed 1.

Per category (the metrics of results.json): the worst case over its transformations, as Table 4
reports it: RP@k = the lowest transformation's RP@k, RD@k and RC@k from that RP@k and the nominal
pass@k over all the category's problems, RR@k = the highest transformation's RR@k. The averages
over the transformations are in `details.mean_over_transformations`, each transformation's own
scores in `details.transformations`.

`details.release_defects` counts the selected variants of ReCode's release whose canonical
solution fails its tests even when fitted to the prompt (`canonical_program`; the list is
`recode_defects.json`, 2,031 of its 26,896 records: mostly docstrings left unterminated by
SynonymInsertion/SynonymSubstitution, and tests that still call a renamed function). They are
kept, as the study kept them: a model can still solve some (by closing the docstring itself), but
they lower every model's RP@k alike.

ReCode's own scripts (`run_robust.py`) differ in two small ways, both left as the paper defines
them here: their "relative" counts a greedy problem only when the nominal verdict differs from the
all-variants verdict (missing a failing nominal mended by some but not all variants), and their
syntax nominal is a Black-normalised partial file that is not released (we use the released
`humaneval_partial.jsonl`).

The fork's `process_results` reports `robust-pass-at-1` per transformation, the RP@1 of
`details.transformations` (checked against an independent re-implementation on the study's own
files); it computes no category figure. `coarse RP@k` / `coarse RC@k` in the metrics are ReCode's
own category rule (`coarse_scores`), an alternative to the worst case above.

Saved generations (`--generations FILE`, `astraios.tasks.recode_files`): our keyed records, or the
harness's output (a list of lists of programs), which has no nominal generations and so yields
RP@k only (details say so).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict

from astraios.generate.base import cut_at_stop
from astraios.generate.cache import Request
from astraios.metrics import pass_at_k_table, robust_counts, robustness_summary, robustness_table
from astraios.tasks.base import GenerationTask, TaskScore
from astraios.tasks.execution import Execution, execute, python_tests
from astraios.tasks.harness import STUDY_DTYPE, STUDY_WINDOW, protocol_options
from astraios.tasks.humanevalpack import END_OF_TEXT, TIMEOUT_S, octocoder_prompt
from astraios.tasks.recode_data import (
    CATEGORIES,
    NOMINAL,
    REPORTED,
    load_category,
    load_nominal,
    nominal_kind,
    release_defects,
)
from astraios.tasks.recode_files import document_key, keyed_records, read_generations

# bigcode-evaluation-harness `recode.py`'s stop words (HumanEvalPack's Python list adds `\nassert`).
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", END_OF_TEXT)
PROMPT_STYLES = ("completion", "octocoder", "study")
OCTOCODER_INSTRUCTION = "Complete the following Python code."
# The fork's `get_prompt` under its hard-coded prompt="octocoder" (the text after "Answer: " is the stripped prompt).
STUDY_INSTRUCTION = "Create a Python script for this problem."
STUDY_TIMEOUT_S = 3.0  # the harness's compute_code_eval default, which the fork's process_results keeps
NUM_SEEDS = 5
PROTOCOL_OPTIONS = {
    "astraios": {"num_seeds": NUM_SEEDS, "transformations": None, "prompt_style": "completion", "timeout_s": TIMEOUT_S},
    "study": {"num_seeds": NUM_SEEDS, "transformations": None, "prompt_style": "study", "timeout_s": STUDY_TIMEOUT_S},
}
STUDY = (f"the fork's prompt, greedy, one sample per prompt, {NUM_SEEDS} seeds of every transformation, "
         f"{STUDY_WINDOW:,} tokens of prompt and generation, {STUDY_TIMEOUT_S:g} s per program")
SUMMARIES = {
    "docstring": "docstring paraphrased, misspelt, re-cased (ReCode nlaugmenter)",
    "funcname": "function renamed (ReCode func_name)",
    "syntax": "partial code rewritten: dead code, for/while, variable names (ReCode natgen)",
    "format": "partial code reformatted: tabs, blank lines, docstring as comments (ReCode format)",
}


def recode_prompt(style: str, prompt: str) -> str:
    """What the model is sent for a record's prompt in each `--prompt-style`."""
    if style == "study":
        return f"Question: {STUDY_INSTRUCTION}\n\nAnswer: {prompt.strip()}"
    if style == "octocoder":
        return octocoder_prompt(OCTOCODER_INSTRUCTION, prompt)
    return prompt.strip()


def set_protocol(task, protocol: str, options: dict) -> None:
    """Give a ReCode task its protocol's options (`protocol_options`), the study's window under study."""
    if options["prompt_style"] not in PROMPT_STYLES:
        raise ValueError(f"--prompt-style {options['prompt_style']!r}: expected one of {', '.join(PROMPT_STYLES)}")
    for name, value in options.items():
        setattr(task, name, value)
    task.protocol = protocol
    task.window = STUDY_WINDOW if protocol == "study" else None
    task.required_dtype = STUDY_DTYPE if protocol == "study" else None


def protocol_settings(task) -> dict:
    budget = (f"{task.window:,} tokens of prompt and generation (the harness's --max_length_generation)"
              if task.window else "--max-new-tokens new tokens")
    return {"protocol": task.protocol, "prompt_style": task.prompt_style, "timeout_s": task.timeout_s, "budget": budget}


def check_study_sampling(task, sampling) -> None:
    if task.protocol == "study" and not (sampling.greedy and sampling.n == 1):
        raise ValueError(f"{task.name}: --protocol study generates as the study did, greedy and one sample per prompt "
                         f"(the harness's --do_sample False --n_samples 1), not --n-samples {sampling.n} --temperature "
                         f"{sampling.temperature:g}. Fix: --n-samples 1 --temperature 0, or --protocol astraios.")


def coarse_scores(variants: dict[str, dict[int, list[list[bool]]]], nominal: dict[int, list[bool]] | None) -> dict:
    """ReCode's own category rule (amazon-science/recode `run_robust.py`, `report_coarse`): a
    problem's generation seed counts only if it passes under every variant of every one of the
    `variants`' transformations (transformation -> problem -> verdicts of each variant).
    `coarse RP@k`, and with nominal verdicts `coarse RC@k` = |pass@k - coarse RP@k|."""
    pooled: dict[int, list[list[bool]]] = defaultdict(list)
    for problems in variants.values():
        for problem, verdicts in problems.items():
            pooled[problem] += verdicts
    table = robustness_table(robust_counts(None if nominal is None else nominal[problem], verdicts)
                             for problem, verdicts in sorted(pooled.items()))
    return {f"coarse {key}": value for key, value in table.items() if key.startswith(("RP@", "RC@"))}


def program_with_check(program: str, document: dict) -> str:
    """The program the sandbox runs, built as the harness builds it."""
    return f"{program}\n\n{document['test']}\ncheck({document['entry_point']})\n"


def record_tests(document: dict) -> str:
    """The record's tests and `check(entry_point)` after the prompt's imports and helpers."""
    return python_tests(canonical_program(document), document["entry_point"], program_with_check("", document))


def canonical_program(document: dict) -> str:
    """The canonical solution completing the document's prompt, fitted to two things ReCode's
    release leaves as they were in HumanEval: recursive calls keep the original function name
    (renamed here to the variant's), and tab-indented prompts are followed by a solution indented
    with spaces (re-indented here with tabs, four spaces each). Used to check the data and the
    program assembly; the records whose canonical solution fails even so are listed in
    `recode_defects.json` (see `astraios.tasks.recode_data.release_defects`)."""
    solution, original = document["canonical_solution"], document.get("nominal_entry_point", document["entry_point"])
    if original != document["entry_point"]:
        solution = re.sub(rf"(?<![\w.]){re.escape(original)}(?!\w)", document["entry_point"], solution)
    if any(line.startswith("\t") for line in document["prompt"].split("\n")):
        solution = "\n".join(re.sub(r"^(?: {4})+", lambda m: "\t" * (len(m[0]) // 4), line)
                             for line in solution.split("\n"))
    return document["prompt"] + solution


def recode_documents(nominal: list[dict], variants: list[dict], source: str) -> list[dict]:
    """Documents (nominal first, then variants) with `doc_id`, `problem` (the problem's position),
    `nominal_entry_point` and `index`."""
    problems = {record["task_id"]: position for position, record in enumerate(nominal)}
    names = {record["task_id"]: record["entry_point"] for record in nominal}
    unknown = sorted({record["task_id"] for record in variants} - set(problems))
    if unknown:
        raise ValueError(f"{source}: variants of {', '.join(unknown[:5])} have no nominal problem. Fix: use the "
                         f"nominal file of the same release.")
    documents = [{**record, "doc_id": f"{record['task_id']}/{NOMINAL}"} for record in nominal]
    documents += [{**record, "doc_id": f"{record['task_id']}/{record['perturbation_name']}/s{record['seed']}"}
                  for record in variants]
    return [{**document, "problem": problems[document["task_id"]], "nominal_entry_point": names[document["task_id"]],
             "index": index} for index, document in enumerate(documents)]


class RecodeTask(GenerationTask):
    """One ReCode category: its nominal prompts and perturbed variants, scored by RP/RD/RR/RC."""
    executes_code = judged = True

    language = "python"
    primary_metric = "RP@1"
    stop_sequences = STOP_SEQUENCES

    def __init__(self, category: str, num_seeds: int = NUM_SEEDS, transformations: str | list[str] | None = None,
                 prompt_style: str | None = None, timeout_s: float | None = None, protocol: str = "astraios"):
        if category not in CATEGORIES:
            raise ValueError(f"ReCode category {category!r}: expected one of {', '.join(CATEGORIES)}")
        self.category = category
        self.recode_dir = CATEGORIES[category]
        self.name = f"recode-{category}"
        self.description = f"robustness, {SUMMARIES[category]}: RP@1 = solved under all variants"
        if isinstance(transformations, str):
            transformations = [part.strip() for part in transformations.split(",") if part.strip()] or None
        options = protocol_options(self.name, protocol, {"num_seeds": num_seeds, "transformations": transformations,
                                                         "prompt_style": prompt_style, "timeout_s": timeout_s},
                                   PROTOCOL_OPTIONS, STUDY)
        set_protocol(self, protocol, options)
        if self.num_seeds < 1:
            raise ValueError(f"--num-seeds must be at least 1, got {self.num_seeds}")
        self.transformations = list(self.transformations) if self.transformations else None
        self.filtered_prompts: set[str] = set()  # prompts left out by the filters (see documents)

    # ------------------------------------------------------------------------------------------
    # Data

    def documents(self, data_dir=None) -> list[dict]:
        data = load_category(self.recode_dir, data_dir)
        seeds: dict[str, set[int]] = defaultdict(set)
        for record in data.variants:
            seeds[record["perturbation_name"]].add(record["seed"])
        most = max(len(found) for found in seeds.values())
        if self.num_seeds > most:
            raise ValueError(f"{self.name}: --num-seeds {self.num_seeds}, but {data.source} has at most {most} seeds "
                             f"per transformation (s0..s{most - 1}). Fix: --num-seeds {most} or fewer.")
        if self.transformations:
            unknown = [name for name in self.transformations if name not in seeds]
            if unknown:
                close = difflib.get_close_matches(unknown[0], list(seeds), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"{self.name}: no transformation {', '.join(unknown)} in {data.source}{hint}. Fix: "
                                 f"--transformations with some of {', '.join(sorted(seeds))}.")
        keep = set(self.transformations or seeds)
        variants, left_out = [], set()
        for record in data.variants:
            if record["seed"] < self.num_seeds and record["perturbation_name"] in keep:
                variants.append(record)
            else:
                left_out.add(record["prompt"].strip())
        # A harness file covers every transformation up to its own seed count: entries for the
        # prompts filtered out here are recognised (and passed over) when the file is read.
        self.filtered_prompts = left_out
        return recode_documents(data.nominal, variants, data.source)

    def select(self, documents, limit):
        return documents if limit is None else [document for document in documents if document["problem"] < limit]

    def settings(self) -> dict:
        return {**protocol_settings(self), "num_seeds": self.num_seeds, "transformations": self.transformations,
                "nominal": "partial code" if nominal_kind(self.recode_dir) == "partial" else "HumanEval"}

    # ------------------------------------------------------------------------------------------
    # Generation

    def prompt(self, document, sample=0):
        return recode_prompt(self.prompt_style, document["prompt"])

    def postprocess(self, document, completion):
        return document["prompt"].strip() + cut_at_stop(completion, self.stop_sequences)

    def expected_predictions(self, documents, sampling):
        if sampling.greedy:
            return len({self.prompt(document) for document in documents})
        return super().expected_predictions(documents, sampling)

    def predict(self, backend, documents, sampling, cache, on_progress=None):
        """Greedy: one completion per distinct prompt (ReCode repeats a prompt wherever a
        perturbation left it unchanged), cached under the first document that has it."""
        if not sampling.greedy:
            return super().predict(backend, documents, sampling, cache, on_progress)
        first: dict[str, int] = {}
        for index, document in enumerate(documents):
            first.setdefault(self.prompt(document), index)
        requests = [Request(index, documents[index]["doc_id"], prompt, 0) for prompt, index in first.items()]
        completions = self.generate(backend, cache, requests, sampling, on_progress=on_progress)
        completion_of = dict(zip(first, completions))
        return [[self.postprocess(document, completion_of[self.prompt(document)])] * sampling.n
                for document in documents]

    def check_sampling(self, sampling):
        check_study_sampling(self, sampling)

    # ------------------------------------------------------------------------------------------
    # Scoring

    def _execute(self, documents, predictions, workers, progress) -> Execution:
        """Every sample's program (prompt + completion) judged by its record's tests."""
        return execute(self.language, documents, predictions, [record_tests(d) for d in documents],
                       timeout_s=self.timeout_s, description=f"executing {self.name}", workers=workers, progress=progress)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        execution = self._execute(documents, predictions, workers, progress)
        per_document, nominal = [], {}
        variants: dict[str, dict[int, list[list[bool]]]] = defaultdict(lambda: defaultdict(list))
        for document, verdicts, entry in zip(documents, execution.verdicts, execution.pass_counts()):
            name = document["perturbation_name"]  # each sample's verdict: `astraios.outcomes` recounts resamples
            per_document.append({**entry, "problem": document["task_id"], "verdicts": verdicts,
                                 "transformation": None if name == NOMINAL else name})
            if name == NOMINAL:
                if verdicts:  # a harness file has no nominal generations
                    nominal[document["problem"]] = verdicts
            else:
                variants[name][document["problem"]].append(verdicts)
        with_nominal = bool(nominal)
        try:
            tables = {name: robustness_table(robust_counts(nominal.get(problem) if with_nominal else None, verdicts)
                                             for problem, verdicts in sorted(problems.items()))
                      for name, problems in sorted(variants.items())}
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}. Fix: generate the same number of samples for every prompt.") from None
        nominal_table = pass_at_k_table((len(verdicts), sum(verdicts)) for verdicts in nominal.values())
        summary = robustness_summary(tables, nominal_table if with_nominal else None)
        # results.json's metrics are Table 4's worst case; the means go to the details (fewer columns).
        metrics = {key: value for key, value in summary.items() if not key.startswith("mean ")}
        means = {key[len("mean "):]: value for key, value in summary.items() if key.startswith("mean ")}
        defects = release_defects()
        defective = Counter(d["perturbation_name"] for d in documents if document_key(d) in defects)
        transformations = {name: {**table, "seeds": sorted({d["seed"] for d in documents
                                                             if d["perturbation_name"] == name}),
                                  "problems": len(variants[name]), "release_defects": defective[name]}
                           for name, table in tables.items()}
        coarse = [name for name in REPORTED[self.recode_dir] if name in variants]
        if coarse:
            metrics.update(coarse_scores({name: variants[name] for name in coarse}, nominal if with_nominal else None))
        details = {**execution.details, "problems": len({d["problem"] for d in documents}),
                   "variants": sum(d["perturbation_name"] != NOMINAL for d in documents),
                   "distinct_prompts": len({self.prompt(d) for d in documents}),
                   "release_defects": sum(defective.values()), "mean_over_transformations": means,
                   "transformations": transformations, "coarse_transformations": coarse}
        if not with_nominal:
            details["note"] = ("no nominal generations (a harness file holds only the perturbed prompts): RP@k only; "
                               "RD, RR and RC need the nominal pass@k")
        return TaskScore(metrics=metrics, per_document=per_document, details=details, logs=execution.logs)

    # ------------------------------------------------------------------------------------------
    # Saved generations

    def to_file(self, documents, predictions):
        return keyed_records(documents, predictions)

    def from_file(self, lists, all_documents, documents, source):
        return read_generations(self, lists, all_documents, documents, source)


class RecodeNominal(GenerationTask):
    """ReCode's nominal HumanEval (the harness's `humaneval` prompt and stop words), pass@k."""
    executes_code = judged = True

    name = "recode-nominal"
    description = "ReCode's unperturbed HumanEval prompts, completion style (the robustness baseline)"
    language = "python"
    primary_metric = "pass@1"
    stop_sequences = STOP_SEQUENCES
    prompt = RecodeTask.prompt
    postprocess = RecodeTask.postprocess
    _execute = RecodeTask._execute
    check_sampling = RecodeTask.check_sampling

    def __init__(self, prompt_style: str | None = None, timeout_s: float | None = None, protocol: str = "astraios"):
        options = protocol_options(self.name, protocol, {"prompt_style": prompt_style, "timeout_s": timeout_s},
                                   PROTOCOL_OPTIONS, STUDY)
        set_protocol(self, protocol, options)

    def documents(self, data_dir=None) -> list[dict]:
        return [{**record, "doc_id": record["task_id"], "index": index}
                for index, record in enumerate(load_nominal(data_dir))]

    def settings(self) -> dict:
        return protocol_settings(self)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        execution = self._execute(documents, predictions, workers, progress)
        per_document = execution.pass_counts()
        metrics = pass_at_k_table((entry["n"], entry["passed"]) for entry in per_document if entry["n"])
        return TaskScore(metrics=metrics, per_document=per_document, details=execution.details, logs=execution.logs)


TASKS = {**{f"recode-{category}": (RecodeTask, (category,)) for category in CATEGORIES},
         "recode-nominal": (RecodeNominal, ())}


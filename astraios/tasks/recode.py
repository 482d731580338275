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

Prompt and post-processing (`prompt_style`):
- `completion` (default, what the study ran through the harness): the record's prompt, stripped;
- `octocoder`: `Question: Complete the following Python code.\\n\\nAnswer:\\n{prompt}` stripped,
  the instruction form used for HumanEvalPack;
the completion is cut at the harness's stop sequences (`\\nclass`, `\\ndef`, `\\n#`, `\\n@`,
`\\nprint`, `\\nif`, plus end-of-text) and the stripped prompt is put back in front; the program
run in the sandbox is `program + "\\n\\n" + test + "\\ncheck(entry_point)"`, as the harness builds it
(no import header: the prompts import what they use). Greedy generation makes one completion per
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

Saved generations (`--generations FILE`): our keyed form, one record per prompt,
`{"task_id", "perturbation_name", "seed", "generations": [...]}` (nominal records have
`perturbation_name: "nominal"`, `seed: null`), which `astraios eval` writes; or the harness's
output of its `perturbed-humaneval-{category}-num_seeds_{s}` task, a list of lists in the Hub
dataset's order after the seed filter. Harness programs begin with their stripped prompt, so when
the order differs from ours (the local release is read in file-name order) or the file covers a
subset, each entry is matched to the records by that prompt. A harness file has no nominal
generations, so it yields RP@k only (details say so).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict

from astraios.generate.base import cut_at_stop
from astraios.generate.cache import Request, cached_generate
from astraios.metrics import pass_at_k_table, robust_counts, robustness_summary, robustness_table
from astraios.tasks.base import GenerationTask, TaskScore
from astraios.tasks.execution import Execution, execute
from astraios.tasks.humanevalpack import END_OF_TEXT, TIMEOUT_S, octocoder_prompt
from astraios.tasks.recode_data import (CATEGORIES, NOMINAL, load_category, load_nominal, nominal_kind,
                                        release_defects)

# bigcode-evaluation-harness `recode.py`'s stop words (HumanEvalPack's Python list adds `\nassert`).
STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", END_OF_TEXT)
PROMPT_STYLES = ("completion", "octocoder")
OCTOCODER_INSTRUCTION = "Complete the following Python code."
NUM_SEEDS = 5
SUMMARIES = {
    "docstring": "docstring paraphrased, misspelt, re-cased (ReCode nlaugmenter)",
    "funcname": "function renamed (ReCode func_name)",
    "syntax": "partial code rewritten: dead code, for/while, variable names (ReCode natgen)",
    "format": "partial code reformatted: tabs, blank lines, docstring as comments (ReCode format)",
}
FIRST_DEF = re.compile(r"def\s+(\w+)")


def program_with_check(program: str, document: dict) -> str:
    """The program the sandbox runs, built as the harness builds it."""
    return f"{program}\n\n{document['test']}\ncheck({document['entry_point']})\n"


def canonical_program(document: dict) -> str:
    """The canonical solution completing the document's prompt, fitted to two things ReCode's
    release leaves as they were in HumanEval: recursive calls keep the original function name
    (renamed here to the variant's), and tab-indented prompts are followed by a solution indented
    with spaces (re-indented here with tabs, four spaces each). Used to check the data and the
    program assembly; the records whose canonical solution fails even so are listed in
    `recode_defects.json` (see `astraios.tasks.recode_data.release_defects`)."""
    solution, original = document["canonical_solution"], document["nominal_entry_point"]
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
    executes_code = True

    language = "python"
    primary_metric = "RP@1"
    stop_sequences = STOP_SEQUENCES

    def __init__(self, category: str, num_seeds: int = NUM_SEEDS, transformations: str | list[str] | None = None,
                 prompt_style: str = "completion", timeout_s: float = TIMEOUT_S):
        if category not in CATEGORIES:
            raise ValueError(f"ReCode category {category!r}: expected one of {', '.join(CATEGORIES)}")
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"--prompt-style {prompt_style!r}: expected one of {', '.join(PROMPT_STYLES)}")
        if num_seeds < 1:
            raise ValueError(f"--num-seeds must be at least 1, got {num_seeds}")
        self.category = category
        self.recode_dir = CATEGORIES[category]
        self.name = f"recode-{category}"
        self.description = f"robustness, {SUMMARIES[category]}: RP@1 = solved under all variants"
        self.num_seeds = num_seeds
        if isinstance(transformations, str):
            transformations = [part.strip() for part in transformations.split(",") if part.strip()]
        self.transformations = list(transformations) if transformations else None
        self.prompt_style = prompt_style
        self.timeout_s = timeout_s
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
        return {"prompt_style": self.prompt_style, "num_seeds": self.num_seeds,
                "transformations": self.transformations, "timeout_s": self.timeout_s,
                "nominal": "partial code" if nominal_kind(self.recode_dir) == "partial" else "HumanEval"}

    # ------------------------------------------------------------------------------------------
    # Generation

    def prompt(self, document, sample=0):
        if self.prompt_style == "octocoder":
            return octocoder_prompt(OCTOCODER_INSTRUCTION, document["prompt"])
        return document["prompt"].strip()

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
        completions = cached_generate(backend, cache, self.name, requests, sampling, self.stop_sequences,
                                      on_progress=on_progress)
        completion_of = dict(zip(first, completions))
        return [[self.postprocess(document, completion_of[self.prompt(document)])] * sampling.n
                for document in documents]

    # ------------------------------------------------------------------------------------------
    # Scoring

    def _execute(self, documents, predictions, workers, progress) -> Execution:
        """Every sample's program (prompt + completion, the record's tests, `check(entry_point)`), run."""
        sources = [[program_with_check(program, document) for program in programs]
                   for document, programs in zip(documents, predictions)]
        return execute(self.language, documents, sources, timeout_s=self.timeout_s,
                       description=f"executing {self.name}", workers=workers, progress=progress)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        execution = self._execute(documents, predictions, workers, progress)
        per_document = execution.pass_counts()
        nominal: dict[int, list[bool]] = {}
        variants: dict[str, dict[int, list[list[bool]]]] = defaultdict(lambda: defaultdict(list))
        for document, verdicts in zip(documents, execution.verdicts):
            if document["perturbation_name"] == NOMINAL:
                if verdicts:  # a harness file has no nominal generations
                    nominal[document["problem"]] = verdicts
            else:
                variants[document["perturbation_name"]][document["problem"]].append(verdicts)
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
        defective = Counter(d["perturbation_name"] for d in documents if _key(d) in defects)
        transformations = {name: {**table, "seeds": sorted({d["seed"] for d in documents
                                                             if d["perturbation_name"] == name}),
                                  "problems": len(variants[name]), "release_defects": defective[name]}
                           for name, table in tables.items()}
        details = {**execution.details, "problems": len({d["problem"] for d in documents}),
                   "variants": sum(d["perturbation_name"] != NOMINAL for d in documents),
                   "distinct_prompts": len({self.prompt(d) for d in documents}),
                   "release_defects": sum(defective.values()), "mean_over_transformations": means,
                   "transformations": transformations}
        if not with_nominal:
            details["note"] = ("no nominal generations (a harness file holds only the perturbed prompts): RP@k only; "
                               "RD, RR and RC need the nominal pass@k")
        return TaskScore(metrics=metrics, per_document=per_document, details=details, logs=execution.logs)

    # ------------------------------------------------------------------------------------------
    # Saved generations

    def to_file(self, documents, predictions):
        return [{"task_id": document["task_id"], "perturbation_name": document["perturbation_name"],
                 "seed": document["seed"], "generations": programs}
                for document, programs in zip(documents, predictions)]

    def from_file(self, lists, all_documents, documents, source):
        if not isinstance(lists, list) or not lists:
            raise ValueError(f"{source}: expected a non-empty JSON list: keyed records ({{task_id, perturbation_name, "
                             f"seed, generations}}) or the harness's list of lists of programs.")
        if all(isinstance(entry, dict) for entry in lists):
            return self._from_keyed(lists, all_documents, documents, source)
        if all(isinstance(entry, list) and entry and all(isinstance(item, str) for item in entry) for entry in lists):
            return self._from_harness(lists, all_documents, documents, source)
        raise ValueError(f"{source}: expected either keyed records ({{task_id, perturbation_name, seed, generations}}) "
                         f"or the harness's list of non-empty lists of program strings, not a mixture.")

    def _from_keyed(self, records, all_documents, documents, source):
        given: dict[tuple, list[str]] = {}
        for position, record in enumerate(records):
            generations = record.get("generations")
            if not {"task_id", "perturbation_name", "seed"} <= set(record) or not (
                    isinstance(generations, list) and all(isinstance(item, str) for item in generations)):
                raise ValueError(f"{source}: record {position} needs task_id, perturbation_name, seed and generations "
                                 f"(a list of program strings); found keys {', '.join(sorted(record))}.")
            given[(record["task_id"], record["perturbation_name"], record["seed"])] = generations
        known = {_key(document) for document in all_documents}
        unknown = [key for key in given if key not in known]
        if unknown:
            raise ValueError(f"{source}: {len(unknown)} records match no {self.name} prompt with --num-seeds "
                             f"{self.num_seeds} (e.g. {_describe(unknown[0])}). Fix: pass the file written for "
                             f"{self.name} with the same --num-seeds and --transformations.")
        nominal_given = any(key[1] == NOMINAL for key in given)
        missing = [document for document in documents if _key(document) not in given
                   and (nominal_given or document["perturbation_name"] != NOMINAL)]
        if missing:
            raise ValueError(f"{source}: no generations for {len(missing)} of the {len(documents)} selected {self.name} "
                             f"prompts (e.g. {_describe(_key(missing[0]))}); expected one record per prompt. Fix: "
                             f"pass the file written for {self.name} with the same --limit, --num-seeds and "
                             f"--transformations.")
        return [list(given.get(_key(document), [])) for document in documents]

    def _from_harness(self, lists, all_documents, documents, source):
        variants = [document for document in all_documents if document["perturbation_name"] != NOMINAL]

        def starts(entry, document) -> bool:
            return all(program.startswith(document["prompt"].strip()) for program in entry)

        if len(lists) == len(variants) and all(starts(entry, doc) for entry, doc in zip(lists, variants)):
            by_id = {document["doc_id"]: entry for document, entry in zip(variants, lists)}
        else:
            by_id = _align_by_prompt(lists, variants, self.filtered_prompts, source)
        missing = [document for document in documents
                   if document["perturbation_name"] != NOMINAL and document["doc_id"] not in by_id]
        if missing:
            raise ValueError(f"{source}: {len(lists)} entries, but no generations for {len(missing)} of the selected "
                             f"{self.name} variants (e.g. {missing[0]['doc_id']}). Fix: pass the harness's output of "
                             f"perturbed-humaneval-{self.recode_dir}-num_seeds_{self.num_seeds} for the whole dataset.")
        return [list(by_id.get(document["doc_id"], [])) for document in documents]


class RecodeNominal(GenerationTask):
    """ReCode's nominal HumanEval (the harness's `humaneval` prompt and stop words), pass@k."""
    executes_code = True

    name = "recode-nominal"
    description = "ReCode's unperturbed HumanEval prompts, completion style (the robustness baseline)"
    language = "python"
    primary_metric = "pass@1"
    stop_sequences = STOP_SEQUENCES
    prompt = RecodeTask.prompt
    postprocess = RecodeTask.postprocess
    _execute = RecodeTask._execute

    def __init__(self, prompt_style: str = "completion", timeout_s: float = TIMEOUT_S):
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"--prompt-style {prompt_style!r}: expected one of {', '.join(PROMPT_STYLES)}")
        self.prompt_style = prompt_style
        self.timeout_s = timeout_s

    def documents(self, data_dir=None) -> list[dict]:
        return [{**record, "doc_id": record["task_id"], "index": index}
                for index, record in enumerate(load_nominal(data_dir))]

    def settings(self) -> dict:
        return {"prompt_style": self.prompt_style, "timeout_s": self.timeout_s}

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        execution = self._execute(documents, predictions, workers, progress)
        per_document = execution.pass_counts()
        metrics = pass_at_k_table((entry["n"], entry["passed"]) for entry in per_document if entry["n"])
        return TaskScore(metrics=metrics, per_document=per_document, details=execution.details, logs=execution.logs)


def _key(document: dict) -> tuple:
    return (document["task_id"], document["perturbation_name"], document["seed"])


def _describe(key: tuple) -> str:
    task_id, name, seed = key
    return f"{task_id} {name}" + ("" if seed is None else f" seed {seed}")


def _align_by_prompt(lists: list[list[str]], variants: list[dict], filtered: set[str],
                     source: str) -> dict[str, list[str]]:
    """Harness entries matched to variant documents by the prompt their programs begin with.

    Prompts are bucketed by their first `def` name (a program begins with its prompt, so it has
    the same first `def`); the longest prompt a program begins with wins, and entries whose prompt
    is one of the `filtered` (left out by --num-seeds or --transformations) are passed over.
    Documents that share a prompt take that prompt's entries in file order (an entry is reused if
    the file has fewer)."""
    buckets: dict[str, set[str]] = defaultdict(set)
    documents_of: dict[str, list[dict]] = defaultdict(list)
    for document in variants:
        prompt = document["prompt"].strip()
        buckets[_first_def(prompt)].add(prompt)
        documents_of[prompt].append(document)
    for prompt in filtered:
        buckets[_first_def(prompt)].add(prompt)
    entries_of: dict[str, list[list[str]]] = defaultdict(list)
    for position, entry in enumerate(lists):
        program = entry[0]
        matches = [prompt for prompt in buckets.get(_first_def(program), ()) if program.startswith(prompt)]
        if not matches:
            raise ValueError(f"{source}: entry {position} begins with no ReCode prompt of this task (it starts "
                             f"{program[:60]!r}). Fix: pass the harness's output for the same category, or our "
                             f"keyed file.")
        best = max(matches, key=len)
        if best in documents_of:
            entries_of[best].append(entry)
    aligned = {}
    for prompt, entries in entries_of.items():
        for rank, document in enumerate(documents_of[prompt]):
            aligned[document["doc_id"]] = entries[rank % len(entries)]
    return aligned


def _first_def(text: str) -> str:
    match = FIRST_DEF.search(text)
    return match[1] if match else ""


TASKS = {**{f"recode-{category}": (RecodeTask, (category,)) for category in CATEGORIES},
         "recode-nominal": (RecodeNominal, ())}


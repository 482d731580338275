"""Code understanding (CodeXGLUE): Devign defect detection and BigCloneBench clone detection,
asked of an instruction-tuned model as YES/NO questions, scored as binary classification.

Tasks: `devign` (is this C function defective? primary metric accuracy) and `bigclonebench` (are
these two Java functions clones? primary metric F1): the study's Table 2.

Two protocols (`--protocol`):
- `astraios` (default): our careful defaults, each also a flag of its own: the answer is the
  likelier of YES and NO (`--scoring loglik`; or `generate`: greedy, 16 tokens, parsed), plain
  questions (`--wording plain`), a sample stratified to the split's label ratio (`--balance
  natural`), code cut to fit the model's whole context (never the question), the run's dtype.
  BigCloneBench's primary metric: F1 of the clone class (`f1_positive`).
- `study`: the study's evaluation exactly, all at once: greedy generation with the harness's
  `astraios` branch questions, its 2,000-example sample (`as-study`), its 512-token window shared
  by prompt and answer with prompts cut from the left, its exact one-shot text (`--shots 1`,
  Devign), the scoring notebook's `paper_method` parser, and float32 weights (the harness's
  default). BigCloneBench's primary metric: the notebook's "F1", sklearn's macro F1 over the
  labels {-1, 0, 1} that occur, -1 being an unparseable answer (`f1_macro_study`).
Both report accuracy, precision / recall, `f1_positive`, `f1_macro_study` and `invalid_rate`;
only `--protocol study` numbers are comparable with the paper's.

Data (test split), from the local data directory (`--data-dir` / $ASTRAIOS_DATA_DIR), first match:
    devign/test.jsonl               CodeXGLUE's file (idx, func, target, project, commit_id), or
                                    records in the Hub's fields (id, func, target)
    devign/data/test-*.parquet      a snapshot of the Hub dataset (or devign/test.parquet)
    devign/function.json + devign/test.txt (or split_test.txt): CodeXGLUE's raw release
    devign/sample_test.jsonl + devign/split_test.txt: part of the split (a few real records);
                                    positions come from the split ids, results say it is partial
    bigclonebench/data.jsonl + bigclonebench/test.txt: CodeXGLUE's files (functions by idx; one
                                    `id1<TAB>id2<TAB>label` pair per line)
    bigclonebench/test.jsonl        records with func1, func2, label (the Hub's fields)
    bigclonebench/data/test-*.parquet (or bigclonebench/test.parquet): a Hub snapshot
else the Hub (`google/code_x_glue_cc_defect_detection`, `google/code_x_glue_cc_clone_detection_big_clone_bench`,
test parquet files only).

Saved generations (`--generations`): ours (one list with the answer per document), or the study
harness's files (`[[{"ID", "prediction", "true_label", "raw_text"}], ...]`, the answer after the
last "\\nAnswer:"), written for the full test split, for exactly the sampled documents, or (the
harness's BigCloneBench files) for its 2,726-pair first stage. A harness file for the whole split
carries every label, so with Devign's partial local data (sample + split ids) it is scored as if
the split were complete: the examples the data lacks become label-only documents.

Why a package: one module per concept. `loading` (the splits in every layout), `sampling`
(natural, uniform, the study's two-stage draw), `prompts` (wordings, exemplars, both windows),
`answers` (our parser, the notebook's, log-likelihood answers) and `tasks` (the tasks and their
protocols); each is read and tested alone, and the study's choices sit beside ours in each.
"""

from astraios.tasks.codexglue.answers import (
    ANSWER_STOP,
    ANSWER_TOKENS,
    ANSWER_VARIANTS,
    CHOICES,
    STUDY_KEYWORDS,
    harness_answer,
    paper_answer,
    parse_answer,
)
from astraios.tasks.codexglue.loading import (
    BIGCLONEBENCH_HUB,
    DEVIGN_HUB,
    LoadedSplit,
    load_bigclonebench,
    load_devign,
)
from astraios.tasks.codexglue.prompts import (
    BIGCLONEBENCH_EXEMPLAR,
    DEVIGN_EXEMPLAR,
    STUDY_ONE_SHOT_PREFIX,
    STUDY_WINDOW,
    WORDINGS,
    PromptFitter,
    StudyWindow,
)
from astraios.tasks.codexglue.sampling import (
    BALANCES,
    SAMPLE_SIZE,
    STUDY_SEED,
    STUDY_STAGES,
    stratified_counts,
    study_sample,
)
from astraios.tasks.codexglue.tasks import (
    PROTOCOLS,
    SCORINGS,
    STUDY_DTYPE,
    TASKS,
    BigCloneBench,
    Devign,
    UnderstandingTask,
)

__all__ = [
    "ANSWER_STOP", "ANSWER_TOKENS", "ANSWER_VARIANTS", "BALANCES", "BIGCLONEBENCH_EXEMPLAR", "BIGCLONEBENCH_HUB",
    "CHOICES", "DEVIGN_EXEMPLAR", "DEVIGN_HUB", "PROTOCOLS", "SAMPLE_SIZE", "SCORINGS", "STUDY_DTYPE",
    "STUDY_KEYWORDS", "STUDY_ONE_SHOT_PREFIX", "STUDY_SEED", "STUDY_STAGES", "STUDY_WINDOW", "TASKS", "WORDINGS",
    "BigCloneBench", "Devign", "LoadedSplit", "PromptFitter", "StudyWindow", "UnderstandingTask", "harness_answer",
    "load_bigclonebench", "load_devign", "paper_answer", "parse_answer", "stratified_counts", "study_sample",
]

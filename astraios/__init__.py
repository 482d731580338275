"""astraios: instruction-tune code LLMs with many tuning methods and measure what each buys.

The packages, in the order data flows through them (each imports only those above it in this list;
`tests/test_architecture.py` keeps it so):

    core        files, locks, Hub errors, the on-disk layout of runs and grids;  metrics: pass@k, RP@k,
                F1, rates;  outcomes: what each score is computed from, per problem;  intervals: each
                score's standard error and 95% interval, paired comparisons (eval and report alike)
    models      base models: tiny random ones, the StarCoder configs, any Hub id
    methods     the tuning methods (one registry) and their parameter accounting
    config      a run config (YAML -> pydantic);  data: instruction data, the toy generator
    train       one method on one base into a run directory
    generate    backends that sample completions (transformers, vLLM, OpenAI-compatible); export
    sandbox     runs untrusted programs;  security: static checkers for generated code
    tasks       the evaluation tasks (one registry)
    evaluation  tasks x a model -> results.json
    perturb     ReCode-style perturbations of HumanEval problems
    grid        models x methods, trained and evaluated, resumably
    analysis    the study's tables and figures from a grid's runs
    gpu_check   the GPU paths, measured
    cli         the `astraios` command
"""

__version__ = "0.1.0"

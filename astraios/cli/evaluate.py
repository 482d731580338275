"""`astraios eval` and `astraios tasks`: evaluate a model (or saved generations) on tasks."""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)


@app.command(
    "eval",
    epilog="Examples:\n\n"
    "  astraios eval --model runs/tiny-gptbigcode-s-lora --tasks humanevalsynthesize-python --limit 5\n\n"
    "  astraios eval --model starcoderbase-1b --adapter runs/starcoderbase-1b-lora/final "
    "--tasks humanevalsynthesize-python,humanevalfixtests-java\n\n"
    "  astraios eval --model starcoderbase-7b --tasks humanevalsynthesize-python --batch-size auto   "
    "# the most rows that fit on the GPU\n\n"
    "  astraios eval --model bigcode/starcoderbase-1b --tasks humanevalexplainsynthesize-python   "
    "# runs explaindescribe first\n\n"
    "  astraios eval --tasks humanevalsynthesize-python --generations generations.json --output out/   "
    "# score saved generations, no model\n\n"
    "  astraios eval --model runs/x --tasks humanevalsynthesize-java --generations-only   # GPU part only\n\n"
    "  astraios eval --backend openai --base-url http://localhost:8000/v1 --model my-served-model "
    "--tasks humanevalsynthesize-python\n\n"
    "  astraios eval --model runs/x --tasks devign,bigclonebench   # 2,000 sampled each, YES vs NO log-likelihood\n\n"
    "  astraios eval --model runs/x --tasks devign,bigclonebench --protocol study   # the study's way: the paper's numbers\n\n"
    "  astraios eval --tasks devign --protocol study --generations generations-defectdetection-starcoderbase-1b-fft.json"
    "   # rescore a study file\n\n"
    "  astraios eval --model runs/x --tasks devign --shots 1 --limit 200 --seed 1\n\n"
    "  astraios eval --model runs/x --tasks recode-docstring,recode-format --n-samples 1 --temperature 0   "
    "# robustness, our protocol\n\n"
    "  astraios eval --model runs/x --tasks recode-format --protocol study --n-samples 1 --temperature 0   "
    "# the study's harness fork exactly\n\n"
    "  astraios eval --tasks aatk --protocol study --generations generations-asleep_completion-starcoderbase-1b-adapterh.json"
    "   # rescore a study file as mark.py assembles it\n\n"
    "  astraios eval --tasks recode-format --protocol study --generations generations-format.json --output out/   "
    "# the harness's perturbed-humaneval output, no model\n\n"
    "  astraios eval --model runs/x --tasks my_problems.jsonl,my_task.yaml   # your own problems: task files",
)
def eval_(
    ctx: typer.Context,
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated task names (see `astraios tasks`) or task files "
                              "(your own problems: a HumanEval-style .jsonl, or a .yaml task file)."),
    model: str | None = typer.Option(None, "--model", help="Model name, Hub id, local dir, or a training run directory."),
    adapter: str | None = typer.Option(None, "--adapter", help="Saved method dir (a run's final/), run dir or peft adapter."),
    n_samples: int = typer.Option(20, "--n-samples", help="Samples per problem (the study: 20)."),
    temperature: float = typer.Option(0.2, "--temperature", help="Sampling temperature; 0 = greedy (the study: 0.2)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling mass."),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", help="Most new tokens per completion."),
    batch_size: str = typer.Option("16", "--batch-size", help="Rows (prompt x sample) decoded at once (transformers), "
                                   "or auto: the most that fit on the device, found once per model, device and length "
                                   "and cached."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N documents of each task "
                                     "(devign, bigclonebench: sample N; default 2000)."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Local data directory (else $ASTRAIOS_DATA_DIR, else the Hub)."),
    output: str | None = typer.Option(None, "--output", help="Output directory (default: RUN_DIR/eval or runs/eval/MODEL)."),
    backend: str = typer.Option("transformers", "--backend", help="transformers | openai | vllm."),
    generations: list[str] = typer.Option([], "--generations", help="Score saved generations instead of generating: "
                                          "FILE (one task) or TASK=FILE (repeatable)."),
    generations_only: bool = typer.Option(False, "--generations-only", help="Generate and save, do not execute or score."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16 (auto: float32 "
                              "under --protocol study, as the study)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    revision: str | None = typer.Option(None, "--revision", help="Hub revision of the model (and adapter)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the Hub."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (also of the devign/bigclonebench samples)."),
    protocol: str = typer.Option("astraios", "--protocol", help="devign, bigclonebench, recode-*, aatk: astraios "
                                 "(our defaults, below) | study (the study's evaluation exactly, as its harness fork "
                                 "ran it: comparable with the paper)."),
    scoring: str | None = typer.Option(None, "--scoring", help="devign, bigclonebench: loglik (compare YES vs NO "
                                       "log-probabilities; default) | generate (greedy answer, parsed)."),
    shots: int = typer.Option(0, "--shots", help="devign, bigclonebench: solved examples before the question (0 or 1)."),
    balance: str | None = typer.Option(None, "--balance", help="devign, bigclonebench: natural (stratified to the "
                                       "split's label ratio; default) | uniform | as-study (the study's sample)."),
    wording: str | None = typer.Option(None, "--wording", help="devign, bigclonebench: plain (default) | study (the "
                                       "study harness's exact question)."),
    num_seeds: int = typer.Option(5, "--num-seeds", help="recode-*: perturbed seeds per transformation (the study: 5)."),
    transformations: str | None = typer.Option(None, "--transformations", help="recode-*: only these "
                                               "transformations, comma-separated (default: all)."),
    prompt_style: str | None = typer.Option(None, "--prompt-style", help="recode-*: completion (the bare prompt; "
                                            "default) | octocoder (our Question/Answer form) | study (the fork's "
                                            "Question/Answer text; implied by --protocol study)."),
    workers: int | None = typer.Option(None, "--workers", help="Programs executed at once (default: one per CPU)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds each test program may run (default: 10; "
                                         "recode-* under --protocol study: 3, the harness's)."),
    empty_samples: str = typer.Option("error", "--empty-samples", help="A document with no samples in --generations: "
                                      "error | failed (counted as failed samples; never left out of pass@k)."),
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="Generation cache (default: OUTPUT/cache)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Evaluate a model (or saved generations) on tasks; write OUTPUT/results.json and a summary table:
    each score ± its standard error over problems, and the primary metric's 95% bootstrap interval."""
    from pathlib import Path

    from rich.console import Console

    from astraios import tasks as task_registry
    from astraios.core.locks import LockHeld
    from astraios.evaluation import EvalConfig, evaluate, summary_table
    from astraios.evaluation.config import task_file_sampling
    from astraios.generate import Sampling
    from astraios.generate.openai_api import EndpointError
    from astraios.sandbox import SandboxUnavailable

    try:
        names = task_registry.parse_names(tasks)
        files = _generations_files(generations, names)
        sampling = Sampling(n_samples, temperature, top_p, max_new_tokens)
        given = {name for name in ("n_samples", "temperature")  # on the command line: they win over a task file's
                 if ctx.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")}
        config = EvalConfig(
            tasks=names, output_dir=Path(output or _default_eval_output(model, adapter, files)), model=model,
            adapter=adapter, sampling=sampling, per_task_sampling=task_file_sampling(names, sampling, given),
            backend=backend,
            batch_size=batch_size, limit=limit, data_dir=data_dir, generations=files,
            generations_only=generations_only, dtype=dtype, device=device, revision=revision,
            trust_remote_code=trust_remote_code, base_url=base_url, seed=seed, workers=workers,
            cache_dir=Path(cache_dir) if cache_dir else None,
            task_options={"protocol": protocol, "scoring": scoring, "shots": shots, "balance": balance,
                          "wording": wording, "empty_samples": empty_samples, "num_seeds": num_seeds,
                          "transformations": transformations, "prompt_style": prompt_style,
                          **({"timeout_s": timeout} if timeout is not None else {})},
        )
        results = evaluate(config, progress=not quiet)
    except (ValueError, KeyError, FileNotFoundError, NotImplementedError, EndpointError, LockHeld,
            SandboxUnavailable) as error:
        fail(error, FAILED)
    console = Console()
    console.print(summary_table(results, names))
    console.print(f"results: {config.output_dir / 'results.json'}")


def _generations_files(values: list[str], names: list[str]) -> dict[str, str]:
    from astraios import tasks as task_registry

    files = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep:
            if len(names) != 1:
                raise ValueError(f"--generations {value}: with several tasks, say which one it holds: "
                                 f"--generations TASK={value}")
            task, path = names[0], value
        files[task_registry.resolve(task.strip())] = path  # TASK may be a task file
    return files


def _default_eval_output(model: str | None, adapter: str | None, files: dict[str, str]) -> str:
    from pathlib import Path

    from astraios.generate.source import is_run_dir

    if model and is_run_dir(Path(model)):
        return str(Path(model) / "eval")
    if model:
        name = Path(model.rstrip("/")).name + (f"-{Path(adapter.rstrip('/')).name}" if adapter else "")
        return str(Path("runs") / "eval" / name)
    return str(Path("runs") / "eval" / Path(next(iter(files.values()), "generations")).stem)


@app.command(epilog="Examples:\n\n  astraios tasks\n\n  astraios tasks --data-dir data --json\n\n"
             "The data column says where each task's data is on this machine: the data directory (--data-dir, else "
             "$ASTRAIOS_DATA_DIR), the Hugging Face cache, or nowhere yet (then `astraios data download TASK --to DIR`).")
def tasks(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Local data directory (else $ASTRAIOS_DATA_DIR)."),
) -> None:
    """List the evaluation tasks with their primary metric, where their data is, and a one-line description."""
    from astraios import tasks as task_registry
    from astraios.tasks.catalogue import data_status
    from astraios.tasks.data import SAMPLE_DIR, SAMPLE_NAME, DataNotFoundError
    from astraios.tasks.data import data_dir as local_dir

    try:
        directory = local_dir(data_dir)
    except DataNotFoundError as error:
        fail(error)
    rows, missing = [], {}
    for name in task_registry.names():
        task = task_registry.get(name)
        status, datasets = data_status(name, directory)
        missing.update(dict.fromkeys(datasets))
        rows.append({"task": name, "metric": task.primary_metric, "data": status, "description": task.description,
                     **({"download": datasets} if datasets else {})})
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Evaluation tasks (astraios eval --tasks NAME[,NAME...])")
    for column in ("task", "metric", "data", "description"):
        table.add_column(column, no_wrap=column != "description")
    for row in rows:
        table.add_row(row["task"], row["metric"] or "-", row["data"], row["description"])
    console = Console(width=max(Console().width, 120))
    console.print(table)
    if missing:
        own = directory not in (None, SAMPLE_DIR)
        sample = "" if directory else f" (or try `--data-dir {SAMPLE_NAME}`: a few HumanEvalPack Python problems)"
        console.print(f"missing data: `astraios data download {' '.join(missing)} --to {directory if own else 'DIR'}` "
                      f"fetches it{'' if own else ', then pass --data-dir DIR'}{sample}.", soft_wrap=True)

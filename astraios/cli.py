"""The `astraios` command line.

Heavy libraries (torch, transformers) are imported inside each command so that light commands
such as `astraios sandbox run` and `--help` start fast.
"""

from __future__ import annotations

import typer

from astraios import __version__
from astraios.gpu_check.cli import EPILOG as GPU_CHECK_EPILOG
from astraios.gpu_check.cli import gpu_check as gpu_check_command
from astraios.perturb.cli import EPILOG as PERTURB_EPILOG
from astraios.perturb.cli import perturb as perturb_command
from astraios.runs_cli import register as register_run_commands
from astraios.sandbox.cli import app as sandbox_app
from astraios.security.cli import app as security_app

app = typer.Typer(
    name="astraios",
    help="Instruction-tune code LLMs with seven tuning methods and measure what each buys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(sandbox_app, name="sandbox")
app.command("perturb", epilog=PERTURB_EPILOG)(perturb_command)
app.add_typer(security_app, name="security")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"astraios {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """astraios: tune, evaluate, grid and report."""


def _fail(error: Exception, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}")  # one line, even in logs
    raise typer.Exit(code)


@app.command(
    epilog="Examples:\n\n"
    "  astraios train configs/tiny.yaml      # tiny model, shipped data, about a minute on a CPU, offline\n\n"
    "  astraios train configs/tiny.yaml --set method.name=ia3 --set train.max_steps=20\n\n"
    "  astraios train configs/astraios.yaml --set model.name=starcoderbase-1b --set method.name=lora   # the study\n\n"
    "  astraios train runs/tiny-gptbigcode-s-lora --resume   # continue a run after a crash, with its own config\n\n"
    "  accelerate launch -m astraios train configs/astraios.yaml   # several GPUs (DDP/FSDP/DeepSpeed)"
)
def train(
    config: str = typer.Argument(..., help="YAML run config (see configs/), or a run directory (its config.yaml)."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: --set train.max_steps=20 (repeatable). "
                                   "A new method.name starts that method's section from its defaults."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over: remove the previous run's files (only "
                                   "in a directory astraios made; anything else is refused)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Instruction-tune a base model with one method; write losses, checkpoints and weights to a run directory."""
    from pathlib import Path

    from astraios.config import ConfigError, load_config

    try:
        if Path(config).is_dir():  # a run directory: its own config, and the run stays where it is
            if not (Path(config) / "config.yaml").is_file():
                raise ConfigError(f"{config} is a directory without config.yaml. Fix: pass a YAML config (e.g. "
                                  f"configs/tiny.yaml) or a run directory that astraios train wrote.")
            run_config = load_config(Path(config) / "config.yaml", [f"train.output_dir={config}", *set_])
        else:
            run_config = load_config(config, set_)
    except ConfigError as error:
        _fail(error)
    from astraios import train as training
    from astraios.locks import LockHeld

    try:
        summary = training.run(run_config, resume=resume, overwrite=overwrite, show_progress=not quiet)
    except (ConfigError, ValueError, FileNotFoundError, LockHeld) as error:
        _fail(error, 1)
    typer.echo(
        f"done: {summary['steps']} steps, train loss {summary['final_train_loss']:.4f}, "
        f"test loss {summary['final_test_loss']:.4f} -> {run_config.output_dir()}"
    )


@app.command(
    epilog="Examples:\n\n"
    "  astraios methods                              # starcoderbase-1b, on the meta device\n\n"
    "  astraios methods --model starcoderbase-15b\n\n"
    "  astraios methods --model tiny-llama-m --json\n\n"
    "  astraios methods --model bigcode/starcoderbase-3b   # any Hub id (reads its config only)"
)
def methods(
    model: str = typer.Option("starcoderbase-1b", "--model", help="Tiny model, StarCoder size, Hub id or local dir."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the tuning methods with trainable parameters, total parameters and trainable % for a model."""
    import json

    from astraios.methods.accounting import parameter_table

    try:
        rows = parameter_table(model)
    except (ValueError, OSError) as error:
        _fail(error, 1)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Tuning methods on {model}")
    for column in ("method", "name", "family", "trainable", "total", "trainable %"):
        table.add_column(column, justify="right" if column in {"trainable", "total", "trainable %"} else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            row["title"], row["method"], row["family"], f"{row['trainable']:,}", f"{row['total']:,}",
            f"{row['trainable_percent']:.4f}",
        )
    Console(width=max(Console().width, 100)).print(table)


@app.command(
    epilog="Examples:\n\n  astraios demo\n\n  astraios demo --output-dir /tmp/demo --steps 20"
)
def demo(
    output_dir: str = typer.Option("runs/demo", "--output-dir", help="Run directory (a previous run there is "
                                   "replaced; a directory with other files is refused)."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Optimiser steps (default: the demo config's)."),
) -> None:
    """Tune a tiny GPTBigCode with LoRA on the shipped instruction sample, on CPU, in about a minute."""
    from astraios.config import ConfigError
    from astraios.demo import run_demo
    from astraios.locks import LockHeld

    try:
        run_demo(output_dir, steps)
    except (ConfigError, ValueError, LockHeld) as error:
        _fail(error, 1)


@app.command(
    "eval",
    epilog="Examples:\n\n"
    "  astraios eval --model runs/tiny-gptbigcode-s-lora --tasks humanevalsynthesize-python --limit 5\n\n"
    "  astraios eval --model starcoderbase-1b --adapter runs/starcoderbase-1b-lora/final "
    "--tasks humanevalsynthesize-python,humanevalfixtests-java\n\n"
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
    "# robustness, the study's way\n\n"
    "  astraios eval --tasks recode-format --generations generations-format.json --output out/   "
    "# the harness's perturbed-humaneval output, no model",
)
def eval_(
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated task names (see `astraios tasks`)."),
    model: str | None = typer.Option(None, "--model", help="Model name, Hub id, local dir, or a training run directory."),
    adapter: str | None = typer.Option(None, "--adapter", help="Saved method dir (a run's final/), run dir or peft adapter."),
    n_samples: int = typer.Option(20, "--n-samples", help="Samples per problem (the study: 20)."),
    temperature: float = typer.Option(0.2, "--temperature", help="Sampling temperature; 0 = greedy (the study: 0.2)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling mass."),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", help="Most new tokens per completion."),
    batch_size: int = typer.Option(16, "--batch-size", help="Rows (prompt x sample) per forward pass (transformers)."),
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
    protocol: str = typer.Option("astraios", "--protocol", help="devign, bigclonebench: astraios (our defaults, "
                                 "below) | study (the study's evaluation exactly: comparable with the paper)."),
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
    prompt_style: str = typer.Option("completion", "--prompt-style", help="recode-*: completion (the study's) | "
                                     "octocoder (Question/Answer instruction form)."),
    workers: int | None = typer.Option(None, "--workers", help="Programs executed at once (default: one per CPU)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds each test program may run (default: 10)."),
    empty_samples: str = typer.Option("error", "--empty-samples", help="A document with no samples in --generations: "
                                      "error | failed (counted as failed samples; never left out of pass@k)."),
    cache_dir: str | None = typer.Option(None, "--cache-dir", help="Generation cache (default: OUTPUT/cache)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Evaluate a model (or saved generations) on tasks; write OUTPUT/results.json and a summary table."""
    from pathlib import Path

    from rich.console import Console

    from astraios import tasks as task_registry
    from astraios.evaluate import EvalConfig, evaluate, summary_table
    from astraios.generate import Sampling
    from astraios.generate.openai_api import EndpointError
    from astraios.locks import LockHeld
    from astraios.sandbox import SandboxUnavailable

    try:
        names = task_registry.parse_names(tasks)
        files = _generations_files(generations, names)
        config = EvalConfig(
            tasks=names, output_dir=Path(output or _default_eval_output(model, adapter, files)), model=model,
            adapter=adapter, sampling=Sampling(n_samples, temperature, top_p, max_new_tokens), backend=backend,
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
        _fail(error, 1)
    console = Console()
    console.print(summary_table(results, names))
    console.print(f"results: {config.output_dir / 'results.json'}")


def _generations_files(values: list[str], names: list[str]) -> dict[str, str]:
    files = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep:
            if len(names) != 1:
                raise ValueError(f"--generations {value}: with several tasks, say which one it holds: "
                                 f"--generations TASK={value}")
            task, path = names[0], value
        files[task.strip()] = path
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


@app.command(epilog="Examples:\n\n  astraios tasks\n\n  astraios tasks --json")
def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the evaluation tasks with their primary metric and a one-line description."""
    from astraios import tasks as task_registry

    rows = []
    for name in task_registry.names():
        task = task_registry.get(name)
        rows.append({"task": name, "metric": task.primary_metric, "description": task.description})
    if as_json:
        import json

        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Evaluation tasks (astraios eval --tasks NAME[,NAME...])")
    for column in ("task", "metric", "description"):
        table.add_column(column, no_wrap=column != "description")
    for row in rows:
        table.add_row(row["task"], row["metric"] or "-", row["description"])
    Console(width=max(Console().width, 120)).print(table)


@app.command(
    epilog="Examples:\n\n"
    "  astraios grid configs/grid-tiny.yaml --dry-run     # the plan, with parameter counts (meta device)\n\n"
    "  astraios grid configs/grid-tiny.yaml --data-dir ../shared/data   # run (again: finished cells are skipped)\n\n"
    "  astraios grid configs/grid-astraios.yaml           # the study; one cell per GPU when several are visible\n\n"
    "  astraios grid configs/grid-astraios.yaml --executor ray --address auto   # on the running Ray cluster"
)
def grid(
    config: str = typer.Argument(..., help="YAML grid config (see configs/grid-*.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan with parameter counts; train nothing."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Local data directory of the evaluation (overrides "
                                        "evaluation.data_dir; else $ASTRAIOS_DATA_DIR, else the Hub)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    executor: str | None = typer.Option(None, "--executor", help="Where jobs run: local (this machine; default) or "
                                        "ray (over the grid file's `executor.name`)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster: auto (the running one) or "
                                       "ray://HOST:10001; omitted: a local cluster."),
) -> None:
    """Train and evaluate every model x method cell of a grid; resumable, one failed cell never stops the others."""
    from astraios import grid as grids
    from astraios.config import ConfigError

    try:
        plan = grids.load_grid(config)
        if data_dir is not None:
            plan.set_data_dir(data_dir)
        if executor is not None or address is not None:
            plan.set_executor(executor, address)
    except ConfigError as error:
        _fail(error)
    if dry_run:
        if not _print_grid_plan(plan):
            raise typer.Exit(1)
        return
    from astraios.locks import LockHeld

    try:
        outcome = grids.run_grid(plan, show_progress=not quiet)
    except (LockHeld, ConfigError) as error:  # ConfigError: the executor's checks (Ray missing, cluster, shared disk)
        _fail(error, 1)
    typer.echo(f"grid: {plan.output_dir / grids.GRID_FILE}; report: astraios report {plan.output_dir}")
    if outcome.failed or outcome.mismatched:
        raise typer.Exit(1)


def _print_grid_plan(plan) -> bool:
    """Print the plan; False when a model cannot be built (the real run would fail those cells)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from astraios import grid as grids
    from astraios.grid_status import plan_rows

    console = Console(width=max(Console().width, 140))
    console.print(f"astraios grid {plan.path}: {len(plan.cells)} cells"
                  + (f" after {len(plan.bases)} base warm-ups" if plan.bases else ""))
    table = Table()
    # Run directories follow one pattern, said once below: the columns that differ keep the width.
    for column in ("job", "model", "method", "steps", "trainable", "total", "trainable %", "status"):
        table.add_column(column, justify="right" if column in {"steps", "trainable", "total", "trainable %"} else "left",
                         no_wrap=True)
    rows = plan_rows(plan)
    for row in rows:
        known = row["trainable"] is not None
        table.add_row(row["job"], row["model"], row["method"], str(row["steps"]),
                      f"{row['trainable']:,}" if known else "?", f"{row['total']:,}" if known else "?",
                      f"{row['trainable_percent']:.4f}" if known else "?", row["status"])
    console.print(table)
    console.print(f"run directories: {plan.output_dir}/MODEL-METHOD"
                  + (f", base warm-ups: {plan.output_dir}/{grids.BASES_DIR}/MODEL" if plan.bases else ""))
    problems = dict.fromkeys(row["note"] for row in rows if row.get("note"))
    for problem in problems:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(problem)}")
    if plan.config.evaluation is None:
        console.print("evaluation: none (train only)")
        return not problems
    evaluation = grids.plan_evaluation(plan.config.evaluation)
    settings = plan.config.evaluation
    console.print(f"evaluation: {', '.join(evaluation.tasks) or 'no task with data'} "
                  f"(n={settings.n_samples}, temperature {settings.temperature}, max {settings.max_new_tokens} new "
                  f"tokens, limit {settings.limit or 'none'})")
    for line in settings.describe_tasks():
        console.print(f"  {escape(line)}")
    for name, reason in evaluation.skipped.items():
        console.print(f"[yellow]skipped {name}:[/] {escape(reason)}")
    return not problems


@app.command(
    epilog="Examples:\n\n"
    "  astraios report runs/grid-tiny                   # writes runs/grid-tiny/report/index.html\n\n"
    "  astraios report runs/grid-astraios --output reports/astraios"
)
def report(
    runs_dir: str = typer.Argument(..., help="A grid's output_dir, or any folder of training run directories."),
    output: str | None = typer.Option(None, "--output", help="Where to write index.html, report.md, figures/ and "
                                      "tables/ (default: RUNS_DIR/report)."),
) -> None:
    """Tables, figures (PNG + SVG + CSV) and an offline index.html comparing methods across model sizes."""
    from pathlib import Path

    from astraios.analysis import build_report

    try:
        built = build_report(runs_dir, output or Path(runs_dir) / "report")
    except FileNotFoundError as error:
        _fail(error, 1)
    for note in built.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"report: {built.output / 'index.html'} ({len(built.figures)} figures, {len(built.tables)} tables)")


register_run_commands(app)  # generate, export: after train and eval in --help
app.command("gpu-check", epilog=GPU_CHECK_EPILOG)(gpu_check_command)

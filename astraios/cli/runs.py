"""Commands on a trained run: `astraios generate` (sample a few completions) and `astraios export`
(a plain transformers model).

Both take what `astraios eval --model` takes (a run directory, its final/, a model name), resolve
it the same way (`astraios.generate.resolve`) and generate with the same backends.
"""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)

GENERATE_EXAMPLES = (
    "Examples:\n\n"
    "  astraios generate runs/tiny-gptbigcode-s-lora --prompt 'Write a function that reverses a string.'\n\n"
    "  astraios generate runs/x --prompt 'Fix the bug: def add(a, b): return a - b' --n 5 --temperature 0.8\n\n"
    "  astraios generate runs/x --raw --prompt 'def fibonacci(n):' --stop '\\ndef' --json   # no template"
)
EXPORT_EXAMPLES = (
    "Examples:\n\n"
    "  astraios export runs/tiny-gptbigcode-s-lora          # -> runs/tiny-gptbigcode-s-lora/export\n\n"
    "  astraios export runs/starcoderbase-1b-ia3 --output models/sc1b-ia3 --dtype bfloat16\n\n"
    "  python -c \"from transformers import AutoModelForCausalLM as M; M.from_pretrained('runs/x/export')\""
)


@app.command(epilog=GENERATE_EXAMPLES)
def generate(
    run: str = typer.Argument(..., help="A training run directory (or its final/, a model name, a Hub id)."),
    prompt: list[str] = typer.Option(..., "--prompt", help="An instruction (repeatable)."),
    n: int = typer.Option(3, "--n", help="Completions per prompt."),
    temperature: float = typer.Option(0.2, "--temperature", help="Sampling temperature; 0 = greedy."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling mass."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", help="Most new tokens per completion."),
    raw: bool = typer.Option(False, "--raw", help="Send the prompt as it is, not in the training template "
                             "`Question: PROMPT\\n\\nAnswer: `."),
    stop: list[str] = typer.Option([], "--stop", help="Cut completions here (repeatable; default with the template: "
                                   "a new `Question:`)."),
    adapter: str | None = typer.Option(None, "--adapter", help="An adapter on top of RUN as a base model."),
    backend: str = typer.Option("transformers", "--backend", help="transformers | vllm."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Sample a few completions from a trained run (or any model), in the template it was trained on."""
    import json

    from astraios.data.instruction import question
    from astraios.evaluation import check_backend_options, check_model
    from astraios.generate import Sampling, create_backend, resolve

    try:
        if backend not in ("transformers", "vllm"):
            raise ValueError(f"--backend {backend}: unknown. Fix: use transformers or vllm.")
        sampling = Sampling(n, temperature, top_p, max_new_tokens)
        check_backend_options(backend, dtype, device, model=run)
        source = resolve(run, adapter)
        check_model(source)
        inputs = prompt if raw else [question(text) for text in prompt]
        stops = stop or ([] if raw else ["\nQuestion:"])
        loaded = create_backend(backend, source, batch_size=max(1, min(16, n * len(inputs))), dtype=dtype,
                                device=device, seed=seed)
        import torch

        torch.manual_seed(seed)
        outputs = loaded.generate(inputs, n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                                  max_new_tokens=sampling.max_new_tokens, stop=stops)
    except (ValueError, FileNotFoundError) as error:
        fail(error, FAILED)
    if as_json:
        typer.echo(json.dumps([{"prompt": text, "input": given, "completions": completions}
                               for text, given, completions in zip(prompt, inputs, outputs)], indent=2))
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    for number, (text, completions) in enumerate(zip(prompt, outputs), 1):
        console.rule(f"prompt {number}: {escape(text[:60])}", align="left")
        for index, completion in enumerate(completions, 1):
            console.print(f"[bold]completion {index}[/]")
            console.print(escape(completion), highlight=False)


@app.command(epilog=EXPORT_EXAMPLES)
def export(
    run: str = typer.Argument(..., help="A training run directory (or its final/)."),
    output: str | None = typer.Option(None, "--output", help="Where to write the model (default: RUN/export)."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (float32 on CPU, bfloat16 on a bf16 GPU) | float32 | "
                              "bfloat16 | float16."),
) -> None:
    """Merge a weight update (LoRA, DoRA, rsLoRA, PiSSA, LoRA+, VeRA, LoHa, LoKr, (IA)3) into the base and save a
    plain transformers model (safetensors); full fine-tuning is copied as it is; P-Tuning and the bottleneck
    adapters cannot be merged (the error says why)."""
    from astraios.generate.export import export_run

    try:
        done = export_run(run, output, dtype)
    except (ValueError, FileNotFoundError) as error:
        fail(error, FAILED)
    typer.echo(f"exported to {done['output']}: {done['how']}")


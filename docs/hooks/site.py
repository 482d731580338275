"""MkDocs hooks: pages made at build time from their one source, so they never go stale.

- `index.md` is README.md, with its `docs/...` links made relative to the site (the README is the
  front page on GitHub and on the site alike).
- `reference/cli.md` is rendered from the Typer app (`astraios.cli:app`): every command, argument
  and option with its help, default and examples, as `astraios COMMAND --help` prints them.

Importing the CLI needs no torch: its commands import heavy libraries only when they run.
"""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_PAGE = "reference/cli.md"


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, "index.md", content=front_page((ROOT / "README.md").read_text())))
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    return files


def front_page(readme: str) -> str:
    """The README with its links into docs/ made relative to the site's root."""
    return re.sub(r"\]\(docs/", "](", readme)


def cli_reference() -> str:
    """The whole command line as markdown: one section per command, subcommands in order."""
    import typer

    from astraios.cli import app

    root = typer.main.get_command(app)
    lines = ["# Command-line reference", "",
             "Generated from the command line itself at build time: the same text as "
             "`astraios COMMAND --help`.", ""]
    for path, command, context in _walk(root, ["astraios"], None):
        lines += _command_section(path, command, context)
    return "\n".join(lines)


def _walk(command, path, parent):
    context = command.context_class(command, info_name=path[-1], parent=parent)
    yield path, command, context
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from _walk(sub, [*path, name], context)


def _command_section(path: list[str], command, context) -> list[str]:
    group = bool(getattr(command, "commands", None))
    heading = "#" * min(len(path) + 1, 4)
    usage = [" ".join(path), "[OPTIONS]"]
    for param in command.params:
        if param.param_type_name == "argument":
            name = param.name.upper() + ("..." if param.nargs == -1 else "")
            usage.append(name if param.required else f"[{name}]")
    if group:
        usage.append("COMMAND [ARGS]...")
    lines = [f"{heading} `{' '.join(path)}`", "", _escape(command.help or ""), "",
             "```", " ".join(usage), "```", ""]
    rows = [_param_row(param, context) for param in command.params if not getattr(param, "hidden", False)]
    if rows:
        lines += [*rows, ""]
    if group:
        lines += ["Commands: " + ", ".join(f"`{' '.join([*path, name])}`" for name in command.commands), ""]
    lines += _epilog(command.epilog or "")
    return lines


def _param_row(param, context) -> str:
    if param.param_type_name == "argument":
        names = f"`{param.name.upper()}`"
    else:
        names = ", ".join(f"`{name}`" for name in param.opts)
        names += "".join(f" / `{name}`" for name in param.secondary_opts)  # --flag / --no-flag
    record = param.get_help_record(context)
    description = record[1] if record else (getattr(param, "help", None) or "")
    return f"- {names}: {_escape(description)}"


def _epilog(epilog: str) -> list[str]:
    """Examples (indented paragraphs) as one shell block per run of them, other paragraphs as text."""
    lines: list[str] = []
    for is_example, group in itertools.groupby(epilog.split("\n\n"), key=lambda part: part.startswith("  ")):
        if is_example:
            examples = [line[2:] for part in group for line in part.splitlines()]
            lines += ["Examples:", "", "```bash", *examples, "```", ""]
        else:
            lines += [line for part in group if part.strip() not in ("", "Examples:") for line in (_escape(part), "")]
    return lines


def _escape(text: str) -> str:
    """Help text as markdown, line breaks as spaces: outside `code`, angle brackets are shown (not read
    as HTML) and asterisks too (`recode-*` is no emphasis)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split("\n")))
    return "".join(part if part.startswith("`") else html.escape(part, quote=False).replace("*", "\\*")
                   for part in parts)

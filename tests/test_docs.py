"""The documentation: README.md is a short front page, the MkDocs site under docs/ builds with
`--strict` (a broken link or anchor, or a page missing from the nav, fails), its generated CLI
reference covers the whole command line, and what the pages name (options, files) exists."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from astraios.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").rglob("*.md") if "_incoming" not in path.parts)]
# Options of other tools that the pages quote: accelerate, torchrun, ray, tensorboard, semgrep, bandit,
# gcc, cppcheck, mkdocs, the evaluation harness, AATK's mark.py, and the benchmarks' and scripts' own flags.
OTHER_TOOLS_OPTIONS = {"--config_file", "--num_processes", "--cpu", "--nproc_per_node", "--head", "--port",
                       "--logdir", "--metrics", "--disable-nosem", "--ignore-nosec", "--wrap", "--strict",
                       "--max_length_generation", "--do_sample", "--n_samples", "--validate_only", "--quick",
                       "--languages", "--recode-limit", "--against", "--inline-suppr", "--java-limit", "--repeats",
                       "--old-tree", "--work"}


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_site_hooks", ROOT / "docs" / "hooks" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(command=None, path=("astraios",)):
    """Every (path, command) of the Typer app, walked here independently of the docs hook."""
    command = command or typer.main.get_command(app)
    yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_readme_is_a_front_page_that_opens_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == ["make demo", "make test"]


def test_cli_reference_has_every_command_option_and_example():
    reference = _hooks().cli_reference()
    heading = r"^#+ `(astraios[^`]*)`\n(.*?)(?=^#+ `astraios|\Z)"
    sections = dict(re.findall(heading, reference, re.MULTILINE | re.DOTALL))
    commands = list(_commands())
    assert set(sections) == {path for path, _ in commands}
    for path, command in commands:
        section = sections[path]
        for param in command.params:
            argument = param.param_type_name == "argument"
            names = [param.name.upper()] if argument else [*param.opts, *param.secondary_opts]
            for name in names:
                assert f"`{name}`" in section, f"{path}: {name} missing from the CLI reference"
        examples = [line.strip() for line in (command.epilog or "").splitlines() if line.startswith("  ")]
        assert all(example in section for example in examples), path


def test_pages_name_only_options_that_exist():
    known = {option for _, command in _commands() for param in command.params
             for option in [*param.opts, *param.secondary_opts]} | {"--help"} | OTHER_TOOLS_OPTIONS
    for page in PAGES:
        named = set(re.findall(r"(?<![\w-])--[a-zA-Z][\w-]*", page.read_text()))
        assert named <= known, f"{page.relative_to(ROOT)} names options no command has: {sorted(named - known)}"


def test_pages_name_only_files_and_objects_that_exist():
    for page in PAGES:
        text = page.read_text()
        for path in re.findall(r"`((?:astraios|configs|tests|benchmarks|scripts|docs)/[\w./-]*)", text):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"
        for dotted in re.findall(r"`(astraios(?:\.\w+)+)", text):
            module, *attributes = dotted.split(".")
            obj = importlib.import_module(module)
            for attribute in attributes:
                if not hasattr(obj, attribute):
                    obj = importlib.import_module(f"{obj.__name__}.{attribute}")  # a submodule
                else:
                    obj = getattr(obj, attribute)


def test_measured_figures_state_the_machine_and_load_not_how_they_were_made():
    """A figure's conditions are the machine and its load average; who else used the machine is not the project's."""
    import re

    making = re.compile(r"shared with|another (?:job|helper|session)|other jobs|helper's|busy shared", re.IGNORECASE)
    found = [f"{page.relative_to(ROOT)}: {match.group(0)!r}" for page in PAGES
             for match in making.finditer(page.read_text(encoding="utf-8"))]
    assert found == []


def test_every_package_has_an_api_page():
    package = ROOT / "astraios"
    modules = {path.stem for path in package.glob("*.py") if not path.name.startswith("_")}
    modules |= {path.parent.name for path in package.glob("*/__init__.py")}
    pages = {path.stem: path.read_text().strip() for path in (ROOT / "docs" / "reference" / "api").glob("*.md")}
    assert set(pages) == modules, "one page per package in docs/reference/api/ and a line in mkdocs.yml's nav"
    assert all(text == f"::: astraios.{name}" for name, text in pages.items())


def test_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (make test installs it)")
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stdout + build.stderr
    front = (site / "index.html").read_text()
    assert "Reproducing the study in one grid" in front and 'href="training/"' in front  # README, links made relative
    assert "astraios grid" in (site / "reference" / "cli" / "index.html").read_text()
    figures = sorted(path.name for path in (ROOT / "docs" / "grid-tiny").glob("*.png"))
    grid_page = (site / "grid" / "index.html").read_text()
    assert figures and all(f"grid-tiny/{name}" in grid_page and (site / "grid-tiny" / name).is_file()
                           for name in figures)

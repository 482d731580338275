"""`python -m astraios ...` (and `accelerate launch -m astraios ...`) runs the CLI."""

from astraios.cli import app

app()

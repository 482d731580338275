"""astraios: instruction-tune code LLMs with many tuning methods and measure what each buys."""

__version__ = "0.1.0"

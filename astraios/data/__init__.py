"""Instruction data for training (see `astraios.data.instruction`)."""

from astraios.data.instruction import (
    IGNORE_INDEX,
    SAMPLE,
    InstructionData,
    build,
    collate,
    load_examples,
    question,
)

__all__ = ["IGNORE_INDEX", "SAMPLE", "InstructionData", "build", "collate", "load_examples", "question"]

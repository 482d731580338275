"""The checkers: four built-in offline analysers, and CodeQL (the study's checker) when installed."""

from __future__ import annotations

from astraios.security.base import Checker
from astraios.security.checkers.bandit import Bandit
from astraios.security.checkers.cppcheck import Cppcheck
from astraios.security.checkers.gcc import Gcc
from astraios.security.checkers.semgrep import Semgrep

BUILTIN: dict[str, type[Checker]] = {"semgrep": Semgrep, "bandit": Bandit, "gcc": Gcc, "cppcheck": Cppcheck}

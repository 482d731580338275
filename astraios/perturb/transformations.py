"""The registry of transformations: name -> what it changes, its ReCode category, whether it is seeded."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from astraios.perturb import code, docstring
from astraios.perturb.problem import Problem


@dataclass(frozen=True)
class Transformation:
    name: str
    category: str  # ReCode's directory: nlaugmenter, func_name, natgen, format
    apply: Callable[[Problem, random.Random], Problem]
    seeded: bool

    @property
    def summary(self) -> str:
        return (self.apply.__doc__ or self.name).strip().split("\n\n")[0].replace("\n", " ")


TRANSFORMATIONS = {t.name: t for t in (
    Transformation("DocTypos", "nlaugmenter", docstring.doc_typos, True),
    Transformation("DocCharCase", "nlaugmenter", docstring.doc_char_case, True),
    Transformation("DocSynonyms", "nlaugmenter", docstring.doc_synonyms, True),
    Transformation("FuncRenameCamelCase", "func_name", code.func_rename_camel_case, False),
    Transformation("FuncRenameTypo", "func_name", code.func_rename_typo, True),
    Transformation("VarRenameNaive", "natgen", code.var_rename_naive, False),
    Transformation("VarRenameRandom", "natgen", code.var_rename_random, True),
    Transformation("DeadCode", "natgen", code.dead_code, True),
    Transformation("ForWhile", "natgen", code.for_while, False),
    Transformation("TabIndent", "format", code.tab_indent, False),
    Transformation("NewLines", "format", code.new_lines, True),
    Transformation("NewLineAfterDoc", "format", code.new_line_after_doc, False),
    Transformation("DocToComments", "format", code.doc_to_comments, False),
)}

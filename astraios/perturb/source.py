"""Surgical edits of Python source: locate things with `ast` and `tokenize`, change only those
characters, keep every other byte (comments, quotes, spacing) as it was.

Transformations never re-print code from the AST (`ast.unparse` would reformat the whole prompt,
a format perturbation mixed into every other one).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize
from collections.abc import Iterable


class Source:
    """A module's text with its AST and the helpers to turn AST positions into text offsets."""

    def __init__(self, text: str):
        self.text = text
        self.tree = ast.parse(text)
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, lineno: int, col_offset: int) -> int:
        """The text offset of an AST position (1-based line, UTF-8 byte column)."""
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_offset].decode("utf-8"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def function(self, name: str) -> ast.FunctionDef | None:
        """The module-level function `name` (the last definition wins, as at run time)."""
        found = None
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                found = node
        return found

    def starts_line(self, node: ast.AST) -> bool:
        """Whether the node is the first thing on its line (only indentation before it)."""
        line = self.lines[node.lineno - 1]
        return not line.encode("utf-8")[:node.col_offset].decode("utf-8").strip()

    def indentation(self, lineno: int) -> str:
        line = self.lines[lineno - 1]
        return line[:len(line) - len(line.lstrip())]

    def identifiers(self) -> set[str]:
        """Every NAME token of the text (used to pick names that collide with nothing)."""
        return {token.string for token in tokens(self.text) if token.type == tokenize.NAME}


def tokens(text: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def splice(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    """Replace text[start:end] by each replacement; edits must not overlap."""
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def docstring_node(function: ast.FunctionDef) -> ast.Expr | None:
    first = function.body[0] if function.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def usable_name(name: str, taken: set[str]) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and name not in taken
            and not hasattr(builtins, name))


def rename_edits(source: Source, old: str, new: str, within: ast.AST | None = None) -> list[tuple[int, int, str]]:
    """Edits that rename every binding and use of `old` (names, parameters, function names,
    global/nonlocal declarations), in `within` or the whole module; attributes are left alone."""
    edits = []
    for node in ast.walk(within or source.tree):
        if isinstance(node, ast.Name) and node.id == old:
            start, end = source.span(node)
            edits.append((start, end, new))
        elif isinstance(node, ast.arg) and node.arg == old:
            start = source.offset(node.lineno, node.col_offset)
            edits.append((start, start + len(old), new))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == old:
            edits.append(_keyword_name_edit(source, node, old, new))
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and old in node.names:
            start, end = source.span(node)
            segment = source.text[start:end]
            position = _word(segment, old, len("nonlocal" if isinstance(node, ast.Nonlocal) else "global"))
            edits.append((start + position, start + position + len(old), new))
    return edits


def _keyword_name_edit(source: Source, node, old: str, new: str) -> tuple[int, int, str]:
    """The name after `def`/`class` (decorators come before the node's own line)."""
    start = source.offset(node.lineno, node.col_offset)
    position = _word(source.text, old, start + (len("async def") if isinstance(node, ast.AsyncFunctionDef)
                                                else len("class") if isinstance(node, ast.ClassDef) else len("def")))
    return (position, position + len(old), new)


def _word(text: str, word: str, start: int) -> int:
    """The first whole-word occurrence of `word` at or after `start`."""
    position = start
    while True:
        position = text.index(word, position)
        before = text[position - 1] if position else " "
        after = text[position + len(word)] if position + len(word) < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return position
        position += 1

"""Meaning-preserving transformations of the code: function and variable names, syntax (dead code,
for <-> while) and format (tabs, blank lines, docstring as comments).

Each takes a `Problem` and a seeded `random.Random` and returns the transformed problem (the same
one when it does not apply, e.g. no loop to rewrite). Syntax and format edits are made where the
model sees them, in the prompt part (before the marker); renames apply everywhere they must for the
program to stay the same, the tests included.
"""

from __future__ import annotations

import ast
import random
import re
import tokenize

from astraios.perturb.problem import Problem
from astraios.perturb.source import (
    Source,
    docstring_node,
    rename_edits,
    splice,
    tokens,
    usable_name,
)

KEYBOARD_NEIGHBOURS = {
    "q": "wa", "w": "qeas", "e": "wrsd", "r": "etdf", "t": "ryfg", "y": "tugh", "u": "yihj", "i": "uojk",
    "o": "ipkl", "p": "ol", "a": "qwsz", "s": "awedxz", "d": "serfcx", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "j": "huikmn", "k": "jiolm", "l": "kop", "z": "asx", "x": "zsdc", "c": "xdfv",
    "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}
DEAD_HEADERS = ("if False:", "while False:", "for {loop} in range(0):")


# ----------------------------------------------------------------------------------------------
# Function name (ReCode func_name)


def rename_function(problem: Problem, new: str) -> Problem:
    """The entry point renamed in its definition, its calls (recursion), its docstring's examples
    and the tests."""
    old = problem.entry_point
    source = Source(problem.code)
    edits = rename_edits(source, old, new)
    docstring = docstring_node(source.function(old))
    if docstring is not None:
        start, end = source.span(docstring)
        edits.append((start, end, _rename_words(source.text[start:end], old, new)))
    test = splice(problem.test, rename_edits(Source(problem.test), old, new))
    return problem.replace(code=splice(problem.code, edits), test=test, entry_point=new)


def _rename_words(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, text)


def _taken(problem: Problem) -> set[str]:
    return Source(problem.code).identifiers() | Source(problem.test).identifiers()


def func_rename_camel_case(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """The entry point's snake_case name in camelCase (names without underscores stay)."""
    head, *rest = problem.entry_point.split("_")
    new = head + "".join(part[:1].upper() + part[1:] for part in rest)
    return rename_function(problem, new) if new != problem.entry_point and usable_name(new, _taken(problem)) else problem


def func_rename_typo(problem: Problem, rng: random.Random) -> Problem:
    """One typo in the name: two neighbouring letters swapped, or a letter replaced by a keyboard
    neighbour."""
    name, taken = problem.entry_point, _taken(problem)
    letters = [i for i, character in enumerate(name) if character.lower() in KEYBOARD_NEIGHBOURS]
    for _ in range(20):
        if not letters:
            break
        i = rng.choice(letters)
        if rng.random() < 0.5 and i + 1 < len(name) and name[i + 1].isalpha() and name[i + 1] != name[i]:
            new = name[:i] + name[i + 1] + name[i] + name[i + 2:]
        else:
            replacement = rng.choice(KEYBOARD_NEIGHBOURS[name[i].lower()])
            new = name[:i] + (replacement.upper() if name[i].isupper() else replacement) + name[i + 1:]
        if usable_name(new, taken):
            return rename_function(problem, new)
    return problem


# ----------------------------------------------------------------------------------------------
# Syntax (ReCode natgen)


def renameable_variables(problem: Problem) -> list[str]:
    """Local variables of the entry point that the prompt part shows, in order of appearance:
    assigned names that are not parameters, not declared global/nonlocal, and not bound by an
    import, an `except ... as`, a nested definition or a match pattern."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    marker = problem.marker_line
    excluded = {argument.arg for argument in ast.walk(function.args) if isinstance(argument, ast.arg)}
    stored: dict[str, int] = {}
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            excluded.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            excluded.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            excluded.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and node is not function:
            excluded.update(argument.arg for argument in ast.walk(node.args) if isinstance(argument, ast.arg))
            excluded.add(getattr(node, "name", ""))
        elif isinstance(node, ast.ClassDef):
            excluded.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            excluded.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            excluded.add(node.rest)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stored.setdefault(node.id, node.lineno)
    visible = {node.id for node in ast.walk(function) if isinstance(node, ast.Name) and node.lineno - 1 < marker}
    names = [name for name in sorted(stored, key=stored.get) if name not in excluded and name in visible]
    return [name for name in names if name != problem.entry_point]


def _rename_variables(problem: Problem, new_names: dict[str, str]) -> Problem:
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    edits = [edit for old, new in new_names.items() for edit in rename_edits(source, old, new, within=function)]
    return problem.replace(code=splice(problem.code, edits))


def var_rename_naive(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """Every visible local variable renamed VAR_0, VAR_1, ... in order of first assignment."""
    taken = _taken(problem)
    mapping, counter = {}, 0
    for name in renameable_variables(problem):
        while not usable_name(f"VAR_{counter}", taken):
            counter += 1
        mapping[name] = f"VAR_{counter}"
        counter += 1
    return _rename_variables(problem, mapping) if mapping else problem


def var_rename_random(problem: Problem, rng: random.Random) -> Problem:
    """Every visible local variable gets a random name of 3 to 8 letters and digits."""
    taken = _taken(problem)
    mapping = {}
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for name in renameable_variables(problem):
        while True:
            new = rng.choice(alphabet) + "".join(rng.choice(alphabet + "0123456789") for _ in range(rng.randint(2, 7)))
            if usable_name(new, taken | set(mapping.values())):
                break
        mapping[name] = new
    return _rename_variables(problem, mapping) if mapping else problem


def _prompt_statements(source: Source, function: ast.FunctionDef, marker: int) -> list[ast.stmt]:
    """Statements of the function body (any depth, not nested definitions' bodies) that start a
    line in the prompt part, the docstring excluded."""
    docstring = docstring_node(function)
    found = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            is_elif = isinstance(node, ast.If) and source.lines[node.lineno - 1].lstrip().startswith("elif")
            if node is not docstring and not is_elif and node.lineno - 1 < marker and source.starts_line(node):
                found.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for field in ("body", "orelse", "finalbody"):
                visit(getattr(node, field, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                visit(handler.body)
            for case in getattr(node, "cases", []) or []:
                visit(case.body)

    visit(function.body)
    return found


def dead_code(problem: Problem, rng: random.Random) -> Problem:
    """A block that never runs (`if False:`, `while False:` or `for _ in range(0):` around a copy of
    one of the function's own one-line statements, or `pass`) before a statement of the prompt part."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    places = _prompt_statements(source, function, problem.marker_line)
    if not places:
        return problem
    place = rng.choice(places)
    copyable = [node for node in _prompt_statements(source, function, len(source.lines))
                if node.end_lineno == node.lineno and isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign,
                                                                        ast.Expr, ast.Return))
                and not any(isinstance(inner, (ast.Yield, ast.YieldFrom, ast.Await, ast.NamedExpr))
                            for inner in ast.walk(node))]
    body = source.text[slice(*source.span(rng.choice(copyable)))] if copyable and rng.random() < 0.8 else "pass"
    taken = _taken(problem)
    loop = next(f"_i_{k}" for k in range(1000) if usable_name(f"_i_{k}", taken))
    indent = source.indentation(place.lineno)
    unit = _indent_unit(source)
    header = rng.choice(DEAD_HEADERS).format(loop=loop)
    block = f"{indent}{header}\n{indent}{unit}{body}\n"
    start = source.starts[place.lineno - 1]
    return problem.replace(code=splice(problem.code, [(start, start, block)]))


def _indent_unit(source: Source) -> str:
    """One level of the module's indentation (four spaces unless it uses something else)."""
    for token in tokens(source.text):
        if token.type == tokenize.INDENT:
            return token.string
    return "    "


def for_while(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """The first loop of the prompt part rewritten: `for x in it:` as a `while True:` loop over
    `iter(it)` that breaks on StopIteration, or `while c:` as `for _ in iter(int, 1):` that breaks
    when not c. Loops with an `else:` or a header over several lines are left alone."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    taken = _taken(problem)
    for node in _prompt_statements(source, function, problem.marker_line):
        if not isinstance(node, (ast.For, ast.While)) or node.orelse:
            continue
        header_end = (node.iter if isinstance(node, ast.For) else node.test).end_lineno
        if header_end != node.lineno or node.body[0].lineno == node.lineno:
            continue
        indent = source.indentation(node.lineno)
        unit = source.indentation(node.body[0].lineno)[len(indent):] or _indent_unit(source)
        if isinstance(node, ast.For):
            iterator = next(f"_iter_{k}" for k in range(1000) if usable_name(f"_iter_{k}", taken))
            target = source.text[slice(*source.span(node.target))]
            iterable = source.text[slice(*source.span(node.iter))]
            header = (f"{indent}{iterator} = iter({iterable})\n{indent}while True:\n{indent}{unit}try:\n"
                      f"{indent}{unit}{unit}{target} = next({iterator})\n{indent}{unit}except StopIteration:\n"
                      f"{indent}{unit}{unit}break")
        else:
            condition = source.text[slice(*source.span(node.test))]
            header = f"{indent}for _ in iter(int, 1):\n{indent}{unit}if not ({condition}):\n{indent}{unit}{unit}break"
        start = source.starts[node.lineno - 1]
        end = start + len(source.lines[node.lineno - 1])
        return problem.replace(code=splice(problem.code, [(start, end, header)]))
    return problem


# ----------------------------------------------------------------------------------------------
# Format (ReCode format)


def _block_depths(source: Source) -> dict[int, int]:
    """0-based line -> block depth, for the lines that begin a statement (what Python's indentation
    rules apply to; lines inside brackets or strings are free)."""
    depths, depth, line_start = {}, 0, True
    for token in tokens(source.text):
        if token.type == tokenize.INDENT:
            depth += 1
        elif token.type == tokenize.DEDENT:
            depth -= 1
        elif token.type == tokenize.NEWLINE:
            line_start = True
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER) and line_start:
            depths[token.start[0] - 1] = depth
            line_start = False
    return depths


def tab_indent(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """Indentation with tabs, one per block level, in the prompt and the solution alike (Python
    refuses a block that mixes the two); the docstring's lines follow its first line."""
    source = Source(problem.code)
    if _indent_unit(source) == "\t":
        return problem
    edits = []
    for number, depth in _block_depths(source).items():
        line = source.lines[number]
        edits.append((source.starts[number], source.starts[number] + len(line) - len(line.lstrip()), "\t" * depth))
    docstring = docstring_node(source.function(problem.entry_point))
    if docstring is not None:
        prefix = source.indentation(docstring.lineno)
        tabs = "\t" * _block_depths(source)[docstring.lineno - 1]
        for number in range(docstring.lineno, docstring.end_lineno):
            if prefix and source.lines[number].startswith(prefix):
                edits.append((source.starts[number], source.starts[number] + len(prefix), tabs))
    return problem.replace(code=splice(problem.code, edits))


def _blank_line_places(source: Source, marker: int, after: int = 0) -> list[int]:
    """0-based lines of the prompt part after which a blank line changes nothing: ends of lines
    outside string literals."""
    ends = {token.start[0] - 1 for token in tokens(source.text) if token.type in (tokenize.NL, tokenize.NEWLINE)}
    return sorted(line for line in ends if after <= line < marker)


def new_lines(problem: Problem, rng: random.Random) -> Problem:
    """One to three blank lines after random lines of the prompt part (within the function)."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    places = _blank_line_places(source, problem.marker_line, after=function.lineno - 1)
    if not places:
        return problem
    chosen = rng.sample(places, min(len(places), rng.randint(1, 3)))
    edits = [(source.starts[line] + len(source.lines[line]), source.starts[line] + len(source.lines[line]), "\n")
             for line in chosen]
    return problem.replace(code=splice(problem.code, edits))


def new_line_after_doc(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """A blank line after the docstring."""
    source = Source(problem.code)
    docstring = docstring_node(source.function(problem.entry_point))
    if docstring is None:
        return problem
    end = source.starts[docstring.end_lineno - 1] + len(source.lines[docstring.end_lineno - 1])
    return problem.replace(code=splice(problem.code, [(end, end, "\n")]))


def doc_to_comments(problem: Problem, rng: random.Random) -> Problem:  # noqa: ARG001 (deterministic)
    """The docstring written as `#` comments (the function then has no docstring)."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    docstring = docstring_node(function)
    if docstring is None or not source.starts_line(docstring) or len(function.body) < 2:
        return problem
    start, end = source.span(docstring)
    rest = source.lines[docstring.end_lineno - 1][source.offset(docstring.end_lineno, docstring.end_col_offset)
                                                 - source.starts[docstring.end_lineno - 1]:]
    if rest.strip() and not rest.strip().startswith("#"):
        return problem
    indent = source.indentation(docstring.lineno)
    text = docstring.value.value.expandtabs().strip("\n").rstrip()
    lines = [line.rstrip() for line in text.split("\n")]
    common = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()), default=0)
    lines = [lines[0].strip()] + [line[common:] for line in lines[1:]]
    comment = "\n".join(f"{indent}# {line}".rstrip() for line in lines)
    line_start = source.starts[docstring.lineno - 1]
    return problem.replace(code=splice(problem.code, [(line_start, end, comment)]))


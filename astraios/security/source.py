"""The text a compiler reads, for the analysers that read a program's file as written (semgrep,
bandit): what they match must be what is compiled, line for line.

Python: a coding declaration (`# coding: utf-7`, `unicode_escape`) makes CPython compile a decoding
of the file's bytes, in which a comment can hide a newline and the code after it (`# +AAo-x = 1`),
so the analysers get that decoded text, with the declaration blanked (line numbers are kept, and
the text is not decoded a second time by an analyser that honours declarations).

C: the compiler splices a line that ends in a backslash with the next (`sys`, backslash, newline,
`tem(cmd)` is `system(cmd)`) and reads digraphs (`<: :> <% %> %: %:%:`) as `[ ] { } # ##`; semgrep
does neither, so it gets the text with both done, each logical line followed by the newlines its
splices removed (so every line keeps its number). Macros are not expanded: `#define RUN system`
still hides a call from semgrep (gcc and cppcheck, which preprocess, are not fooled).
"""

from __future__ import annotations

import io
import re
import tokenize

from astraios.security.base import Target

# PEP 263's declaration, as CPython's tokenizer finds it on either of the first two lines.
DECLARATION = re.compile(r"[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
NEWLINE = re.compile(r"(\r\n|\r|\n)")
UTF_8 = ("utf-8", "utf-8-sig")
SPLICE = re.compile(r"\\[ \t\f\v]*$")  # gcc splices a backslash followed by spaces too
# Literals and comments first (kept as they are), then the digraphs, longest first.
C_TOKEN = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|//[^\n]*|/\*.*?\*/)|%:%:|<:|:>|<%|%>|%:""",
                     re.DOTALL)
DIGRAPHS = {"%:%:": "##", "<:": "[", ":>": "]", "<%": "{", "%>": "}", "%:": "#"}


def compiled_text(target: Target) -> str:
    """The program's text as its compiler reads it."""
    return python_text(target.program) if target.scenario.language == "python" else c_text(target.program)


def python_text(program: str) -> str:
    """What CPython compiles from `program` saved as UTF-8: its bytes decoded with the encoding
    they declare, the declaration blanked. A program CPython cannot decode does not compile, so it
    is never checked; it is returned as is."""
    data = program.encode("utf-8", "surrogateescape")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        if encoding in UTF_8:
            return program
        return _blank_declarations(data.decode(encoding))
    except (SyntaxError, UnicodeError, LookupError):
        return program


def _blank_declarations(text: str) -> str:
    """`text` with any coding declaration on its first two lines blanked (they are comments)."""
    pieces = NEWLINE.split(text, maxsplit=2)  # line 1, its end, line 2, its end, the rest
    for index in (0, 2):
        if index < len(pieces) and DECLARATION.match(pieces[index]):
            pieces[index] = ""
    return "".join(pieces)


def c_text(program: str) -> str:
    """`program` with its lines spliced and its digraphs spelt as the tokens they are, every line
    at its own number."""
    return C_TOKEN.sub(lambda match: match[1] or DIGRAPHS[match[0]], _splice_lines(program))


def _splice_lines(text: str) -> str:
    pieces = NEWLINE.split(text)  # line, line end, line, ..., last line
    spliced, removed = [], 0
    for index in range(0, len(pieces), 2):
        line, end = pieces[index], pieces[index + 1] if index + 1 < len(pieces) else ""
        splice = SPLICE.search(line)
        if splice and end:
            spliced.append(line[:splice.start()])
            removed += 1
        else:
            spliced.append(line + end + "\n" * removed)
            removed = 0
    return "".join(spliced)

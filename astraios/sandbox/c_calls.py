"""What a judged C program's two processes need to call across them (see the package docs): the
candidate's functions, read from gcc's own account of its prototypes (`-aux-info`), and the code
generated from them: the candidate's dispatch (argument decoding, the call, the reply) and the
tests' stubs (one definition per function, same prototype, that calls across) with their
prototypes, which are included in front of the tests' source.

A function crosses when it is defined (not static, not variadic) with parameters and result of
the types in TYPES: integers and floating point (copied), `const char *` (a string in) and
`char *` (a string in, whose final contents, when changed, are copied back into the tests'
buffer up to the string's original length: a function that writes past it, into an output buffer
or by `strcat`, cannot be judged), and `void` results. A function named like one of the C
library's is never given a stub (the tests would call the candidate's `strcmp`, or `abs`, instead
of the library's), nor one with a name C reserves for the implementation (`__x`, `_X`: gcc's
runtime, libgcc, defines `__popcountdi2` and the like, which the tests' own builtins call), nor
`main`. Others (structs, other pointers, typedef names beyond TYPES) do not cross: the tests
cannot call them.
"""

from __future__ import annotations

import ctypes
import functools
import re
from dataclasses import dataclass

# gcc's spelling of a type in -aux-info -> (wire kind, how the value is read). Kinds: i signed
# integer, u unsigned integer, d floating point, s string in, S string in and out, v nothing.
TYPES = {
    **dict.fromkeys(["char", "signed char", "short int", "int", "long int", "long long int", "ssize_t", "int8_t",
                     "int16_t", "int32_t", "int64_t", "intptr_t", "ptrdiff_t"], "i"),
    **dict.fromkeys(["unsigned char", "short unsigned int", "unsigned int", "long unsigned int",
                     "long long unsigned int", "_Bool", "size_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t",
                     "uintptr_t"], "u"),
    "float": "d", "double": "d", "const char *": "s", "char *": "S", "void": "v",
}
HEADERS = "#include <stddef.h>\n#include <stdint.h>\n#include <sys/types.h>\n"
AUX_LINE = re.compile(r"^/\* (?P<file>[^:]+):\d+:[NO]F \*/ (?P<storage>extern|static) (?P<result>[\w\s*]+?)\s*"
                      r"(?P<name>[A-Za-z_]\w*) \((?P<parameters>[^()]*)\);")


@dataclass(frozen=True)
class Function:
    name: str
    result: str
    parameters: tuple[tuple[str, str], ...]  # (type, name)

    def prototype(self) -> str:
        parameters = ", ".join(f"{kind} {name}" if not kind.endswith("*") else f"{kind}{name}"
                               for kind, name in self.parameters) or "void"
        result = self.result if self.result.endswith("*") else self.result + " "
        return f"{result}{self.name}({parameters})"


@functools.cache
def _library() -> list:
    return [ctypes.CDLL(name) for name in ("libc.so.6", "libm.so.6")]


def library_name(name: str) -> bool:
    """Whether the C library (libc, libm) exports `name`."""
    return any(hasattr(library, name) for library in _library())


def reserved_name(name: str) -> bool:
    """Whether C reserves `name` for the implementation (C11 7.1.3): the compiler's runtime lives there."""
    return name.startswith("__") or bool(re.match(r"_[A-Z]", name))


def functions(aux_info: str, source_file: str) -> tuple[list[Function], list[str]]:
    """The candidate's functions that cross, and why each other function it defines does not."""
    found, refused = [], []
    for line in aux_info.splitlines():
        if not re.match(rf"/\* {re.escape(source_file)}:\d+:[NO]F \*/", line):
            continue  # declared in a header, or only declared
        match = AUX_LINE.match(line)
        if match is None:
            declaration = re.sub(r"[^\w\s*(),]", "", line.split("*/")[1].split(";")[0]).strip()
            refused.append(f"{declaration} (a signature that cannot cross)")
            continue
        name, result = match["name"], " ".join(match["result"].split())
        parameters = _parameters(match["parameters"])
        if match["storage"] == "static" or name == "main" or name.startswith("astraios_"):
            continue
        if library_name(name):
            refused.append(f"{name} (named like a C library function: the tests keep the library's)")
        elif reserved_name(name):
            refused.append(f"{name} (a name C reserves for the compiler and its runtime: the tests keep theirs)")
        elif result not in TYPES or parameters is None:
            refused.append(f"{name} (a signature that cannot cross)")
        else:
            found.append(Function(name, result, parameters))
    return found, refused


def _parameters(text: str) -> tuple[tuple[str, str], ...] | None:
    if text.strip() == "void":
        return ()
    parameters = []
    for index, parameter in enumerate(part.strip() for part in text.split(",")):
        match = re.fullmatch(r"(?P<type>[\w\s]+?\s*\**)\s*(?P<name>[A-Za-z_]\w*)", parameter)
        kind = None if match is None else " ".join(match["type"].replace("*", " *").split()).replace("* *", "**")
        if kind not in TYPES or kind == "void":
            return None
        parameters.append((kind, f"a{index}"))
    return tuple(parameters)


def _get(kind: str) -> str:
    return {"i": "astraios_get_int(call)", "u": "(uint64_t)astraios_get_int(call)", "d": "astraios_get_double(call)",
            "s": "astraios_get_string(call)", "S": "astraios_get_string(call)"}[kind]


def _put(kind: str, value: str, buffer: str) -> str:
    return {"i": f"astraios_put_int({buffer}, (int64_t)({value}));",
            "u": f"astraios_put_int({buffer}, (int64_t)(uint64_t)({value}));",
            "d": f"astraios_put_double({buffer}, (double)({value}));",
            "s": f"astraios_put_string({buffer}, {value});", "S": f"astraios_put_string({buffer}, {value});"}[kind]


def dispatch_source(found: list[Function]) -> str:
    """The candidate's side: decode a call's arguments, call, encode the result and the final
    contents of its `char *` arguments."""
    cases = []
    for number, function in enumerate(found):
        lines = [f"    case {number}: {{"]
        for kind, name in function.parameters:
            lines.append(f"        {kind} {name} = ({kind}){_get(TYPES[kind])};")
        call = f"{function.name}({', '.join(name for _, name in function.parameters)})"
        if function.result == "void":
            lines.append(f"        {call};")
        else:
            lines.append(f"        {function.result} result = {call};")
            lines.append("        " + _put(TYPES[function.result], "result", "reply"))
        for kind, name in function.parameters:
            if TYPES[kind] == "S":
                lines.append("        " + _put("S", name, "reply"))
        lines.append("        break;\n    }")
        cases.append("\n".join(lines))
    prototypes = "".join(f"{function.prototype()};\n" for function in found)
    return (f'{HEADERS}#include "astraios_calls.h"\n{prototypes}\n'
            "void astraios_dispatch(uint32_t function, struct astraios_reader *call, struct astraios_buffer *reply) {\n"
            "    switch (function) {\n" + "\n".join(cases) + "\n    default:\n        break;\n    }\n}\n")


def stubs_source(found: list[Function]) -> str:
    """The tests' side: one definition per function that sends its arguments and returns what the
    candidate answered (copying changed strings back)."""
    parts = [f'{HEADERS}#include "astraios_calls.h"\n'
             "struct astraios_reader astraios_call(struct astraios_buffer *request);\n"
             "void astraios_check(struct astraios_reader *reader);\n"]
    for number, function in enumerate(found):
        lines = [f"{function.prototype()} {{", "    struct astraios_buffer request = {0};",
                 f"    astraios_put_int(&request, {number});"]
        lines += ["    " + _put(TYPES[kind], name, "&request") for kind, name in function.parameters]
        lines.append("    struct astraios_reader reply = astraios_call(&request);")
        lines.append("    struct astraios_reader *call = &reply;")
        if function.result != "void":
            lines.append(f"    {function.result} result = ({function.result}){_get(TYPES[function.result])};")
        lines += [f"    astraios_copy_back(call, {name});" for kind, name in function.parameters if TYPES[kind] == "S"]
        lines.append("    astraios_check(call);")
        lines.append("    return result;" if function.result != "void" else "    return;")
        lines.append("}\n")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def tests_header(found: list[Function], refused: list[str]) -> str:
    """The header included in front of the tests' source: the prototypes of the functions that cross."""
    notes = "".join(f"/* not callable from the tests: {reason} */\n" for reason in refused)
    return HEADERS + "".join(f"{function.prototype()};\n" for function in found) + notes

"""The plain-data wire format between a Python candidate and its tests (see
astraios/sandbox/__init__.py and python_calls.py, which uses it). The fork server loads this file
by path (jail.load_launcher, as `astraios_python_wire`), so it imports only the standard library.

Each message is a 4-byte big-endian length and that many bytes of JSON (at most
MAX_MESSAGE_BYTES). A value is one of
    null, true, false, a JSON number (int: -2**63 <= n < 2**63; float: its repr, NaN and
        Infinity included), a JSON string                         None, bool, int, float, str
    ["I", hex]          int beyond 64 bits     ["c", re, im]   complex
    ["b", base64]       bytes                  ["t", [v...]]   tuple     ["f", [v...]]  frozenset
    ["r", id]           the mutable container `id` of the message's object table
    ["F", index]        a function of the candidate (announced when the tests bound its names)
and mutable containers (list, dict, set, bytearray) are rows [id, kind, content] of the message's
object table (kind "l": [v...], "d": [[k, v]...], "s": [v...], "B": base64), so aliasing and
cycles survive. A call's arguments number their containers 0..n-1; the reply reuses those numbers
for the arguments' containers and lists the ones the candidate changed, which the tests update in
place: a test sees a candidate's in-place changes to its arguments, as in one process.

What crosses from the candidate is decoded by `Decoder` into new objects of exactly these types,
built only by the builtin types themselves, with bounded size (MAX_MESSAGE_BYTES, MAX_OBJECTS) and
nesting (MAX_DEPTH): no method the candidate defined ever runs where it is decoded. The
candidate's side lowers values of subclasses of these types (Counter, defaultdict, OrderedDict,
namedtuple, IntEnum, numpy.float64, ...) to their base type by the base type's own methods, and
numpy scalars to `.item()`; anything else (an instance of its own class, a generator, a numpy
array, a module) is not plain data.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import struct
import sys

MAX_MESSAGE_BYTES = 64 << 20
MAX_OBJECTS = 1 << 20
MAX_DEPTH = 100  # nesting of immutable values (tuples, frozensets); containers are flat table rows
HEADER = struct.Struct(">I")
INT64 = 1 << 63
MUTABLE_KINDS = {list: "l", dict: "d", set: "s", bytearray: "B"}
KIND_TYPES = {kind: kind_type for kind_type, kind in MUTABLE_KINDS.items()}
# Resource limits met as exceptions (Python ignores SIGXFSZ): an uncaught one ends the program with
# status `error` (see execution.LIMIT_REASONS); the launcher and the judge report it.
LIMIT_MARKERS = ((MemoryError, None, "memory"), (OSError, errno.EFBIG, "fsize"),
                 (OSError, errno.EMFILE, "files"), (OSError, errno.ENOSPC, "space"))


class NotPlainData(TypeError):
    """A value that cannot cross between the candidate and the tests."""


class ProtocolError(Exception):
    """A malformed message."""


def limit_marker(exc: BaseException) -> str | None:
    """The marker of the resource limit behind the exception (anywhere in its chain), if one is."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for kind, number, marker in LIMIT_MARKERS:
            if isinstance(exc, kind) and (number is None or getattr(exc, "errno", None) == number):
                return marker
        exc = exc.__cause__ or exc.__context__
    return None


# ------------------------------------------------------------------------------------ framing
def send(fd: int, message) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise NotPlainData(f"a message of {len(data)} bytes, above the limit of {MAX_MESSAGE_BYTES}")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int):
    """The next message, or None at end of input; ProtocolError when it is malformed."""
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {size} bytes announced, above the limit of {MAX_MESSAGE_BYTES}")
    data = _read_exactly(fd, size)
    if data is None:
        raise ProtocolError("the message was cut short")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not a JSON message: {exc}") from None


# -------------------------------------------------------------------------------------- values
def _lowered(value):
    """A value of a subclass of a plain type as its base type, read by the base type's methods
    (an override of the subclass never decides what is sent); numpy scalars by `.item()`. Types
    are tested on `type(value)`: `isinstance` would read `__class__`, which loads a lazy module."""
    kind = type(value)
    for base, lower in LOWERINGS:
        if issubclass(kind, base):
            return lower(value)
    numpy = sys.modules.get("numpy") if kind.__module__ == "numpy" else None
    if numpy is not None and issubclass(kind, numpy.generic):
        item = value.item()
        if type(item) in (bool, int, float, complex, str, bytes):
            return item
    raise NotPlainData(f"a {kind.__module__}.{kind.__qualname__} is not plain data")


LOWERINGS = (
    (int, int.__index__), (float, float.__float__), (str, str.__str__),
    (bytes, lambda value: bytes(memoryview(value))), (bytearray, lambda value: bytearray(memoryview(value))),
    (complex, lambda value: complex(complex.real.__get__(value), complex.imag.__get__(value))),
    (tuple, lambda value: tuple(tuple.__iter__(value))), (list, lambda value: list(list.__iter__(value))),
    (dict, lambda value: dict(dict.items(value))), (set, lambda value: set(set.__iter__(value))),
    (frozenset, lambda value: frozenset(frozenset.__iter__(value))),
)


class Encoder:
    """Values to wire form. `known`: containers the other side already holds, by id (a reply's
    arguments); `functions`: id(function) -> index of the functions that may cross by reference."""

    def __init__(self, functions: dict[int, int] | None = None, known: dict[int, int] | None = None,
                 first_id: int = 0):
        self.functions = functions or {}
        self.ids = dict(known or {})
        self.next_id = first_id
        self.table: list = []
        self.containers: dict[int, object] = {}  # number -> container (kept alive: ids stay unique)
        self.keep: list = []  # lowered temporaries stay alive too

    def value(self, value, depth: int = 0):
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -INT64 <= value < INT64 else ["I", format(value, "x")]
        if kind is float:
            return value
        if kind in MUTABLE_KINDS:
            return ["r", self.reference(value)]
        if depth >= MAX_DEPTH:
            raise NotPlainData(f"values nested more than {MAX_DEPTH} deep")
        if kind is tuple:
            return ["t", [self.value(item, depth + 1) for item in value]]
        if kind is frozenset:
            return ["f", [self.value(item, depth + 1) for item in value]]
        if kind is bytes:
            return ["b", base64.b64encode(value).decode()]
        if kind is complex:
            return ["c", value.real, value.imag]
        if id(value) in self.functions:
            return ["F", self.functions[id(value)]]
        lowered = _lowered(value)
        self.keep.append(lowered)
        return self.value(lowered, depth)

    def reference(self, container) -> int:
        number = self.ids.get(id(container))
        if number is None:
            number = self.ids[id(container)] = self.next_id
            self.containers[number] = container
            self.next_id += 1
            if len(self.table) >= MAX_OBJECTS:
                raise NotPlainData(f"more than {MAX_OBJECTS} containers")
            row = [number, MUTABLE_KINDS[type(container)], None]
            self.table.append(row)
            row[2] = self.content(container)
        return number

    def content(self, container):
        kind = type(container)
        if kind is list:
            return [self.value(item) for item in container]
        if kind is dict:
            return [[self.value(key), self.value(item)] for key, item in container.items()]
        if kind is set:
            return [self.value(item) for item in container]
        return base64.b64encode(container).decode()


class Decoder:
    """Wire form to values, for a message from the other side. `known`: id -> the containers this
    side sent in the call being answered (updated in place when the reply lists them);
    `functions`: index -> what ["F", index] stands for."""

    def __init__(self, functions: dict[int, object] | None = None, known: dict[int, object] | None = None):
        self.functions = functions or {}
        self.known = known or {}
        self.objects = dict(self.known)

    def message(self, table, *values) -> list:
        """Build the message's containers, then its values."""
        if type(table) is not list or len(table) > MAX_OBJECTS:
            raise ProtocolError("a malformed object table")
        rows = []
        for row in table:
            if type(row) is not list or len(row) != 3 or type(row[0]) is not int or row[1] not in KIND_TYPES:
                raise ProtocolError("a malformed object table row")
            number, kind = row[0], row[1]
            if number in self.known:
                if type(self.known[number]) is not KIND_TYPES[kind]:
                    raise ProtocolError(f"container {number} changed its type")
                rows.append((self.known[number], kind, row[2], True))
            elif number in self.objects:
                raise ProtocolError(f"container {number} defined twice")
            else:
                self.objects[number] = KIND_TYPES[kind]()
                rows.append((self.objects[number], kind, row[2], False))
        filled = [(container, self.content(kind, content), existing) for container, kind, content, existing in rows]
        for container, content, existing in filled:
            try:
                if type(container) is list:
                    container[:] = content
                elif type(container) is dict:
                    if existing:
                        container.clear()
                    container.update(content)
                elif type(container) is set:
                    if existing:
                        container.clear()
                    container.update(content)
                else:
                    container[:] = content
            except TypeError as exc:  # an unhashable key or member
                raise ProtocolError(str(exc)) from None
        return [self.value(value) for value in values]

    def content(self, kind: str, content):
        if kind == "B":
            return self.bytes(content)
        if type(content) is not list:
            raise ProtocolError("a malformed container")
        if kind == "d":
            if any(type(pair) is not list or len(pair) != 2 for pair in content):
                raise ProtocolError("a malformed dict")
            return [(self.value(key), self.value(item)) for key, item in content]
        return [self.value(item) for item in content]

    def value(self, value, depth: int = 0):
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is float or kind is str:
            return value
        if kind is not list or not value or type(value[0]) is not str or depth >= MAX_DEPTH:
            raise ProtocolError("a malformed value")
        tag, rest = value[0], value[1:]
        if tag == "r" and len(rest) == 1 and type(rest[0]) is int and rest[0] in self.objects:
            return self.objects[rest[0]]
        if tag in ("t", "f") and len(rest) == 1 and type(rest[0]) is list:
            items = [self.value(item, depth + 1) for item in rest[0]]
            try:
                return tuple(items) if tag == "t" else frozenset(items)
            except TypeError as exc:
                raise ProtocolError(str(exc)) from None
        if tag == "I" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) <= MAX_MESSAGE_BYTES:
            try:
                return int(rest[0], 16)
            except ValueError:
                raise ProtocolError("a malformed integer") from None
        if tag == "b" and len(rest) == 1:
            return self.bytes(rest[0])
        if tag == "c" and len(rest) == 2 and all(type(part) in (int, float) for part in rest):
            return complex(float(rest[0]), float(rest[1]))
        if tag == "F" and len(rest) == 1 and type(rest[0]) is int and rest[0] in self.functions:
            return self.functions[rest[0]]
        raise ProtocolError(f"a malformed value tagged {tag!r}")

    @staticmethod
    def bytes(text) -> bytes:
        if type(text) is not str:
            raise ProtocolError("malformed bytes")
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise ProtocolError("malformed bytes") from None

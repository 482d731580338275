"""Calls from Python tests to a Python candidate in another process, with plain data only.

Both halves of a judged Python run (see astraios/sandbox/__init__.py): `serve` runs in the
candidate's process after its module ran, answering calls; `judge` runs the tests in a separate
process, where the candidate's functions are `CandidateFunction` proxies. Values travel in the
wire format of python_wire.py. The fork server loads this file by path (jail.load_launcher, after
`astraios_python_wire`), so it imports only the standard library and that module.
"""

from __future__ import annotations

import builtins
import functools
import linecache
import os
import sys
import traceback
import types

from astraios_python_wire import (MUTABLE_KINDS, Decoder, Encoder, NotPlainData, ProtocolError, limit_marker, receive,
                                  send)

TESTS_FILE = "<tests>"


class CandidateGone(BaseException):
    """The candidate ended, or sent something malformed: the run fails whatever the tests do next
    (a BaseException, so `except Exception` in a test does not swallow it)."""


class CandidateError(Exception):
    """The candidate raised an exception of a type of its own (or one that cannot be rebuilt)."""


# ---------------------------------------------------------------------------- candidate side
def _binding(name: str, namespace: dict, functions: list, indices: dict, encoder: Encoder) -> list | None:
    if name not in namespace:
        return None
    value = namespace[name]
    if callable(value):
        if id(value) not in indices:
            indices[id(value)] = len(functions)
            functions.append(value)
        return [name, "F", indices[id(value)]]
    try:
        return [name, "v", encoder.value(value)]
    except NotPlainData:
        return [name, "x", f"{type(value).__module__}.{type(value).__qualname__}"]


def _raised(exc: BaseException) -> list:
    kind = type(exc)
    encoder = Encoder()
    try:
        arguments = encoder.value(tuple(exc.args))
    except (NotPlainData, RecursionError, MemoryError):
        encoder, arguments = Encoder(), ["t", [str(exc)[:10_000]]]
    return ["raise", kind.__module__, kind.__qualname__, arguments, encoder.table]


def serve(namespace: dict, calls_fd: int, replies_fd: int) -> None:
    """The candidate's half: name the module's functions and plain values the tests asked for,
    then answer calls until the tests close the channel."""
    message = receive(calls_fd)
    if message is None:
        return
    if type(message) is not list or len(message) != 2 or message[0] != "bind":
        raise ProtocolError("expected the tests' names first")
    functions: list = []
    indices: dict[int, int] = {}
    encoder = Encoder(functions=indices)
    bindings = [b for name in message[1] if type(name) is str and (b := _binding(name, namespace, functions, indices, encoder))]
    send(replies_fd, ["bound", bindings, encoder.table])
    by_index = dict(enumerate(functions))
    while (message := receive(calls_fd)) is not None:
        _, index, arguments, keywords, table = message
        decoder = Decoder(functions=by_index)
        arguments, keywords = decoder.message(table, arguments, keywords)
        received = {row[0]: row[2] for row in table}
        try:
            result = functions[index](*arguments, **dict(keywords))
        except BaseException as exc:  # noqa: BLE001 -- whatever the candidate raises goes to the tests
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
            reply = _raised(exc)
        else:
            try:
                reply = _reply(result, decoder.objects, received, indices)
            except (NotPlainData, RecursionError) as exc:
                reply = ["unplain", str(exc)[:10_000]]
        send(replies_fd, reply)


def _reply(result, objects: dict, received: dict, indices: dict) -> list:
    """The result, with the arguments' containers that changed: the tests update theirs in place."""
    known = {id(container): number for number, container in objects.items()}
    encoder = Encoder(functions=indices, known=known, first_id=max(objects, default=-1) + 1)
    changed = []
    for number, container in objects.items():
        content = encoder.content(container)
        if content != received[number]:
            changed.append([number, MUTABLE_KINDS[type(container)], content])
    value = encoder.value(result)
    return ["return", value, changed + encoder.table]


# -------------------------------------------------------------------------------- tests' side
class CandidateFunction:
    """A function of the candidate, called through the channel."""

    def __init__(self, channel: "Channel", index: int, name: str):
        self._channel, self._index, self.__name__ = channel, index, name
        self.__qualname__ = name

    def __call__(self, *arguments, **keywords):
        return self._channel.call(self, arguments, keywords)

    def __repr__(self) -> str:
        return f"<candidate function {self.__name__}>"


class Unreachable:
    """A name of the candidate bound to something that cannot cross (a module, an object)."""

    def __init__(self, name: str, kind: str):
        self._name, self._kind = name, kind

    def _refuse(self, *_, **__):
        raise NotPlainData(f"the tests use {self._name!r}, the candidate's {self._kind}: only its functions "
                           f"and plain data reach the tests")

    __call__ = __getattr__ = __getitem__ = __iter__ = _refuse


class Channel:
    """The tests' end: binds the candidate's names, makes calls, and remembers a broken candidate."""

    def __init__(self, calls_fd: int, replies_fd: int):
        self.calls_fd, self.replies_fd = calls_fd, replies_fd
        self.proxies: dict[int, CandidateFunction] = {}
        self.broken: str | None = None
        self.limit: str | None = None

    def receive(self):
        if self.broken:
            raise CandidateGone(self.broken)
        try:
            message = receive(self.replies_fd)
        except ProtocolError as exc:
            message = exc
        if type(message) is list and message and message[0] == "limit" and len(message) == 2:
            self.limit = message[1] if message[1] in ("memory", "fsize", "files", "space") else None
            message = None
        if message is None or isinstance(message, ProtocolError):
            self.broken = ("the candidate ended before answering" if message is None
                           else f"the candidate sent a malformed message: {message}")
            raise CandidateGone(self.broken)
        return message

    def fail(self, reason: str):
        self.broken = reason
        raise CandidateGone(reason)

    def bind(self, names: list[str]) -> dict:
        self.send(["bind", names])
        message = self.receive()
        if type(message) is not list or len(message) != 3 or message[0] != "bound" or type(message[1]) is not list:
            self.fail("the candidate did not answer with its names")
        decoder = Decoder()
        bound = {}
        try:
            rows = [row for row in message[1] if type(row) is list and len(row) == 3 and row[0] in names]
            values = decoder.message(message[2], *[row[2] if row[1] == "v" else None for row in rows])
            for (name, kind, detail), value in zip(rows, values):
                if kind == "F" and type(detail) is int:
                    self.proxies.setdefault(detail, CandidateFunction(self, detail, name))
                    bound[name] = self.proxies[detail]
                elif kind == "v":
                    bound[name] = value
                elif kind == "x" and type(detail) is str:
                    bound[name] = Unreachable(name, detail[:200])
        except ProtocolError as exc:
            self.fail(f"the candidate sent a malformed message: {exc}")
        return bound

    def send(self, message) -> None:
        try:
            send(self.calls_fd, message)
        except OSError:  # the candidate is gone (EPIPE)
            self.fail("the candidate ended before answering")

    def call(self, function: CandidateFunction, arguments: tuple, keywords: dict):
        if any(type(key) is not str for key in keywords):
            raise NotPlainData("keyword names must be strings")
        encoder = Encoder(functions={id(proxy): index for index, proxy in self.proxies.items()})
        message = ["call", function._index, encoder.value(arguments), encoder.value(tuple(keywords.items())),
                   encoder.table]
        self.send(message)
        reply = self.receive()
        decoder = Decoder(functions=self.proxies, known=encoder.containers)
        try:
            if type(reply) is list and len(reply) == 3 and reply[0] == "return":
                return decoder.message(reply[2], reply[1])[0]
            if type(reply) is list and len(reply) == 5 and reply[0] == "raise":
                raise rebuilt(reply[1], reply[2], decoder.message(reply[4], reply[3])[0], function.__name__)
            if type(reply) is list and len(reply) == 2 and reply[0] == "unplain" and type(reply[1]) is str:
                raise NotPlainData(f"{function.__name__} returned what cannot reach the tests: {reply[1][:2000]}")
        except ProtocolError as exc:
            self.fail(f"the candidate sent a malformed message: {exc}")
        self.fail("the candidate answered a call with something other than a result")


def rebuilt(module, name, arguments, function: str) -> BaseException:
    """The tests' copy of an exception the candidate raised: the builtin type itself (so `except
    ValueError` and the resource-limit markers work as in one process), else CandidateError."""
    arguments = arguments if type(arguments) is tuple else (arguments,)
    kind = getattr(builtins, name, None) if module == "builtins" and type(name) is str else None
    if isinstance(kind, type) and issubclass(kind, BaseException):
        try:
            return kind(*arguments)
        except Exception:  # noqa: BLE001 -- a builtin that wants other arguments
            pass
    return CandidateError(f"{function} raised {str(module)[:100]}.{str(name)[:100]}: "
                          f"{', '.join(map(str, arguments))[:2000]}")


def test_names(code: types.CodeType) -> list[str]:
    """Every name the tests' code may look up as a global, builtins left out: what to ask the
    candidate for (a superset: attribute names too)."""
    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
    return sorted(names - set(vars(builtins)))


@functools.lru_cache(maxsize=1024)
def prepared(source: str) -> tuple[types.CodeType | None, list[str], SyntaxError | ValueError | None]:
    """The tests compiled, with the names to ask the candidate for. The judge server prepares them
    before forking a judge, so the judges of one problem's programs compile its tests once."""
    try:
        compiled = compile(source, TESTS_FILE, "exec")
    except (SyntaxError, ValueError) as error:
        return None, [], error
    return compiled, test_names(compiled), None


def judge(source: str, calls_fd: int, replies_fd: int, report_fd: int) -> None:
    """The tests' half: bind the candidate's names the tests use, run the tests, and report on
    `report_fd` ("done", a limit marker, or "broken: ...") before exiting. Never returns."""
    channel = Channel(calls_fd, replies_fd)
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    report, code = "failed", 1
    linecache.cache[TESTS_FILE] = (len(source), None, source.splitlines(True), TESTS_FILE)  # tracebacks show lines
    try:
        compiled, names, error = prepared(source)
        if error is not None:
            raise error
        vars(main).update(channel.bind(names))
        exec(compiled, vars(main))
    except CandidateGone:
        pass
    except SystemExit as stop:
        print(f"the tests stopped early (SystemExit {stop.code!r})", file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 -- a failing test
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        report = limit_marker(exc) or "failed"
    else:
        report, code = "done", 0
    if channel.broken:
        report, code = (channel.limit or f"broken: {channel.broken}"), 1
    os.close(calls_fd)  # the candidate sees the end of its input and exits
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os.write(report_fd, report.encode() + b"\n")
    os._exit(code)

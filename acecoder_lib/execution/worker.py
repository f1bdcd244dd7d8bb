"""The worker script: a pre-warmed process that forks one sandboxed child per program (see docs/execution.md).

Started by ``engine.py`` as ``python -s -B worker.py '<json config>'`` (explicit environment, fixed hash seed)
(stdlib only; never imports torch or the package). Process tree per worker, namespaces created ONCE here and
inherited by every child:

    engine -- outer (waits; SIGTERM -> kills the zygote) -- zygote (PID 1 of a new PID+net+mount namespace)
                                                              +-- child per program (tmpfs cwd, rlimits, slot uid)

Engine <-> zygote: length-prefixed JSON frames (``harness.write_frame``) on private copies of the worker's
stdin/stdout. Child -> zygote: frames on a pipe at a random high fd, each carrying a per-child random token; the
child's stdout/stderr go to a second pipe, drained and capped.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import sys
import time

try:
    from . import isolation as iso
    from .harness import (
        _HDR,
        EXIT_CHANNEL,
        EXIT_RESTART,
        MAX_CACHED_TEST_CHARS,
        MAX_CACHED_TESTS,
        child_main,
        compile_test,
        limits,
        max_wall,
        read_frame,
        starved,
        test_limit,
        write_frame,
    )
except ImportError:  # run as a script: no package context; both modules are stdlib-only
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import isolation as iso  # noqa: E402
    from harness import (  # noqa: E402
        _HDR,
        EXIT_CHANNEL,
        EXIT_RESTART,
        MAX_CACHED_TEST_CHARS,
        MAX_CACHED_TESTS,
        child_main,
        compile_test,
        limits,
        max_wall,
        read_frame,
        starved,
        test_limit,
        write_frame,
    )

# Pre-imported so that sandboxed programs do not pay for them (a fork shares them copy-on-write). These are the
# modules AceCode/HumanEval-style programs import; nothing heavy (no numpy, no torch).
PREWARM = ("collections", "math", "re", "heapq", "itertools", "functools", "bisect", "string", "typing", "random",
           "datetime", "copy", "operator", "statistics", "fractions", "decimal", "dataclasses", "array", "enum",
           "unittest", "textwrap", "hashlib", "threading", "subprocess", "socket", "ctypes", "queue", "abc")
MAX_RESULT_BYTES = 16 << 20  # results kept per child (a real test report is < 1 KiB)
HARD_GRACE_S = 0.5  # zygote SIGKILLs this long after the in-process wall-clock alarm should have fired


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_cap(cfg: dict, start: int, n_tests: int) -> int:
    """RLIMIT_CPU of a child that runs the setup and tests start..n_tests-1: their limits plus 2 s of slack (the
    in-process alarms fire first; this is the last backstop, and a SIGKILL near it is read as a timeout)."""
    return int(cfg["setup_timeout_s"] + sum(test_limit(cfg, k) for k in range(start, n_tests)) + 2)


def _proc_usage(pid: int) -> tuple[float, int] | None:
    """(CPU seconds used so far, disk reads so far) of a process, from /proc/<pid>/stat (utime + stime; major page
    faults) and /proc/<pid>/io (bytes read from storage, in 512-byte blocks, where readable); None if unreadable.
    The reads count for the starved rule: a process waiting on a busy disk is not sleeping."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime: fields 14 and 15 of proc(5)
        reads = int(fields[9])  # majflt: field 12 of proc(5)
    except (OSError, IndexError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith(b"read_bytes:"):
                    reads += int(line.split()[1]) // 512
    except (OSError, IndexError, ValueError):
        pass  # /proc/<pid>/io needs ptrace access; the page faults alone still count
    return cpu, reads


class Zygote:
    """Serves jobs from the engine: one forked child per program (plus fresh ones after a death/timeout)."""

    def __init__(self, wcfg: dict, info: dict):
        self.wcfg, self.info = wcfg, info
        self.uid = wcfg["uid"] if info.get("uid_drop") else None
        self.child_pid = None
        self._pending_cleanup = None  # (pid, workdir) of the last child, cleaned after its result is sent
        self._code_cache: dict = {}
        # Top-level entries of the private /tmp that lead to a kept mount (a venv under /tmp): never emptied.
        self._keep_names = {p[len(iso.WORKDIR) + 1:].split("/")[0] for p in info.get("carried", [])}
        self.prof = dict.fromkeys(("spawn", "wait", "wait4", "child_cpu", "reap", "unmount", "idle", "job"), 0.0)

    # -- per child
    def _spawn(self, program, tests, start, cfg):
        token = os.urandom(8).hex()
        r_res, w_res = os.pipe()
        try:  # room for ~3000 results, so a child never blocks while the zygote sleeps (root may go to 1 MiB)
            fcntl.fcntl(w_res, 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        r_out, w_out = os.pipe()
        workdir = None
        if self.info.get("workdir"):
            workdir = self.info["workdir"]
        else:
            import tempfile
            workdir = tempfile.mkdtemp(prefix="sbx-", dir=self.wcfg["fallback_tmp"])
            if self.uid is not None:
                os.chown(workdir, self.uid, self.uid)
        res_fd = 300 + int.from_bytes(os.urandom(2), "big") % 700
        pid = os.fork()
        if pid == 0:  # ---- child
            try:
                os.setpgid(0, 0)
                os.dup2(w_res, res_fd, inheritable=False)
                os.dup2(w_out, 1)
                os.dup2(w_out, 2)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.closerange(3, res_fd)
                os.closerange(res_fd + 1, 65536)
                os.chdir(workdir)
                if os.environ.get("HOME") != workdir:  # normally set once in the zygote (cheaper than per child)
                    os.environ.update(HOME=workdir, TMPDIR=workdir)
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes raise OSError instead of killing
                cpu_total = _cpu_cap(cfg, start, len(tests))
                iso.set_limits(cfg["memory_mb"], cpu_total, cfg["max_processes"] if self.uid is not None else None,
                               cfg["max_file_mb"], cfg["max_open_files"])
                if self.uid is not None:
                    iso.drop_privileges(self.uid, self.uid)
                # sys.stdout/err/in are the zygote's objects, now on the redirected fds (the zygote only ever uses
                # os.read/os.write on 0/1, so nothing is buffered in them).
                sys.argv = ["<program>"]
                child_main(program, tests, start, cfg, res_fd, token)
            except BaseException:  # noqa: B902 - harness failure before the program ran
                pass
            os._exit(EXIT_CHANNEL)
        # ---- zygote
        self.child_pid = pid
        os.close(w_res)
        os.close(w_out)
        return pid, token, r_res, r_out, workdir

    def _run_child(self, program, tests, start, cfg, out: bytearray):
        """Run one child from test `start`; returns (setup message, {k: (v, err, s)}, death info or None)."""
        T = self.prof
        t0 = time.perf_counter()
        pid, token, r_res, r_out, workdir = self._spawn(program, tests, start, cfg)
        t1 = time.perf_counter()
        pidfd = os.pidfd_open(pid)
        for fd in (r_res, r_out):
            os.set_blocking(fd, False)
        cap = cfg["max_output_bytes"]
        buf = bytearray()
        setup, done, finished = None, {}, False
        _, wall = limits(cfg, "setup")

        def twall():  # the wall backstop of the next test to run (tests may carry their own limits)
            return limits(cfg, "test", next((k for k in range(start, len(tests)) if k not in done), -1))[1]

        deadline = time.monotonic() + wall + HARD_GRACE_S
        # For the starved-test rule (harness.starved): wall clock and (CPU, disk reads) of the child at the last
        # progress/check.
        mark_t = last_progress = time.monotonic()
        mark = progress = _proc_usage(pid)
        killed = exited = False
        fds = [pidfd, r_out]  # results are read when the child ends or at the deadline (fewer wake-ups)

        def drain(fd):
            nonlocal buf
            while True:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    return True
                if not chunk:
                    return False
                if fd == r_out:
                    if len(out) < cap:
                        out.extend(chunk[: cap - len(out)])
                elif len(buf) < MAX_RESULT_BYTES:  # a flood of fake frames cannot exhaust the zygote's memory
                    buf.extend(chunk)

        def parse():
            """Consume complete frames; True if the child made progress (setup done or a test finished)."""
            nonlocal setup, finished
            progress = False
            while len(buf) >= 4:
                n = _HDR.unpack(buf[:4])[0]
                if len(buf) < 4 + n:
                    break
                raw = bytes(buf[4:4 + n])
                del buf[:4 + n]
                try:
                    msg = json.loads(raw.decode("utf-8", "surrogatepass"))
                except ValueError:
                    continue
                if not isinstance(msg, dict) or msg.get("t") != token:
                    continue  # not from our harness
                e = msg.get("e")
                if e == "setup" and setup is None:
                    setup, progress = msg, True
                elif e == "D" and isinstance(msg.get("k"), int) and msg["k"] not in done:
                    r = msg.get("r")
                    done[msg["k"]] = (msg.get("v"), msg.get("err"), float(msg.get("s") or 0.0),
                                      r if isinstance(r, str) else None, float(msg.get("c") or 0.0))
                    progress = True
                elif e == "end":
                    finished = True
            return progress

        while not exited:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                drain(r_res)
                now = time.monotonic()
                if parse():  # still moving: the next test started at most now
                    deadline = now + twall() + HARD_GRACE_S
                    mark_t, last_progress = now, now
                    mark = progress = _proc_usage(pid)
                    continue
                # Computing but starved of CPU (a loaded machine) or waiting for a busy disk: the in-process alarm
                # extends itself up to max_wall, so does this backstop; a sleeping child is killed as before.
                # (One that has used its whole CPU limit ignored the CPU alarm: no extension for it.)
                which = "setup" if setup is None else "test"
                k_now = next((k for k in range(start, len(tests)) if k not in done), -1) if setup else -1
                usage = _proc_usage(pid)
                cpu_limit, k_wall = limits(cfg, which, k_now)
                if (not killed and usage is not None and mark is not None and progress is not None
                        and starved(usage[0] - mark[0], now - mark_t, cfg, usage[1] - mark[1])
                        and usage[0] - progress[0] < cpu_limit
                        and now - last_progress < max_wall(cfg, which, k_now) + HARD_GRACE_S):
                    deadline = now + k_wall
                    mark_t, mark = now, usage
                    continue
                if not killed:  # the in-process alarms did not end it: hard kill
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                timeout = 1.0
            ready, _, _ = select.select(fds, [], [], timeout)
            for fd in ready:
                if fd == pidfd:
                    exited = True
                elif not drain(fd):
                    fds.remove(fd)
        t2 = time.perf_counter()
        drain(r_res)
        drain(r_out)
        parse()
        _, status, rusage = os.wait4(pid, 0)
        t3 = time.perf_counter()
        T["spawn"] += t1 - t0
        T["wait"] += t2 - t1
        T["wait4"] += t3 - t2
        T["child_cpu"] += rusage.ru_utime + rusage.ru_stime
        self.child_pid = None
        os.close(pidfd)
        os.close(r_res)
        os.close(r_out)
        self._pending_cleanup = (pid, workdir)
        self.cleanup()  # before anything is reported: when run() returns, nothing of the program is left
        death = None
        if not finished:
            cpu = rusage.ru_utime + rusage.ru_stime
            cpu_cap = _cpu_cap(cfg, start, len(tests))
            if killed:
                death = ("timeout", "killed by the hard wall-clock backstop (the program ignored the alarm)")
            elif os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
                if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_cap - 0.05):
                    death = ("timeout", "RLIMIT_CPU exceeded")
                else:
                    death = ("crash", f"process killed by {name}")
            else:
                code = os.WEXITSTATUS(status)
                if code == EXIT_CHANNEL:
                    death = ("crash", "the program broke the harness's result channel")
                elif code != EXIT_RESTART:
                    death = ("crash", f"process exited with code {code} before reporting")
        current = None
        if death is not None and setup is not None and setup.get("v") == "ok":
            current = next((k for k in range(start, len(tests)) if k not in done), None)
        return setup, done, current, death

    def cleanup(self):
        """Kill every process the last program left behind, reap them, and drop its working directory."""
        pid, workdir = self._pending_cleanup
        self._pending_cleanup = None
        t0 = time.perf_counter()
        if self.info.get("pidns"):
            try:
                os.kill(-1, signal.SIGKILL)  # as PID 1 of the namespace: everything in it except ourselves
            except ProcessLookupError:
                pass
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.uid is not None:
                self._kill_uid()
        while True:  # reap (as PID 1 / subreaper, orphans are ours too)
            try:
                p, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
        t1 = time.perf_counter()
        if self.info.get("workdir"):
            iso.empty_dir(workdir, self._keep_names)
        else:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        self.prof["reap"] += t1 - t0
        self.prof["unmount"] += time.perf_counter() - t1

    def _kill_uid(self):
        """Without a PID namespace: SIGKILL every process of the slot uid (catches setsid escapes)."""
        for _ in range(10):
            found = False
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open(f"/proc/{d}/status") as f:
                        for line in f:
                            if line.startswith("Uid:"):
                                if int(line.split()[1]) == self.uid:
                                    os.kill(int(d), signal.SIGKILL)
                                    found = True
                                break
                except (OSError, ValueError):
                    pass
            if not found:
                return
            time.sleep(0.01)

    # -- per job
    def compiled(self, tests: list, strict: bool, mode: str = "tests") -> list:
        """Tests compiled once in the zygote (children inherit the code objects; the 16 programs of a question
        share their tests). compile() never runs the text; the parser has recursion guards."""
        out = []
        cache = self._code_cache
        for k, src in enumerate(tests):
            key = (src, k, strict, mode)
            code = cache.get(key)
            if code is None:
                code = compile_test(src, k, strict, mode)
                if len(src) <= MAX_CACHED_TEST_CHARS:
                    if len(cache) >= MAX_CACHED_TESTS:  # keep the zygote small: fork cost grows with its memory
                        cache.clear()
                    cache[key] = code
            out.append(code)
        return out

    def run_job(self, job: dict) -> dict:
        """All tests of one program -> result dict (see engine.ProgramResult)."""
        program, tests, cfg = job["program"], job["tests"], job["cfg"]
        mode = cfg.get("mode", "tests")
        tests = self.compiled(tests, cfg["strict_equality"], mode)
        n = len(tests)
        verdicts, errors, secs, values, cpus = [None] * n, [None] * n, [0.0] * n, [None] * n, [0.0] * n
        out = bytearray()
        status, detail = "ok", ""
        start = 0
        while True:
            if self._pending_cleanup:
                self.cleanup()
            setup, done, current, death = self._run_child(program, tests, start, cfg, out)
            for k, (v, err, s, r, c) in done.items():
                if 0 <= k < n:
                    verdicts[k], errors[k], secs[k], values[k], cpus[k] = v, err, s, r, c
            if setup is None or setup.get("v") != "ok":  # the program itself did not load
                if setup is None:
                    v, why = death or ("crash", "no report from the sandbox")
                    status = "timeout" if v == "timeout" else "crash"
                    detail = f"while loading the program: {why}"
                    tv = v
                else:
                    v = setup.get("v")
                    err = setup.get("err") or ""
                    status = {"syntax_error": "syntax_error", "timeout": "timeout"}.get(v, "crash")
                    detail = f"while loading the program: {err}"
                    tv = v if v in ("syntax_error", "timeout", "memory") else "error"
                for k in range(n):
                    if verdicts[k] is None:
                        verdicts[k], errors[k] = tv, detail[: cfg["max_error_chars"]]
                break
            if current is not None and verdicts[current] is None:
                v, why = death or ("crash", "no verdict reported")
                verdicts[current], errors[current] = v, why
            nxt = next((k for k in range(start, n) if verdicts[k] is None), None)
            stopped = cfg["stop_at_first_failure"] and any(v not in (None, "pass") for v in verdicts)
            if nxt is None or stopped:
                break
            start = nxt
        for k in range(n):
            if verdicts[k] is None:
                verdicts[k], errors[k] = "fail", "not run (stop_at_first_failure)"
        res = {"op": "result", "status": status, "verdicts": verdicts, "errors": errors, "seconds": secs,
               "cpu_seconds": cpus, "output": out.decode("utf-8", "replace"), "detail": detail}
        if mode == "values":
            res["values"] = [val if verdicts[k] == "pass" else None for k, val in enumerate(values)]
        return res

    def serve(self):
        """Job loop on stdin/stdout until EOF or a quit frame."""
        # The protocol moves to private fds; 0/1/2 become /dev/null so that a stray print in the zygote cannot
        # corrupt it (children put their own pipes on 1/2).
        pin, pout = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):
            os.dup2(null, fd)
        os.close(null)
        for s in (sys.stdout, sys.stderr):
            s.reconfigure(errors="backslashreplace")
        write_frame(pout, {"op": "ready", "isolation": self.info, "pid": os.getpid()})
        while True:
            t0 = time.perf_counter()
            job = read_frame(pin)
            t1 = time.perf_counter()
            self.prof["idle"] += t1 - t0
            if job is None or job.get("op") == "quit":
                break
            try:
                res = self.run_job(job)
            except Exception as e:  # a harness bug must not take the worker down silently
                res = {"op": "result", "status": "crash", "verdicts": ["crash"] * len(job.get("tests", [])),
                       "errors": [None] * len(job.get("tests", [])), "seconds": [0.0] * len(job.get("tests", [])),
                       "output": "", "detail": f"harness error: {type(e).__name__}: {e}"}
            self.prof["job"] += time.perf_counter() - t1
            res["prof"] = self.prof
            write_frame(pout, res)


def main() -> None:
    """Worker entry point: namespaces once, then the zygote loop."""
    wcfg = json.loads(sys.argv[1])
    if wcfg.get("cpu") is not None:  # one core per worker: no migrations, no cross-CPU TLB shootdowns on fork/exit
        try:
            os.sched_setaffinity(0, {wcfg["cpu"]})
        except OSError:
            pass
    iso.prctl(iso.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the engine
    if os.getppid() != wcfg["engine_pid"]:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's business, it tears us down
    info = {"root": os.geteuid() == 0, "userns": False, "mountns": False, "pidns": False, "netns": False,
            "readonly": False, "uid_drop": False, "notes": []}
    if wcfg["isolate"]:
        info.update(iso.unshare_worker(want_net=not wcfg["network"], force_userns=wcfg["isolate"] == "userns"))
    if info["pidns"]:
        zpid = os.fork()
        if zpid:  # outer: forward termination to the zygote (PID 1 inside: its death kills the whole namespace)
            def on_term(signum, frame):
                os.kill(zpid, signal.SIGKILL)
            signal.signal(signal.SIGTERM, on_term)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            while True:
                try:
                    _, st = os.waitpid(zpid, 0)
                    break
                except InterruptedError:
                    continue
            os._exit(0)
        iso.prctl(iso.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the outer
    else:
        iso.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of the program come back to us to be reaped

    def on_term(signum, frame):
        pid = zyg.child_pid
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        if zyg._pending_cleanup:
            zyg.cleanup()
        if zyg.uid is not None and not info["pidns"]:
            zyg._kill_uid()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    if info["mountns"]:
        try:
            info.update(iso.setup_mounts(wcfg["expose"]))
        except OSError as e:
            info["notes"].append(f"mounts: {e}")
    info["uid_drop"] = info["root"] and not info["userns"]
    if info["mountns"]:
        try:
            uid = wcfg["uid"] if info["uid_drop"] else 0
            info["workdir"], info["carried"] = iso.mount_workdir(uid, uid, wcfg["workdir_mb"], keep=wcfg["expose"])
        except OSError as e:
            info["notes"].append(f"workdir tmpfs: {e}")
    for m in PREWARM:
        try:
            __import__(m)
        except ImportError:
            pass
    # The engine started us with a minimal environment (PATH, LANG, the thread counts of BLAS/OpenMP); the sandbox's
    # view of it is fixed here once.
    home = info.get("workdir") or "/tmp"
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
                       "PYTHONIOENCODING": "utf-8", **threads})
    import gc
    gc.collect()
    gc.freeze()  # children never scan the inherited heap (fewer copy-on-write faults)
    zyg = Zygote(wcfg, info)
    zyg.serve()
    if zyg._pending_cleanup:
        zyg.cleanup()
    if info["pidns"]:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()

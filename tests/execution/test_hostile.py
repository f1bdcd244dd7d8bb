"""Hostile programs against the sandbox: each asserts its exact verdict AND that the host is untouched.

Host checks after every program (``_assert_host_clean``): no process of the sandbox uids exists, the test process
has no children but the engine's workers (no zombies), a world-writable sentinel file outside the sandbox still
holds its content, and nothing new appeared in the host's /dev/shm. Needs root (namespaces + uid drop); skipped
with the reason otherwise. No traffic leaves the machine: the "outside" address is TEST-NET-1 (192.0.2.1).
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import time

import pytest

from acecoder_lib.execution import ExecConfig, ExecutionEngine
from acecoder_lib.execution.engine import live_worker_pids

SECRET = "hunter2-fake-secret-for-tests"
os.environ["ACECODER_FAKE_SECRET"] = SECRET  # set before any engine exists: the sandbox must not see it
CFG = ExecConfig(test_timeout_s=0.5, setup_timeout_s=1.0, wall_factor=2.0, wall_slack_s=0.5)
WALL = max(0.5 * 2.0, 0.5 + 0.5)  # the wall-clock backstop these tests run under


_PREEXISTING: set[int] = set()  # children of this process before the engine (e.g. a session's model server)


@pytest.fixture(scope="module")
def engine():
    _PREEXISTING.update(_children(os.getpid()))
    eng = ExecutionEngine(workers=2, config=CFG)
    iso = eng.isolation
    if not (iso["pidns"] and iso["netns"] and iso["readonly"] and iso["uid_drop"]):
        eng.close()
        pytest.skip(f"full isolation needs root (namespaces + uid drop); got {iso}")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def sentinel():
    """A world-writable file in a world-writable dir on the host: only the read-only view protects it."""
    d = tempfile.mkdtemp(prefix="acecoder-sentinel-", dir="/var/tmp")
    os.chmod(d, 0o777)
    path = os.path.join(d, "sentinel.txt")
    with open(path, "w") as f:
        f.write("original")
    os.chmod(path, 0o666)
    yield path
    shutil.rmtree(d, ignore_errors=True)


def _sandbox_procs(uids) -> list[int]:
    """Host PIDs of processes owned by the sandbox uids."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) in uids:
                                found.append(int(d))
                            break
            except OSError:
                pass
    return found


def _children(pid: int) -> set[int]:
    """Direct children of `pid` (zombies included)."""
    kids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _assert_host_clean(engine, sentinel, shm_before):
    assert _sandbox_procs(set(engine.sandbox_uids)) == []
    # only live engines' workers (this one's and any other open engine's) and what ran before: no zombies
    kids = _children(os.getpid()) - _PREEXISTING
    assert set(engine.worker_pids()) <= kids <= live_worker_pids()
    with open(sentinel) as f:
        assert f.read() == "original"
    assert set(os.listdir("/dev/shm")) <= shm_before


def run1(engine, sentinel, program, tests, config=None):
    shm_before = set(os.listdir("/dev/shm"))
    t0 = time.monotonic()
    res = engine.run([program], [tests], config=config)[0]
    res.elapsed = time.monotonic() - t0
    _assert_host_clean(engine, sentinel, shm_before)
    return res


def test_fork_bomb(engine, sentinel):
    prog = "import os\ndef f(x):\n    while True:\n        os.fork()\n"
    r = run1(engine, sentinel, prog, ["assert f(1) == 1", "assert 1 + 1 == 2"])
    assert r.verdicts == ["error", "pass"]
    assert r.errors[0].startswith("BlockingIOError")  # RLIMIT_NPROC of the slot uid


def test_memory_bomb(engine, sentinel):
    prog = ("def f(x):\n    a = []\n    while True:\n        a.append(bytearray(10**8))\n\n"
            "def g():\n    return [0] * 10**10\n")
    slow = ExecConfig(**{**CFG.__dict__, "test_timeout_s": 5.0})  # page faults for 1 GiB take CPU time
    r = run1(engine, sentinel, prog, ["f(1)", "g()", "assert 2 == 2"], config=slow)
    assert r.verdicts == ["memory", "memory", "pass"]  # RLIMIT_AS, not the host's 24 GiB


def test_infinite_loop(engine, sentinel):
    r = run1(engine, sentinel, "def f(x):\n    while True:\n        pass\n", ["f(1)", "assert True"])
    assert r.verdicts == ["timeout", "pass"]
    assert 0.45 <= r.seconds[0] < WALL + 0.5


def test_infinite_loop_in_thread(engine, sentinel):
    prog = ("import threading\ndef spin():\n    while True:\n        pass\n"
            "def f(x):\n    t = threading.Thread(target=spin, daemon=True)\n    t.start()\n    t.join()\n")
    r = run1(engine, sentinel, prog, ["f(1)", "assert 3 == 3"])
    assert r.verdicts == ["timeout", "pass"]


def test_sleep_forever(engine, sentinel):
    r = run1(engine, sentinel, "import time\ndef f(x):\n    time.sleep(10**6)\n", ["f(1)"])
    assert r.verdicts == ["timeout"]
    assert "wall-clock" in r.errors[0]
    assert r.elapsed < WALL + 3


def test_socket_to_loopback_listener(engine, sentinel):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    prog = ("import socket\ndef f(port):\n    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
            "        return 'connected'\n    except OSError:\n        return 'blocked'\n")
    try:
        r = run1(engine, sentinel, prog, [f"assert f({port}) == 'blocked'"])
        assert r.verdicts == ["pass"]
        with pytest.raises(BlockingIOError):
            srv.accept()  # nothing ever reached the host's listener
    finally:
        srv.close()


def test_socket_to_outside_fails_fast(engine, sentinel):
    prog = ("import socket\ndef f():\n    try:\n"
            "        socket.create_connection(('192.0.2.1', 80), timeout=3).close()\n"
            "        return 'connected'\n    except OSError:\n        return 'blocked'\n")
    r = run1(engine, sentinel, prog, ["assert f() == 'blocked'"])
    assert r.verdicts == ["pass"]
    assert r.seconds[0] < 0.5  # no route at all (empty network namespace), not a 3 s connect timeout


def test_write_outside_workdir(engine, sentinel):
    prog = f"def f():\n    with open({sentinel!r}, 'w') as fh:\n        fh.write('pwned')\n"
    r = run1(engine, sentinel, prog, ["f()"])
    assert r.verdicts == ["error"]
    assert r.errors[0].startswith("OSError") and "Read-only" in r.errors[0]


def test_delete_outside_workdir(engine, sentinel):
    prog = f"import os\ndef f():\n    os.remove({sentinel!r})\n"
    r = run1(engine, sentinel, prog, ["f()"])
    assert r.verdicts == ["error"]
    assert os.path.exists(sentinel)


def test_kill_parent(engine, sentinel):
    prog = "import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\n"
    r = run1(engine, sentinel, prog, ["assert f() == 1"])
    assert r.verdicts == ["error"] and r.errors[0].startswith("PermissionError")
    assert run1(engine, sentinel, "def g(): return 5", ["assert g() == 5"]).verdicts == ["pass"]


def test_kill_everything(engine, sentinel):
    prog = "import os\ndef f(x):\n    try:\n        os.kill(-1, 9)\n    except OSError:\n        pass\n    return x\n"
    r = run1(engine, sentinel, prog, ["assert f(2) == 2", "assert f(3) == 3"])
    assert r.verdicts == ["pass", "pass"]  # and this test process is still alive to check it


def test_environment_secret_is_scrubbed(engine, sentinel):
    prog = ("import os, glob\ndef f():\n    hits = [k for k, v in os.environ.items() if 'hunter2' in v]\n"
            "    for p in glob.glob('/proc/*/environ'):\n        try:\n"
            "            if b'hunter2' in open(p, 'rb').read():\n"
            "                hits.append(p)\n        except OSError:\n            pass\n    return hits\n")
    r = run1(engine, sentinel, prog, ["assert f() == []"])
    assert r.verdicts == ["pass"]
    assert os.environ["ACECODER_FAKE_SECRET"] == SECRET


def test_closing_stdout_and_stderr(engine, sentinel):
    prog = ("import os, sys\nsys.stdout.close()\nsys.stderr.close()\nos.close(1)\nos.close(2)\n"
            "def f(x):\n    return x + 1\n")
    r = run1(engine, sentinel, prog, ["assert f(1) == 2", "assert f(2) == 3", "print('gone')"])
    assert r.verdicts == ["pass", "pass", "error"]  # the results channel is not stdout; printing fails honestly
    assert r.errors[2].startswith("ValueError")


def test_huge_output_is_capped(engine, sentinel):
    prog = "def f():\n    for _ in range(50):\n        print('x' * 100_000)\n    return 1\n"
    r = run1(engine, sentinel, prog, ["assert f() == 1"])
    assert r.verdicts == ["pass"]
    assert 0 < len(r.output.encode()) <= CFG.max_output_bytes


def test_recursion_bomb(engine, sentinel):
    r = run1(engine, sentinel, "def f(x):\n    return f(x + 1)\n", ["f(0)", "assert 1"])
    assert r.verdicts == ["error", "pass"]
    assert r.errors[0].startswith("RecursionError")


def test_recursion_limit_segfault(engine, sentinel):
    # repr() of a deeply nested list recurses in C: with the limit lifted, the C stack overflows
    prog = ("import sys\nsys.setrecursionlimit(10**8)\ndef f():\n    x = []\n"
            "    for _ in range(10**5):\n        x = [x]\n    return repr(x)\n")
    slow = ExecConfig(**{**CFG.__dict__, "test_timeout_s": 5.0})
    r = run1(engine, sentinel, prog, ["f()", "assert 2 > 1"], config=slow)
    assert r.verdicts == ["crash", "pass"]
    assert "SIGSEGV" in r.errors[0]


def test_ctypes_segfault(engine, sentinel):
    r = run1(engine, sentinel, "import ctypes\ndef f():\n    return ctypes.string_at(0)\n", ["f()", "assert 1"])
    assert r.verdicts == ["crash", "pass"]
    assert "SIGSEGV" in r.errors[0]


def test_sys_exit_before_asserts_is_not_a_pass(engine, sentinel):
    prog = "import sys\ndef f(x):\n    return 0\nsys.exit(0)\n"
    r = run1(engine, sentinel, prog, ["assert f(1) == 1", "assert f(2) == 2"])
    assert r.verdicts == ["error", "error"] and r.n_passed == 0
    assert "SystemExit" in r.detail


def test_os_exit_inside_a_test(engine, sentinel):
    prog = "import os\ndef f(x):\n    if x == 1:\n        os._exit(0)\n    return x\n"
    r = run1(engine, sentinel, prog, ["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 4"])
    assert r.verdicts == ["crash", "pass", "fail"]  # later tests still ran, in a fresh sandbox


def test_raise_keyboard_interrupt(engine, sentinel):
    r = run1(engine, sentinel, "def f():\n    raise KeyboardInterrupt\n", ["f()", "assert 1"])
    assert r.verdicts == ["error", "pass"] and r.errors[0].startswith("KeyboardInterrupt")


def test_raise_system_exit(engine, sentinel):
    r = run1(engine, sentinel, "def f():\n    raise SystemExit(0)\n", ["f()", "assert 1"])
    assert r.verdicts == ["error", "pass"] and r.errors[0].startswith("SystemExit")


def test_swallowing_the_timeout(engine, sentinel):
    prog = ("def f():\n    while True:\n        try:\n            while True:\n                pass\n"
            "        except BaseException:\n            pass\n")
    r = run1(engine, sentinel, prog, ["f()", "assert 1"])
    assert r.verdicts == ["timeout", "pass"]
    assert "caught by the program" in r.errors[0]
    assert r.elapsed < WALL + 2


def test_signal_handler_overrides(engine, sentinel):
    prog = ("import signal\nfor s in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU, signal.SIGTERM, signal.SIGINT):\n"
            "    signal.signal(s, signal.SIG_IGN)\ndef f():\n    while True:\n        pass\n")
    r = run1(engine, sentinel, prog, ["f()", "assert 1"])
    assert r.verdicts == ["timeout", "pass"]
    assert "hard wall-clock backstop" in r.errors[0]
    assert r.elapsed < 2 * WALL + 3


def test_monkeypatching_builtins_and_harness_modules(engine, sentinel):
    prog = ("import builtins, time, signal, os, json\n"
            "builtins.AssertionError = type('Fake', (Exception,), {})\n"
            "builtins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0\n"
            "time.perf_counter = lambda: 0.0\nos._exit = lambda *a: None\nos.write = lambda *a: 0\n"
            "signal.setitimer = lambda *a, **k: None\nsignal.signal = lambda *a: None\n"
            "json.dumps = lambda *a, **k: '{}'\n"
            "def f(x):\n    return x + 1\n")
    r = run1(engine, sentinel, prog, ["assert f(1) == 2", "assert f(1) == 3", "while True:\n    pass"])
    assert r.verdicts == ["pass", "fail", "timeout"]


def test_always_equal_object(engine, sentinel):
    prog = ("class X:\n    __eq__ = lambda s, o: True\n    __hash__ = object.__hash__\n"
            "class Y(int):\n    __eq__ = lambda s, o: True\n    __hash__ = int.__hash__\n"
            "def f(x):\n    return X()\ndef g(x):\n    return [Y(0)]\n")
    tests = ["assert f(1) == 2", "assert g(1) == [5]", "assert 2 == f(1)"]
    r = run1(engine, sentinel, prog, tests)
    assert r.verdicts == ["fail", "fail", "fail"] and "strict_equality" in r.errors[0]
    lax = run1(engine, sentinel, prog, tests, config=ExecConfig(**{**CFG.__dict__, "strict_equality": False}))
    assert lax.verdicts == ["pass", "pass", "pass"]  # what the guard prevents


def test_setsid_and_fork_to_escape(engine, sentinel):
    prog = ("import os, time\ndef f(x):\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
            "            time.sleep(1000)\n        os._exit(0)\n    return x\n")
    r = run1(engine, sentinel, prog, ["assert f(7) == 7"])  # run1 checks no process of the uid survived
    assert r.verdicts == ["pass"]


def test_write_to_dev_shm_stays_private(engine, sentinel):
    name = f"acecoder-evil-{os.getpid()}"
    prog = (f"def f():\n    with open('/dev/shm/{name}', 'w') as fh:\n        fh.write('x')\n"
            f"    return open('/dev/shm/{name}').read()\n")
    r = run1(engine, sentinel, prog, ["assert f() == 'x'"])
    assert r.verdicts == ["pass"]
    assert not os.path.exists(f"/dev/shm/{name}")


def test_spawn_subprocess_sleep(engine, sentinel):
    prog = "import subprocess\ndef f():\n    subprocess.Popen(['sleep', '1000'])\n    return 1\n"
    r = run1(engine, sentinel, prog, ["assert f() == 1"])
    assert r.verdicts == ["pass"]


def test_non_utf8_bytes_program(engine, sentinel):
    r = run1(engine, sentinel, b"def f(x):\n    return '\xff\xfe'\n", ["assert f(1)"])
    assert r.status == "invalid_input" and r.verdicts == ["error"] and "UTF-8" in r.detail


def test_empty_program(engine, sentinel):
    for prog in ("", "   \n\t"):
        r = run1(engine, sentinel, prog, ["assert f(1) == 1"])
        assert r.status == "invalid_input" and r.detail == "empty program" and r.verdicts == ["error"]


def test_forged_result_frames(engine, sentinel):
    prog = ("import os, json\nmsg = json.dumps({'e': 'D', 'k': 0, 'v': 'pass', 'err': None, 's': 0.0}).encode()\n"
            "frame = len(msg).to_bytes(4, 'big') + msg\nfor fd in range(1, 1024):\n"
            "    try:\n        os.write(fd, frame)\n"
            "    except OSError:\n        pass\ndef f(x):\n    return 0\n")
    r = run1(engine, sentinel, prog, ["assert f(1) == 1"])
    assert r.verdicts == ["fail"]  # a frame without the child's random token is ignored


def test_file_size_limit(engine, sentinel):
    prog = "def f():\n    with open('big.bin', 'wb') as fh:\n        fh.write(b'0' * (40 * 2**20))\n"
    r = run1(engine, sentinel, prog, ["f()"])
    assert r.verdicts == ["error"] and "File too large" in r.errors[0]


def test_read_root_only_file(engine, sentinel):
    mode = stat.S_IMODE(os.stat("/etc/shadow").st_mode) if os.path.exists("/etc/shadow") else None
    if mode is None or mode & 0o004:
        pytest.skip("/etc/shadow missing or world-readable here")
    r = run1(engine, sentinel, "def f():\n    return open('/etc/shadow').read()\n", ["f()"])
    assert r.verdicts == ["error"] and r.errors[0].startswith("PermissionError")


def test_print_flood_forever(engine, sentinel):
    r = run1(engine, sentinel, "def f():\n    while True:\n        print('y' * 1000)\n", ["f()"])
    assert r.verdicts == ["timeout"]
    assert len(r.output.encode()) <= CFG.max_output_bytes


def test_engine_survives_the_suite(engine, sentinel):
    r = run1(engine, sentinel, "def f(x):\n    return x * 2\n", ["assert f(2) == 4", "assert f(3) == 5"])
    assert r.verdicts == ["pass", "fail"]
    for p in engine.worker_pids():
        os.kill(p, 0)  # raises if a worker died during the suite

"""API behaviour of acecoder_lib.execution: verdicts, timing, continuation, bad input, splitting, lifecycle."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from acecoder_lib.execution import (
    VERDICTS,
    ExecConfig,
    ExecutionEngine,
    ProgramResult,
    isolation_report,
    run_programs,
    split_test_code,
)

CFG = ExecConfig(test_timeout_s=0.5, setup_timeout_s=1.0, wall_factor=2.0, wall_slack_s=0.5)
ADD = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=CFG) as eng:
        yield eng


def _children(pid):
    kids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _uid_procs(uids):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/status") as f:
                    uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
                if uid in uids:
                    out.append(int(d))
            except (OSError, StopIteration, ValueError):
                pass
    return out


def test_every_verdict_kind(engine):
    tests = ["assert f(1) == 2", "assert f(1) == 3", "f('a')", "while True:\n    pass", "x = [0] * 10**10",
             "import ctypes\nctypes.string_at(0)", "assert f(1) ==", "assert f(5) == 6"]
    r = engine.run([ADD], [tests])[0]
    assert r.status == "ok"
    assert r.verdicts == ["pass", "fail", "error", "timeout", "memory", "crash", "syntax_error", "pass"]
    assert set(r.verdicts) == set(VERDICTS)
    assert r.errors[0] is None and r.errors[1].startswith("AssertionError")
    assert r.errors[2].startswith("TypeError")  # the exception type is reported
    assert r.errors[6].startswith("SyntaxError")
    assert r.n_tests == 8 and r.n_passed == 2 and r.pass_rate == 0.25 and not r.all_passed


def test_program_level_statuses(engine):
    res = engine.run(["def f(:\n", "raise ValueError('boom')\n", "while True:\n    pass\n", "import os\nos._exit(1)\n"],
                     [["assert f(1) == 2"]] * 4)
    assert [r.status for r in res] == ["syntax_error", "crash", "timeout", "crash"]
    assert [r.verdicts for r in res] == [["syntax_error"], ["error"], ["timeout"], ["crash"]]
    assert "ValueError: boom" in res[1].detail
    assert "exited with code 1" in res[3].detail


def test_per_test_time_is_the_test_alone(engine):
    prog = "import time\nfor _ in range(3 * 10**6):\n    pass\ndef f(s):\n    time.sleep(s)\n    return s\n"
    r = engine.run([prog], [["assert f(0.2) == 0.2", "assert f(0) == 0"]])[0]
    assert r.verdicts == ["pass", "pass"]
    assert 0.18 <= r.seconds[0] < 0.6  # sleeping costs no CPU: under the wall backstop (1 s), not a timeout
    assert r.seconds[1] < 0.05  # setup's busy loop is not charged to the tests


def test_cpu_limit_is_load_independent():
    """A test needing ~0.15 s CPU passes under a 0.5 s limit while the host is oversubscribed (CPU time, not wall)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        with ExecutionEngine(workers=2, config=CFG) as eng:
            prog = "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
            n = 2_000_000
            res = eng.run([prog] * 4, [[f"assert f({n}) == {n * (n - 1) // 2}"]] * 4)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert [r.verdicts for r in res] == [["pass"]] * 4


def test_continuation_after_crash_and_timeout(engine):
    prog = ADD + "import os, time\ndef die():\n    os._exit(9)\ndef hang():\n    time.sleep(100)\n"
    r = engine.run([prog], [["die()", "assert f(1) == 2", "hang()", "assert f(2) == 3", "die()",
                             "assert f(3) == 5"]])[0]
    assert r.verdicts == ["crash", "pass", "timeout", "pass", "crash", "fail"]


def test_stop_at_first_failure(engine):
    cfg = ExecConfig(**{**CFG.__dict__, "stop_at_first_failure": True})
    r = engine.run([ADD], [["assert f(1) == 2", "assert f(1) == 0", "assert f(2) == 3"]], config=cfg)[0]
    assert r.verdicts == ["pass", "fail", "fail"]
    assert r.errors[2] == "not run (stop_at_first_failure)"
    full = engine.run([ADD], [["assert f(1) == 2", "assert f(1) == 0", "assert f(2) == 3"]])[0]
    assert full.verdicts == ["pass", "fail", "pass"]


def test_bad_rows_never_stop_the_batch(engine):
    programs = [ADD, 42, b"\xff\xfe", ADD.encode(), "", ADD, ADD, ADD]
    tests = [["assert f(1) == 2"], ["assert f(1) == 2"], ["assert 1"], ["assert f(1) == 2"], ["assert 1"],
             "assert f(1) == 2", ["assert f(1) == 2", 7], ["assert f(1) == 2", "assert (", "assert f(2) == 3"]]
    res = engine.run(programs, tests)
    assert [r.index for r in res] == list(range(8))
    assert [r.status for r in res] == ["ok", "invalid_input", "invalid_input", "ok", "invalid_input",
                                       "invalid_input", "invalid_input", "ok"]
    assert res[0].verdicts == ["pass"] and res[3].verdicts == ["pass"]  # valid UTF-8 bytes are decoded
    assert "program must be str" in res[1].detail
    assert "not valid UTF-8" in res[2].detail
    assert res[4].detail == "empty program"
    assert "tests must be a list of str" in res[5].detail and res[5].verdicts == []
    assert "tests[1] is int" in res[6].detail
    assert res[7].verdicts == ["pass", "syntax_error", "pass"]


def test_batch_shape_errors(engine):
    with pytest.raises(ValueError, match="2 programs but 1 test lists"):
        engine.run([ADD, ADD], [["assert 1"]])
    with pytest.raises(TypeError, match="sequences"):
        engine.run(ADD, ["assert 1"])
    with pytest.raises(ValueError, match="network"):
        engine.run([ADD], [["assert 1"]], config=ExecConfig(network=True))
    with pytest.raises(ValueError, match="test_timeout_s"):
        ExecConfig(test_timeout_s=0)
    assert engine.run([], []) == []


def test_output_is_captured_and_truncated(engine):
    prog = "print('hello')\nimport sys\nprint('warn', file=sys.stderr)\ndef f():\n    print('z' * 10000)\n"
    r = engine.run([prog], [["f()"]])[0]
    assert r.output.startswith("hello\nwarn\n") or r.output.startswith("warn\nhello\n")
    assert len(r.output) == CFG.max_output_bytes


def test_pass_rate_properties():
    r = ProgramResult(0, "ok", ["pass", "fail", "pass", "pass"], [None] * 4, [0.0] * 4, "")
    assert (r.n_tests, r.n_passed, r.pass_rate, r.all_passed) == (4, 3, 0.75, False)
    empty = ProgramResult(1, "ok", [], [], [], "")
    assert (empty.pass_rate, empty.all_passed) == (0.0, False)


def test_many_programs_keep_order(engine):
    progs = [f"def f():\n    return {i}\n" for i in range(60)]
    res = engine.run(progs, [[f"assert f() == {i}", f"assert f() == {i + 1}"] for i in range(60)])
    assert all(r.index == i and r.verdicts == ["pass", "fail"] for i, r in enumerate(res))


def test_each_program_gets_a_fresh_process(engine):
    prog = "import builtins\nbuiltins.SEEN = getattr(builtins, 'SEEN', 0) + 1\ndef f():\n    return builtins.SEEN\n"
    res = engine.run([prog] * 6, [["assert f() == 1"]] * 6)
    assert all(r.verdicts == ["pass"] for r in res)
    r = engine.run(["open('left.txt', 'w').write('x')\ndef f(): pass"], [["assert 1"]])[0]
    r2 = engine.run(["import os\ndef f():\n    return os.listdir('.')\n"], [["assert f() == []"]])[0]
    assert r.verdicts == ["pass"] and r2.verdicts == ["pass"]  # the work dir is emptied between programs


def test_close_leaves_nothing_behind():
    shm = set(os.listdir("/dev/shm"))
    tmp = set(os.listdir("/tmp"))
    kids = _children(os.getpid())  # other engines' workers (module fixture) are not ours to judge
    eng = ExecutionEngine(workers=2, config=CFG)
    pids, uids = eng.worker_pids(), set(eng.sandbox_uids)
    eng.run(["import subprocess, os\nsubprocess.Popen(['sleep', '100'])\nopen('/tmp/x', 'w')\ndef f(): pass"],
            [["assert 1"]])
    eng.close()
    eng.close()  # idempotent
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    assert _children(os.getpid()) == kids
    assert _uid_procs(uids) == []
    assert set(os.listdir("/dev/shm")) <= shm and set(os.listdir("/tmp")) <= tmp
    with pytest.raises(RuntimeError, match="closed"):
        eng.run([ADD], [["assert 1"]])


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for one test. A process started as a background job of a non-interactive shell
    (``cmd &`` in a script) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all;
    Ctrl-C in a terminal, which the test stands for, has one."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_in_parent_cleans_up(python_sigint):
    kids = _children(os.getpid())
    eng = ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=5.0))
    uids = set(eng.sandbox_uids)
    main = threading.main_thread().ident
    timer = threading.Timer(0.7, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        eng.run(["import time, subprocess\nsubprocess.Popen(['sleep', '100'])\ndef f():\n    time.sleep(100)\n"] * 4,
                [["f()"]] * 4)
    assert time.monotonic() - t0 < 5
    assert _children(os.getpid()) == kids
    assert _uid_procs(uids) == []
    assert eng.run([ADD], [["assert f(1) == 2"]])[0].verdicts == ["pass"]  # fresh workers on demand
    eng.close()
    assert _children(os.getpid()) == kids


def test_run_programs_shared_engine():
    res = run_programs([ADD, "def f(x): return x"], [["assert f(1) == 2"], ["assert f(1) == 2"]], config=CFG)
    assert [r.verdicts for r in res] == [["pass"], ["fail"]]


def test_isolation_report_lists_layers():
    rows = isolation_report()
    names = [r["name"] for r in rows]
    assert any("network namespace" in n for n in names) and any("rlimits" in n for n in names)
    if os.geteuid() == 0:
        assert all(r["available"] for r in rows), rows


# ---- split_test_code
def test_split_assert_list():
    assert split_test_code("assert f(1) == 2\nassert f(2) == 3\n") == ["assert f(1) == 2", "assert f(2) == 3"]
    assert split_test_code("") == []
    assert split_test_code("assert (") == ["assert ("]  # reported later as a syntax_error verdict


def test_split_humaneval_check(engine):
    suite = ("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n    x = 3\n"
             "    assert candidate(x) == 4, 'msg'\n    for i in range(3):\n        assert candidate(i) == i + 1\n")
    snippets = split_test_code(suite, "inc")
    assert len(snippets) == 3
    assert "x = 3" in snippets[1] and "x = 3" not in snippets[0]
    r = engine.run(["def inc(v):\n    return v + 1\n"], [snippets])[0]
    assert r.verdicts == ["pass", "pass", "pass"]
    r = engine.run(["def inc(v):\n    return v + 2\n"], [snippets])[0]
    assert r.verdicts == ["fail", "fail", "fail"]


def test_split_unittest(engine):
    suite = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(f(1), 2)\n"
             "    def test_b(self):\n        self.assertEqual(f(2), 4)\n    def test_c(self):\n        f(None)\n"
             "    def helper(self):\n        pass\n")
    snippets = split_test_code(suite)
    assert len(snippets) == 3
    r = engine.run([ADD], [snippets])[0]
    assert r.verdicts == ["pass", "fail", "error"]
    assert "TypeError" in r.errors[2]


def test_split_rejects_non_str():
    with pytest.raises(TypeError):
        split_test_code(["assert 1"])


def test_worker_death_is_a_crash_row_and_the_pool_recovers():
    with ExecutionEngine(workers=1, config=CFG) as eng:
        victim = eng.worker_pids()[0]
        timer = threading.Timer(0.5, lambda: os.kill(victim, signal.SIGKILL))
        timer.start()
        res = eng.run(["import time\ndef f():\n    time.sleep(0.9)\n", ADD], [["f()"], ["assert f(1) == 2"]])
        timer.join()
        assert res[0].status == "crash" and res[0].detail == "execution worker died"
        assert res[1].verdicts == ["pass"]  # ran on the replacement worker
        assert eng.worker_pids()[0] != victim


def test_non_root_path_user_namespace():
    """isolation='userns' takes the path a non-root user gets: namespaces via a user namespace, no uid drop."""
    with pytest.warns(RuntimeWarning, match="dedicated uid"):
        eng = ExecutionEngine(workers=1, config=CFG, isolation="userns")
    with eng:
        iso = eng.isolation
        assert iso["userns"] and iso["netns"] and iso["pidns"] and iso["readonly"] and not iso["uid_drop"]
        prog = ("import socket\ndef net():\n    try:\n        socket.create_connection(('192.0.2.1', 80), timeout=2)\n"
                "        return 'connected'\n    except OSError:\n        return 'blocked'\n"
                "def write():\n    open('/var/tmp/acecoder-userns-probe', 'w')\n" + ADD)
        r = eng.run([prog], [["assert f(1) == 2", "assert net() == 'blocked'", "write()"]])[0]
    assert r.verdicts == ["pass", "pass", "error"] and "Read-only" in r.errors[2]
    assert not os.path.exists("/var/tmp/acecoder-userns-probe")


def test_evaluate_returns_reprs_made_in_the_sandbox(engine):
    prog = ("def f(x):\n    return {'a': x * 2}\n"
            "class Liar:\n    def __repr__(self):\n        while True:\n            pass\n"
            "def big():\n    return 'z' * 10_000\n")
    [r] = engine.evaluate([prog], [["f(1)", "f('ab')['a']", "Liar()", "1 +", "f(None)", "big()", "len(big())"]])
    assert r.verdicts == ["pass", "pass", "timeout", "syntax_error", "error", "error", "pass"]
    assert r.values == ["{'a': 2}", "'abab'", None, None, None, None, "10000"]
    assert r.errors[5].startswith("ValueTooLarge")  # a repr too long to be an expected value
    # rows that never run still get one (None) value per expression; the tests mode reports no values
    [bad, syn] = engine.evaluate(["", "x = ("], [["1"], ["1", "2"]])
    assert bad.values == [None] and syn.values == [None, None] and syn.status == "syntax_error"
    assert engine.run([ADD], [["assert f(1) == 2"]])[0].values is None
    with pytest.raises(ValueError, match="mode"):
        ExecConfig(mode="eval")


def test_verdicts_do_not_depend_on_the_worker():
    """Every worker has the same hash seed: set/dict order of str, and so values and verdicts, agree across workers
    and engines (a reference's expected values must not change with the worker that computed them)."""
    prog = "def f():\n    return list({'alpha', 'beta', 'gamma', 'delta', 'eps', 'zeta'})\n"
    seen = set()
    for _ in range(2):
        with ExecutionEngine(workers=2, config=CFG) as eng:
            seen.update(r.values[0] for r in eng.evaluate([prog] * 6, [["f()"]] * 6))
    assert len(seen) == 1


def test_unseeded_random_is_the_same_in_every_sandbox_and_every_run():
    """A program that calls `random` without seeding it gets the same numbers on any worker and in any engine (the
    child seeds `random` before the program; before, each worker had its own state and CodeIO input generators that
    use the module's functions gave other inputs in every run)."""
    program = "import random\nfirst = random.random()\n"
    exprs = ["first", "random.randint(0, 10**9)"]
    runs = []
    for _ in range(2):
        with ExecutionEngine(workers=2) as eng:
            runs.append([r.values for r in eng.evaluate([program] * 6, [exprs] * 6)])
    values = [v for run in runs for v in run]
    assert all(v == values[0] for v in values) and all(x is not None for x in values[0]), values


def test_numpy_s_global_generator_is_seeded_too_and_another_seed_changes_it():
    pytest.importorskip("numpy")
    program = ("import numpy as np\nfirst = float(np.random.rand())\n\ndef later():\n"
               "    import numpy.random as r\n    return float(r.rand())\n")
    own = "import numpy as np\nnp.random.seed(42)\nx = float(np.random.rand())\n"  # a program's own seed wins
    got = {}
    for seed in (0, 0, 1):
        with ExecutionEngine(workers=2, config=ExecConfig(random_seed=seed)) as eng:
            got.setdefault(seed, []).append([r.values for r in eng.evaluate([program] * 3, [["first", "later()"]] * 3)])
            [mine] = eng.evaluate([own], [["x"]])
            assert mine.values == [repr(float(__import__("numpy").random.RandomState(42).rand()))]
    zero = [v for run in got[0] for v in run]
    assert all(v == zero[0] for v in zero) and None not in zero[0]
    assert got[1][0][0] != zero[0]


def test_blas_and_openmp_run_one_thread_per_sandbox(engine):
    """numpy's float results must not depend on how many BLAS threads a busy machine let a program start."""
    from acecoder_lib.execution.engine import SANDBOX_THREAD_VARS

    [r] = engine.evaluate(["import os\n"], [[f"os.environ.get({v!r})" for v in SANDBOX_THREAD_VARS]])
    assert r.values == ["'1'"] * len(SANDBOX_THREAD_VARS)


SLOW_SUM = "def g(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"


def test_per_test_limits_time_out_a_loop_early_and_keep_a_test_within_its_own_limit(engine):
    loop = "def f():\n    while True:\n        pass\n"
    big = sum(range(2_000_000))
    tests = [["f()", "f()"], [f"assert g(2_000_000) == {big}", "assert g(3) == 3"]]
    [looping, slow] = engine.run([loop, SLOW_SUM], tests, time_limits=[[0.05, 0.05], [5.0, 0.05]])
    assert looping.verdicts == ["timeout", "timeout"] and all(0.04 <= c < 0.5 for c in looping.cpu_seconds)
    assert slow.verdicts == ["pass", "pass"]  # ~0.1 s of CPU: within its own 5 s, though far above the other's 0.05
    assert slow.cpu_seconds[0] > slow.cpu_seconds[1] >= 0.0
    [short] = engine.run([SLOW_SUM], [[f"assert g(2_000_000) == {big}"]], time_limits=[[0.02]])
    assert short.verdicts == ["timeout"]


def test_time_limits_must_pair_up_with_the_tests(engine):
    with pytest.raises(ValueError, match="time_limits\\[0\\] has 1 limits for 2 tests"):
        engine.run([SLOW_SUM], [["g(1)", "g(2)"]], time_limits=[[0.1]])
    with pytest.raises(ValueError, match="positive, finite"):
        engine.run([SLOW_SUM], [["g(1)"]], time_limits=[[float("nan")]])
    with pytest.raises(ValueError, match="2 rows of time_limits for 1 programs"):
        engine.run([SLOW_SUM], [["g(1)"]], time_limits=[[0.1], [0.1]])


def test_calibrated_limits_are_floor_or_factor_times_the_reference():
    from acecoder_lib.execution import calibrated_limits

    assert calibrated_limits([[0.0001, 0.02, 1.0]], floor_s=0.1, factor=10) == [[0.1, 0.2, 10.0]]
    assert calibrated_limits([[2.0]], floor_s=0.1, factor=10, cap_s=5.0) == [[5.0]]
    with pytest.raises(ValueError):
        calibrated_limits([[0.1]], floor_s=0)


def test_an_import_inside_a_test_is_loading_not_the_tests_time_but_only_up_to_a_budget(engine):
    lazy = "def f():\n    import numpy\n    return int(numpy.arange(3).sum())\n"  # numpy: ~0.1 s CPU to import
    hog = ("import sys\nopen('/tmp/never_returns.py', 'w').write('while True:\\n    pass\\n')\n"
           "sys.path.insert(0, '/tmp')\n\ndef f():\n    import never_returns\n")
    [ok, bounded] = engine.run([lazy, hog], [["assert f() == 3", "assert f() == 3"], ["f()"]],
                               time_limits=[[0.03, 0.03], [0.03]])
    assert ok.verdicts == ["pass", "pass"], ok.errors  # the import's CPU time was given back to the first test
    assert bounded.verdicts == ["timeout"]  # the import allowance is setup_timeout_s (1 s here) per sandbox
    assert bounded.cpu_seconds[0] < 3.0

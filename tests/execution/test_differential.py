"""HumanEval+ / MBPP+ tested as evalplus does (execution.differential): expected outputs from the canonical solution in
the sandbox, base and plus inputs apart, evalplus's comparison; and the verdicts checked against evalplus 0.3.1 itself
on the fixture files (canonical solutions and hand-written wrong ones, one of each kind passing base and failing
plus)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from acecoder_lib.core import datasets, paths
from acecoder_lib.execution import ExecutionEngine
from acecoder_lib.execution.differential import HARNESS, differential_tests, mbpp_inputs, oracle_kind, py_literal

FIXTURES = paths.REPO_ROOT / "tests" / "fixtures" / "data"
HE_PLUS, MBPP_PLUS = FIXTURES / "HumanEvalPlus_small.jsonl", FIXTURES / "MbppPlus_small.jsonl"

# task id -> hand-written solutions (whole programs, as evalplus takes a "solution")
SOLUTIONS = {
    "HumanEval/0": {"abs_first": "def add(a, b):\n    return abs(a) + b\n",       # base passes, plus fails
                    "off_by_one": "def add(a, b):\n    return a + b + 1\n"},      # fails base
    "HumanEval/1": {"rounded": "def half(x):\n    return round(x / 2, 3)\n",      # plus 1e-9: |0 - 5e-10| <= atol
                    "floor_small": "def half(x):\n    return x / 2 if x >= 1e-3 else 0.1\n"},  # base passes, plus fails
    "Mbpp/2": {"sorted": "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n",  # set-eq: pass
               "union": "def similar_elements(a, b):\n    return tuple(set(a) | set(b))\n"},          # fails base
    "Mbpp/3": {"even": "def is_not_prime(n):\n    return n > 2 and n % 2 == 0\n",  # base passes, plus fails (1)
               "loop": "def is_not_prime(n):\n    while True:\n        pass\n"},     # times out
}


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2) as eng:
        yield eng


def _tasks():
    out = []
    for bench, file in (("humaneval+", HE_PLUS), ("mbpp+", MBPP_PLUS)):
        evalset = datasets.load_eval_set(bench, file)
        for r in evalset.itertuples():
            out.append({"benchmark": bench, "task_id": r.task_id, "entry_point": r.entry_point,
                        "reference": r.prompt + r.canonical_solution, "base": json.loads(r.base_inputs),
                        "plus": json.loads(r.plus_inputs), "atol": r.atol})
    return out


def _ours(engine, min_time_limit=1.0, factor=4.0):
    """{(task_id, name): (base status, plus status)} with the workbench's engine, evalplus's verdict words."""
    from acecoder_lib.execution import calibrated_limits

    tasks = _tasks()
    built = differential_tests([t["benchmark"] for t in tasks], [t["task_id"] for t in tasks],
                               [t["entry_point"] for t in tasks], [t["reference"] for t in tasks],
                               [t["base"] for t in tasks], [t["plus"] for t in tasks], [t["atol"] for t in tasks],
                               engine)
    programs, tests, limits, keys = [], [], [], []
    for t, b in zip(tasks, built):
        assert b.dropped == 0, b.dropped_reason
        lim = calibrated_limits([b.reference_cpu_seconds], floor_s=min_time_limit, factor=factor)[0]
        for name, code in {"canonical": t["reference"], **SOLUTIONS[t["task_id"]]}.items():
            programs.append(code + HARNESS)
            tests.append(b.tests)
            limits.append(lim)
            keys.append((t["task_id"], name, b.n_base))
    out = {}
    for (tid, name, n_base), res in zip(keys, engine.run(programs, tests, time_limits=limits)):
        base_ok = all(v == "pass" for v in res.verdicts[:n_base])
        plus_ok = base_ok and all(v == "pass" for v in res.verdicts[n_base:])
        out[(tid, name)] = ("pass" if base_ok else "fail", "pass" if plus_ok else "fail")
    return out


def test_canonical_passes_and_wrong_solutions_fail_where_expected(engine):
    ours = _ours(engine)
    assert all(ours[(t, "canonical")] == ("pass", "pass") for t in SOLUTIONS)
    for tid, name in [("HumanEval/0", "abs_first"), ("HumanEval/1", "floor_small"), ("Mbpp/3", "even")]:
        assert ours[(tid, name)] == ("pass", "fail"), (tid, name)  # passes base, fails plus
    assert ours[("HumanEval/1", "rounded")] == ("pass", "pass")  # inside the float tolerance
    assert ours[("Mbpp/2", "sorted")] == ("pass", "pass")  # Mbpp/2 compares as sets
    for tid, name in [("HumanEval/0", "off_by_one"), ("Mbpp/2", "union"), ("Mbpp/3", "loop")]:
        assert ours[(tid, name)] == ("fail", "fail"), (tid, name)


EVALPLUS_SCRIPT = textwrap.dedent('''
    import json, sys
    from evalplus.data import get_human_eval_plus, get_mbpp_plus
    from evalplus.eval import untrusted_check
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec
    solutions = json.loads(sys.argv[1])
    out = {}
    for dataset, problems in (("humaneval", get_human_eval_plus()), ("mbpp", get_mbpp_plus())):
        for tid, p in problems.items():
            code = p["prompt"] + p["canonical_solution"]
            not_none = dataset == "mbpp" and p["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
            exp = {k: trusted_exec(code, p[k + "_input"], p["entry_point"], record_time=True, output_not_none=not_none)
                   for k in ("base", "plus")}
            for name, sol in {"canonical": code, **solutions[tid]}.items():
                stat = {}
                for k in ("base", "plus"):
                    stat[k] = untrusted_check(dataset, sol, p[k + "_input"], p["entry_point"], expected=exp[k][0],
                                              atol=p["atol"], ref_time=exp[k][1], fast_check=True)[0]
                plus = "pass" if stat["base"] == stat["plus"] == "pass" else "fail"
                out[tid + "|" + name] = ["pass" if stat["base"] == "pass" else "fail", plus]
    print("RESULT " + json.dumps(out))
''')


def test_verdicts_match_evalplus(engine, tmp_path):
    """evalplus 0.3.1's own ground truth (trusted_exec) and untrusted_check on the same local files
    (HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH), in a subprocess: the same base and plus verdict for every
    solution. evalplus runs the canonical solutions in its own process (trusted_exec); they are the fixtures' code."""
    pytest.importorskip("evalplus", reason="evalplus is a test dependency (scripts/setup.sh installs it)")
    env = {"HUMANEVAL_OVERRIDE_PATH": str(HE_PLUS), "MBPP_OVERRIDE_PATH": str(MBPP_PLUS), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", EVALPLUS_SCRIPT, json.dumps(SOLUTIONS)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    theirs = {tuple(k.split("|")): tuple(v) for k, v in json.loads(line[len("RESULT "):]).items()}
    ours = _ours(engine)
    assert set(theirs) == set(ours)
    assert theirs == ours


def test_mbpp_inputs_and_oracle_kinds():
    assert mbpp_inputs("Mbpp/2", [[[1, 2], [3]]]) == [[(1, 2), (3,)]]
    assert mbpp_inputs("Mbpp/124", [[1, "1+2j"]]) == [(1.0, 1 + 2j)]
    assert mbpp_inputs("Mbpp/580", [[[1, [2, 3]]]]) == [((1, (2, 3)),)]
    assert mbpp_inputs("Mbpp/999", [[[1]]]) == [[[1]]]
    assert oracle_kind("mbpp+", "similar_elements") == "set_eq"
    assert oracle_kind("mbpp+", "check_str") == "not_none"
    assert oracle_kind("humaneval+", "find_zero") == "find_zero"
    assert oracle_kind("humaneval+", "similar_elements") == "exact"


def test_literals_round_trip_in_the_sandbox(engine):
    value = [1, -2.5, float("inf"), float("-inf"), "a'b\n", (1,), {2, 3}, {"k": (None, True)}, 1 + 2j, b"x", ()]
    src = py_literal(value)
    [res] = engine.evaluate([HARNESS], [[f"_acecoder_plus('f', {py_literal([value])!r}, {src!r}, 0.0, 'exact')"]])
    assert res.verdicts == ["error"]  # no f defined: the call itself fails, the literals parsed
    prog = "def f(x):\n    return x\n" + HARNESS
    [res] = engine.run([prog], [[f"assert _acecoder_plus('f', {py_literal([value])!r}, {src!r}, 0.0, 'exact')"]])
    assert res.verdicts == ["pass"]
    with pytest.raises(TypeError, match="no literal"):
        py_literal(object())


def test_an_input_the_canonical_solution_cannot_pass_is_dropped(engine):
    ref = "import random\ndef f(x):\n    return random.random() if x else object()\n"
    [b] = differential_tests(["humaneval+"], ["T/0"], ["f"], [ref], [[[0]]], [[[1]]], [0.0], engine)
    # x=0: an object() has no evaluable repr; x=1: random output still passes (the engine seeds random the same way)
    assert b.dropped == 1 and "input 0" in b.dropped_reason and b.n_base == 0 and len(b.tests) == 1

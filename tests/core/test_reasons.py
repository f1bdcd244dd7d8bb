"""Reasons: the category and first error of a failed row, from real engine results, and the funnel by reason."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib.core import reasons
from acecoder_lib.execution import ExecConfig, ExecutionEngine


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=0.25, setup_timeout_s=1.0)) as eng:
        yield eng


def test_error_type_and_clip():
    assert reasons.error_type("ValueError: bad") == "ValueError"
    assert reasons.error_type("while loading the program: ModuleNotFoundError: No module named 'x'") == \
        "ModuleNotFoundError"
    assert reasons.error_type("requests.exceptions.ReadTimeout: read timed out") == "ReadTimeout"
    assert reasons.error_type("AssertionError") == "AssertionError"
    assert reasons.error_type("empty program") is None and reasons.error_type("") is None
    assert reasons.clip("a\n  b\tc") == "a b c"
    long = reasons.clip("x" * 1000)
    assert len(long) == reasons.MAX_ERROR_CHARS and long.endswith("...")


def test_from_result_on_real_engine_results(engine):
    programs = ["import acecoder_no_such_module\ndef f(x):\n    return x\n",
                "def f(x):\n    raise ValueError(f'bad {x}')\n",
                "def f(x):\n    return x\n",
                "def f(x):\n    while True:\n        pass\n",
                "def f(x) return",
                ""]
    tests = ["assert f(1) == 1", "assert f(2) == 3"]
    got = [reasons.from_result(r, tests) for r in engine.run(programs, [tests] * len(programs))]
    assert got[0][0] == "ModuleNotFoundError"
    assert got[0][1].startswith("crash: while loading the program: ModuleNotFoundError: No module named "
                                "'acecoder_no_such_module'")
    assert got[1] == ("ValueError", "error: ValueError: bad 1 (in: assert f(1) == 1)")
    assert got[2] == ("AssertionError", "fail: AssertionError (in: assert f(2) == 3)")
    assert got[3][0] == "timeout" and got[3][1].startswith("timeout: ")
    assert got[4][0] == "SyntaxError" and got[4][1].startswith("syntax_error: while loading the program: SyntaxError")
    assert got[5] == ("invalid_input", "invalid_input: empty program")
    ok = engine.run(["def f(x):\n    return x\n"], [["assert f(1) == 1"]])[0]
    assert reasons.from_result(ok) == ("", "")


def test_values_mode_rejects_what_accept_rejects(engine):
    res = engine.evaluate(["def f(x):\n    return object() if x else x\n"], [["f(0)", "f(1)"]])[0]
    reason, error = reasons.from_result(res, ["f(0)", "f(1)"], accept=lambda v: None if v == "0" else "not_a_literal")
    assert reason == "not_a_literal" and error.startswith("pass: not_a_literal: <object object at")
    assert error.endswith("(in: f(1))")
    assert reasons.from_result(res) == ("", "")  # without accept, both expressions passed


def test_first_of_and_funnel_by_reason():
    assert reasons.first_of(("", ""), ("a", "x"), ("b", "y")) == ("a", "x")
    assert reasons.first_of(("", "")) == ("", "")
    rows = pd.DataFrame({"status": ["ok", "generator_failed", "generator_failed", "reference_failed", "ok"],
                         "reason": ["", "ModuleNotFoundError", "ModuleNotFoundError", "ValueError", ""],
                         "first_error": ["", "crash: numpy", "crash: numpy again", "error: ValueError: w", ""]})
    table = reasons.funnel_by_reason(rows)
    assert table.to_dict("records") == [
        {"status": "generator_failed", "reason": "ModuleNotFoundError", "rows": 2, "example": "crash: numpy"},
        {"status": "reference_failed", "reason": "ValueError", "rows": 1, "example": "error: ValueError: w"}]
    assert len(reasons.funnel_by_reason(rows, top=1)) == 1
    assert reasons.funnel_by_reason(rows[rows["status"] == "ok"]).empty

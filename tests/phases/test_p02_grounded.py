"""The pure parts of execution-grounded synthesis: spec parsing, rendering, edge cases, hybrid call extraction."""
from __future__ import annotations

import ast

import pytest

from acecoder_lib.code import extract
from acecoder_lib.phases import p02_synthesize_tests as grounded

SPEC = """Input:
  `k_values` (list of integers): A list of integers representing the values of `k` to be tested.
    Each `k` must be within the range [1, 12].
  `scale` (float): A factor.

Output:
  `return` (list of integers): A list of integers representing the results.
"""

CODE = ("import math\n\ndef helper(x):\n    return x\n\n"
        "def main_solution(k_values, scale=1.0):\n    return [k for k in k_values]\n")


def test_parse_io_spec_reads_arguments_continuations_and_return():
    spec = grounded.parse_io_spec(SPEC)
    assert [name for name, _, _ in spec.inputs] == ["k_values", "scale"]
    assert spec.inputs[0][1] == "list of integers"
    assert spec.inputs[0][2].endswith("Each `k` must be within the range [1, 12].")
    assert spec.output_type == "list of integers"
    assert spec.output_doc == "A list of integers representing the results."


def test_signature_and_question():
    assert grounded.function_signature(CODE) == ["k_values", "scale"]
    assert grounded.function_signature(CODE, "nope") is None
    assert grounded.function_signature("def (") is None
    q = grounded.render_question("Find valid k.", grounded.parse_io_spec(SPEC), "main_solution", ["k_values", "scale"])
    assert "Write a Python function `main_solution(k_values, scale)`." in q
    assert "- `scale` (float): A factor." in q
    assert q.endswith("- (list of integers) A list of integers representing the results.")


@pytest.mark.parametrize("expected,assertion", [
    ("[1, 2]", "assert f(3) == [1, 2]"),
    ("2.5", "assert abs(f(3) - 2.5) <= 2.5e-06"),
    ("0.25", "assert abs(f(3) - 0.25) <= 1e-06"),
    ("True", "assert f(3) is True"),
    ("None", "assert f(3) is None"),
    ("'ab'", "assert f(3) == 'ab'"),
])
def test_render_assert(expected, assertion):
    rendered = grounded.render_assert("f(3)", expected)
    assert rendered == assertion
    ast.parse(rendered)


def test_render_call_orders_arguments_by_signature():
    assert grounded.render_call("f", ["a", "b"], {"b": "[1]", "a": "'x'"}) == "f('x', [1])"
    with pytest.raises(ValueError, match=r"\['b'\]"):
        grounded.render_call("f", ["a", "b"], {"a": "1"})


def test_is_literal_rejects_nan_and_non_literals():
    assert grounded.is_literal("[1, (2, 'a'), {'k': 1.5}]")
    assert not grounded.is_literal("float('nan')")
    assert not grounded.is_literal("<object at 0x1>")
    assert not grounded.is_literal("[inf]")


def test_edge_case_candidates_simplify_one_argument_at_a_time():
    cands = grounded.edge_case_candidates([{"xs": [3, 1, 2], "n": 5}])
    assert {"xs": [], "n": 5} in cands and {"xs": [3], "n": 5} in cands
    assert {"xs": [3, 1, 2], "n": 0} in cands and {"xs": [3, 1, 2], "n": 50} in cands
    assert all(sum(c[k] != {"xs": [3, 1, 2], "n": 5}[k] for k in c) == 1 for c in cands)
    assert len(cands) == len({repr(sorted(c.items())) for c in cands})


def test_assert_call_for_hybrid_mode():
    assert grounded.assert_call("assert add(1, [2]) == 3") == "add(1, [2])"
    assert grounded.assert_call("assert is_ok('a') is True") == "is_ok('a')"
    assert grounded.assert_call("assert len(add(1, 2)) == 3") == "len(add(1, 2))"
    assert grounded.assert_call("assert add(1, 2) > 0") is None
    assert grounded.assert_call("assert x") is None


# ---------------------------------------------------------------- synthesis through the real engine
import json  # noqa: E402

import pandas as pd  # noqa: E402

from acecoder_lib.core import datasets as data  # noqa: E402
from acecoder_lib.core import reasons  # noqa: E402
from acecoder_lib.execution import ExecConfig, ExecutionEngine  # noqa: E402

FIX = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "data"


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=0.5, setup_timeout_s=1.0)) as eng:
        yield eng


def _seeds():
    df = data.load_codeio(path=FIX / "codeio_small.jsonl")
    extra = json.loads(df.iloc[2]["extra"])
    broken = [  # no generator; a generator that raises; a reference that always raises
        dict(df.iloc[2], seed_id="no-gen", extra=json.dumps(dict(extra, input_generator=""))),
        dict(df.iloc[2], seed_id="bad-gen", extra=json.dumps(dict(extra, input_generator=(
            "def generate_inputs(rng):\n    raise RuntimeError('boom')\n")))),
        dict(df.iloc[2], seed_id="bad-ref", code="def main_solution(word):\n    raise ValueError(word)\n"),
        dict(df.iloc[2], seed_id="random-ref", code=(  # unseeded randomness: expected values not reproducible
            "import random\ndef main_solution(word):\n    return len(word) + random.randint(0, 10 ** 9)\n")),
    ]
    return pd.concat([df, pd.DataFrame(broken)], ignore_index=True)


def _run_in_engine(engine, program, tests):
    return engine.run([program], [tests])[0]


def test_grounded_asserts_hold_on_the_reference_and_catch_a_wrong_program(engine):
    seeds = _seeds()
    rows = grounded.grounded_synthesize(seeds, engine, n_random=12, n_edge=4, max_tests=10)
    assert rows["seed_id"].tolist() == seeds["seed_id"].tolist()  # one row per seed, none dropped
    status = dict(zip(rows["seed_id"], rows["status"]))
    assert status["no-gen"] == "no_generator" and status["bad-gen"] == "generator_failed"
    assert status["bad-ref"] == "reference_failed" and status["random-ref"] == "unstable_reference"
    unstable = rows[rows["seed_id"] == "random-ref"].iloc[0]
    assert unstable["tests"] == ["assert False"] and json.loads(unstable["detail"])["unstable"] >= 5
    good = rows[rows["status"] == "ok"]
    assert len(good) == 3
    for row in good.itertuples():
        assert 5 <= len(row.tests) <= 10 and len(set(row.tests)) == len(row.tests)
        assert all(t.startswith("assert main_solution(") for t in row.tests)
        assert _run_in_engine(engine, row.reference, row.tests).all_passed  # expected values are the reference's
    add = good[good["seed_id"] == "codeio-00000"].iloc[0]
    assert "{'sum'" not in " ".join(add["tests"])  # the single-key dict wrapper is unwrapped to a plain int
    assert json.loads(add["detail"])["unwrapped_key"] == "sum"
    wrong = "def main_solution(a, b):\n    return a - b\n"
    assert _run_in_engine(engine, wrong, add["tests"]).pass_rate < 1.0


def test_hybrid_recomputes_the_llm_expected_values(engine):
    seeds = _seeds().head(3)
    vowels = seeds.iloc[2]
    llm = pd.DataFrame([{
        "question_id": f"{vowels.seed_id}:llm", "seed_id": vowels.seed_id, "source": "codeio", "method": "llm",
        "question": "Count the vowels.", "entry_point": "count_vowels", "reference": vowels.code, "status": "ok",
        "detail": "{}",
        "tests": [f"assert count_vowels({w!r}) == 99" for w in ("apple", "sky", "queue", "a", "", "xyz")]
        + ["assert count_vowels(None) == 0"]}, {
        "question_id": "codeio-00000:llm", "seed_id": "codeio-00000", "source": "codeio", "method": "llm",
        "question": "", "entry_point": "", "reference": "", "status": "unparseable", "detail": "{}",
        "tests": ["assert False"]}])
    rows = grounded.hybrid_synthesize(llm, seeds, engine)
    ok = rows.iloc[0]
    assert ok["status"] == "ok" and "assert count_vowels('apple') == 2" in ok["tests"]
    assert len(ok["tests"]) == 6 and json.loads(ok["detail"])["rejected_calls"] == 1  # None makes the reference raise
    assert _run_in_engine(engine, ok["reference"], ok["tests"]).all_passed
    assert rows.iloc[1]["status"] == "llm_unusable" and rows.iloc[1]["tests"] == ["assert False"]


def test_alias_entry_point_only_when_needed():
    code = "def main_solution(x):\n    return x\n"
    aliased = extract.alias_entry_point(code, "ident")
    assert aliased.endswith("ident = main_solution\n")
    assert extract.alias_entry_point(aliased, "ident") == aliased  # already bound: not added twice
    assert extract.alias_entry_point(code, "main_solution") == code
    assert extract.alias_entry_point("def other(x):\n    return x\n", "ident").count("ident") == 0  # nothing to alias
    assert extract.alias_entry_point("def (", "ident") == "def ("


def test_every_dropped_grounded_row_says_why(engine):
    seeds = _seeds()
    extra = json.loads(seeds.iloc[2]["extra"])
    more = [  # a generator whose program imports a module the sandbox lacks; one that returns no argument dict
        dict(seeds.iloc[2], seed_id="missing-module", extra=json.dumps(dict(extra, input_generator=(
            "import acecoder_no_such_module\n\ndef generate_inputs(rng):\n    return {'word': 'abc'}\n")))),
        dict(seeds.iloc[2], seed_id="list-gen", extra=json.dumps(dict(extra, input_generator=(
            "def generate_inputs(rng):\n    return ['abc']\n")))),
        dict(seeds.iloc[2], seed_id="renamed-ref", code="def solve(word):\n    return len(word)\n"),
        dict(seeds.iloc[2], seed_id="os-random-gen", extra=json.dumps(dict(extra, input_generator=(  # not the rng
            "import os\n\ndef generate_inputs(rng):\n    return {'word': os.urandom(4).hex()}\n")))),
        dict(seeds.iloc[2], seed_id="module-random-gen", extra=json.dumps(dict(extra, input_generator=(  # seeded
            "import random as r\n\ndef generate_inputs(rng):\n    return {'word': 'ab' * r.randint(1, 9)}\n")))),
    ]
    seeds = pd.concat([seeds.iloc[[2]], seeds.iloc[3:], pd.DataFrame(more)], ignore_index=True)
    rows = grounded.grounded_synthesize(seeds, engine, n_random=6, n_edge=2, max_tests=6).set_index("seed_id")
    why = {sid: (r.status, r.reason) for sid, r in rows.iterrows()}
    assert why["no-gen"] == ("no_generator", "no_generator")
    assert why["bad-gen"] == ("generator_failed", "RuntimeError")
    assert "RuntimeError: boom" in rows.at["bad-gen", "first_error"]
    assert why["missing-module"] == ("generator_failed", "ModuleNotFoundError")
    assert rows.at["missing-module", "first_error"].startswith(
        "crash: while loading the program: ModuleNotFoundError: No module named 'acecoder_no_such_module'")
    assert why["list-gen"] == ("generator_failed", "not_an_argument_dict")
    assert why["bad-ref"] == ("reference_failed", "ValueError")
    assert rows.at["bad-ref", "first_error"].startswith("error: ValueError: ")  # the word the generator drew
    assert why["renamed-ref"] == ("reference_failed", "no_entry_point")
    assert why["os-random-gen"] == ("generator_failed", "unstable_inputs")
    assert rows.at["os-random-gen", "first_error"].startswith("generator_failed: 6 of 6 inputs differ")
    assert why["module-random-gen"] == ("ok", "")  # the `random` module is seeded in every sandbox: reproducible
    assert why["random-ref"][0] == "unstable_reference" and why["random-ref"][1] == "AssertionError"
    assert "(in: assert main_solution(" in rows.at["random-ref", "first_error"]
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 2 and (ok["reason"] == "").all() and (ok["first_error"] == "").all()
    assert (rows["first_error"].str.len() <= 300).all()
    table = reasons.funnel_by_reason(rows, by=["status"])
    assert int(table["rows"].sum()) == len(rows) - len(ok)  # every row but the ok ones, each under its reason


def test_hybrid_rows_say_why(engine):
    seeds = _seeds().head(3)
    vowels = seeds.iloc[2]
    base = {"seed_id": vowels.seed_id, "source": "codeio", "method": "llm", "question": "Count the vowels.",
            "entry_point": "count_vowels", "reference": vowels.code, "detail": "{}"}
    llm = pd.DataFrame([
        {**base, "question_id": "a", "status": "ok", "tests": ["assert count_vowels(None) == 0",
                                                                "assert count_vowels('ab') == 1"]},
        {**base, "question_id": "b", "status": "unparseable", "tests": ["assert False"], "reason": "unparseable",
         "first_error": "unparseable: the answer begins 'Sorry'"}])
    rows = grounded.hybrid_synthesize(llm, seeds, engine)
    few, unusable = rows.iloc[0], rows.iloc[1]
    assert (few["status"], few["reason"]) == ("too_few_tests", "TypeError")  # the reference rejects None
    assert few["first_error"].startswith("error: TypeError: ") and few["first_error"].endswith(
        "(in: count_vowels(None))")
    assert (unusable["status"], unusable["reason"]) == ("llm_unusable", "unparseable")
    assert unusable["first_error"] == "unparseable: the answer begins 'Sorry'"

"""The pure parts of execution-grounded synthesis: spec parsing, rendering, edge cases, hybrid call extraction."""
from __future__ import annotations

import ast

import pytest

from acecoder_lib import grounded

SPEC = """Input:
  `k_values` (list of integers): A list of integers representing the values of `k` to be tested.
    Each `k` must be within the range [1, 12].
  `scale` (float): A factor.

Output:
  `return` (list of integers): A list of integers representing the results.
"""

CODE = "import math\n\ndef helper(x):\n    return x\n\ndef main_solution(k_values, scale=1.0):\n    return [k for k in k_values]\n"


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

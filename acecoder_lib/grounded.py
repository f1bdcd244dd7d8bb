"""Execution-grounded test synthesis (phase 02, beyond the paper): expected values come from running code.

CodeIO seed tasks ship a task description, an I/O specification, reference code (``main_solution``) and an
input generator (``generate_inputs(rng) -> dict``). Instead of asking an LLM to *guess* expected outputs, the
workbench runs the input generator and the reference through the sandboxed execution engine and writes asserts
whose right-hand sides are the reference's real outputs; no expected value is hallucinated. Edge cases (empty
containers, zero, single elements, extremes of the observed values) are derived from the generated inputs and
kept only when the reference accepts them. A hybrid mode takes the *calls* of LLM-written asserts and recomputes
their expected values with the reference.

This module holds the pure parts (spec parsing, question and assert rendering, edge-case candidates); the parts
that run code call ``acecoder_lib.execution``.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

_ARG_RE = re.compile(r"^\s*[-*]?\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\(([^)]*)\)\s*:?\s*(.*)$")
_RET_RE = re.compile(r"^\s*[-*]?\s*`?return`?\s*\(([^)]*)\)\s*:?\s*(.*)$", re.I)
FLOAT_TOLERANCE = 1e-6  # relative, for float outputs (the reference's own rounding is kept as is)


@dataclass
class IOSpec:
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, description)
    output_type: str = ""
    output_doc: str = ""


def parse_io_spec(spec: str) -> IOSpec:
    """Parse CodeIO's ``Input:`` / ``Output:`` block; unknown lines are kept as output documentation."""
    out, section = IOSpec(), None
    extra: list[str] = []
    for line in spec.splitlines():
        head = line.strip().lower()
        if head.startswith("input"):
            section = "in"
            continue
        if head.startswith("output"):
            section = "out"
            continue
        if section == "in":
            m = _ARG_RE.match(line)
            if m:
                out.inputs.append((m.group(1), m.group(2).strip(), m.group(3).strip()))
            elif line.strip() and out.inputs:  # continuation of the previous argument's description
                name, typ, doc = out.inputs[-1]
                out.inputs[-1] = (name, typ, (doc + " " + line.strip()).strip())
        elif section == "out":
            m = _RET_RE.match(line)
            if m and not out.output_type:
                out.output_type, out.output_doc = m.group(1).strip(), m.group(2).strip()
            elif line.strip():
                extra.append(line.rstrip())
    if extra:
        out.output_doc = (out.output_doc + "\n" + "\n".join(extra)).strip()
    return out


def function_signature(code: str, name: str = "main_solution") -> list[str] | None:
    """Positional parameter names of function ``name`` in ``code`` (None when absent or unparsable)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return [a.arg for a in node.args.posonlyargs + node.args.args]
    return None


def render_question(description: str, spec: IOSpec, entry_point: str, params: list[str],
                    output_type: str | None = None, output_doc: str | None = None) -> str:
    """A plain function-style question: the task, the signature, each argument and the return value."""
    docs = {name: (typ, doc) for name, typ, doc in spec.inputs}
    lines = [description.strip(), "", f"Write a Python function `{entry_point}({', '.join(params)})`."]
    if params:
        lines += ["", "Arguments:"]
        for p in params:
            typ, doc = docs.get(p, ("", ""))
            lines.append(f"- `{p}`" + (f" ({typ})" if typ else "") + (f": {doc}" if doc else ""))
    typ = output_type if output_type is not None else spec.output_type
    doc = output_doc if output_doc is not None else spec.output_doc
    lines += ["", "Returns:", f"- ({typ}) {doc}".rstrip() if typ else f"- {doc}".rstrip()]
    return "\n".join(lines).strip()


def is_literal(value_repr: str) -> bool:
    """True when ``value_repr`` is a Python literal that evaluates back to an equal value."""
    try:
        value = ast.literal_eval(value_repr)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return _finite(value)


def _finite(value) -> bool:
    """No NaN/inf anywhere (they cannot be written as literals that compare equal)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(k) and _finite(v) for k, v in value.items())
    return True


def render_call(entry_point: str, params: list[str], inputs: dict) -> str:
    """``f(a, b)`` with positional literals in signature order (``inputs`` maps name -> repr string)."""
    missing = [p for p in params if p not in inputs]
    if missing:
        raise ValueError(f"inputs lack parameter(s) {missing}")
    return f"{entry_point}({', '.join(inputs[p] for p in params)})"


def render_assert(call: str, expected_repr: str) -> str:
    """An assert comparing ``call`` to the expected literal; floats compare with a relative tolerance."""
    value = ast.literal_eval(expected_repr)
    if isinstance(value, float):
        bound = f"{FLOAT_TOLERANCE * max(1.0, abs(value)):.3g}"
        return f"assert abs({call} - {expected_repr}) <= {bound}"
    if isinstance(value, bool) or value is None:
        return f"assert {call} is {expected_repr}"
    return f"assert {call} == {expected_repr}"


def _edge_values(value):
    """Simpler or extreme variants of one argument value (same type), most informative first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [0, 1, -1, value * 10]
    if isinstance(value, float):
        return [0.0, 1.0]
    if isinstance(value, str):
        return ["", value[:1]] if value else ["a"]
    if isinstance(value, list):
        return [[], value[:1]] if value else []
    if isinstance(value, tuple):
        return [(), value[:1]] if value else []
    if isinstance(value, dict):
        return [{}] if value else []
    return []


def edge_case_candidates(samples: list[dict], limit: int = 8) -> list[dict]:
    """Inputs derived from generated samples by simplifying one argument at a time (deduplicated, in order).

    They are only *candidates*: the reference decides which are valid (one that raises or times out is dropped).
    """
    out, seen = [], set()
    for sample in samples[:2]:
        for name, value in sample.items():
            for variant in _edge_values(value):
                candidate = dict(sample, **{name: variant})
                key = repr(sorted(candidate.items(), key=lambda kv: kv[0]))
                if key not in seen and candidate != sample:
                    seen.add(key)
                    out.append(candidate)
    return out[:limit]


def assert_call(test: str) -> str | None:
    """The call on the left of ``assert CALL == EXPECTED`` (hybrid mode), or None for other shapes."""
    try:
        node = ast.parse(test.strip()).body[0]
    except (SyntaxError, ValueError, IndexError):
        return None
    if not isinstance(node, ast.Assert) or not isinstance(node.test, ast.Compare):
        return None
    cmp = node.test
    if len(cmp.ops) == 1 and isinstance(cmp.ops[0], (ast.Eq, ast.Is)) and isinstance(cmp.left, ast.Call):
        return ast.unparse(cmp.left)
    return None

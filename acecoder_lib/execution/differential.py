"""Differential testing as evalplus does it (HumanEval+ / MBPP+): a program is run on each of a task's inputs and its
output compared with the canonical solution's, both computed in the sandbox (issue 18 item 1).

    [t] = differential_tests(["humaneval+"], ["HumanEval/0"], ["add"], [prompt + canonical], [base], [plus], [0.0],
                             engine)                  # expected outputs from the canonical solution, in the sandbox
    engine.run([program + HARNESS], [t.tests])        # one verdict per input; t.tests[:t.n_base] are the base ones

What is evalplus's here (evalplus 0.3.1, ``evalplus/eval/__init__.py``, ``_special_oracle.py``, ``data/mbpp.py``;
MIT licence), re-implemented on the workbench's engine:
- expected outputs: the canonical solution called on each input (``trusted_exec``), here in the sandbox
  (``ExecutionEngine.evaluate``); MBPP+'s ``output_not_none`` tasks keep only ``out is not None``;
- the comparison (``unsafe_execute``): ``out == expected``; MBPP+'s special oracles (set equality for 8 tasks, the
  not-None tasks, Mbpp/164, 295, 558, 581) and HumanEval/32's ``find_zero`` (``|poly(xs, out)| <= atol``); where the
  exact comparison fails and the tolerance is not 0 (a task's ``atol``, or 1e-6 when the expected value is a float or
  a list of floats), the same type, the same length and ``allclose(out, expected, rtol=1e-7, atol)``;
- MBPP+'s inputs: lists turned back into tuples, sets and complex numbers per task id (``mbpp_deserialize_inputs``);
- time limits (``untrusted_check``): max(floor, factor x the canonical solution's time on the input), evalplus's
  defaults 1 s and 4x, here parameters of ``core``'s calibrated limits (CPU seconds, where evalplus measures wall time).

Where it differs, said plainly: evalplus raises a task's tolerance to 1e-6 for the rest of the task's inputs once it
meets a float expected value; here each input is judged on its own expected value. evalplus 0.3.1 never marks a
passing ``find_zero`` input as passed (its special case ``continue``s before recording it), so it fails even the
canonical solution of HumanEval/32; here a ``find_zero`` input passes when the root is within ``atol``. An input the
canonical solution itself cannot pass here (its output has no evaluable repr, it times out) is dropped and counted.

The comparison runs inside the sandbox: ``HARNESS`` (a function ``_acecoder_plus``) is appended to the program, and
each test is one call of it naming the entry point, the arguments and the expected value as Python literals (evaluated
there with no builtins but the constructors a repr needs), so no output of a program is ever parsed outside.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

HARNESS = r'''

def _acecoder_literal(_s):
    """A value written by py_literal (or a repr of one), evaluated with no builtins but the constructors it needs."""
    return eval(_s, {"__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "float": float,
                     "complex": complex, "set": set, "frozenset": frozenset})


def _acecoder_plus(_name, _args, _expected, _atol, _kind):
    """evalplus's comparison of one output with the canonical solution's (acecoder_lib.execution.differential)."""
    import math as _m
    args = _acecoder_literal(_args)
    exp = _acecoder_literal(_expected)
    out = globals()[_name](*args)

    def floats(x):
        if isinstance(x, float):
            return True
        return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(i, float) for i in x)

    def close(a, b, atol):
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))) or len(a) != len(b):
                raise ValueError("shapes differ")
            return all(close(x, y, atol) for x, y in zip(a, b))
        if a == b:
            return True
        return abs(a - b) <= atol + 1e-07 * abs(b)

    if _kind == "find_zero":
        return abs(sum(c * _m.pow(out, i) for i, c in enumerate(args[0]))) <= _atol
    exact = out == exp
    if _kind == "not_none":
        exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    elif _kind == "set_eq":
        exact = set(out) == set(exp)
    elif _kind == "always":
        exact = True
    elif _kind == "zero_ok":
        exact = exact or out == 0
    elif _kind == "surface_area":
        b, h = args
        exact = exact or abs(out - round(b ** 2 + 4 * (b * _m.sqrt((b / 2) ** 2 + h ** 2)) / 2)) <= _atol
    elif _kind == "digit_distance":
        s1, s2 = str(args[0]), str(args[1])
        w = max(len(s1), len(s2))
        exact = exact or out == sum(abs(int(x) - int(y)) for x, y in zip(s1.zfill(w), s2.zfill(w)))
    atol = _atol
    if atol == 0 and floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return close(out, exp, atol)
    return bool(exact)
'''

# evalplus 0.3.1 evalplus/eval/_special_oracle.py and unsafe_execute's special cases, by entry point
MBPP_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
               "intersection_array", "find_dissimilar", "Diff"}
MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}
MBPP_KINDS = {"are_equivalent": "always", "sum_div": "zero_ok", "surface_Area": "surface_area",
              "digit_distance_nums": "digit_distance"}


def oracle_kind(benchmark: str, entry_point: str) -> str:
    """How outputs are compared for a task: ``exact`` (with the float tolerance) or one of evalplus's special cases."""
    if benchmark.startswith("mbpp"):
        if entry_point in MBPP_KINDS:
            return MBPP_KINDS[entry_point]
        if entry_point in MBPP_SET_EQ:
            return "set_eq"
        if entry_point in MBPP_NOT_NONE:
            return "not_none"
    elif benchmark.startswith("humaneval") and entry_point == "find_zero":
        return "find_zero"
    return "exact"


def _tuples(x):
    return tuple(_tuples(i) for i in x) if isinstance(x, list) else x


def mbpp_inputs(task_id: str, inputs: list) -> list:
    """MBPP+'s JSON inputs with the Python types its tasks take (evalplus ``mbpp_deserialize_inputs``, by task)."""
    n = int(str(task_id).split("/")[-1])
    if n in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744,
             809):
        return [[tuple(a) for a in inp] for inp in inputs]
    if n in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[[tuple(x) for x in a] for a in inp] for inp in inputs]
    if n in (75, 413, 444, 753):
        return [[[tuple(x) for x in inp[0]]] + [inp[1]] for inp in inputs]
    if n in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(i) if isinstance(i, list) and len(i) else {} for i in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in (259, 401, 445):
        return [[tuple(tuple(x) for x in a) for a in inp] for inp in inputs]
    if n == 278:
        return [[tuple(tuple(i) if isinstance(i, list) else i for i in inp[0])] for inp in inputs]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in (580, 615, 791):
        return [_tuples(inp) for inp in inputs]
    return inputs


def py_literal(obj) -> str:
    """Python source for a value made of None, bool, int, float (inf and nan too), complex, str, bytes, list, tuple,
    set, frozenset and dict; ``HARNESS``'s ``_acecoder_literal`` evaluates it with no builtins beyond the constructors
    used here."""
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return repr(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        return repr(obj) if math.isfinite(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, complex):
        return f"complex({py_literal(obj.real)}, {py_literal(obj.imag)})"
    if isinstance(obj, list):
        return "[" + ", ".join(map(py_literal, obj)) + "]"
    if isinstance(obj, tuple):
        return "(" + "".join(py_literal(x) + ", " for x in obj) + ")"
    if isinstance(obj, (set, frozenset)):
        inner = "[" + ", ".join(map(py_literal, obj)) + "]"
        return f"{type(obj).__name__}({inner})"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in obj.items()) + "}"
    raise TypeError(f"no literal for a {type(obj).__name__} input")


@dataclass
class DifferentialTests:
    """One task's tests: ``tests[:n_base]`` judge the base inputs, the rest the plus inputs; each is a call of
    ``HARNESS``'s ``_acecoder_plus`` (append ``HARNESS`` to the program). ``reference_cpu_seconds`` is the canonical
    solution's CPU time on each kept test (for its time limit); ``dropped`` counts the inputs left out because the
    canonical solution could not pass them here, with the first reason."""

    tests: list[str]
    n_base: int
    reference_cpu_seconds: list[float]
    dropped: int = 0
    dropped_reason: str = ""
    kind: str = "exact"


def _call(entry_point: str, args: str, expected: str, atol: float, kind: str) -> str:
    return f"assert _acecoder_plus({entry_point!r}, {args!r}, {expected!r}, {atol!r}, {kind!r})"


def differential_tests(benchmarks: Sequence[str], task_ids: Sequence[str], entry_points: Sequence[str],
                       references: Sequence[str], base_inputs: Sequence[list], plus_inputs: Sequence[list],
                       atols: Sequence[float], engine, max_value_chars: int = 1_000_000) -> list[DifferentialTests]:
    """The tests of each task (one ``DifferentialTests`` per row), its expected outputs computed by running
    ``references[i]`` (the canonical program: HumanEval's prompt + solution, MBPP+'s solution) in the sandbox.

    Two engine passes over all tasks at once: the reference evaluated on every input (``mode="values"``: the repr of
    each output), then the reference run on the tests built from those outputs, which must pass them all: an input it
    fails (an output whose repr does not evaluate back, a nondeterministic result) is dropped."""
    rows = []
    for bench, tid, ep, base, plus in zip(benchmarks, task_ids, entry_points, base_inputs, plus_inputs):
        inputs = [*base, *plus]
        if str(bench).startswith("mbpp"):
            inputs = mbpp_inputs(tid, inputs)
        kind = oracle_kind(bench, ep)
        rows.append((kind, [py_literal(list(a)) for a in inputs], len(base)))
    expressions = []
    for (kind, args, _), ep in zip(rows, entry_points):
        call = [f"{ep}(*_acecoder_literal({a!r}))" for a in args]
        expressions.append([f"({c}) is not None" if kind == "not_none" else c for c in call])
    config = dataclasses.replace(engine.config, max_value_chars=max_value_chars)
    values = engine.evaluate([r + HARNESS for r in references], expressions, config=config)
    candidates = []
    for (kind, args, _), ep, atol, res in zip(rows, entry_points, atols, values):
        built = []
        for k, a in enumerate(args):
            v = res.values[k] if res.values and k < len(res.values) else None
            if v is not None and kind == "find_zero":
                v = "None"  # find_zero is judged by the polynomial, not by the reference's root
            built.append(None if v is None else _call(ep, a, v, float(atol), kind))
        candidates.append(built)
    runs = engine.run([r + HARNESS for r in references], [[t for t in c if t is not None] for c in candidates])
    out = []
    for (kind, args, n_base), cands, res, vals in zip(rows, candidates, runs, values):
        tests, cpu, n_base_kept, reason = [], [], 0, ""
        j = 0
        for k, t in enumerate(cands):
            if t is None:
                err = vals.errors[k] if vals.errors and k < len(vals.errors) else "no output"
                reason = reason or f"input {k}: the canonical solution gave no value ({err})"
                continue
            passed = res.verdicts[j] == "pass" if j < len(res.verdicts) else False
            if passed:
                tests.append(t)
                cpu.append(float(res.cpu_seconds[j]) if res.cpu_seconds else 0.0)
                n_base_kept += k < n_base
            else:
                reason = reason or f"input {k}: the canonical solution fails its own test ({res.errors[j]})"
            j += 1
        out.append(DifferentialTests(tests, n_base_kept, cpu, len(args) - len(tests), reason, kind))
    return out

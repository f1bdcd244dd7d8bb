"""Phase 02, the paper's way: an LLM rewrites seed code into a question with ~20 asserts (PAPER_FACTS section 2).

    rows = llm_synthesize(seeds, backend, cache, namespace="openai:gpt-4o-mini")   # the paper's setting
    rows = llm_synthesize(seeds, backend, cache, namespace="transformers:smollm2-135m-instruct")  # default sample

Every seed gives exactly one row: the parsed question and tests, or the paper's ``assert False`` question when the
answer is unusable, with the parse status and the reason counted, never silently dropped. Requests go through
``cache.cached_generate``, so a crash or a rerun never pays twice. Execution-grounded synthesis (beyond the paper)
lives in ``grounded``.

Execution-grounded synthesis (beyond the paper) lives here too; its own notes:

Execution-grounded test synthesis (phase 02, beyond the paper): expected values come from running code.

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
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from ..code.extract import alias_entry_point, infer_entry_point
from ..code.llm_json import parse_synthesis
from ..core import reasons
from ..core.cache import CompletionCache, cached_generate
from ..core.schemas import QUESTIONS
from ..core.splits import is_usable
from ..llm import prompts

# Paper: GPT-4o-mini at temperature 0.7, JSON output (PAPER_FACTS section 2).
PAPER_TEMPERATURE = 0.7


def llm_synthesize(seeds: pd.DataFrame, backend, cache: CompletionCache, namespace: str,
                   temperature: float = PAPER_TEMPERATURE, max_new_tokens: int = 2048, batch_size: int = 8,
                   seed: int = 0, progress=None, return_answers: bool = False, json_schema: bool = False):
    """One ``02_questions`` row per seed from the LLM's JSON answers (see module docstring); with
    ``return_answers``, also the raw answer texts, in seed order (for display; they are in the cache too).
    ``json_schema``: decode under ``prompts.SYNTHESIS_SCHEMA`` (tests must be assert strings; vllm/openai only)."""
    if json_schema and not getattr(backend, "supports_json_schema", False):  # before any call: not a row error
        raise ValueError(f"json_schema=True needs a backend that constrains decoding (vllm or openai); "
                         f"{getattr(backend, 'kind', type(backend).__name__)} cannot")
    messages = [prompts.synthesis_messages(row.code, row.instruction or "") for row in seeds.itertuples()]
    failures: dict[int, str] = {}
    extra = {"json_schema": prompts.SYNTHESIS_SCHEMA} if json_schema else {}  # unset keeps older cache keys valid
    answers = cached_generate(backend, messages, cache, namespace=namespace, batch_size=batch_size,
                              progress=progress, failures=failures, n=1, temperature=temperature,
                              max_new_tokens=max_new_tokens, seed=seed, **extra)
    rows = []
    for i, (row, [answer]) in enumerate(zip(seeds.itertuples(), answers)):
        parsed = parse_synthesis(answer)
        if i in failures:  # the backend failed (timeout, server error): counted, retried by the next run
            parsed.status = "backend_error"
        reason, first_error = _llm_reason(parsed, answer, failures.get(i, ""))
        rows.append({
            "question_id": f"{row.seed_id}:llm", "seed_id": row.seed_id, "source": row.source, "method": "llm",
            "question": parsed.question, "tests": parsed.tests, "entry_point": infer_entry_point(parsed.tests) or "",
            "reference": row.code, "status": parsed.status,
            "detail": json.dumps({"dropped_tests": parsed.dropped_tests, "drop_reasons": parsed.drop_reasons,
                                  "answer_chars": len(answer or ""), "backend_error": failures.get(i, "")}),
            "reason": reason, "first_error": first_error,
        })
    table = pd.DataFrame(rows, columns=QUESTIONS.column_names)
    return (table, [a for [a] in answers]) if return_answers else table


def _llm_reason(parsed, answer: str | None, backend_error: str) -> tuple[str, str]:
    """(reason, first_error) of one LLM answer: the backend's exception type, the parse status, or for an answer
    whose every test was dropped the commonest drop reason; ('', '') for an ok or repaired answer."""
    if parsed.status == "backend_error":
        return reasons.from_error_text(backend_error, "backend_error")
    if parsed.status in ("ok", "repaired"):
        return "", ""
    if parsed.status == "no_tests" and parsed.drop_reasons:
        top = max(parsed.drop_reasons, key=parsed.drop_reasons.get)
        return top, reasons.clip(f"no_tests: {parsed.dropped_tests} test(s) dropped {parsed.drop_reasons}")
    return parsed.status, reasons.clip(f"{parsed.status}: the answer begins {(answer or '')[:200]!r}")


def synthesis_yield(questions: pd.DataFrame) -> pd.DataFrame:
    """Per method and status: questions, usable questions (``is_usable``), their tests, mean tests per usable one."""
    usable = is_usable(questions)
    table = (questions.assign(n_tests=questions["tests"].map(len).where(usable, 0), usable=usable)
             .groupby(["method", "status"], as_index=False)
             .agg(questions=("question_id", "size"), usable=("usable", "sum"), tests=("n_tests", "sum")))
    table["tests_per_usable_question"] = (table["tests"] / table["usable"].where(table["usable"] > 0)).round(2)
    return table


def plot_tests_per_question(questions: pd.DataFrame):
    """Histogram of usable tests per question, one colour per synthesis method."""
    import plotly.express as px

    usable = questions[is_usable(questions)]
    fig = px.histogram(usable.assign(n_tests=usable["tests"].map(len)), x="n_tests", color="method",
                       barmode="group", title="Synthesized tests per usable question, by method",
                       labels={"n_tests": "tests per question (count)", "method": "method"})
    fig.update_yaxes(title_text="questions (count)")
    return fig


# ---------------------------------------------------------------- execution-grounded synthesis
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


# ---------------------------------------------------------------- running the seed's code (through the engine)

GROUNDED_STATUSES = ("ok", "no_reference", "no_generator", "generator_failed", "reference_failed", "too_few_tests",
                     "unstable_reference")


def _codeio_parts(row) -> dict | None:
    """Reference code, its entry point, the input generator and its entry point, from a CodeIO seed row."""
    import json as _json

    try:
        extra = _json.loads(row.extra or "{}")
    except ValueError:
        return None
    generator = extra.get("input_generator") or ""
    return {"code": row.code or "", "entry": extra.get("reference_entry_point") or "main_solution",
            "generator": generator, "generator_entry": extra.get("input_generator_entry_point") or "generate_inputs",
            "spec": parse_io_spec(extra.get("input_output_spec") or "")}


def _unwrap_single_key(outputs: list) -> str | None:
    """The key when every output is a dict with the same single key (CodeIO's dict wrapper), else None."""
    keys = {tuple(o.keys()) if isinstance(o, dict) else None for o in outputs}
    if len(keys) == 1:
        (only,) = keys
        if only is not None and len(only) == 1 and isinstance(only[0], str):
            return only[0]
    return None


def _output_kind(outputs: list) -> str:
    kinds = {type(o).__name__ for o in outputs}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _literal_problem(value_repr: str | None) -> str | None:
    """Why a value from the sandbox cannot be an expected value (None when it can)."""
    return None if value_repr and is_literal(value_repr) else "not_a_literal"


def _arguments_problem(value_repr: str | None) -> str | None:
    """Why a generator's value is not a usable set of arguments (None when it is a dict keyed by name)."""
    if _literal_problem(value_repr):
        return "not_a_literal"
    value = ast.literal_eval(value_repr)
    ok = isinstance(value, dict) and value and all(isinstance(k, str) for k in value)
    return None if ok else "not_an_argument_dict"


def _no_call_reason(params, entry: str, got: list[dict]) -> tuple[str, str]:
    """(reason, first_error) when no generated input could be passed to the reference."""
    if params is None:
        return "no_entry_point", f"reference_failed: no top-level function {entry!r} in the reference"
    return "inputs_do_not_match_signature", reasons.clip(
        f"reference_failed: the generator's keys {sorted(got[0])} are not parameters of {entry}{tuple(params)}")


def _pick_tests(pairs: list[tuple[str, str, bool]], max_tests: int) -> list[tuple[str, str, bool]]:
    """Up to ``max_tests`` (inputs, output, is_edge) with distinct inputs, spreading over distinct outputs.

    Random samples come first (the first two are shown to solvers as examples, paper section 3), then edge cases;
    within each, a round-robin over distinct outputs so a suite is not twenty copies of the same answer.
    """
    from collections import OrderedDict

    chosen, seen_inputs = [], set()
    for edge in (False, True):
        groups: OrderedDict[str, list] = OrderedDict()
        for p in pairs:
            if p[2] == edge and p[0] not in seen_inputs:
                groups.setdefault(p[1], []).append(p)
        while groups and len(chosen) < max_tests:
            for out in list(groups):
                bucket = groups[out]
                while bucket and bucket[0][0] in seen_inputs:
                    bucket.pop(0)
                if not bucket:
                    del groups[out]
                    continue
                p = bucket.pop(0)
                chosen.append(p)
                seen_inputs.add(p[0])
                if len(chosen) >= max_tests:
                    break
    return chosen


def grounded_synthesize(seeds, engine, n_random: int = 24, n_edge: int = 8, max_tests: int = 20,
                        min_tests: int = 5, rng_seed: int = 0):
    """``02_questions`` rows (method "grounded") for CodeIO seeds: inputs from the seed's generator, expected values
    from its reference, both run through the execution ``engine`` (``ExecutionEngine.evaluate``: the code runs in the
    sandbox, only reprs come back, parsed by literal_eval). A question whose reference a rerun does not reproduce
    is dropped (``drop_unstable``)."""
    import ast as _ast
    import json as _json

    import pandas as pd

    from ..core.schemas import QUESTIONS

    rows, parts = [], [_codeio_parts(r) for r in seeds.itertuples()]
    # 1. inputs: run each generator n_random times with seeded Random instances
    gen_programs, gen_exprs = [], []
    for p in parts:
        ok = p is not None and p["generator"] and p["code"]
        gen_programs.append(("from random import Random\nimport random\n" + p["code"] + "\n\n" + p["generator"])
                            if ok else "")
        gen_exprs.append([f"{p['generator_entry']}(Random({rng_seed * 100_003 + i}))" for i in range(n_random)]
                         if ok else [])
    gen_results = engine.evaluate(gen_programs, gen_exprs)
    # Twice, with the same seeds: an input that differs between the two runs came from the OS (secrets, os.urandom,
    # the clock), not from the seeded Random; it is dropped, so a rerun of the phase writes the same tests.
    gen_again = engine.evaluate(gen_programs, gen_exprs)
    samples: list[list[dict]] = []
    unstable_inputs: list[int] = []
    for res, again in zip(gen_results, gen_again):
        got, unstable = [], 0
        for verdict, value_repr, repeat in zip(res.verdicts, res.values or [], again.values or [None] * res.n_tests):
            if verdict == "pass" and value_repr != repeat:
                unstable += 1
            elif verdict == "pass" and value_repr and is_literal(value_repr):
                value = _ast.literal_eval(value_repr)
                if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
                    got.append(value)
        samples.append(got)
        unstable_inputs.append(unstable)
    # 2. outputs: the reference on random samples and on edge-case candidates
    ref_programs, ref_exprs, ref_inputs = [], [], []
    for p, got in zip(parts, samples):
        params = function_signature(p["code"], p["entry"]) if p else None
        candidates = [(s, False) for s in got] + [(e, True) for e in edge_case_candidates(got, n_edge)]
        usable = [(c, edge) for c, edge in candidates if params is not None and set(c) <= set(params)]
        ref_programs.append(p["code"] if usable else "")
        ref_exprs.append([f"{p['entry']}(**{c!r})" for c, _ in usable])
        ref_inputs.append(usable)
    ref_results = engine.evaluate(ref_programs, ref_exprs)
    # 3. asserts
    for row, p, got, usable, results, gen_res, exprs, g_exprs, n_unstable in zip(
            seeds.itertuples(), parts, samples, ref_inputs, ref_results, gen_results, ref_exprs, gen_exprs,
            unstable_inputs):
        base = {"question_id": f"{row.seed_id}:grounded", "seed_id": row.seed_id, "source": row.source,
                "method": "grounded", "reference": row.code or "", "reason": "", "first_error": ""}
        if p is None or not p["code"]:
            why = "the seed's extra field is not JSON" if p is None else "the seed has no reference code"
            rows.append({**base, "question": "", "tests": ["assert False"], "entry_point": "", "status": "no_reference",
                         "detail": "{}", "reason": "no_reference", "first_error": f"no_reference: {why}"})
            continue
        if not p["generator"]:
            rows.append({**base, "question": "", "tests": ["assert False"], "entry_point": p["entry"],
                         "status": "no_generator", "detail": "{}", "reason": "no_generator",
                         "first_error": "no_generator: the seed has no input generator"})
            continue
        if not got:  # the generator (run after the reference's top level) gave no usable input
            reason, first_error = reasons.from_result(gen_res, g_exprs, accept=_arguments_problem)
            if not reason and n_unstable:
                reason, first_error = "unstable_inputs", (f"generator_failed: {n_unstable} of {len(g_exprs)} inputs "
                                                          "differ between two runs with the same seed")
            rows.append({**base, "question": "", "tests": ["assert False"], "entry_point": p["entry"],
                         "status": "generator_failed", "detail": "{}", "reason": reason or "no_inputs",
                         "first_error": first_error or "generator_failed: no input was generated"})
            continue
        pairs = []
        for (inputs, edge), verdict, value_repr in zip(usable, results.verdicts, results.values or []):
            if verdict == "pass" and value_repr and is_literal(value_repr):
                pairs.append((inputs, _ast.literal_eval(value_repr), edge))
        key = _unwrap_single_key([v for _, v, _ in pairs])
        params = function_signature(p["code"], p["entry"]) or []
        reference = p["code"]
        if key is not None:
            pairs = [(i, v[key], e) for i, v, e in pairs]
            hidden = "_" + p["entry"] + "_dict"
            reference = (p["code"].replace(f"def {p['entry']}(", f"def {hidden}(") +
                         f"\n\ndef {p['entry']}(*args, **kwargs):\n    return {hidden}(*args, **kwargs)[{key!r}]\n")
        rendered = []
        for inputs, value, edge in pairs:
            try:
                call = render_call(p["entry"], params, {k: repr(v) for k, v in inputs.items()})
            except ValueError:  # an optional parameter the generator left out: pass by keyword instead
                call = f"{p['entry']}(**{inputs!r})"
            rendered.append((call, repr(value), edge))
        picked = _pick_tests(rendered, max_tests)
        tests = [render_assert(call, value) for call, value, _ in picked]
        kind = _output_kind([v for _, v, _ in pairs]) if pairs else ""
        spec = p["spec"]
        question = render_question(row.instruction or "", spec, p["entry"], params,
                                   output_type=None if key is None else kind, output_doc=None if key is None else
                                   _key_doc(spec.output_doc, key))
        status = "ok" if len(tests) >= min_tests else ("reference_failed" if not pairs else "too_few_tests")
        reason, first_error = "", ""
        if status != "ok":
            reason, first_error = (reasons.from_result(results, exprs, accept=_literal_problem) if usable else
                                   _no_call_reason(function_signature(p["code"], p["entry"]), p["entry"], got))
            if not reason:  # every call gave a value: too few distinct inputs
                reason, first_error = "few_distinct_inputs", f"{status}: {len(tests)} distinct tests < {min_tests}"
        detail = {"n_random": len(got), "unstable_inputs": n_unstable, "n_pairs": len(pairs),
                  "n_edge": sum(e for *_, e in picked), "distinct_outputs": len({v for _, v, _ in picked}),
                  "unwrapped_key": key, "output_kind": kind,
                  "n_args": len(params), "reference_chars": len(p["code"])}
        rows.append({**base, "question": question, "tests": tests if tests else ["assert False"],
                     "entry_point": p["entry"], "reference": reference, "status": status,
                     "detail": _json.dumps(detail), "reason": reason, "first_error": first_error})
    return drop_unstable(pd.DataFrame(rows, columns=QUESTIONS.column_names), engine)


def drop_unstable(rows, engine):
    """Re-run each ok row's reference on its own asserts, in order, and reversed with another ``random`` seed
    (``ExecConfig.random_seed``), in fresh sandboxes; a row with any assert that fails either run becomes
    ``unstable_reference`` (no tests). Catches references that use the ``random`` module, other randomness, the
    clock or global state (some CodeIO tasks do): a deterministic reference reproduces every value it
    produced, so one miss proves the others are luck too (low-entropy outputs such as two labels often match by
    chance). Residual risk: randomness that only shows in rare branches. Counted in ``detail["unstable"]``; the
    first failing assert is the row's ``first_error``."""
    import json as _json

    rows = rows.copy()
    idx = [i for i, s in enumerate(rows["status"]) if s == "ok"]
    programs = [rows.at[i, "reference"] for i in idx]
    forward = engine.run(programs, [list(rows.at[i, "tests"]) for i in idx])
    other_seed = dataclasses.replace(engine.config, random_seed=engine.config.random_seed + 1)
    backward = engine.run(programs, [list(rows.at[i, "tests"])[::-1] for i in idx], config=other_seed)
    for i, fwd, bwd in zip(idx, forward, backward):
        tests = list(rows.at[i, "tests"])
        n = len(tests)
        keep = [t for k, t in enumerate(tests) if fwd.verdicts[k] == "pass" and bwd.verdicts[n - 1 - k] == "pass"]
        detail = _json.loads(rows.at[i, "detail"] or "{}")
        detail["unstable"] = n - len(keep)
        rows.at[i, "detail"] = _json.dumps(detail)
        if len(keep) < n:
            rows.at[i, "tests"], rows.at[i, "status"] = ["assert False"], "unstable_reference"
            rows.at[i, "reason"], rows.at[i, "first_error"] = reasons.first_of(
                reasons.from_result(fwd, tests), reasons.from_result(bwd, tests[::-1]))
    return rows


def _key_doc(output_doc: str, key: str) -> str:
    """The documentation line of one key of a dict output (CodeIO lists them as '- `key` (type): doc')."""
    for line in output_doc.splitlines():
        m = _ARG_RE.match(line)
        if m and m.group(1) == key:
            return m.group(3)
    return output_doc.splitlines()[0] if output_doc else ""


def hybrid_synthesize(llm_rows, seeds, engine, min_tests: int = 5):
    """``02_questions`` rows (method "hybrid"): the LLM's questions and the *calls* of its asserts, with every
    expected value recomputed by running the seed's reference through the execution ``engine``.

    The LLM often renames the function; the reference is aliased to the name the asserts call. A call the reference
    rejects (raises, times out, returns a non-literal) is dropped and counted in ``detail``."""
    import json as _json

    import pandas as pd

    from ..core.schemas import QUESTIONS

    by_seed = {r.seed_id: r for r in seeds.itertuples()}
    programs, exprs, meta = [], [], []
    for row in llm_rows.itertuples():
        seed = by_seed.get(row.seed_id)
        parts = _codeio_parts(seed) if seed is not None else None
        calls = [c for c in (assert_call(t) for t in row.tests) if c is not None]
        entry = row.entry_point
        ok = parts is not None and parts["code"] and calls and entry and row.status in ("ok", "repaired")
        programs.append(alias_entry_point(parts["code"], entry, parts["entry"]) if ok else "")
        exprs.append(calls if ok else [])
        meta.append((row, seed, parts, calls, ok))
    results = engine.evaluate(programs, exprs)
    rows = []
    for program, (row, _seed, parts, calls, ok), res in zip(programs, meta, results):
        base = {"question_id": f"{row.seed_id}:hybrid", "seed_id": row.seed_id, "source": row.source,
                "method": "hybrid", "question": row.question, "entry_point": row.entry_point, "reference": program}
        if not ok:
            why = ("no_reference" if parts is None or not parts["code"] else
                   "llm_unusable" if row.status not in ("ok", "repaired") else "no_calls")
            reason, first_error = _hybrid_unusable(why, row)
            rows.append({**base, "tests": ["assert False"], "status": why, "detail": _json.dumps({"calls": len(calls)}),
                         "reason": reason, "first_error": first_error})
            continue
        tests, rejected = [], 0
        for call, verdict, value_repr in zip(calls, res.verdicts, res.values or []):
            if verdict == "pass" and value_repr and is_literal(value_repr):
                tests.append(render_assert(call, value_repr))
            else:
                rejected += 1
        tests = list(dict.fromkeys(tests))
        rewritten = len(set(tests) - set(row.tests))  # the LLM's expected value was wrong (or written differently)
        status = "ok" if len(tests) >= min_tests else "too_few_tests"
        reason, first_error = "", ""
        if status != "ok":
            reason, first_error = reasons.from_result(res, calls, accept=_literal_problem)
            if not reason:
                reason, first_error = "few_distinct_asserts", f"{status}: {len(tests)} distinct asserts < {min_tests}"
        rows.append({**base, "tests": tests or ["assert False"], "status": status,
                     "detail": _json.dumps({"calls": len(calls), "rejected_calls": rejected,
                                            "asserts_rewritten": rewritten}),
                     "reason": reason, "first_error": first_error})
    return drop_unstable(pd.DataFrame(rows, columns=QUESTIONS.column_names), engine)


def _hybrid_unusable(why: str, llm_row) -> tuple[str, str]:
    """(reason, first_error) of a hybrid row that never ran: the LLM row's own status (and error), or what is
    missing."""
    if why == "llm_unusable":
        error = getattr(llm_row, "first_error", "")
        return llm_row.status, (error if isinstance(error, str) and error
                                else f"llm_unusable: the LLM row is {llm_row.status}")
    if why == "no_reference":
        return "no_reference", "no_reference: the seed has no reference code"
    return "no_calls", reasons.clip(f"no_calls: no entry point, or none of the {len(llm_row.tests)} asserts has the "
                                    "form assert CALL == EXPECTED (or is EXPECTED)")


# ---------------------------------------------------------------- the released data (AceCode-87K)

def released_questions(acecode: pd.DataFrame) -> pd.DataFrame:
    """``02_questions`` rows (method "released") of AceCode-87K's questions and tests as the authors released them
    (``core.datasets.load_acecode(with_inferences=True)``): the tests were already filtered by their 32B proxy (paper
    S3), so phase 03's ``released`` oracle keeps them as they are. ``entry_point`` is the function the tests call;
    ``reference`` is the released sample with the highest pass rate (code extracted from its answer), '' when none
    has one above 0 (``detail`` records its pass rate). A question without tests is marked ``no_tests``."""
    from ..code.extract import extract_code

    rows = []
    for r in acecode.itertuples(index=False):
        tests = list(r.tests)
        entry = infer_entry_point(tests) or ""
        samples = json.loads(getattr(r, "inferences", "[]") or "[]")
        best = max(samples, key=lambda s: s["pass_rate"], default=None)
        reference = ""
        if best is not None and best["pass_rate"] > 0:
            reference = extract_code(best["completion"], entry or None).code
        ok = bool(tests)
        rows.append({"question_id": r.question_id, "seed_id": r.question_id, "source": r.source or "acecode",
                     "method": "released", "question": r.question, "tests": tests if ok else ["assert False"],
                     "entry_point": entry, "reference": reference, "status": "ok" if ok else "no_tests",
                     "detail": json.dumps({"reference_pass_rate": best["pass_rate"] if best else None,
                                           "released_samples": len(samples)}),
                     "reason": "" if ok else "no_tests", "first_error": "" if ok else "the released row has no tests"})
    return pd.DataFrame(rows, columns=QUESTIONS.column_names)

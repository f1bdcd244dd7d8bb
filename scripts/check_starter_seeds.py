"""Check acecoder_lib/assets/starter_seeds.jsonl (stdlib only).

    python scripts/check_starter_seeds.py [path]

For every line: the five string fields are present, entry_point is unique, the code defines the function at top level
with positional parameters only, the I/O spec has one Input line per parameter (names and order match the signature)
and a `return` line. Then, in one subprocess per task (never in this process), the generator seeded with Random(0..29)
must return dicts whose keys are the parameter names, the reference must return JSON-like values on all 30 inputs,
twice with the same result, with at least 3 distinct outputs (2 for boolean tasks).
Prints one line per failing task and a final "N tasks, M ok"; exit code 1 if any task fails.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "acecoder_lib" / "assets" / "starter_seeds.jsonl"
FIELDS = ("entry_point", "task_description", "input_output_spec", "code_sample", "input_generator")
SEEDS = 30
INPUT_RE = re.compile(r"^  `([A-Za-z_]\w*)` \(([^()]+)\): \S.*$")
RETURN_RE = re.compile(r"^  `return` \(([^()]+)\): \S.*$")

# Runs inside the subprocess: the task comes as JSON on stdin, the result goes out as JSON on stdout.
RUNNER = r'''
import copy, json, sys
from random import Random

def plain(v):
    if v is None or isinstance(v, (bool, int, str)):
        return True
    if isinstance(v, float):
        return v == v and v not in (float("inf"), float("-inf"))
    if isinstance(v, list):
        return all(plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and plain(x) for k, x in v.items())
    return False

def main():
    task = json.loads(sys.stdin.read())
    code_ns, gen_ns = {}, {"Random": Random}
    exec(compile(task["code_sample"], "<code_sample>", "exec"), code_ns)
    exec(compile(task["input_generator"], "<input_generator>", "exec"), gen_ns)
    fn, gen = code_ns[task["entry_point"]], gen_ns["generate_inputs"]
    params = task["params"]
    outputs = []
    for seed in range(task["seeds"]):
        try:
            inputs = gen(Random(seed))
            again = gen(Random(seed))
        except Exception as exc:
            return {"error": f"generator failed for seed {seed}: {type(exc).__name__}: {exc}"}
        if not isinstance(inputs, dict) or set(inputs) != set(params):
            got = sorted(map(str, inputs)) if isinstance(inputs, dict) else type(inputs).__name__
            return {"error": f"seed {seed}: generator returned keys {got}, expected {sorted(params)}"}
        if not plain(inputs):
            return {"error": f"seed {seed}: generator returned non-JSON-like inputs {inputs!r}"}
        if json.dumps(inputs, sort_keys=True) != json.dumps(again, sort_keys=True):
            return {"error": f"seed {seed}: generator is not deterministic for a fixed seed"}
        results = []
        for _ in range(2):
            args = copy.deepcopy(inputs)
            try:
                results.append(fn(*[args[p] for p in params]))
            except Exception as exc:
                return {"error": f"seed {seed}: reference raised {type(exc).__name__}: {exc} on {inputs!r}"}
        if not plain(results[0]):
            return {"error": f"seed {seed}: output is not JSON-like: {results[0]!r}"}
        a, b = json.dumps(results[0], sort_keys=True), json.dumps(results[1], sort_keys=True)
        if a != b or type(results[0]) is not type(results[1]):
            return {"error": f"seed {seed}: two calls gave different results {a} / {b}"}
        outputs.append(results[0])
    return {"outputs": [json.dumps(o, sort_keys=True) for o in outputs],
            "all_bool": all(isinstance(o, bool) for o in outputs)}

try:
    result = main()
except Exception as exc:
    result = {"error": f"{type(exc).__name__}: {exc}"}
sys.stdout.write("\n@@RESULT@@" + json.dumps(result))
'''


def signature(code: str, entry: str) -> list[str]:
    """Parameter names of the top-level ``def entry``; raises ValueError on anything but plain positional params."""
    tree = ast.parse(code)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry]
    if len(defs) != 1:
        raise ValueError(f"code_sample must define `def {entry}(...)` once at top level")
    a = defs[0].args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults or a.kw_defaults:
        raise ValueError("parameters must be plain positional ones (no defaults, *args, **kwargs, keyword-only)")
    return [p.arg for p in a.args]


def spec_params(spec: str) -> list[str]:
    """Input names of the spec, in order; raises ValueError when the block does not have the expected form."""
    lines = spec.split("\n")
    if not lines or lines[0] != "Input:":
        raise ValueError("spec must start with 'Input:'")
    try:
        out_at = lines.index("Output:")
    except ValueError:
        raise ValueError("spec has no 'Output:' line") from None
    names = []
    for line in lines[1:out_at]:
        if line == "":
            continue
        m = INPUT_RE.match(line)
        if not m:
            raise ValueError(f"bad Input line {line!r}")
        names.append(m.group(1))
    rest = [line for line in lines[out_at + 1:] if line != ""]
    if len(rest) != 1 or not RETURN_RE.match(rest[0]):
        raise ValueError("Output must be exactly one line '  `return` (type): ...'")
    return names


def check_static(rec, seen: set[str]) -> list[str]:
    """Field, name, signature and spec checks; returns the parameter names (raises ValueError on a problem)."""
    if not isinstance(rec, dict):
        raise ValueError("line is not a JSON object")
    for f in FIELDS:
        if not isinstance(rec.get(f), str) or not rec[f].strip():
            raise ValueError(f"field {f!r} missing or not a non-empty string")
    extra = sorted(set(rec) - set(FIELDS))
    if extra:
        raise ValueError(f"unexpected fields {extra}")
    entry = rec["entry_point"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", entry):
        raise ValueError(f"entry_point {entry!r} is not snake_case")
    if entry in seen:
        raise ValueError("entry_point is not unique")
    seen.add(entry)
    try:
        params = signature(rec["code_sample"], entry)
    except SyntaxError as exc:
        raise ValueError(f"code_sample does not parse: {exc}") from None
    try:
        gen_tree = ast.parse(rec["input_generator"])
    except SyntaxError as exc:
        raise ValueError(f"input_generator does not parse: {exc}") from None
    gens = [n for n in gen_tree.body if isinstance(n, ast.FunctionDef) and n.name == "generate_inputs"]
    if len(gens) != 1 or [p.arg for p in gens[0].args.args] != ["rng"]:
        raise ValueError("input_generator must define generate_inputs(rng) once at top level")
    names = spec_params(rec["input_output_spec"])
    if names != params:
        raise ValueError(f"spec inputs {names} do not match the signature {params}")
    return params


def check_dynamic(rec, params: list[str]) -> str | None:
    """Run generator + reference in a subprocess; the reason for a failure, or None."""
    task = {k: rec[k] for k in ("entry_point", "code_sample", "input_generator")}
    task.update(params=params, seeds=SEEDS)
    try:
        proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(task), capture_output=True,
                              text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "timed out after 10 s"
    marker = proc.stdout.rfind("@@RESULT@@")
    if marker < 0:
        return f"subprocess failed (rc {proc.returncode}): {proc.stderr.strip()[-300:]}"
    result = json.loads(proc.stdout[marker + len("@@RESULT@@"):])
    if "error" in result:
        return result["error"]
    distinct = len(set(result["outputs"]))
    need = 2 if result["all_bool"] else 3
    if distinct < need:
        return f"only {distinct} distinct output(s) over {SEEDS} inputs (need {need})"
    return None


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    lines = path.read_text(encoding="utf-8").splitlines()
    seen: set[str] = set()
    total = ok = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        total += 1
        name = f"line {number}"
        try:
            rec = json.loads(line)
            if isinstance(rec, dict) and isinstance(rec.get("entry_point"), str):
                name = f"line {number} ({rec['entry_point']})"
            params = check_static(rec, seen)
            reason = check_dynamic(rec, params)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc}"
        except ValueError as exc:
            reason = str(exc)
        if reason is None:
            ok += 1
        else:
            print(f"{name}: {reason}")
    print(f"{total} tasks, {ok} ok")
    return 0 if total and ok == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Tokens/s of each generation backend on this machine, for one or more models sampling code answers.

    .venv/bin/python benchmarks/bench_generation.py                      # 16 prompts x n=4, 128 new tokens
    .venv/bin/python benchmarks/bench_generation.py --backends transformers --batch-size 32 --json runs/bench.json
    .venv/bin/python benchmarks/bench_generation.py --workload default --prompts 16 --n 8 --max-new-tokens 256 \
        --backends "vllm,vllm[call=16],vllm[dtype=bfloat16],vllm[enable_prefix_caching=True],llamacpp"
    .venv/bin/python benchmarks/bench_generation.py --workload default --backends vllm,transformers \
        --model smollm2-135m-instruct,qwen2.5-coder-0.5b-instruct      # both models side by side, one table

``--workload RUN`` takes phase 04's own prompts from ``runs/RUN`` (the paper's solve prompt + prefill for its
sampled questions, in order) instead of the built-in tasks. A backend may carry settings in brackets:
``call=K`` sends K prompts per generate call (phase 04 sends ``BATCH_SIZE``, default ``--call``), ``stop=S`` ends
each sample at the string S (stop=``` ends it at the fence closing the prefilled code block), anything else is
passed to the backend's constructor (vLLM engine arguments such as ``dtype``, ``max_num_seqs``,
``max_num_batched_tokens``, ``enable_prefix_caching``; ``n_threads`` for llamacpp); values are Python literals.
``--model`` takes a comma-separated list: every backend runs for every model, one after the other, in one table.
The last column compares tokens/s with the model's compute bound: ``--peak-gflops`` (default 190: two Zen 4 cores
at fp32, the estimate of issue 14) over 2 x the model's parameters per generated token.

Backends: ``transformers`` (in-process, left-padded batches), ``vllm`` (vllm.LLM in-process; skipped with the
reason when vllm cannot be imported), ``openai`` (the HTTP client against ``python -m acecoder_lib.llm.serve`` started
here on a free loopback port, i.e. the transformers backend behind HTTP, one request at a time server-side).
Each backend runs one untimed warm-up call, then the timed call. tokens/s counts generated tokens only.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acecoder_lib.core import io, paths, schemas  # noqa: E402
from acecoder_lib.llm.generation import make_backend  # noqa: E402
from acecoder_lib.llm.prompts import SOLVE_PREFILL, solve_messages  # noqa: E402

TASKS = [  # short, function-style problems: what the embedded model can attempt (OFFLINE_ASSETS)
    "Write a function is_prime(n) that returns True if n is a prime number.",
    "Write a function fibonacci(n) that returns the n-th Fibonacci number.",
    "Write a function reverse_string(s) that returns s reversed.",
    "Write a function count_vowels(s) that returns the number of vowels in s.",
    "Write a function factorial(n) that returns n!.",
    "Write a function max_of_list(xs) that returns the largest element of xs.",
    "Write a function is_palindrome(s) that returns True if s reads the same backwards.",
    "Write a function sum_of_digits(n) that returns the sum of the decimal digits of n.",
    "Write a function gcd(a, b) that returns the greatest common divisor of a and b.",
    "Write a function flatten(xs) that flattens a list of lists by one level.",
    "Write a function unique(xs) that returns the distinct elements of xs in first-seen order.",
    "Write a function word_count(s) that returns the number of words in s.",
    "Write a function celsius_to_fahrenheit(c) that converts Celsius to Fahrenheit.",
    "Write a function second_largest(xs) that returns the second largest distinct value of xs.",
    "Write a function is_anagram(a, b) that returns True if a and b are anagrams.",
    "Write a function running_sum(xs) that returns the list of prefix sums of xs.",
]


def start_server(model: str) -> tuple[subprocess.Popen, str]:
    """Start acecoder_lib.llm.serve on a free loopback port; return the process and its base_url."""
    proc = subprocess.Popen([sys.executable, "-m", "acecoder_lib.llm.serve", "--model", model, "--port", "0"],
                            cwd=paths.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("ACECODER_SERVE_PORT="):
            return proc, f"http://127.0.0.1:{int(line.split('=')[1])}/v1"
    raise RuntimeError("the server exited before printing its port")


def parse_backend(spec: str) -> tuple[str, dict]:
    """``vllm[dtype=bfloat16,call=16]`` -> ("vllm", {"dtype": "bfloat16", "call": 16})."""
    import ast

    kind, _, rest = spec.strip().partition("[")
    kw = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, _, value = item.partition("=")
        try:
            kw[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kw[key.strip()] = value.strip()
    return kind.strip(), kw


def workload_prompts(run: str, count: int) -> list:
    """Phase 04's prompts: the solve prompt (+ the paper's prefill) of the run's sampled questions, in order."""
    questions = io.read_artifact(run, schemas.FILTERED).set_index("question_id")
    sampled = io.read_artifact(run, schemas.PROGRAMS)["question_id"].drop_duplicates().head(count)
    return [solve_messages(questions.loc[q, "question"], list(questions.loc[q, "tests"]), n_tests_shown=2)
            + [{"role": "assistant", "content": SOLVE_PREFILL}] for q in sampled]


def bench(spec: str, args, prompts, model: str) -> dict:
    """Build one backend of ``model``, warm it up, time the workload; a row of the results table."""
    kind, kw = parse_backend(spec)
    call = int(kw.pop("call", args.call or len(prompts)))
    stop = kw.pop("stop", None)  # e.g. vllm[stop=```]: end each sample at the closing fence of the prefilled block
    proc = None
    t0 = time.perf_counter()
    try:
        if kind == "transformers":
            kw = dict(dict(batch_size=args.batch_size, progress=False), **kw)
        elif kind == "openai":
            proc, url = start_server(model)
            kw = dict(dict(base_url=url, concurrency=args.concurrency), **kw)
        backend = make_backend(kind, model, **kw)
        load_s = time.perf_counter() - t0
        gen = dict(n=args.n, temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                   stop=[stop] if isinstance(stop, str) else stop)
        backend.generate(prompts[:2], seed=123, **dict(gen, max_new_tokens=8))  # warm-up (first-call costs)
        tokens = seqs = 0
        seconds = 0.0
        for start in range(0, len(prompts), call):  # as cached_generate sends them: `call` prompts at a time
            backend.generate(prompts[start:start + call], seed=start, **gen)
            u = backend.last_usage
            tokens, seqs, seconds = tokens + u.completion_tokens, seqs + u.sequences, seconds + u.seconds
        backend.close()
        return {"model": model, "backend": spec, "load_s": round(load_s, 1), "sequences": seqs,
                "completion_tokens": tokens, "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
                "note": ""}
    except Exception as exc:  # one backend failing must not hide the others' figures
        return {"model": model, "backend": spec, "note": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def parameter_count(model: str) -> int:
    """Parameters of the model's (dequantized) transformers folder, from its safetensors headers."""
    from safetensors import safe_open

    from acecoder_lib.llm.models import resolve_model

    total = 0
    for file in sorted(resolve_model(model).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                total += math.prod(f.get_slice(key).get_shape())
    return total


def main() -> None:
    """Parse arguments, run each backend, print the table (and write JSON if asked)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="a registry name, or several, comma-separated")
    ap.add_argument("--backends", default="transformers,vllm,openai")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.8)  # sampling as in phase 04 (paper: policy samples)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--batch-size", type=int, default=16, help="transformers: sequences per generate call")
    ap.add_argument("--concurrency", type=int, default=4, help="openai: parallel requests")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--workload", default=None, help="a run name: phase 04's own prompts from runs/<RUN>/")
    ap.add_argument("--call", type=int, default=0, help="prompts per generate call (0: all; phase 04 sends 8)")
    ap.add_argument("--peak-gflops", type=float, default=190.0, help="the machine's compute bound (fp32)")
    args = ap.parse_args()
    if args.workload:
        prompts = workload_prompts(args.workload, args.prompts)
    else:
        prompts = [solve_messages(TASKS[i % len(TASKS)], []) for i in range(args.prompts)]
    # split on commas outside brackets
    specs, depth, cur = [], 0, ""
    for ch in args.backends:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            specs.append(cur)
            cur = ""
        else:
            cur += ch
    specs.append(cur)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    rows = []
    for model in models:
        for spec in filter(str.strip, specs):
            row = bench(spec, args, prompts, model)
            rows.append(row)
            print(json.dumps(row), flush=True)
    bounds = {m: args.peak_gflops * 1e9 / (2 * parameter_count(m)) for m in models}
    print(f"\n{len(prompts)} prompts x n={args.n}, {args.max_new_tokens} new tokens max, T={args.temperature}, "
          f"top_p={args.top_p}, prompts {'of runs/' + args.workload if args.workload else 'built in'}; compute bound "
          + ", ".join(f"{m} ~{b:.0f} tokens/s" for m, b in bounds.items()) + f" ({args.peak_gflops:g} GFLOP/s)")
    width = max(len(m) for m in models) + 2
    print(f"{'model':<{width}}{'backend':<40}{'load s':>8}{'seqs':>6}{'tokens':>8}{'gen s':>8}{'tok/s':>8}"
          f"{'/bound':>8}  note")
    for r in rows:
        ratio = f"{r['tokens_per_s'] / bounds[r['model']]:.2f}" if "tokens_per_s" in r else ""
        print(f"{r['model']:<{width}}{r['backend']:<40}{r.get('load_s', ''):>8}{r.get('sequences', ''):>6}"
              f"{r.get('completion_tokens', ''):>8}{r.get('seconds', ''):>8}{r.get('tokens_per_s', ''):>8}"
              f"{ratio:>8}  {r['note']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

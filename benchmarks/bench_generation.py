"""Tokens/s of each generation backend on this machine, for SmolLM2-135M-Instruct sampling code answers.

    .venv/bin/python benchmarks/bench_generation.py                      # 16 prompts x n=4, 128 new tokens
    .venv/bin/python benchmarks/bench_generation.py --backends transformers --batch-size 32 --json runs/bench.json

Backends: ``transformers`` (in-process, left-padded batches), ``vllm`` (vllm.LLM in-process; skipped with the
reason when vllm cannot be imported), ``openai`` (the HTTP client against ``python -m acecoder_lib.llm.serve`` started
here on a free loopback port, i.e. the transformers backend behind HTTP, one request at a time server-side).
Each backend runs one untimed warm-up call, then the timed call. tokens/s counts generated tokens only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acecoder_lib.core import paths  # noqa: E402
from acecoder_lib.llm.generation import make_backend  # noqa: E402
from acecoder_lib.llm.prompts import solve_messages  # noqa: E402

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


def bench(kind: str, args, prompts) -> dict:
    """Build one backend, warm it up, time one generate call; a row of the results table."""
    proc = None
    t0 = time.perf_counter()
    try:
        kw = {}
        if kind == "transformers":
            kw = dict(batch_size=args.batch_size, progress=False)
        elif kind == "openai":
            proc, url = start_server(args.model)
            kw = dict(base_url=url, concurrency=args.concurrency)
        backend = make_backend(kind, args.model, **kw)
        load_s = time.perf_counter() - t0
        gen = dict(n=args.n, temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
        backend.generate(prompts[:2], seed=123, **dict(gen, max_new_tokens=8))  # warm-up (first-call costs)
        backend.generate(prompts, seed=0, **gen)
        u = backend.last_usage
        return {"backend": kind, "load_s": round(load_s, 1), "sequences": u.sequences,
                "completion_tokens": u.completion_tokens, "seconds": round(u.seconds, 1),
                "tokens_per_s": round(u.tokens_per_second, 1), "note": ""}
    except Exception as exc:  # one backend failing must not hide the others' figures
        return {"backend": kind, "note": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    """Parse arguments, run each backend, print the table (and write JSON if asked)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--backends", default="transformers,vllm,openai")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.8)  # sampling as in phase 04 (paper: policy samples)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--batch-size", type=int, default=16, help="transformers: sequences per generate call")
    ap.add_argument("--concurrency", type=int, default=4, help="openai: parallel requests")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    prompts = [solve_messages(TASKS[i % len(TASKS)], []) for i in range(args.prompts)]
    rows = []
    for kind in args.backends.split(","):
        row = bench(kind.strip(), args, prompts)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{args.prompts} prompts x n={args.n}, {args.max_new_tokens} new tokens max, T={args.temperature}, "
          f"top_p={args.top_p}, model {args.model}")
    print(f"{'backend':<14}{'load s':>8}{'seqs':>6}{'tokens':>8}{'gen s':>8}{'tok/s':>8}  note")
    for r in rows:
        print(f"{r['backend']:<14}{r.get('load_s', ''):>8}{r.get('sequences', ''):>6}"
              f"{r.get('completion_tokens', ''):>8}{r.get('seconds', ''):>8}{r.get('tokens_per_s', ''):>8}"
              f"  {r['note']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

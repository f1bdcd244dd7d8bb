"""Sample solutions (programs) for questions from a policy and run them against tests: the loop phases 03, 04, 07, 08
and 09 share (the proxy solver of 03, the policy samples of 04, Best-of-N and generated tests of 07/09, RL
evaluation of 08).

    samples = solutions.sample_programs(questions, backend, cache, n=16, temperature=0.7)   # cached per question
    rows = solutions.execute_samples(samples, questions, engine)                            # schema 04_programs

The prompt is the paper's (``prompts.solve_messages``: the question and its first tests, the answer prefilled to
continue inside a Python code block); code is extracted with ``extract.extract_code`` from prefill + completion.
Paper: Qwen2.5-Coder-7B-Instruct, 16 samples, temperature 0.7, top_p 1.0, 1,024 new tokens (PAPER_FACTS S4).
"""
from __future__ import annotations

import pandas as pd

from .code.extract import build_program, extract_code
from .core import reasons
from .core.cache import CompletionCache, cached_generate
from .core.schemas import FIRST_ERROR, GENERATED_TESTS, PASS_RATE, PROGRAM, PROGRAMS, QUESTION_ID, REASON, TESTS
from .execution.engine import CALIBRATED_FACTOR, CALIBRATED_FLOOR_S, calibrated_limits
from .llm import prompts

PAPER_N, PAPER_TEMPERATURE, PAPER_TOP_P, PAPER_MAX_NEW_TOKENS = 16, 0.7, 1.0, 1024  # PAPER_FACTS S4
CODE_END = "```"  # the fence that closes the prefilled code block: the first one a completion writes


def sample_programs(questions: pd.DataFrame, backend, cache: CompletionCache, n: int = PAPER_N,
                    temperature: float = PAPER_TEMPERATURE, top_p: float = PAPER_TOP_P,
                    max_new_tokens: int = PAPER_MAX_NEW_TOKENS, seed: int = 0, n_tests_shown: int = 2,
                    batch_size: int = 4, namespace: str | None = None, progress=None,
                    messages: list | None = None, prefill: str = prompts.SOLVE_PREFILL,
                    stop_at_code_end: bool = False) -> pd.DataFrame:
    """``n`` completions per question (one cached prompt each, so a rerun resumes at the first unfinished
    question), with the extracted program and, where the backend failed or nothing could be extracted, the
    ``reason`` and ``first_error``; one row per (question, sample). ``messages`` (one chat per question)
    replaces the paper's solve prompt, e.g. ``prompts.eval_messages`` for HumanEval; ``prefill`` is what the
    assistant turn was prefilled with (prepended to each completion before code extraction).

    ``stop_at_code_end``: each completion ends at the fence closing the prefilled code block (``CODE_END``, kept in
    the text), not at EOS or ``max_new_tokens``. What follows that fence (an explanation, example output, a second
    version) is not generated. The program then comes from that first block alone: where the model wrote a revised
    block after it, extraction would have taken the revision (on the 2026-12-07 default run's phase 04 samples 94 of
    1,280 programs differ), so this is a change of method, off in the paper profile."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if messages is None:
        messages = [prompts.solve_messages(q.question, list(q.tests), n_tests_shown=n_tests_shown)
                    for q in questions.itertuples()]
    elif len(messages) != len(questions):
        raise ValueError(f"{len(messages)} message lists for {len(questions)} questions")
    failures: dict[int, str] = {}
    # only when asked, so the cache keys of runs without it are unchanged
    end = dict(stop=[CODE_END], keep_stop=True) if stop_at_code_end else {}
    outs = cached_generate(backend, messages, cache, namespace=namespace or backend.namespace,
                           batch_size=batch_size, progress=progress, failures=failures, n=n,
                           temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, **end)
    rows = []
    for i, (q, completions) in enumerate(zip(questions.itertuples(), outs)):
        for k, text in enumerate(completions):
            ex = extract_code(prefill + (text or ""), entry_point=q.entry_point or None)
            if i in failures:
                reason, first_error = reasons.from_error_text(failures[i], "backend_error")
            else:  # only an extraction that leaves nothing to run says why here; the engine says the rest
                reason, first_error = ("", "") if ex.code else (ex.status, reasons.clip(f"{ex.status}: {ex.detail}"))
            rows.append({QUESTION_ID: q.question_id, "sample": k, "completion": text or "",
                         PROGRAM: build_program(ex.code) if ex.code else "",
                         "extraction": "backend_error" if i in failures else ex.status,
                         REASON: reason, FIRST_ERROR: first_error})
    return pd.DataFrame(rows, columns=[QUESTION_ID, "sample", "completion", PROGRAM, "extraction", REASON, FIRST_ERROR])


def execute_samples(samples: pd.DataFrame, questions: pd.DataFrame, engine, progress: bool = False,
                    time_limits: dict[str, list[float]] | None = None) -> pd.DataFrame:
    """Run every sampled program against every test of its question (schema ``04_programs``); ``time_limits``
    (question_id -> CPU seconds per test, e.g. ``p04.test_limits``) replaces the engine's fixed per-test limit.
    Where ``questions`` has a ``harness`` column (phase 07's HumanEval+/MBPP+ and LiveCodeBench problems), each
    non-empty program runs with that code (``execution.stdio.apply_harness``: appended, or wrapping the program)."""
    tests = dict(zip(questions[QUESTION_ID], questions["tests"].map(list)))
    harness = dict(zip(questions[QUESTION_ID], questions["harness"])) if "harness" in questions else {}
    missing = set(samples[QUESTION_ID]) - set(tests)
    if missing:
        raise ValueError(f"{len(missing)} question_id(s) of the samples are not in the question table, "
                         f"e.g. {sorted(missing)[:3]}")
    # an empty program is still run: the engine reports it as invalid_input with a verdict per test
    limits = None if time_limits is None else [time_limits[q] for q in samples[QUESTION_ID]]
    from .execution.stdio import apply_harness

    programs = [apply_harness(p, harness[q]) if harness.get(q) and p.strip() else p
                for p, q in zip(samples[PROGRAM], samples[QUESTION_ID])]
    results = engine.run(programs, [tests[q] for q in samples[QUESTION_ID]], progress=progress, time_limits=limits)
    out = samples.copy()
    out["status"] = [r.status for r in results]
    out["verdicts"] = [list(r.verdicts) for r in results]
    out["n_tests"] = [r.n_tests for r in results]
    out["n_passed"] = [r.n_passed for r in results]
    out[PASS_RATE] = [r.pass_rate for r in results]
    out["failure"] = [_first_failure(r) for r in results]
    # why a program failed: the sampling stage's reason (backend error, nothing extracted) first, else the engine's
    before = zip(samples.get(REASON, [""] * len(samples)), samples.get(FIRST_ERROR, [""] * len(samples)))
    why = [reasons.first_of((r, e) if isinstance(r, str) else ("", ""), reasons.from_result(res, tests[q]))
           for (r, e), res, q in zip(before, results, samples[QUESTION_ID])]
    out[REASON], out[FIRST_ERROR] = [r for r, _ in why], [e for _, e in why]
    return out[PROGRAMS.column_names]


LIMIT_MODES = ("calibrated", "fixed")


def test_limits(questions: pd.DataFrame, times: pd.DataFrame | None, mode: str = "calibrated",
                floor_s: float = CALIBRATED_FLOOR_S, factor: float = CALIBRATED_FACTOR,
                fixed_s: float = 1.0) -> tuple[dict[str, list[float]] | None, int]:
    """(question_id -> CPU limit per test, questions calibrated) for ``execute_samples``.

    ``calibrated``: max(floor_s, factor x the oracle's CPU time on the test) from ``03_test_times``; a question
    without matching times (none recorded, or a different number of tests) keeps ``fixed_s`` for every test.
    ``fixed``: (None, 0), the engine's own fixed limit (``ExecConfig.test_timeout_s``) as before."""
    if mode not in LIMIT_MODES:
        raise ValueError(f"time-limit mode must be one of {LIMIT_MODES}, got {mode!r}")
    if mode == "fixed":
        return None, 0
    recorded = {} if times is None else dict(zip(times[QUESTION_ID], times["cpu_seconds"].map(list)))
    out, calibrated = {}, 0
    for qid, tests in zip(questions[QUESTION_ID], questions["tests"]):
        cpu = recorded.get(qid)
        if cpu is not None and len(cpu) == len(tests):
            [out[qid]] = calibrated_limits([cpu], floor_s=floor_s, factor=factor)
            calibrated += 1
        else:
            out[qid] = [float(fixed_s)] * len(tests)
    return out, calibrated


def reference_limits(references, tests, engine, mode: str = "calibrated", floor_s: float = CALIBRATED_FLOOR_S,
                     factor: float = CALIBRATED_FACTOR, fixed_s: float = 1.0) -> tuple[list[list[float]], int]:
    """(CPU limit per test of each row, tests calibrated) from running ``references[i]`` on ``tests[i]`` here: for
    tests no oracle time was recorded for (HumanEval's canonical solutions, tests the policy wrote). A test the
    reference passes gets max(floor_s, factor x its CPU time); one it fails, errors on or times out on, and every
    test of a row without a reference, keeps ``fixed_s`` (no time that says what a correct program needs).
    ``fixed`` mode runs nothing and gives ``fixed_s`` everywhere. The engine's own limit bounds the reference runs."""
    if mode not in LIMIT_MODES:
        raise ValueError(f"time-limit mode must be one of {LIMIT_MODES}, got {mode!r}")
    references, tests = list(references), [list(t) for t in tests]
    if len(references) != len(tests):
        raise ValueError(f"{len(references)} references for {len(tests)} test rows; they must pair up")
    out = [[float(fixed_s)] * len(t) for t in tests]
    if mode == "fixed":
        return out, 0
    rows = [i for i, (r, t) in enumerate(zip(references, tests)) if isinstance(r, str) and r.strip() and t]
    results = engine.run([references[i] for i in rows], [tests[i] for i in rows]) if rows else []
    calibrated = 0
    for i, res in zip(rows, results):
        cpu = res.cpu_seconds or [0.0] * len(tests[i])
        for k, (verdict, seconds) in enumerate(zip(res.verdicts, cpu)):
            if verdict == "pass":
                [[out[i][k]]] = calibrated_limits([[seconds]], floor_s=floor_s, factor=factor)
                calibrated += 1
    return out, calibrated


def passed_on_question_tests(question_ids, programs, tests: dict, references: dict, engine, mode: str = "calibrated",
                             floor_s: float = CALIBRATED_FLOOR_S, factor: float = CALIBRATED_FACTOR,
                             fixed_s: float = 1.0) -> list[list[int]]:
    """Pass mask of ``programs[i]`` on ``tests[question_ids[i]]`` (question_id -> asserts; tests the policy wrote,
    with no oracle time), each test under a CPU limit calibrated once per question on ``references.get(qid)``
    (``reference_limits``: ``mode``, ``floor_s``, ``factor``, ``fixed_s``). A row whose question has no tests gets
    []. Phases 07 (generated tests for test-majority) and 09 (the llm test pool) share it."""
    question_ids, programs = list(question_ids), list(programs)
    if len(question_ids) != len(programs):
        raise ValueError(f"{len(question_ids)} question ids for {len(programs)} programs; they must pair up")
    qids = [q for q in dict.fromkeys(question_ids) if tests.get(q)]
    out: list[list[int]] = [[] for _ in programs]
    if not qids:
        return out
    limits, _ = reference_limits([references.get(q, "") for q in qids], [list(tests[q]) for q in qids], engine, mode,
                                 floor_s=floor_s, factor=factor, fixed_s=fixed_s)
    per_question = dict(zip(qids, limits))
    rows = [i for i, q in enumerate(question_ids) if q in per_question]
    results = engine.run([programs[i] for i in rows], [list(tests[question_ids[i]]) for i in rows],
                         time_limits=[per_question[question_ids[i]] for i in rows])
    for i, res in zip(rows, results):
        out[i] = [int(v == "pass") for v in res.verdicts]
    return out


def _first_failure(result) -> str:
    """'verdict: error text' of the first test that did not pass ('' when all passed)."""
    for verdict, err in zip(result.verdicts, result.errors):
        if verdict != "pass":
            return f"{verdict}: {err or ''}".strip()[:300]
    return ""


def messages_for(problems: pd.DataFrame) -> list[list[dict]]:
    """The policy's chat per problem: evalplus's prompt for HumanEval-style rows, the paper's solve prompt else."""
    return [prompts.eval_messages(p.question) if p.prompt_style == "eval" else
            prompts.solve_messages(p.question, list(p.shown_tests), n_tests_shown=len(p.shown_tests))
            for p in problems.itertuples()]


def greedy(problems: pd.DataFrame, backend, cache, max_new_tokens: int = 512, batch_size: int = 4,
           namespace: str | None = None, stop_at_code_end: bool = False) -> pd.DataFrame:
    """One temperature-0 program per problem (rows as ``sample_programs``, whose ``stop_at_code_end`` this passes)."""
    return sample_programs(problems, backend, cache, n=1, temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens,
                           batch_size=batch_size, namespace=namespace, messages=messages_for(problems),
                           stop_at_code_end=stop_at_code_end)


def generate_tests(problems: pd.DataFrame, backend, cache, n_tests: int = 5, max_new_tokens: int = 256,
                   batch_size: int = 4, namespace: str | None = None, style: str = "assert", n_samples: int = 1,
                   temperature: float = 0.0, max_tests: int | None = None, seed: int = 0) -> pd.DataFrame:
    """``07_generated_tests``: the policy's own unit tests per problem (cached), parsed and validated. With
    ``n_samples`` > 1 (and a temperature), the answers' tests are pooled, duplicates dropped, at most ``max_tests``."""
    import json

    from .code.testgen import parse_tests
    from .core.cache import cached_generate

    msgs = [prompts.test_messages(p.question, p.entry_point, n_tests=n_tests, style=style)
            for p in problems.itertuples()]
    failures: dict[int, str] = {}
    outs = cached_generate(backend, msgs, cache, namespace=namespace or backend.namespace, batch_size=batch_size,
                           failures=failures, n=n_samples, temperature=temperature, top_p=1.0,
                           max_new_tokens=max_new_tokens, seed=seed)
    rows = []
    for i, (p, m, answers) in enumerate(zip(problems.itertuples(), msgs, outs)):
        tests, dropped = [], {"backend_error": 1} if i in failures else {}
        for answer in answers:
            parsed = parse_tests(m[-1]["content"] + (answer or ""), p.entry_point, max_tests=n_tests)
            for reason, count in parsed.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
            for t in parsed.tests:
                if t in tests:
                    dropped["duplicate"] = dropped.get("duplicate", 0) + 1
                elif max_tests is None or len(tests) < max_tests:
                    tests.append(t)
        rows.append({QUESTION_ID: p.question_id, "benchmark": p.benchmark, TESTS: tests,
                     "dropped": json.dumps(dropped)})
    return pd.DataFrame(rows, columns=GENERATED_TESTS.column_names)

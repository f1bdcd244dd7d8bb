"""Phase 03: keep only the tests a solver passes (ACECODER section 3; notebooks/03_filter_tests.ipynb).

Two oracles, one mechanism (``filter_tests``): run one program per question against its synthesized tests through
the execution engine, drop every test it fails, skip the question when it passes too few, drop it when too few
tests are left.

- proxy filter (the paper's): the program is a proxy model's greedy answer to the question and its first two
  tests, with the paper's prefill (``proxy_programs``). Paper: Qwen2.5-Coder-32B-Instruct.
- reference filter (beyond the paper): the program is the seed's own reference code, where it has one.

    programs = filtering.proxy_programs(questions, backend, cache)            # one greedy answer per question
    kept, report = filtering.filter_tests(questions, programs["program"], engine, oracle="proxy")
    filtering.table1(before, after)                                           # Table 1's shape

Thresholds default to the paper's (PAPER_FACTS section 3): skip when the oracle passes <= 3 tests
(``min_passed=4``), drop questions with < 5 tests left (``min_tests=5``).
"""
from __future__ import annotations

import pandas as pd

from ..code.extract import alias_entry_point
from ..core import reasons
from ..core.cache import CompletionCache
from ..core.schemas import FILTER_REPORT, FILTERED, TEST_TIMES
from ..solutions import sample_programs

PAPER_MIN_PASSED = 4  # "skip the question if the proxy passes <= 3 tests"
PAPER_MIN_TESTS = 5  # "drop questions with < 5 tests left"


def proxy_programs(questions: pd.DataFrame, backend, cache: CompletionCache, namespace: str | None = None,
                   max_new_tokens: int = 512, n_tests_shown: int = 2, batch_size: int = 8,
                   progress=None) -> pd.DataFrame:
    """The proxy's greedy program per question (paper prompt + prefill), extracted; one row per question.

    The same prompt, cache and extraction as the policy's samples (``sampling.sample_programs`` with one greedy
    sample), so a backend failure is counted (``extraction == "backend_error"``) rather than raised."""
    samples = sample_programs(questions, backend, cache, n=1, temperature=0.0, top_p=1.0,
                              max_new_tokens=max_new_tokens, seed=0, n_tests_shown=n_tests_shown,
                              batch_size=batch_size, namespace=namespace, progress=progress)
    return samples[["question_id", "program", "extraction", "completion"]]


def reference_programs(questions: pd.DataFrame) -> list[str]:
    """The seed reference per question, aliased to the tests' entry point when the question renamed the function."""
    return [alias_entry_point(q.reference or "", q.entry_point) for q in questions.itertuples()]


def filter_tests(questions: pd.DataFrame, programs, engine, oracle: str, min_passed: int = PAPER_MIN_PASSED,
                 min_tests: int = PAPER_MIN_TESTS, return_times: bool = False):
    """(kept questions with only the passed tests, one report row per question); see the module docstring. With
    ``return_times``, also the oracle's CPU seconds on each kept test (schema ``03_test_times``), what the calibrated
    limits of phase 04 on are computed from."""
    programs = list(programs)
    if len(programs) != len(questions):
        raise ValueError(f"{len(programs)} programs for {len(questions)} questions; one each is needed")
    runnable = [i for i, p in enumerate(programs) if isinstance(p, str) and p.strip()]
    results = dict(zip(runnable, engine.run([programs[i] for i in runnable],
                                            [list(questions.iloc[i]["tests"]) for i in runnable])))
    kept, report, times = [], [], []
    for i, q in enumerate(questions.itertuples()):
        tests = list(q.tests)
        res = results.get(i)
        mask = [int(v == "pass") for v in res.verdicts] if res is not None else [0] * len(tests)
        passed = [t for t, m in zip(tests, mask) if m]
        if res is None:
            status, detail = "no_program", "the oracle produced no program"
        elif res.status != "ok":
            status, detail = "program_broken", res.detail[:300]
        elif len(passed) < min_passed:
            status, detail = "oracle_passed_too_few", f"passed {len(passed)} < {min_passed}"
        elif len(passed) < min_tests:
            status, detail = "too_few_tests_left", f"{len(passed)} tests left < {min_tests}"
        else:
            status, detail = "kept", ""
        # kept rows too may have failed tests (they are dropped from the question): only a dropped question says why
        reason, first_error = ("", "") if status == "kept" else reasons.first_of(
            reasons.from_result(res, tests) if res is not None else ("", ""), (status, f"{status}: {detail}"))
        report.append({"question_id": q.question_id, "source": q.source, "method": q.method, "oracle": oracle,
                       "status": status, "n_tests_synthesized": len(tests), "n_passed": len(passed),
                       "passed_mask": mask, "program_status": res.status if res is not None else "none",
                       "detail": detail, "reason": reason, "first_error": first_error})
        if status == "kept":
            kept.append({"question_id": q.question_id, "seed_id": q.seed_id, "source": q.source, "method": q.method,
                         "question": q.question, "tests": passed, "entry_point": q.entry_point, "oracle": oracle,
                         "n_tests_synthesized": len(tests), "n_tests": len(passed), "reference": q.reference or "",
                         "reference_chars": len(q.reference or "")})
            cpu = res.cpu_seconds or [0.0] * len(tests)
            times.append({"question_id": q.question_id, "oracle": oracle,
                          "cpu_seconds": [float(c) for c, m in zip(cpu, mask) if m]})
    kept_df = pd.DataFrame(kept, columns=[c for c in FILTERED.column_names if c != "split"])
    report_df = pd.DataFrame(report, columns=FILTER_REPORT.column_names)
    if return_times:
        return kept_df, report_df, pd.DataFrame(times, columns=TEST_TIMES.column_names)
    return kept_df, report_df


def released_tests(questions: pd.DataFrame, engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(kept, report, times) as ``filter_tests`` returns them, for phase 02's ``released`` rows (AceCode-87K): the
    tests stay as the authors released them (already filtered by their proxy, paper S3), oracle ``released``. The
    question's reference (the best released sample) is run once for the time limits: where it passes every test,
    its CPU time per test goes to ``03_test_times``; elsewhere the row's times are empty, so phases 04-08 give that
    question the fixed limit (``solutions.test_limits``: no time that says what a correct program needs)."""
    released = questions[questions["method"] == "released"].reset_index(drop=True)
    programs = reference_programs(released)
    runnable = [i for i, p in enumerate(programs) if p.strip()]
    results = dict(zip(runnable, engine.run([programs[i] for i in runnable],
                                            [list(released.iloc[i]["tests"]) for i in runnable])))
    kept, report, times = [], [], []
    for i, q in enumerate(released.itertuples()):
        tests, res = list(q.tests), results.get(i)
        timed = res is not None and res.all_passed and len(res.verdicts) == len(tests)
        report.append({"question_id": q.question_id, "source": q.source, "method": q.method, "oracle": "released",
                       "status": "kept", "n_tests_synthesized": len(tests),
                       "n_passed": res.n_passed if res is not None else 0,
                       "passed_mask": [int(v == "pass") for v in res.verdicts] if res is not None else [],
                       "program_status": res.status if res is not None else "none",
                       "detail": "" if timed else "kept as released; the reference does not pass every test, so no "
                                                  "times (fixed limits)", "reason": "", "first_error": ""})
        kept.append({"question_id": q.question_id, "seed_id": q.seed_id, "source": q.source, "method": q.method,
                     "question": q.question, "tests": tests, "entry_point": q.entry_point, "oracle": "released",
                     "n_tests_synthesized": len(tests), "n_tests": len(tests), "reference": q.reference or "",
                     "reference_chars": len(q.reference or "")})
        times.append({"question_id": q.question_id, "oracle": "released",
                      "cpu_seconds": [float(c) for c in (res.cpu_seconds or [])] if timed else []})
    return (pd.DataFrame(kept, columns=[c for c in FILTERED.column_names if c != "split"]),
            pd.DataFrame(report, columns=FILTER_REPORT.column_names),
            pd.DataFrame(times, columns=TEST_TIMES.column_names))


def filter_yield(report: pd.DataFrame) -> pd.DataFrame:
    """Per oracle and status: questions, tests before, tests passed (the notebook's summary table)."""
    return (report.groupby(["oracle", "status"], as_index=False)
            .agg(questions=("question_id", "size"), tests_synthesized=("n_tests_synthesized", "sum"),
                 tests_passed=("n_passed", "sum")))


def compare_oracles(report: pd.DataFrame, a: str = "proxy", b: str = "reference") -> pd.DataFrame:
    """Per question run by both oracles: tests each keeps, tests both keep, and whether each keeps the question."""
    left = report[report["oracle"] == a].set_index("question_id")
    right = report[report["oracle"] == b].set_index("question_id")
    common = left.index.intersection(right.index)
    rows = []
    for qid in common:
        ma, mb = list(left.at[qid, "passed_mask"]), list(right.at[qid, "passed_mask"])
        rows.append({"question_id": qid, "source": left.at[qid, "source"], f"{a}_passed": sum(ma),
                     f"{b}_passed": sum(mb), "both_passed": sum(x and y for x, y in zip(ma, mb)),
                     f"{a}_only": sum(x and not y for x, y in zip(ma, mb)),
                     f"{b}_only": sum(y and not x for x, y in zip(ma, mb)),
                     f"{a}_kept": left.at[qid, "status"] == "kept", f"{b}_kept": right.at[qid, "status"] == "kept"})
    return pd.DataFrame(rows)



"""Phase 04 logic: N programs per question from a policy, each run against every test (ACECODER section 4).

    samples = sampling.sample_programs(questions, backend, cache, n=16, temperature=0.7)   # cached per question
    programs = sampling.execute_samples(samples, questions, engine)                       # schema 04_programs
    per_q = sampling.question_summary(programs)                                           # mean/std per question

The prompt is the paper's (``prompts.solve_messages``: the question and its first tests, the answer prefilled to
continue inside a Python code block); code is extracted with ``extract.extract_code`` from prefill + completion.
Paper: Qwen2.5-Coder-7B-Instruct, 16 samples, temperature 0.7, top_p 1.0, 1,024 new tokens (PAPER_FACTS S4).
"""
from __future__ import annotations

import pandas as pd

from ..llm import prompts
from ..core import reasons
from ..core.cache import CompletionCache, cached_generate
from ..code.extract import build_program, extract_code
from ..core.schemas import FIRST_ERROR, PASS_RATE, PROGRAM, QUESTION_ID, REASON, Column, Schema, register

PAPER_N, PAPER_TEMPERATURE, PAPER_TOP_P, PAPER_MAX_NEW_TOKENS = 16, 0.7, 1.0, 1024  # PAPER_FACTS S4

PROGRAMS = register(Schema(
    name="04_programs",
    version=2,  # v2: reason, first_error
    doc="One row per sampled program: its code, its verdict on every test of its question, its pass rate.",
    columns=(
        Column(QUESTION_ID, "str"),
        Column("sample", "int", doc="0..n-1 within the question"),
        Column("completion", "str", doc="the raw model output (after the prefill)"),
        Column(PROGRAM, "str", doc="the extracted program ('' when none could be extracted)"),
        Column("extraction", "str", doc="extract_code status: ok | renamed | entry_point_mismatch | syntax_error | no_code"),
        Column("status", "str", doc="the engine's program status: ok | syntax_error | crash | timeout | invalid_input"),
        Column("verdicts", "list[str]", doc="one verdict per test, in the question's test order"),
        Column("n_tests", "int"),
        Column("n_passed", "int"),
        Column(PASS_RATE, "float", doc="n_passed / n_tests over the filtered tests"),
        Column("failure", "str", doc="why the first failing test failed ('' when all pass)"),
        *reasons.COLUMNS,  # here '' when every test passed; else the backend's, the extraction's or the engine's why
    ),
))


def sample_programs(questions: pd.DataFrame, backend, cache: CompletionCache, n: int = PAPER_N,
                    temperature: float = PAPER_TEMPERATURE, top_p: float = PAPER_TOP_P,
                    max_new_tokens: int = PAPER_MAX_NEW_TOKENS, seed: int = 0, n_tests_shown: int = 2,
                    batch_size: int = 4, namespace: str | None = None, progress=None,
                    messages: list | None = None, prefill: str = prompts.SOLVE_PREFILL) -> pd.DataFrame:
    """``n`` completions per question (one cached prompt each, so a rerun resumes at the first unfinished
    question), with the extracted program and, where the backend failed or nothing could be extracted, the
    ``reason`` and ``first_error``; one row per (question, sample). ``messages`` (one chat per question)
    replaces the paper's solve prompt, e.g. ``prompts.eval_messages`` for HumanEval; ``prefill`` is what the
    assistant turn was prefilled with (prepended to each completion before code extraction)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if messages is None:
        messages = [prompts.solve_messages(q.question, list(q.tests), n_tests_shown=n_tests_shown)
                    for q in questions.itertuples()]
    elif len(messages) != len(questions):
        raise ValueError(f"{len(messages)} message lists for {len(questions)} questions")
    failures: dict[int, str] = {}
    outs = cached_generate(backend, messages, cache, namespace=namespace or backend.namespace,
                           batch_size=batch_size, progress=progress, failures=failures, n=n,
                           temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
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


def execute_samples(samples: pd.DataFrame, questions: pd.DataFrame, engine, progress: bool = False) -> pd.DataFrame:
    """Run every sampled program against every test of its question (schema ``04_programs``)."""
    tests = dict(zip(questions[QUESTION_ID], questions["tests"].map(list)))
    missing = set(samples[QUESTION_ID]) - set(tests)
    if missing:
        raise ValueError(f"{len(missing)} question_id(s) of the samples are not in the question table, "
                         f"e.g. {sorted(missing)[:3]}")
    # an empty program is still run: the engine reports it as invalid_input with a verdict per test
    results = engine.run(samples[PROGRAM].tolist(), [tests[q] for q in samples[QUESTION_ID]], progress=progress)
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


def _first_failure(result) -> str:
    """'verdict: error text' of the first test that did not pass ('' when all passed)."""
    for verdict, err in zip(result.verdicts, result.errors):
        if verdict != "pass":
            return f"{verdict}: {err or ''}".strip()[:300]
    return ""


def question_summary(programs: pd.DataFrame) -> pd.DataFrame:
    """Per question: programs, mean and std of pass rates, how many programs pass all / none of the tests."""
    g = programs.groupby(QUESTION_ID)[PASS_RATE]
    out = pd.DataFrame({"programs": g.size(), "mean_pass_rate": g.mean(), "std_pass_rate": g.std(ddof=0),
                        "all_pass": g.apply(lambda s: int((s == 1.0).sum())),
                        "none_pass": g.apply(lambda s: int((s == 0.0).sum()))})
    return out.reset_index()


def per_test_pass_counts(programs: pd.DataFrame) -> pd.DataFrame:
    """Per (question, test index): how many programs pass it. A test no program passes while others are passed is
    suspicious (a wrong expected value, or one case the policy never gets); one every program passes is weak."""
    rows = []
    for qid, group in programs.groupby(QUESTION_ID, sort=False):
        verdicts = list(group["verdicts"])
        n_tests = max((len(v) for v in verdicts), default=0)
        for k in range(n_tests):
            passed = sum(1 for v in verdicts if k < len(v) and v[k] == "pass")
            rows.append({QUESTION_ID: qid, "test": k, "programs": len(verdicts), "passed": passed})
    return pd.DataFrame(rows, columns=[QUESTION_ID, "test", "programs", "passed"])


def distribution_stats(programs: pd.DataFrame) -> dict:
    """The figures the issue asks for: programs at 0 / partial / 1, questions with 0 < mean < 1, mean pass rate."""
    rates = programs[PASS_RATE]
    per_q = programs.groupby(QUESTION_ID)[PASS_RATE].mean()
    return {"programs": len(programs), "programs_zero": int((rates == 0).sum()),
            "programs_partial": int(((rates > 0) & (rates < 1)).sum()), "programs_all_pass": int((rates == 1).sum()),
            "questions": len(per_q), "questions_with_spread": int(((per_q > 0) & (per_q < 1)).sum()),
            "mean_pass_rate": float(rates.mean()) if len(rates) else 0.0}


def plot_pass_rates(programs: pd.DataFrame):
    """Histograms: pass rate per program, and mean pass rate per question."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    per_q = programs.groupby(QUESTION_ID)[PASS_RATE].mean()
    fig = make_subplots(rows=1, cols=2, subplot_titles=("programs", "questions (mean over samples)"))
    fig.add_trace(go.Histogram(x=programs[PASS_RATE], xbins={"start": 0, "end": 1.0001, "size": 0.05},
                               name="programs"), row=1, col=1)
    fig.add_trace(go.Histogram(x=per_q, xbins={"start": 0, "end": 1.0001, "size": 0.05}, name="questions"),
                  row=1, col=2)
    fig.update_layout(title="Pass-rate distribution of the sampled programs", showlegend=False)
    fig.update_xaxes(title_text="pass rate (passed / tests)", range=[0, 1.02])
    fig.update_yaxes(title_text="programs (count)", row=1, col=1)
    fig.update_yaxes(title_text="questions (count)", row=1, col=2)
    return fig


def plot_heatmap(programs: pd.DataFrame, max_questions: int = 60):
    """Question x sample heatmap of pass rates (questions ordered by mean pass rate)."""
    import plotly.express as px

    grid = programs.pivot_table(index=QUESTION_ID, columns="sample", values=PASS_RATE)
    grid = grid.loc[grid.mean(axis=1).sort_values(ascending=False).index[:max_questions]]
    fig = px.imshow(grid, zmin=0, zmax=1, color_continuous_scale="Viridis", aspect="auto",
                    labels={"x": "sample", "y": "question", "color": "pass rate"},
                    title=f"Pass rate per question and sample (top {len(grid)} questions by mean)")
    return fig

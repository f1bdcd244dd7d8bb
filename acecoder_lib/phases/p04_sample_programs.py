"""Phase 04 logic: N programs per question from a policy, each run against every test (ACECODER section 4).

    samples = solutions.sample_programs(questions, backend, cache, n=16, temperature=0.7)  # the shared loop
    programs = solutions.execute_samples(samples, questions, engine)                      # schema 04_programs
    per_q = sampling.question_summary(programs)                                           # mean/std per question

Sampling and execution live in ``acecoder_lib.solutions`` (phases 03, 07, 08 and 09 use them too); this module
holds what phase 04 adds: per-question and per-test summaries and its plots.
"""
from __future__ import annotations

import pandas as pd

from ..core.schemas import PASS_RATE, QUESTION_ID


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


def plot_pass_rates(programs: pd.DataFrame):
    """Histograms: pass rate per program, and mean pass rate per question."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

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

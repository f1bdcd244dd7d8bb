"""Tables and figures computed from artifacts, shared by the phase notebooks and the report (phase 10).

Each function takes the DataFrames a phase wrote (or their summaries) and returns a table, a dict of numbers or a
plotly figure; none reads or writes files. Phases own how their artifacts are made; this module owns how they are
summarised, so the report can show any phase without importing it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .core.schemas import PASS_RATE, QUESTION_ID, SPLIT, STRATEGIES
from .core.splits import is_usable


def usable_questions(questions: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``02_questions`` worth filtering (``synthesis.is_usable``), re-indexed."""
    return questions[is_usable(questions)].reset_index(drop=True)


def table1(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """ACECODER Table 1's shape: questions and mean tests per source, before and after filtering (+ a total row)."""
    def side(df, label):
        n = df["tests"].map(len)
        g = df.assign(n=n).groupby("source").agg(**{f"questions_{label}": ("question_id", "size"),
                                                    f"tests_{label}": ("n", "sum")})
        return g

    t = side(before, "before").join(side(after, "after"), how="left").fillna(0)
    t.loc["total"] = t.sum()
    t = t.astype(int)
    t["avg_tests_before"] = (t["tests_before"] / t["questions_before"].where(t["questions_before"] > 0)).round(2)
    t["avg_tests_after"] = (t["tests_after"] / t["questions_after"].where(t["questions_after"] > 0)).round(2)
    return t.reset_index()[["source", "questions_before", "avg_tests_before", "questions_after", "avg_tests_after",
                            "tests_before", "tests_after"]]


def plot_table1(table: pd.DataFrame):
    """Table 1 as bars: questions and mean tests per source, before and after filtering."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = table[table["source"] != "total"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("questions", "mean tests per question"))
    for when, colour in (("before", "#9aa5b1"), ("after", "#1f77b4")):
        fig.add_trace(go.Bar(x=t["source"], y=t[f"questions_{when}"], name=f"{when} filtering",
                             marker_color=colour, legendgroup=when), row=1, col=1)
        fig.add_trace(go.Bar(x=t["source"], y=t[f"avg_tests_{when}"], name=f"{when} filtering",
                             marker_color=colour, legendgroup=when, showlegend=False), row=1, col=2)
    fig.update_layout(title="Table 1: questions and tests per source, before and after the test filter",
                      barmode="group")
    fig.update_xaxes(title_text="source")
    fig.update_yaxes(title_text="questions (count)", row=1, col=1)
    fig.update_yaxes(title_text="tests per question (mean)", row=1, col=2)
    return fig


def distribution_stats(programs: pd.DataFrame) -> dict:
    """The figures the issue asks for: programs at 0 / partial / 1, questions with 0 < mean < 1, mean pass rate."""
    rates = programs[PASS_RATE]
    per_q = programs.groupby(QUESTION_ID)[PASS_RATE].mean()
    return {"programs": len(programs), "programs_zero": int((rates == 0).sum()),
            "programs_partial": int(((rates > 0) & (rates < 1)).sum()), "programs_all_pass": int((rates == 1).sum()),
            "questions": len(per_q), "questions_with_spread": int(((per_q > 0) & (per_q < 1)).sum()),
            "mean_pass_rate": float(rates.mean()) if len(rates) else 0.0}


def pair_stats(pairs: pd.DataFrame, programs: pd.DataFrame) -> dict:
    """Number of pairs, questions with pairs, their share of all sampled questions (paper: 37.34%), pairs/question."""
    n_questions = programs[QUESTION_ID].nunique()
    with_pairs = pairs[QUESTION_ID].nunique()
    return {"pairs": len(pairs), "questions": n_questions, "questions_with_pairs": with_pairs,
            "fraction_with_pairs": with_pairs / n_questions if n_questions else 0.0,
            "pairs_per_question_with_pairs": len(pairs) / with_pairs if with_pairs else 0.0}


def pair_accuracy(scored: pd.DataFrame, by: Sequence[str] = (SPLIT,)) -> pd.DataFrame:
    """Per group of ``by``: pairs, accuracy (share with r_chosen > r_rejected; chance is 0.5), a bootstrap 95% CI
    of the accuracy over pairs, the same CI resampling whole questions (``ci_low_by_question`` /
    ``ci_high_by_question``: a question's pairs share programs, so they are not independent draws; NaN with fewer
    than 2 questions), and the mean score margin."""
    from .core.metrics import bootstrap_ci

    rows = []
    for key, group in scored.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        correct = group["correct"].astype(float).to_numpy()
        lo, hi = bootstrap_ci(correct) if len(correct) > 1 else (float("nan"), float("nan"))
        per_q = group.groupby(QUESTION_ID)["correct"].agg(["sum", "size"]).to_numpy(dtype=float)
        qlo, qhi = (bootstrap_ci(per_q, stat=lambda rows: rows[:, 0].sum() / rows[:, 1].sum()) if len(per_q) > 1
                    else (float("nan"), float("nan")))
        rows.append({**dict(zip(by, key)), "pairs": len(group), "accuracy": float(correct.mean()), "ci_low": lo,
                     "ci_high": hi, "questions": len(per_q), "ci_low_by_question": qlo, "ci_high_by_question": qhi,
                     "mean_margin": float((group["r_chosen"] - group["r_rejected"]).mean())})
    return pd.DataFrame(rows, columns=[*by, "pairs", "accuracy", "ci_low", "ci_high", "questions",
                                       "ci_low_by_question", "ci_high_by_question", "mean_margin"])


def calibration(scores: pd.DataFrame) -> dict:
    """Spearman rank correlation of score vs true pass rate per split: over all programs, and within questions
    (the mean of per-question correlations, questions with a constant pass rate skipped: what Best-of-N needs)."""
    out = {}
    for split, group in scores.groupby(SPLIT):
        overall = (group["score"].corr(group[PASS_RATE], method="spearman") if group[PASS_RATE].nunique() > 1
                   else float("nan"))
        within = [g["score"].corr(g[PASS_RATE], method="spearman") for _, g in group.groupby(QUESTION_ID)
                  if g[PASS_RATE].nunique() > 1 and g["score"].nunique() > 1]
        out[split] = {"programs": len(group), "spearman": float(overall),
                      "spearman_within_question": float(pd.Series(within).mean()) if within else float("nan"),
                      "questions_with_spread": len(within)}
    return out


def plot_accuracy(table: pd.DataFrame):
    """Pair accuracy per group with its 95% CI, against the 50% chance line."""
    import plotly.graph_objects as go

    labels = [" / ".join(str(v) for v in row) for row in table.drop(
        columns=["pairs", "accuracy", "ci_low", "ci_high", "mean_margin"]).itertuples(index=False)]
    fig = go.Figure(go.Bar(x=labels, y=table["accuracy"], text=[f"{a:.0%} of {n}" for a, n in
                                                                  zip(table["accuracy"], table["pairs"])],
                           error_y={"type": "data", "symmetric": False, "array": table["ci_high"] - table["accuracy"],
                                    "arrayminus": table["accuracy"] - table["ci_low"]}))
    fig.add_hline(y=0.5, line_dash="dash", annotation_text="chance (50%)")
    fig.update_layout(title="Reward model: share of pairs ranked right (95% bootstrap CI)", yaxis_range=[0, 1.05],
                      yaxis_title="pair accuracy")
    return fig


def table2(results: pd.DataFrame) -> pd.DataFrame:
    """Table-2 shape: one row per (strategy, N), one column per benchmark, accuracy in percent."""
    shown = results.assign(label=[s if s == "greedy" else f"{s}@{n}"
                                  for s, n in zip(results["strategy"], results["n"])])
    shown = shown[(shown["strategy"] != "greedy") | (shown["n"] == shown["n"].min())]
    wide = shown.pivot_table(index="label", columns="benchmark", values="accuracy", sort=False) * 100
    order = {s: i for i, s in enumerate(STRATEGIES)}
    keys = sorted(wide.index, key=lambda label: (order.get(label.split("@")[0], 99),
                                                 int(label.split("@")[1]) if "@" in label else 0))
    return wide.loc[keys].round(1)


def plot_accuracy_vs_n(results: pd.DataFrame):
    """Accuracy against N per strategy (log2 x axis), one panel per benchmark, CI as error bars."""
    import plotly.express as px

    fig = px.line(results, x="n", y="accuracy", color="strategy", facet_col="benchmark", markers=True, log_x=True,
                  error_y=results["ci_high"] - results["accuracy"],
                  error_y_minus=results["accuracy"] - results["ci_low"],
                  title="Best-of-N: accuracy against the number of samples (95% bootstrap CI over questions)")
    fig.update_yaxes(range=[0, 1.02], title="accuracy")
    return fig


def time_split(steps: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per step spent in generation, reward and optimisation, per reward type."""
    cols = ["generation_s", "reward_s", "optimisation_s", "step_s"]
    out = steps.groupby("reward")[cols].mean()
    for c in cols[:-1]:
        out[c.replace("_s", "_share")] = out[c] / out["step_s"]
    return out.round(3)


def before_after(evals: pd.DataFrame) -> pd.DataFrame:
    """Table-3 shape: greedy pass@1 (%) per policy (rows) and benchmark (columns)."""
    return (evals.pivot_table(index="policy", columns="benchmark", values="correct", aggfunc="mean") * 100).round(1)


def before_after_ci(evals: pd.DataFrame, base: str = "base", seed: int = 0) -> pd.DataFrame:
    """Per (policy, benchmark): problems, greedy pass@1 with a bootstrap 95% CI over problems, and the change from
    the ``base`` policy on the same problems with a paired bootstrap CI (resampling problems, both policies at
    once): a change whose CI holds 0 is not distinguishable from no change."""
    from .core.metrics import bootstrap_ci

    rows = []
    wide = evals.pivot_table(index=["benchmark", QUESTION_ID], columns="policy", values="correct", aggfunc="first")
    for bench, g in wide.groupby(level="benchmark", sort=True):
        for policy in [c for c in wide.columns if g[c].notna().any()]:
            values = g[policy].dropna().astype(float).to_numpy()
            lo, hi = bootstrap_ci(values, seed=seed) if len(values) > 1 else (float("nan"), float("nan"))
            row = {"policy": policy, "benchmark": bench, "problems": len(values), "pass_at_1": values.mean(),
                   "ci_low": lo, "ci_high": hi, "change": float("nan"), "change_ci_low": float("nan"),
                   "change_ci_high": float("nan")}
            if policy != base and base in g:
                both = g[[base, policy]].dropna().astype(float).to_numpy()
                diff = both[:, 1] - both[:, 0]
                row["change"] = float(diff.mean()) if len(diff) else float("nan")
                if len(diff) > 1:
                    row["change_ci_low"], row["change_ci_high"] = bootstrap_ci(diff, seed=seed)
            rows.append(row)
    return pd.DataFrame(rows, columns=["policy", "benchmark", "problems", "pass_at_1", "ci_low", "ci_high", "change",
                                       "change_ci_low", "change_ci_high"])


def plot_before_after(evals: pd.DataFrame):
    """Greedy pass@1 per policy and benchmark, with a bootstrap 95% CI over problems."""
    import plotly.graph_objects as go

    from .core.metrics import bootstrap_ci

    fig = go.Figure()
    for policy, g in evals.groupby("policy", sort=False):
        xs, ys, lo, hi = [], [], [], []
        for bench, b in g.groupby("benchmark", sort=True):
            values = b["correct"].astype(float).to_numpy()
            ci = bootstrap_ci(values) if len(values) > 1 else (values.mean(), values.mean())
            xs.append(bench), ys.append(values.mean())
            lo.append(values.mean() - ci[0]), hi.append(ci[1] - values.mean())
        fig.add_bar(name=policy, x=xs, y=ys,
                    error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo})
    fig.update_layout(barmode="group", title="Greedy pass@1 before and after RL (95% bootstrap CI over problems)",
                      yaxis_range=[0, 1.02], yaxis_title="pass@1")
    return fig


def curve_summary(curves: pd.DataFrame, ms=(1, 2, 4, 8, 16, 32), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean accuracy over questions per (source, M), with a bootstrap 95% CI over questions; a question whose pool
    is smaller than M contributes its full-pool accuracy (it cannot get more tests)."""
    from .core.metrics import bootstrap_ci

    rows = []
    for source, g in curves.groupby("source"):
        for m in ms:
            per_q = g[g["m"] <= m].sort_values("m").groupby(QUESTION_ID).tail(1)
            if (g["m"] >= m).sum() == 0 and m != min(ms):
                continue
            values = per_q["accuracy"].to_numpy()
            lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else (np.nan, np.nan)
            rows.append({"source": source, "m": m, "questions": len(values), "accuracy": float(values.mean()),
                         "ci_low": float(lo), "ci_high": float(hi), "oracle": float(per_q["oracle"].mean()),
                         "random": float(per_q["random"].mean())})
    return pd.DataFrame(rows)


def plot_curves(summary: pd.DataFrame):
    """Best-of-N accuracy against the number of tests M, per source, with oracle and random for reference."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for source, g in summary.groupby("source"):
        fig.add_scatter(x=g["m"], y=g["accuracy"], mode="lines+markers", name=f"{source}: selected by tests",
                        error_y={"type": "data", "symmetric": False, "array": g["ci_high"] - g["accuracy"],
                                 "arrayminus": g["accuracy"] - g["ci_low"]})
        fig.add_scatter(x=g["m"], y=g["oracle"], mode="lines", line={"dash": "dot"}, name=f"{source}: oracle")
        fig.add_scatter(x=g["m"], y=g["random"], mode="lines", line={"dash": "dash"}, name=f"{source}: random")
    fig.update_layout(title="Best-of-N accuracy as the number of unit tests grows (95% bootstrap CI over questions)",
                      xaxis={"type": "log", "title": "unit tests per question (M)"}, yaxis_title="accuracy")
    return fig


def plot_allocation(table: pd.DataFrame):
    """Dynamic minus uniform accuracy per difficulty quintile and budget."""
    import plotly.express as px

    wide = table.pivot_table(index=["source", "budget_per_question", "quintile"], columns="strategy",
                             values="accuracy").reset_index()
    wide["gain"] = wide["dynamic"] - wide["uniform"]
    fig = px.bar(wide[wide["quintile"] != "all"], x="quintile", y="gain", color="budget_per_question",
                 facet_col="source", barmode="group",
                 title="Dynamic minus uniform allocation, by estimated difficulty quintile (q5 hardest)")
    fig.update_yaxes(title="accuracy gain")
    return fig

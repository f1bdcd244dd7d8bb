"""Phase 05 logic: preference pairs from pass rates, and the RL "hard" subset (ACECODER section 4; PAPER_FACTS S4, S7).

    pairs = pairs.build_pairs(programs, questions)                 # the paper's rule, TRL's prompt/chosen/rejected
    pairs = pairs.build_pairs(programs, questions, rule="code")    # the public code's variant
    hard = pairs.hard_subset(programs)                             # get_hard_data: low mean, high spread
    grid = pairs.sensitivity(programs, margins=[0.2, 0.4, 0.6], tops=[0.6, 0.8, 1.0])

``programs`` has one row per sampled program: ``question_id``, ``program`` (the extracted code) and ``pass_rate``
(passed / tests, over the *filtered* tests: the public code's known defect was to use the unfiltered list).
Rules (all thresholds are parameters):
- paper:  i over j when s_i > s_j + 0.4, s_i > 0.8 and s_j > 0
- code:   max >= 0.8, |s_i - s_j| >= 0.4, min > 0
Zero pass rates are excluded by both (usually syntax or import errors, PAPER_FACTS S4). Programs with identical text
within a question count once (the first row wins), so no pair compares a program with itself and no pair repeats.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from ..core.schemas import CHOSEN, PAIRS, PROMPT, QUESTION_ID, REJECTED

PAPER_MARGIN, PAPER_TOP, PAPER_FLOOR = 0.4, 0.8, 0.0  # PAPER_FACTS S4
RULES = ("paper", "code")
PAPER_PAIR_FRACTION = 0.3734  # share of questions that yield pairs in the paper (46,618 questions, PAPER_FACTS S4)


def qualifies(hi: float, lo: float, rule: str = "paper", margin: float = PAPER_MARGIN, top: float = PAPER_TOP,
              floor: float = PAPER_FLOOR) -> bool:
    """Whether a program with pass rate ``hi`` is preferred over one with ``lo`` (hi >= lo) under ``rule``."""
    if rule == "paper":
        return hi > lo + margin and hi > top and lo > floor
    if rule == "code":
        return hi >= top and hi - lo >= margin and lo > floor
    raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


def _distinct(programs: pd.DataFrame) -> pd.DataFrame:
    """One row per (question, program text), the first one kept; empty programs dropped."""
    rows = programs[programs["program"].map(lambda p: isinstance(p, str) and p.strip() != "")]
    return rows.drop_duplicates([QUESTION_ID, "program"], keep="first")


def question_pairs(group: pd.DataFrame, rule: str = "paper", margin: float = PAPER_MARGIN, top: float = PAPER_TOP,
                   floor: float = PAPER_FLOOR) -> list[tuple[str, str, float, float]]:
    """(chosen, rejected, s_chosen, s_rejected) for every qualifying pair of one question's distinct programs."""
    items = list(zip(group["program"], group["pass_rate"].astype(float)))
    out = []
    for (pa, sa), (pb, sb) in combinations(items, 2):
        (hi_p, hi), (lo_p, lo) = ((pa, sa), (pb, sb)) if sa >= sb else ((pb, sb), (pa, sa))
        if qualifies(hi, lo, rule, margin, top, floor):
            out.append((hi_p, lo_p, hi, lo))
    return out


def build_pairs(programs: pd.DataFrame, questions: pd.DataFrame, rule: str = "paper", margin: float = PAPER_MARGIN,
                top: float = PAPER_TOP, floor: float = PAPER_FLOOR, heldout_fraction: float = 0.1,
                seed: int = 0) -> pd.DataFrame:
    """Every qualifying pair of every question (schema ``05_pairs``); ``questions`` maps question_id -> question."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    text = dict(zip(questions[QUESTION_ID], questions["question"]))
    missing = set(programs[QUESTION_ID]) - set(text)
    if missing:
        raise ValueError(f"{len(missing)} question_id(s) of the programs are not in the question table, "
                         f"e.g. {sorted(missing)[:3]}")
    rows = []
    for qid, group in _distinct(programs).groupby(QUESTION_ID, sort=False):
        for chosen, rejected, hi, lo in question_pairs(group, rule, margin, top, floor):
            rows.append({QUESTION_ID: qid, PROMPT: text[qid], CHOSEN: chosen, REJECTED: rejected,
                         "chosen_pass_rate": hi, "rejected_pass_rate": lo, "margin": hi - lo})
    pairs = pd.DataFrame(rows, columns=[c for c in PAIRS.column_names if c != "split"])
    qids = sorted(set(pairs[QUESTION_ID]))
    rng = np.random.default_rng(seed)
    n_val = int(round(heldout_fraction * len(qids)))
    val = set(rng.permutation(qids)[:n_val].tolist()) if n_val else set()
    pairs["split"] = ["heldout" if q in val else "train" for q in pairs[QUESTION_ID]]
    return pairs


def reference_pairs(programs: pd.DataFrame, questions: pd.DataFrame, pairs: pd.DataFrame | None = None,
                    margin: float = PAPER_MARGIN, floor: float = PAPER_FLOOR, per_question: int = 4,
                    heldout_fraction: float = 0.1) -> pd.DataFrame:
    """Extra pairs (schema ``05_pairs``), NOT the paper's: each question's verified reference (phase 03: it passes
    every filtered test, pass rate 1.0) as ``chosen`` over up to ``per_question`` distinct sampled programs with
    ``floor < s < 1 - margin`` as ``rejected`` (lowest pass rates first).

    For weak policies whose own programs rarely pass 80% of the tests (the paper's rule then yields almost
    nothing). The caveat is a style shift: references are human-written CodeIO/starter code, the rejected programs
    are model samples, so a reward model may learn to tell the authors apart rather than right from wrong; the
    notebook reports accuracy on the paper's own pairs separately. ``floor=-1`` admits zero-pass programs too.
    A question keeps its split from ``pairs`` where it has paper pairs; others are split by a hash of the id."""
    from ..core.splits import assign_split

    ref = {q: r for q, r in zip(questions[QUESTION_ID], questions["reference"]) if isinstance(r, str) and r.strip()}
    text = dict(zip(questions[QUESTION_ID], questions["question"]))
    known = dict(zip(pairs[QUESTION_ID], pairs["split"])) if pairs is not None and len(pairs) else {}
    rows = []
    for qid, group in _distinct(programs).groupby(QUESTION_ID, sort=False):
        if qid not in ref:
            continue
        low = group[(group["pass_rate"] > floor) & (group["pass_rate"] < 1.0 - margin)]
        low = low[low["program"].str.strip() != ref[qid].strip()].sort_values("pass_rate", kind="stable")
        for program, rate in zip(low["program"].head(per_question), low["pass_rate"].head(per_question)):
            rows.append({QUESTION_ID: qid, PROMPT: text[qid], CHOSEN: ref[qid], REJECTED: program,
                         "chosen_pass_rate": 1.0, "rejected_pass_rate": float(rate), "margin": 1.0 - float(rate)})
    out = pd.DataFrame(rows, columns=[c for c in PAIRS.column_names if c != "split"])
    hashed = dict(zip(out[QUESTION_ID].unique(), assign_split(out[QUESTION_ID].unique(), heldout_fraction)))
    out["split"] = [known.get(q) or ("heldout" if hashed[q] == "heldout" else "train") for q in out[QUESTION_ID]]
    return out


def hard_subset(programs: pd.DataFrame) -> pd.DataFrame:
    """The paper's ``get_hard_data``: questions whose mean pass rate is <= the median of means, then of those the
    ones whose pass-rate standard deviation is >= the median std among them (about 25% of questions)."""
    per_q = programs.groupby(QUESTION_ID)["pass_rate"].agg(mean_pass_rate="mean", std_pass_rate="std",
                                                           n_programs="size").reset_index()
    per_q["std_pass_rate"] = per_q["std_pass_rate"].fillna(0.0)
    low = per_q[per_q["mean_pass_rate"] <= per_q["mean_pass_rate"].median()]
    hard = low[low["std_pass_rate"] >= low["std_pass_rate"].median()]
    return hard.reset_index(drop=True)


def sensitivity(programs: pd.DataFrame, margins=(0.2, 0.3, 0.4, 0.5, 0.6), tops=(0.5, 0.6, 0.7, 0.8, 0.9),
                rule: str = "paper", floor: float = PAPER_FLOOR) -> pd.DataFrame:
    """Pairs and the share of questions with pairs over a grid of (margin, top) thresholds."""
    groups = [g for _, g in _distinct(programs).groupby(QUESTION_ID, sort=False)]
    n_questions = programs[QUESTION_ID].nunique()
    rows = []
    for m in margins:
        for t in tops:
            counts = [len(question_pairs(g, rule, m, t, floor)) for g in groups]
            rows.append({"margin": m, "top": t, "pairs": sum(counts),
                         "fraction_with_pairs": sum(c > 0 for c in counts) / n_questions if n_questions else 0.0})
    return pd.DataFrame(rows)


def plot_sensitivity(grid: pd.DataFrame):
    """Heatmap of pairs over (margin, top), annotated with the share of questions that yield pairs."""
    import plotly.graph_objects as go

    pairs_ = grid.pivot(index="margin", columns="top", values="pairs")
    share = grid.pivot(index="margin", columns="top", values="fraction_with_pairs")
    text = [[f"{int(p)} pairs<br>{s:.0%} of q." for p, s in zip(pr, sr)] for pr, sr in zip(pairs_.values, share.values)]
    fig = go.Figure(go.Heatmap(z=pairs_.values, x=[str(c) for c in pairs_.columns], y=[str(i) for i in pairs_.index],
                               text=text, texttemplate="%{text}", colorscale="Blues",
                               colorbar={"title": "pairs"}))
    fig.update_layout(title="Pairs produced as the thresholds move (paper: margin 0.4, top 0.8)",
                      xaxis_title="top: the chosen program's pass rate must exceed this",
                      yaxis_title="margin: chosen minus rejected must exceed this")
    return fig

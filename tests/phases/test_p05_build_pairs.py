"""Phase 05 logic: the paper's and the code's pair rules exactly, dedup, TRL format, split by question, hard subset."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib import analysis
from acecoder_lib.core import schemas
from acecoder_lib.phases import p05_build_pairs as pairs


def _programs(rows):
    return pd.DataFrame(rows, columns=["question_id", "program", "pass_rate"])


QUESTIONS = pd.DataFrame({"question_id": ["q1", "q2", "q3"], "question": ["Q1 text", "Q2 text", "Q3 text"]})


def test_paper_rule_boundaries_are_strict():
    assert pairs.qualifies(0.9, 0.4)                      # 0.9 > 0.8, 0.9 > 0.4 + 0.4, 0.4 > 0
    assert not pairs.qualifies(0.8, 0.1)                  # s_i must be > 0.8, not >= (paper)
    assert not pairs.qualifies(0.9, 0.5)                  # 0.9 > 0.9 is false: the margin is strict
    assert not pairs.qualifies(1.0, 0.0)                  # zero pass rates are excluded
    assert pairs.qualifies(0.8, 0.4, rule="code")         # the code: max >= 0.8 and |diff| >= 0.4
    assert not pairs.qualifies(0.8, 0.0, rule="code")
    with pytest.raises(ValueError, match="rule"):
        pairs.qualifies(1.0, 0.5, rule="other")


def test_build_pairs_trl_format_dedup_and_counts():
    progs = _programs([
        ("q1", "def a(): return 1", 1.0), ("q1", "def a(): return 1", 1.0),    # the same text twice counts once
        ("q1", "def b(): return 2", 0.5), ("q1", "def c(): return 3", 0.25),
        ("q1", "def d(): return 4", 0.0), ("q1", "", 1.0),                     # zero excluded; empty dropped
        ("q2", "x = 1", 0.9), ("q2", "x = 2", 0.85),                           # no margin: no pair
        ("q3", "y = 1", 1.0), ("q3", "y = 2", 0.5)])
    out = pairs.build_pairs(progs, QUESTIONS, heldout_fraction=0.0)
    assert list(out.columns) == schemas.PAIRS.column_names
    got = sorted(zip(out["question_id"], out["chosen"], out["rejected"]))
    assert got == [("q1", "def a(): return 1", "def b(): return 2"), ("q1", "def a(): return 1", "def c(): return 3"),
                   ("q3", "y = 1", "y = 2")]
    assert (out["prompt"] == out["question_id"].map({"q1": "Q1 text", "q3": "Q3 text"})).all()
    assert (out["margin"] == out["chosen_pass_rate"] - out["rejected_pass_rate"]).all()
    stats = analysis.pair_stats(out, progs)
    assert stats["pairs"] == 3 and stats["questions_with_pairs"] == 2
    assert stats["fraction_with_pairs"] == pytest.approx(2 / 3) and stats["pairs_per_question_with_pairs"] == 1.5
    code = pairs.build_pairs(progs, QUESTIONS, rule="code", heldout_fraction=0.0)
    assert len(code) == 3  # here the code's rule adds nothing: q2's 0.05 gap fails both


def test_split_is_by_question_and_unknown_questions_are_refused():
    progs = _programs([(f"q{i % 3 + 1}", f"p{i}", 1.0 if i < 3 else 0.5) for i in range(9)])
    out = pairs.build_pairs(progs, QUESTIONS, heldout_fraction=0.34, seed=1)
    assert out.groupby("question_id")["split"].nunique().max() == 1  # never split a question's pairs
    assert out.drop_duplicates("question_id")["split"].tolist().count("heldout") == 1
    with pytest.raises(ValueError, match="not in the question table"):
        pairs.build_pairs(_programs([("q9", "p", 1.0)]), QUESTIONS)


def test_hard_subset_is_low_mean_then_high_spread():
    rates = {"a": [1.0, 1.0], "b": [0.0, 0.0], "c": [0.0, 1.0], "d": [0.2, 0.4], "e": [0.5, 0.5]}
    progs = _programs([(q, f"{q}{k}", r) for q, rs in rates.items() for k, r in enumerate(rs)])
    hard = pairs.hard_subset(progs)
    # means: a 1, b 0, c 0.5, d 0.3, e 0.5 -> median 0.5 -> low = b, c, d, e; their stds 0, 0.707, 0.141, 0
    # -> median std 0.0707 -> hard = c, d
    assert sorted(hard["question_id"]) == ["c", "d"]


def test_sensitivity_grid_contains_the_paper_point():
    progs = _programs([("q1", "a", 1.0), ("q1", "b", 0.5), ("q1", "c", 0.7), ("q2", "d", 0.6), ("q2", "e", 0.1)])
    grid = pairs.sensitivity(progs, margins=[0.2, 0.4], tops=[0.5, 0.8])
    paper = grid[(grid["margin"] == 0.4) & (grid["top"] == 0.8)].iloc[0]
    assert paper["pairs"] == 1 and paper["fraction_with_pairs"] == 0.5  # only 1.0 over 0.5
    loose = grid[(grid["margin"] == 0.2) & (grid["top"] == 0.5)].iloc[0]
    # 1.0 over 0.5, 1.0 over 0.7, 0.6 over 0.1; not 0.7 over 0.5 (0.7 > 0.5 + 0.2 is false: the margin is strict)
    assert loose["pairs"] == 3 and loose["fraction_with_pairs"] == 1.0

"""Test scaling (phase 09): pools from verdicts, curves, difficulty, the allocator and the equal-budget comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acecoder_lib import analysis
from acecoder_lib.core import schemas
from acecoder_lib.core.schemas import QUESTION_ID
from acecoder_lib.phases import p09_test_scaling as ts


def _programs():
    # q1: program 0 passes everything, 1 fails test 3, 2 fails everything; q2: nobody is right
    rows = []
    for s, v in enumerate([["pass"] * 4, ["pass", "pass", "pass", "fail"], ["fail"] * 4]):
        rows.append({"question_id": "q1", "sample": s, "verdicts": v, "n_tests": 4, "n_passed": v.count("pass"),
                     "pass_rate": v.count("pass") / 4, "program": f"p{s}"})
    for s in range(3):
        rows.append({"question_id": "q2", "sample": s, "verdicts": ["fail"] * 4, "n_tests": 4, "n_passed": 0,
                     "pass_rate": 0.0, "program": f"r{s}"})
    return pd.DataFrame(rows)


def test_split_is_stable_disjoint_and_covers_all_tests():
    sel, judge = ts.split_tests(10, 0.5, "q")
    assert (sel == ts.split_tests(10, 0.5, "q")[0] and not set(sel) & set(judge)
            and sorted(sel + judge) == list(range(10)))
    assert len(sel) == 5 and ts.split_tests(2, 0.9, "x")[1]  # at least one judging test is always left
    with pytest.raises(ValueError):
        ts.split_tests(4, 1.0, "q")


def test_grounded_pool_judges_with_the_tests_it_did_not_select_with():
    pool = ts.grounded_pool(_programs(), pool_fraction=0.5)
    assert list(pool.columns) == schemas.TEST_POOL.column_names and len(pool) == 6
    q1 = pool[pool["question_id"] == "q1"].set_index("sample")
    sel, judge = ts.split_tests(4, 0.5, "q1")
    assert q1.loc[0, "correct"] and not q1.loc[2, "correct"]
    assert q1.loc[1, "correct"] == (3 not in judge)  # program 1 only fails test 3
    assert all(len(v) == len(sel) for v in pool["selection_passed"])


def test_curves_reach_the_oracle_when_tests_separate_and_stay_flat_when_nobody_is_right():
    pool = pd.DataFrame({"source": "s", "question_id": ["a"] * 3 + ["b"] * 2, "sample": [0, 1, 2, 0, 1],
                         "selection_passed": [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1]],
                         "correct": [False, False, True, False, False]})
    curves = ts.scaling_curves(pool, subsets=200, seed=0)
    a = curves[curves["question_id"] == "a"].set_index("m")["accuracy"]
    # one test: 1 in 4 draws is test 0, which programs 0 and 2 both pass, and the tie goes to program 0 (wrong)
    assert a.loc[4] == 1.0 and a.loc[1] == pytest.approx(0.75, abs=0.08) and a.is_monotonic_increasing
    assert (curves[curves["question_id"] == "b"]["accuracy"] == 0.0).all()
    summary = analysis.curve_summary(curves, ms=(1, 2, 4))
    assert summary["oracle"].iloc[-1] == 0.5 and summary["accuracy"].iloc[-1] == 0.5


def test_allocator_spends_the_budget_on_hard_questions_first():
    d = pd.Series({"easy": 0.1, "mid": 0.5, "hard": 0.9})
    cap = pd.Series({"easy": 10, "mid": 10, "hard": 3})
    alloc = ts.allocate(d, 9, cap)
    assert alloc.sum() == 9 and alloc["hard"] == 3 and alloc["easy"] <= alloc["mid"] and (alloc >= 1).all()
    assert ts.allocate(d, 100, cap).sum() == 23  # capped by the pools
    with pytest.raises(ValueError, match="below one test"):
        ts.allocate(d, 2, cap)


def test_compare_uses_equal_budgets():
    pool = ts.grounded_pool(pd.concat([_programs().assign(question_id=lambda f, i=i: f["question_id"] + str(i))
                                       for i in range(3)], ignore_index=True))
    curves = ts.scaling_curves(pool, subsets=20)
    diff = pd.DataFrame({"question_id": sorted(pool["question_id"].unique()),
                         "difficulty": np.linspace(0, 1, pool["question_id"].nunique())})
    table = ts.compare_allocations(curves, diff, budgets=(1, 2))
    allrows = table[table["quintile"] == "all"].pivot_table(index="budget_per_question", columns="strategy",
                                                            values="tests_used")
    assert (allrows["uniform"] == allrows["dynamic"]).all()
    assert set(table["quintile"]) == {"all", "q1", "q2", "q3", "q4", "q5"}


def test_difficulty_prediction_is_out_of_fold_and_learns_an_obvious_signal():
    words = ["sum", "count", "reverse", "graph", "matrix", "dynamic"]
    qs, progs = [], []
    rng = np.random.default_rng(0)
    for i in range(60):
        hard = i % 2 == 0
        text = ("hard dynamic programming over a graph " if hard else "easy sum of a list ") + words[i % 6]
        qs.append({"question_id": f"q{i}", "question": text})
        rate = 0.05 if hard else 0.8
        progs += [{"question_id": f"q{i}", "pass_rate": float(np.clip(rate + rng.normal(0, 0.05), 0, 1))}] * 4
    out = ts.predict_difficulty(pd.DataFrame(qs), pd.DataFrame(progs), features="text")
    hard_mask = out["question_id"].str[1:].astype(int) % 2 == 0
    assert out.loc[hard_mask, "difficulty"].mean() > out.loc[~hard_mask, "difficulty"].mean() + 0.3
    assert out["difficulty"].between(0, 1).all()


def test_sample_signals_are_read_off_the_samples_without_running_tests():
    programs = pd.DataFrame({"question_id": ["a"] * 4 + ["b"] * 2,
                             "program": ["x=1", "x=1", "x=22", None, "y", "y"],
                             "extraction": ["ok", "ok", "ok", "no_code", "ok", "ok"], "pass_rate": [0.0] * 6})
    questions = pd.DataFrame({"question_id": ["a", "b"], "question": ["qa", "qb"], "reference": ["r" * 9, ""]})
    sig = ts.sample_signals(questions, programs)
    assert sig.loc["a", "extracted_share"] == 0.75 and sig.loc["b", "extracted_share"] == 1.0
    assert sig.loc["a", "distinct_share"] == 0.75 and sig.loc["b", "distinct_share"] == 0.5  # "x=1", "x=22", ""
    assert sig.loc["a", "log_program_chars"] == pytest.approx(np.mean(np.log1p([3, 3, 4, 0])))
    assert sig.loc["a", "log_reference_chars"] == pytest.approx(np.log1p(9))
    assert sig.loc["b", "log_reference_chars"] == 0


def test_difficulty_from_samples_learns_that_a_scattered_policy_fails():
    rng = np.random.default_rng(1)
    qs, progs = [], []
    for i in range(60):
        hard = i % 2 == 0
        qs.append({"question_id": f"q{i}", "question": "same text", "reference": "def f(): pass"})
        for k in range(8):  # a hard question: 8 different programs, some unextractable; an easy one: 2 variants
            program = f"def f():\n    return {k if hard else k % 2}"
            progs.append({"question_id": f"q{i}", "program": program,
                          "extraction": "no_code" if hard and k < 3 else "ok",
                          "pass_rate": float(np.clip((0.1 if hard else 0.8) + rng.normal(0, 0.05), 0, 1))})
    out = ts.predict_difficulty(pd.DataFrame(qs), pd.DataFrame(progs))  # features="samples"
    hard_mask = out["question_id"].str[1:].astype(int) % 2 == 0
    # the allocator trusts only the order (ridge shrinks the values towards the mean): every hard one ranks higher
    assert out.loc[hard_mask, "difficulty"].min() > out.loc[~hard_mask, "difficulty"].max()
    text_only = ts.predict_difficulty(pd.DataFrame(qs), pd.DataFrame(progs), features="text")
    assert text_only["predicted_pass_rate"].nunique() <= 5  # the same text everywhere: only the fold means differ
    table = ts.signal_correlations(out, ts.sample_signals(pd.DataFrame(qs), pd.DataFrame(progs)))
    assert table.set_index("signal").loc["distinct_share", "spearman"] < -0.5
    with pytest.raises(ValueError, match="samples, text or both"):
        ts.predict_difficulty(pd.DataFrame(qs), pd.DataFrame(progs), features="magic")
    with pytest.raises(ValueError, match="needs the programs' columns"):
        ts.predict_difficulty(pd.DataFrame(qs), pd.DataFrame(progs).drop(columns="extraction"))


def test_dynamic_differs_from_uniform_even_when_the_estimates_sit_close_together():
    pool = ts.grounded_pool(pd.concat([_programs().assign(question_id=lambda f, i=i: f["question_id"] + str(i))
                                       for i in range(5)], ignore_index=True), pool_fraction=0.75)
    curves = ts.scaling_curves(pool, subsets=5)  # 3 selection tests per question: room above a budget of 2
    qids = sorted(pool["question_id"].unique())
    diff = pd.DataFrame({"question_id": qids, "difficulty": np.linspace(0.80, 0.82, len(qids))})
    table = ts.compare_allocations(curves, diff, budgets=(2,))
    hardest = table[(table["quintile"] == "q5")].set_index("strategy")["tests_used"]
    assert hardest["dynamic"] > hardest["uniform"]


def test_llm_pool_calibrates_the_generated_tests_on_the_reference():
    from acecoder_lib.execution import ExecutionEngine

    ref = "def add(a, b):\n    s = 0\n    for i in range(250_000):\n        s += i\n    return a + b\n"
    slow = ref.replace("250_000", "750_000")  # ~3x the reference's CPU time: within the factor of 10
    programs = pd.DataFrame({"question_id": ["q"] * 2, "sample": [0, 1], "program": [slow, "def add(a, b):\n"
                             "    while True:\n        pass\n"], "n_tests": [2, 2], "n_passed": [2, 0]})
    generated = pd.DataFrame({"question_id": ["q"], "tests": [["assert add(1, 2) == 3", "assert add(2, 2) == 4"]]})
    with ExecutionEngine(workers=2) as engine:
        pool = ts.llm_pool(programs, generated, engine, {"q": ref}, floor_s=0.005, factor=10.0, fixed_s=2.0)
        floor_only = ts.llm_pool(programs.head(1), generated, engine, {}, floor_s=0.005, factor=10.0, fixed_s=0.005)
    assert pool["selection_passed"].tolist() == [[1, 1], [0, 0]] and pool["correct"].tolist() == [True, False]
    assert floor_only["selection_passed"].tolist() == [[0, 0]]  # no reference, a 5 ms limit: the slow one times out


def test_test_quality_counts_acceptances_against_the_verified_tests():
    from acecoder_lib.core import io
    from acecoder_lib.phases import p09_test_scaling as p09

    pool = pd.DataFrame({"source": ["llm"] * 6, "question_id": ["a", "a", "a", "b", "b", "b"],
                         "sample": [0, 1, 2, 0, 1, 2],
                         "selection_passed": [[1, 1], [1, 0], [1, 1], [0, 0], [1, 1], [1, 1]],
                         "correct": [True, False, False, True, True, False]})
    quality = p09.test_quality(pool, n_boot=200)
    io.validate(quality, schemas.TEST_QUALITY, "test")
    q = quality.set_index("source").loc["llm"]
    # accepted: a0 a2 b1 b2; correct: a0 b0 b1 -> tp 2 (a0 b1), fp 2 (a2 b2), fn 1 (b0), tn 1 (a1)
    assert (q["tp"], q["fp"], q["fn"], q["tn"]) == (2, 2, 1, 1)
    assert q["accuracy"] == pytest.approx(3 / 6) and q["false_acceptance_rate"] == pytest.approx(2 / 3)
    precision, recall = 2 / 4, 2 / 3
    assert q["false_rejection_rate"] == pytest.approx(1 / 3)
    assert q["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert q["accuracy_ci_low"] <= q["accuracy"] <= q["accuracy_ci_high"]


def test_assert_call_is_the_input_side_of_an_equality_test():
    from acecoder_lib.code.testgen import assert_call

    assert assert_call("assert add(1, 2) == 3") == "add(1, 2)"
    assert assert_call("assert sorted(f([3, 1])) == [1, 3]") == "sorted(f([3, 1]))"
    assert assert_call("assert f(1) != 3") is None and assert_call("assert f(1)") is None
    assert assert_call("assert x == 3") is None and assert_call("assert f(1) == 1\nassert f(2) == 2") is None
    assert assert_call("assert f(1 ==") is None


def test_agreement_signals_count_equal_outputs_without_reading_expected_values():
    from acecoder_lib.execution import ExecutionEngine

    questions = pd.DataFrame({QUESTION_ID: ["a", "b", "c"], "entry_point": ["f", "f", "f"],
                              # the expected values are deliberately wrong: agreement must not depend on them
                              "tests": [["assert f(1) == 99", "assert f(2) == 99"], ["assert f(3) == -1"],
                                        ["assert abs(f(1) - 2) < 1e-6"]]})
    programs = pd.DataFrame({QUESTION_ID: ["a"] * 4 + ["b"] * 4 + ["c"] * 2, "sample": list(range(10)),
                             "program": ["def f(x):\n    return x + 1\n"] * 3 + ["def f(x):\n    return x * 5\n"]
                             + ["def f(x):\n    return x\n", "def f(x):\n    return -x\n",
                                "def f(x):\n    raise ValueError\n", "def f(x):\n    while True:\n        pass\n"]
                             + ["def f(x):\n    return 2\n"] * 2})
    with ExecutionEngine(workers=2) as engine:
        signals = ts.agreement_signals(programs, questions, engine, inputs=3, timeout_s=0.2)
    assert signals.loc["a", "output_agreement"] == 0.75 and signals.loc["a", "output_error_share"] == 0.0
    assert signals.loc["b", "output_agreement"] == 0.25 and signals.loc["b", "output_error_share"] == 0.5
    assert signals.loc["c"].isna().all()  # no assert f(...) == value test: nothing to run
    difficulty = ts.predict_difficulty(questions, programs.assign(pass_rate=[1, 1, 1, 0, 0, 0, 0, 0, 1, 1],
                                                                  extraction="ok"), agreement=signals)
    assert len(difficulty) == 3 and difficulty["predicted_pass_rate"].between(0, 1).all()

"""The pass-rate explorer: escaped HTML with per-test pass counts, and a widget whose view follows the selection."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib import explorer

QUESTIONS = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Add <a> & b.", "Negate x."],
                          "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 9"], ["assert neg(1) == -1"]]})
PROGRAMS = pd.DataFrame({
    "question_id": ["q1", "q1", "q2"], "sample": [0, 1, 0],
    "program": ["def add(a, b):\n    return a + b  # <script>", "", "def neg(x):\n    return -x"],
    "extraction": ["ok", "no_code", "ok"], "verdicts": [["pass", "fail"], ["error", "error"], ["pass"]],
    "pass_rate": [0.5, 0.0, 1.0]})


def test_question_html_counts_flags_and_escapes():
    view = explorer.question_html("q1", QUESTIONS, PROGRAMS)
    assert "Add &lt;a&gt; &amp; b." in view and "<script>" not in view and "&lt;script&gt;" in view
    assert "1/2" in view and "0/2 ⚠ no program passes" in view  # test 1 is failed by every program
    assert "(no code extracted: no_code)" in view and "mean pass rate 0.25" in view
    with pytest.raises(KeyError, match="q9"):
        explorer.question_html("q9", QUESTIONS, PROGRAMS)


def test_widget_view_follows_the_selection():
    ex = explorer.Explorer(QUESTIONS, PROGRAMS)
    assert [qid for _, qid in ex.options] == ["q1", "q2"]  # the question with spread first
    assert "data-question='q1'" in ex.view.value
    ex.select("q2")
    assert "data-question='q2'" in ex.view.value and "Negate x." in ex.view.value


TABLE_Q = pd.DataFrame({"question_id": ["q1", "q2", "q3"], "source": ["starter", "codeio", "starter"],
                        "method": ["grounded"] * 3, "split": ["train", "train", "heldout"],
                        "tests": [["t0", "t1", "t2"], ["t0"], ["t0", "t1"]]})
TABLE_P = pd.DataFrame({
    "question_id": ["q1"] * 3 + ["q2"] * 2 + ["q3"],
    "sample": [0, 1, 2, 0, 1, 0],
    "extraction": ["ok", "ok", "no_code", "ok", "ok", "ok"],
    "verdicts": [["pass", "fail", "pass"], ["pass", "timeout", "pass"], [], ["pass"], ["pass"], ["fail", "pass"]],
    "pass_rate": [2 / 3, 2 / 3, 0.0, 1.0, 1.0, 0.5]})


def test_question_table_and_select_are_what_the_distribution_view_filters():
    table = explorer.question_table(TABLE_Q, TABLE_P).set_index("question_id")
    assert table.loc["q1", "programs"] == 3 and table.loc["q1", "mean_pass_rate"] == pytest.approx(4 / 9)
    assert table.loc["q1", "std_pass_rate"] == pytest.approx(pd.Series([2 / 3, 2 / 3, 0]).std(ddof=0))
    assert table.loc["q1", "extracted_share"] == pytest.approx(2 / 3) and table.loc["q2", "std_pass_rate"] == 0
    assert table.loc["q3", "split"] == "heldout" and table.loc["q1", "n_tests"] == 3
    flat = table.reset_index()
    assert explorer.select(flat, sources=["starter"])["question_id"].tolist() == ["q1", "q3"]
    assert explorer.select(flat, pass_rate=(0.4, 0.6))["question_id"].tolist() == ["q1", "q3"]
    assert explorer.select(flat, splits=["train"], n_tests=(2, 3))["question_id"].tolist() == ["q1"]
    assert explorer.select(flat, min_extracted=0.9)["question_id"].tolist() == ["q2", "q3"]
    assert explorer.select(flat, ids={"q2", "q9"})["question_id"].tolist() == ["q2"]


def test_verdict_matrix_and_suspicious_tests():
    grid = explorer.verdict_matrix(TABLE_P, "q1")
    assert grid.shape == (3, 3) and grid.loc[1, 1] == "timeout" and list(grid.loc[2]) == ["not_run"] * 3
    flags = explorer.suspicious_tests(grid, reference=["pass", "fail", "pass"]).set_index("test")
    assert flags.loc[1, "flag"] == "reference fails, no program passes" and flags.loc[0, "programs_passing"] == 2
    assert flags.loc[0, "flag"] == "" and flags.loc[2, "flag"] == ""
    every = explorer.suspicious_tests(explorer.verdict_matrix(TABLE_P, "q2"))
    assert every["flag"].tolist() == ["every program passes"]
    with pytest.raises(KeyError, match="q9"):
        explorer.verdict_matrix(TABLE_P, "q9")


def test_compare_gives_the_shift_per_shared_question_largest_first():
    after = TABLE_P.assign(pass_rate=[1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    shift = explorer.compare(TABLE_P, after[after["question_id"] != "q3"], names=("base", "rl"))
    assert shift["question_id"].tolist() == ["q1", "q2"]  # q3 is in one set only
    assert shift.loc[0, "shift"] == pytest.approx(5 / 9) and shift.loc[1, "shift"] == 0


class _Points:
    def __init__(self, inds=(), xs=(), ys=()):
        self.point_inds, self.xs, self.ys = list(inds), list(xs), list(ys)


def test_linked_explorer_views_follow_selection_filters_and_clicks():
    questions = TABLE_Q.assign(question=["Add.", "Neg.", "Sub."], reference=["def add(): ...", "", ""])
    programs = TABLE_P.assign(program=["def a1", "def a2", "", "def n1", "def n2", "def s1"],
                              first_error=["", "TimeoutError: t1", "", "", "", "AssertionError"])
    ex = explorer.PassRateExplorer(questions, programs, reference={"q1": ["pass", "fail", "pass"]})
    assert "data-count='3'" in ex.count.value and ex.current == "q1"  # the most spread question first
    assert "reference fails, no program passes" in ex.question_view.value and "def add()" in ex.question_view.value
    assert ex.heatmap.data[0].z.shape == (3, 3)
    ex.click_cell(1, 1)
    assert "sample 1, test 1: timeout" in ex.code.value and "TimeoutError: t1" in ex.code.value
    ex._on_heatmap_click(_Points([0], xs=[0], ys=["sample 0"]))  # what a click on a cell sends
    assert "data-cell='q1:0:0'" in ex.code.value and "def a1" in ex.code.value
    # a box selection on the codeio trace: only q2 is left everywhere
    k = [t.name for t in ex.scatter.data].index("codeio")
    ex._on_selection(k, ex.scatter.data[k], _Points([0]))
    assert [v for _, v in ex.question_list.options] == ["q2"] and ex.current == "q2"
    assert sorted(ex.hist.data[0].x) == [1.0, 1.0] and list(ex.hist.data[1].x) == [1.0]
    opacity = dict(zip(ex.scatter.data[k].customdata, ex.scatter.data[k].marker.opacity))
    assert opacity["q2"] > 0.5
    ex.select_points(None)  # a double click clears the selection
    ex.set_filters(splits=["heldout"])
    assert [v for _, v in ex.question_list.options] == ["q3"] and "data-count='1'" in ex.count.value
    ex.set_filters(splits=["train"], pass_rate=(0.9, 1.0))
    assert [v for _, v in ex.question_list.options] == ["q2"]
    ex.set_filters(pass_rate=(0.95, 0.96))
    assert ex.question_list.options == () and "no question" in ex.question_view.value
    assert len(ex.static_view()) >= 1


def test_distribution_figure_draws_a_sample_above_the_limit():
    table = pd.DataFrame({"question_id": [f"q{i}" for i in range(50)], "source": ["s"] * 50, "split": ["train"] * 50,
                          "mean_pass_rate": [0.5] * 50, "std_pass_rate": [0.1] * 50})
    fig = explorer.distribution_figure(table, max_points=20)
    assert len(fig.data[0].x) == 20 and "50 questions (20 drawn)" in fig.layout.title.text
    assert len(explorer.distribution_figure(table).data[0].x) == 50


def test_pair_explorer_counts_follow_the_sliders_and_show_a_diff():
    from acecoder_lib.phases import p05_build_pairs as p05

    questions = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Add.", "Neg."]})
    programs = pd.DataFrame({"question_id": ["q1"] * 3 + ["q2"] * 2, "sample": [0, 1, 2, 0, 1],
                             "program": ["def f():\n    return 1", "def f():\n    return 2", "def f():\n    return 3",
                                         "def g():\n    return 1", "def g():\n    return 0"],
                             "verdicts": [["pass"] * 4, ["pass", "fail", "fail", "fail"], ["fail"] * 4,
                                          ["pass", "pass"], ["pass", "fail"]],
                             "pass_rate": [1.0, 0.25, 0.0, 1.0, 0.5]})
    ex = explorer.PairExplorer(programs, lambda progs, **rule: p05.build_pairs(progs, questions, **rule))
    # paper rule: q1 (1.0 over 0.25; 0.0 is below the floor); q2 (1.0 over 0.5 is a margin of exactly 0.5 > 0.4)
    assert "data-pairs='2' data-questions='2'" in ex.count.value
    assert "data-pair='q1'" in ex.view.value and 'class="diff_chg">1<' in ex.view.value  # the changed line
    assert "chosen: pass rate 1.00, verdicts ✓✓✓✓" in ex.view.value
    ex.set_rule(margin=0.6)
    expected = p05.build_pairs(programs, questions, top=0.8, margin=0.6, floor=0.0)
    assert f"data-pairs='{len(expected)}'" in ex.count.value and len(expected) == 1
    ex.set_rule(floor=0.3)
    assert "data-pairs='0'" in ex.count.value and "no pair under this rule" in ex.view.value


def test_comparison_figure_splits_questions_by_the_direction_they_moved():
    after = TABLE_P.assign(pass_rate=[1.0, 1.0, 1.0, 0.0, 0.0, 0.5])
    shift = explorer.compare(TABLE_P, after, names=("base", "rl"))
    fig = explorer.comparison_figure(shift, ("base", "rl"))
    by_name = {t.name.split()[0]: list(t.text) for t in fig.data}
    assert by_name == {"up": ["q1"], "down": ["q2"], "same": ["q3"]}
    up = fig.data[0]
    assert abs(up.x[0] - 4 / 9) <= 0.01 and abs(up.y[0] - 1.0) <= 0.01  # jittered by at most 0.01
    assert tuple(up.customdata[0]) == pytest.approx((4 / 9, 1.0))  # exact values in the hover text

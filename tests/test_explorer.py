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

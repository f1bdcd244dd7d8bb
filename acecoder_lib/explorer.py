"""The pass-rate explorer of notebook 04: pick a question, see its tests and every sampled program's verdicts.

    view = explorer.question_html(qid, questions, programs)      # static HTML (papermill, nbval, reports)
    widget = explorer.Explorer(questions, programs).widget        # ipywidgets: a dropdown and the view

The HTML shows the question, each test with how many programs pass it (a test that no program passes while other
tests are passed is flagged: a wrong expected value, or a case the policy never gets), and a table of programs x
tests with one mark per verdict. Everything is escaped: programs and questions are model-written text.
"""
from __future__ import annotations

import html

import pandas as pd

from .core.schemas import PASS_RATE, QUESTION_ID

MARK = {"pass": "✓", "fail": "✗", "error": "E", "timeout": "T", "memory": "M", "syntax_error": "S", "crash": "C"}


def _tests_table(tests: list[str], verdicts: list[list[str]]) -> str:
    n = len(verdicts)
    passed = [sum(1 for v in verdicts if k < len(v) and v[k] == "pass") for k in range(len(tests))]
    any_passed = any(passed)
    rows = []
    for k, (t, p) in enumerate(zip(tests, passed)):
        flag = " ⚠ no program passes" if any_passed and p == 0 else (" (every program)" if p == n and n else "")
        rows.append(f"<tr><td>{k}</td><td><code>{html.escape(t[:200])}</code></td><td>{p}/{n}{flag}</td></tr>")
    return ("<table class='tests'><tr><th>#</th><th>test</th><th>programs passing</th></tr>" + "".join(rows)
            + "</table>")


def question_html(question_id: str, questions: pd.DataFrame, programs: pd.DataFrame, max_program_chars: int = 600
                  ) -> str:
    """The explorer's view of one question as an HTML string."""
    q = questions[questions[QUESTION_ID] == question_id]
    if q.empty:
        raise KeyError(f"question {question_id!r} is not in the question table")
    q = q.iloc[0]
    mine = programs[programs[QUESTION_ID] == question_id].sort_values("sample")
    tests = list(q["tests"])
    verdicts = [list(v) for v in mine["verdicts"]]
    head = (f"<h4 data-question='{html.escape(question_id)}'>{html.escape(question_id)}: {len(mine)} programs, "
            f"mean pass rate {mine[PASS_RATE].mean():.2f}</h4>"
            f"<pre style='white-space:pre-wrap'>{html.escape(str(q['question'])[:1500])}</pre>")
    header = "".join(f"<th>{k}</th>" for k in range(len(tests)))
    rows = []
    for r in mine.itertuples():
        marks = "".join(f"<td title='{html.escape(v)}'>{MARK.get(v, '?')}</td>" for v in r.verdicts)
        code = html.escape((r.program or "(no code extracted: " + r.extraction + ")")[:max_program_chars])
        rows.append(f"<tr><td>{r.sample}</td><td>{getattr(r, PASS_RATE):.2f}</td>{marks}"
                    f"<td><details><summary>code</summary><pre>{code}</pre></details></td></tr>")
    table = (f"<table class='programs'><tr><th>sample</th><th>pass rate</th>{header}<th></th></tr>" + "".join(rows)
             + "</table>")
    legend = " ".join(f"{m} {v}" for v, m in MARK.items())
    return head + _tests_table(tests, verdicts) + f"<p>{legend}</p>" + table


class Explorer:
    """A dropdown of questions (most spread first) and the HTML view of the selected one."""

    def __init__(self, questions: pd.DataFrame, programs: pd.DataFrame):
        import ipywidgets as w

        self.questions, self.programs = questions, programs
        g = programs.groupby(QUESTION_ID)[PASS_RATE]
        order = (g.std(ddof=0).fillna(0) * 10 + g.mean()).sort_values(ascending=False).index.tolist()
        self.options = [(f"{qid}  (mean {g.mean()[qid]:.2f})", qid) for qid in order]
        self.dropdown = w.Dropdown(options=self.options, description="question", layout=w.Layout(width="60%"))
        self.view = w.HTML(question_html(order[0], questions, programs) if order else "no programs")
        self.dropdown.observe(self._on_change, names="value")
        self.widget = w.VBox([self.dropdown, self.view])

    def _on_change(self, change) -> None:
        self.view.value = question_html(change["new"], self.questions, self.programs)

    def select(self, question_id: str) -> None:
        """Select a question programmatically (as a click in the dropdown would)."""
        self.dropdown.value = question_id

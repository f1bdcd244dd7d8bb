"""The pass-rate explorer of notebook 04: pick a question, see its tests and every sampled program's verdicts.

    view = explorer.question_html(qid, questions, programs)      # static HTML (papermill, nbval, reports)
    widget = explorer.Explorer(questions, programs).widget        # ipywidgets: a dropdown and the view

The data behind each view, as plain frames (what the widgets show for a selection, testable without a browser):

    table = explorer.question_table(questions, programs)         # a row per question: mean, spread, source, split
    some = explorer.select(table, sources=["starter"], pass_rate=(0.1, 0.9), ids=lasso_ids)
    grid = explorer.verdict_matrix(programs, qid)                 # programs x tests, one verdict per cell
    flags = explorer.suspicious_tests(grid, reference=ref_verdicts)   # tests no program / every program passes
    shift = explorer.compare(programs_a, programs_b)              # per question: pass-rate shift between two sets

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


def question_table(questions: pd.DataFrame, programs: pd.DataFrame) -> pd.DataFrame:
    """A row per question with programs: source, method, split (where the question table has them), tests,
    programs, mean and spread (population std over the samples) of the pass rate, and the share of samples whose
    code was extracted. What the distribution view plots and filters."""
    g = programs.groupby(QUESTION_ID)
    out = pd.DataFrame({"programs": g.size(), "mean_pass_rate": g[PASS_RATE].mean(),
                        "std_pass_rate": g[PASS_RATE].std(ddof=0).fillna(0.0)})
    if "extraction" in programs:
        out["extracted_share"] = programs["extraction"].eq("ok").groupby(programs[QUESTION_ID]).mean()
    q = questions.drop_duplicates(QUESTION_ID).set_index(QUESTION_ID)
    for column in ("source", "method", "split"):
        out[column] = q[column].reindex(out.index).fillna("?") if column in q else "?"
    out["n_tests"] = (q["tests"].map(len).reindex(out.index).fillna(0).astype(int) if "tests" in q
                      else programs.groupby(QUESTION_ID)["verdicts"].first().map(len))
    return out.reset_index()


def select(table: pd.DataFrame, sources=None, splits=None, pass_rate: tuple[float, float] = (0.0, 1.0),
           n_tests: tuple[int, int] | None = None, min_extracted: float = 0.0, ids=None) -> pd.DataFrame:
    """The rows of ``question_table`` every filter keeps (None: no filter): sources, splits, a closed mean
    pass-rate range, a closed range of test counts, a least extracted share, and ``ids`` (a box or lasso
    selection in the scatter). The other views show only these questions."""
    keep = table["mean_pass_rate"].between(*pass_rate)
    if sources is not None:
        keep &= table["source"].isin(list(sources))
    if splits is not None:
        keep &= table["split"].isin(list(splits))
    if n_tests is not None:
        keep &= table["n_tests"].between(*n_tests)
    if min_extracted and "extracted_share" in table:
        keep &= table["extracted_share"] >= min_extracted
    if ids is not None:
        keep &= table[QUESTION_ID].isin(list(ids))
    return table[keep].reset_index(drop=True)


def verdict_matrix(programs: pd.DataFrame, question_id: str) -> pd.DataFrame:
    """Programs x tests of one question (index: sample, columns: test index), one verdict string per cell; a
    program whose code never loaded has fewer verdicts than tests, and its missing cells say ``not_run``."""
    mine = programs[programs[QUESTION_ID] == question_id].sort_values("sample")
    if mine.empty:
        raise KeyError(f"question {question_id!r} has no programs")
    width = max(len(v) for v in mine["verdicts"])
    rows = [list(v) + ["not_run"] * (width - len(v)) for v in mine["verdicts"]]
    return pd.DataFrame(rows, index=pd.Index(mine["sample"].astype(int), name="sample"),
                        columns=pd.RangeIndex(width, name="test"))


def suspicious_tests(matrix: pd.DataFrame, reference: list[str] | None = None) -> pd.DataFrame:
    """A row per test of a ``verdict_matrix``: programs passing it, and a flag: ``no program passes`` (while others
    pass some test: a wrong expected value, or a case the policy never gets), ``every program passes`` (it tells no
    program apart), ``reference fails`` (``reference``: the reference's or proxy's verdicts on the same tests)."""
    passed = (matrix == "pass").sum(axis=0)
    any_passed = bool(passed.sum())
    rows = []
    for k in matrix.columns:
        flags = []
        if reference is not None and k < len(reference) and reference[k] != "pass":
            flags.append("reference fails")
        if any_passed and passed[k] == 0:
            flags.append("no program passes")
        elif passed[k] == len(matrix) and len(matrix) > 1:
            flags.append("every program passes")
        rows.append({"test": int(k), "programs_passing": int(passed[k]), "programs": len(matrix),
                     "flag": ", ".join(flags)})
    return pd.DataFrame(rows)


def compare(programs_a: pd.DataFrame, programs_b: pd.DataFrame, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Per question in both program sets (e.g. base vs RL policy, or two runs' ``04_programs``): mean pass rate
    under each, and the shift b - a, largest moves first."""
    a, b = (p.groupby(QUESTION_ID)[PASS_RATE].mean() for p in (programs_a, programs_b))
    both = a.index.intersection(b.index)
    out = pd.DataFrame({names[0]: a.reindex(both), names[1]: b.reindex(both)})
    out["shift"] = out[names[1]] - out[names[0]]
    return (out.reset_index().rename(columns={"index": QUESTION_ID})
            .sort_values("shift", key=lambda s: s.abs(), ascending=False, kind="stable").reset_index(drop=True))


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

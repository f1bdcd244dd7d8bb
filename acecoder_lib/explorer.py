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


def comparison_figure(shift: pd.DataFrame, names: tuple[str, str] = ("a", "b")):
    """The comparison view: each question's mean pass rate under program set ``names[0]`` (x) against
    ``names[1]`` (y), from ``compare``; above the diagonal the second set does better. Points are jittered by at
    most 0.01 so that questions at the same rates stay visible (the hover text has the exact values)."""
    import numpy as np
    import plotly.graph_objects as go

    a, b = names
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, (2, len(shift)))
    moved = np.sign(shift["shift"]).map({1.0: "up", -1.0: "down", 0.0: "same"})
    fig = go.Figure()
    for label, color in (("up", "#2ca02c"), ("down", "#d62728"), ("same", "#7f7f7f")):
        mask = (moved == label).to_numpy()
        g = shift[mask]
        fig.add_trace(go.Scatter(
            x=g[a] + jitter[0][mask], y=g[b] + jitter[1][mask], mode="markers", name=f"{label} ({mask.sum()})",
            marker={"color": color, "size": 8, "opacity": 0.8}, text=g[QUESTION_ID],
            customdata=np.stack([g[a], g[b]], axis=-1) if len(g) else None,
            hovertemplate="%{text}<br>" + f"{a} " + "%{customdata[0]:.2f}, " + f"{b} " + "%{customdata[1]:.2f}"
                          "<extra></extra>"))
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "#999"})
    fig.update_layout(title=f"Pass rate per question: {a} vs {b} ({len(shift)} questions)", xaxis_title=a,
                      yaxis_title=b, height=420, width=520, xaxis_range=[-0.05, 1.05], yaxis_range=[-0.05, 1.05])
    return fig


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


VERDICTS = ["pass", "fail", "error", "timeout", "memory", "syntax_error", "crash", "not_run"]
VERDICT_COLORS = ["#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#dddddd"]
MAX_POINTS = 5000  # the scatter draws a seeded sample above this many questions (the filters still see them all)


def distribution_figure(table: pd.DataFrame, max_points: int = MAX_POINTS, seed: int = 0):
    """Mean pass rate (x) against its spread over the samples (y), one trace per source, circles for train and
    diamonds for held-out questions; ``customdata`` holds the question ids (what a box or lasso selects). Above
    ``max_points`` questions a seeded sample is drawn and the title says so."""
    import plotly.graph_objects as go

    shown = table.sample(max_points, random_state=seed) if len(table) > max_points else table
    fig = go.Figure()
    for source, g in shown.groupby("source", sort=True):
        fig.add_trace(go.Scatter(
            x=g["mean_pass_rate"], y=g["std_pass_rate"], mode="markers", name=str(source),
            customdata=g[QUESTION_ID], text=g[QUESTION_ID],
            marker={"symbol": ["diamond" if s == "heldout" else "circle" for s in g["split"]], "size": 8,
                    "opacity": 0.8},
            hovertemplate="%{text}<br>mean %{x:.2f}, spread %{y:.2f}<extra>" + str(source) + "</extra>"))
    title = f"{len(table)} questions" + (f" ({len(shown)} drawn)" if len(shown) < len(table) else "")
    fig.update_layout(title=f"Pass rate per question: mean vs spread over the samples, {title}",
                      xaxis_title="mean pass rate", yaxis_title="spread (std over samples)", dragmode="select",
                      height=420, legend_title="source (diamond: held-out)")
    return fig


def heatmap_figure(matrix: pd.DataFrame, question_id: str = ""):
    """Programs (rows) x tests (columns) of a ``verdict_matrix``, one colour per verdict."""
    import plotly.graph_objects as go

    codes = matrix.apply(lambda col: col.map(lambda v: VERDICTS.index(v if v in VERDICTS else "crash")))
    n = len(VERDICTS)
    # a step colour scale: code k is drawn in VERDICT_COLORS[k] over [k/n, (k+1)/n]
    scale = [[edge / n, color] for k, color in enumerate(VERDICT_COLORS) for edge in (k, k + 1)]
    fig = go.Figure(go.Heatmap(z=codes.to_numpy(), x=list(matrix.columns), y=[f"sample {s}" for s in matrix.index],
                               text=matrix.to_numpy(), zmin=-0.5, zmax=n - 0.5, colorscale=scale, xgap=1, ygap=1,
                               hovertemplate="%{y}, test %{x}: %{text}<extra></extra>",
                               colorbar={"tickvals": list(range(n)), "ticktext": VERDICTS}))
    fig.update_layout(title=f"{question_id}: programs x tests (click a cell for the program)",
                      xaxis_title="test", height=140 + 28 * len(matrix), yaxis_autorange="reversed")
    return fig


def cell_html(programs: pd.DataFrame, question_id: str, sample: int, test: int, tests: list[str]) -> str:
    """One program's code with one test, its verdict, and the program's first error where that is this test."""
    row = programs[(programs[QUESTION_ID] == question_id) & (programs["sample"] == sample)]
    if row.empty:
        raise KeyError(f"{question_id!r} has no sample {sample}")
    r = row.iloc[0]
    verdicts = list(r["verdicts"])
    verdict = verdicts[test] if test < len(verdicts) else "not_run"
    first_bad = next((k for k, v in enumerate(verdicts) if v != "pass"), None)
    error = r.get("first_error", "") if first_bad == test else ""
    code = r["program"] or f"(no code extracted: {r.get('extraction', '?')})"
    test_text = tests[test] if test < len(tests) else "?"
    return (f"<div data-cell='{html.escape(question_id)}:{sample}:{test}'><b>sample {sample}, test {test}: "
            f"{html.escape(verdict)}</b><pre>{html.escape(test_text)}</pre>"
            + (f"<pre style='color:#b00'>{html.escape(str(error)[:600])}</pre>" if error else "")
            + f"<pre>{html.escape(str(code)[:3000])}</pre></div>")


class PassRateExplorer:
    """Linked views of questions x programs x tests (notebook 04): filters and a mean-vs-spread scatter whose box
    or lasso selection narrows the question list and the pass-rate histograms; the chosen question's text, tests
    (flagged: no program / every program passes, reference fails) and programs x tests heatmap; a click on a cell
    shows that program with the test and its error. Live with a kernel (plotly ``FigureWidget`` + ipywidgets);
    ``static_view`` is what papermill, nbval and the published run show instead. Every callback has a method
    (``select_points``, ``set_filters``, ``show_question``, ``click_cell``) that does what the click does."""

    def __init__(self, questions: pd.DataFrame, programs: pd.DataFrame, reference: dict | None = None,
                 max_points: int = MAX_POINTS):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.questions = questions.drop_duplicates(QUESTION_ID).set_index(QUESTION_ID)
        self.programs, self.reference = programs, reference or {}
        self.table = question_table(questions, programs)
        self.lasso: dict[int, set] = {}
        self.filters: dict = {}
        self.current: str | None = None
        sources, splits = sorted(self.table["source"].unique()), sorted(self.table["split"].unique())
        self.sources = w.SelectMultiple(options=sources, value=tuple(sources), description="source", rows=3)
        self.splits = w.SelectMultiple(options=splits, value=tuple(splits), description="split", rows=2)
        self.pass_range = w.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.05, description="pass rate")
        most = int(self.table["n_tests"].max()) if len(self.table) else 1
        self.test_range = w.IntRangeSlider(value=(0, most), min=0, max=most, description="tests")
        for control in (self.sources, self.splits, self.pass_range, self.test_range):
            control.observe(lambda _change: self._refresh(), names="value")
        self.scatter = go.FigureWidget(distribution_figure(self.table, max_points))
        for k, trace in enumerate(self.scatter.data):
            trace.on_selection(lambda tr, points, _sel, k=k: self._on_selection(k, tr, points))
            trace.on_deselect(lambda *_args: self.select_points(None))
        self.hist = go.FigureWidget()
        self.hist.add_histogram(x=[], name="per program", opacity=0.6, xbins={"start": 0, "end": 1.0001, "size": 0.1})
        self.hist.add_histogram(x=[], name="per question (mean)", opacity=0.6,
                                xbins={"start": 0, "end": 1.0001, "size": 0.1})
        self.hist.update_layout(barmode="overlay", title="pass rates of the selection", height=420,
                                xaxis_title="pass rate")
        self.question_list = w.Select(options=[], rows=12, description="questions",
                                      layout=w.Layout(width="40%"))
        self.question_list.observe(lambda change: change["new"] and self.show_question(change["new"]),
                                   names="value")
        self.question_view = w.HTML()
        self.heatmap = go.FigureWidget(go.Heatmap(z=[[0]]))
        self.code = w.HTML("<i>click a heatmap cell</i>")
        self.count = w.HTML()
        self.widget = w.VBox([w.HBox([self.sources, self.splits, w.VBox([self.pass_range, self.test_range])]),
                              self.count, w.HBox([self.scatter, self.hist]),
                              w.HBox([self.question_list, self.question_view]), self.heatmap, self.code])
        self._refresh()

    # --- what the views show -------------------------------------------------------------------------------
    @property
    def selected(self) -> pd.DataFrame:
        """The questions every filter and the scatter selection keep, most spread first."""
        ids = set().union(*self.lasso.values()) if self.lasso else None
        kept = select(self.table, sources=self.sources.value, splits=self.splits.value,
                      pass_rate=tuple(self.pass_range.value), n_tests=tuple(self.test_range.value), ids=ids)
        return kept.sort_values(["std_pass_rate", "mean_pass_rate"], ascending=[False, False], kind="stable")

    def _refresh(self) -> None:
        kept = self.selected
        ids = set(kept[QUESTION_ID])
        with self.scatter.batch_update():
            for trace in self.scatter.data:
                trace.marker.opacity = [0.85 if q in ids else 0.12 for q in trace.customdata]
        mine = self.programs[self.programs[QUESTION_ID].isin(ids)]
        with self.hist.batch_update():
            self.hist.data[0].x = mine[PASS_RATE].tolist()
            self.hist.data[1].x = kept["mean_pass_rate"].tolist()
        self.count.value = (f"<b data-count='{len(kept)}'>{len(kept)} of {len(self.table)} questions</b>, "
                            f"{len(mine)} programs")
        options = [(f"{q}  (mean {m:.2f}, spread {s:.2f})", q) for q, m, s in
                   zip(kept[QUESTION_ID], kept["mean_pass_rate"], kept["std_pass_rate"])]
        self.question_list.options = options
        if options and self.current not in ids:
            self.question_list.value = options[0][1]
        elif not options:
            self.current, self.question_view.value = None, "<i>no question is selected</i>"

    def show_question(self, question_id: str) -> None:
        """The question view: its text, reference, flagged tests, and the heatmap of its programs."""
        self.current = question_id
        q = self.questions.loc[question_id]
        tests = list(q["tests"]) if "tests" in q else []
        matrix = verdict_matrix(self.programs, question_id)
        flags = suspicious_tests(matrix, self.reference.get(question_id))
        text = [html.escape(tests[f.test][:200]) if f.test < len(tests) else "" for f in flags.itertuples()]
        rows = "".join(f"<tr><td>{f.test}</td><td><code>{t}</code></td><td>{f.programs_passing}/{f.programs}</td>"
                       f"<td>{html.escape(f.flag)}</td></tr>" for f, t in zip(flags.itertuples(), text))
        reference = q.get("reference", "")
        self.question_view.value = (
            f"<h4 data-question='{html.escape(question_id)}'>{html.escape(question_id)}</h4>"
            f"<pre style='white-space:pre-wrap'>{html.escape(str(q.get('question', ''))[:1500])}</pre>"
            + (f"<details><summary>reference</summary><pre>{html.escape(str(reference)[:2000])}</pre></details>"
               if isinstance(reference, str) and reference else "")
            + "<table><tr><th>#</th><th>test</th><th>passing</th><th>flag</th></tr>" + rows + "</table>")
        fig = heatmap_figure(matrix, question_id)
        with self.heatmap.batch_update():
            self.heatmap.data = []
            self.heatmap.add_trace(fig.data[0])
            self.heatmap.layout = fig.layout
        self.heatmap.data[0].on_click(lambda _trace, points, _state: self._on_heatmap_click(points))
        self.code.value = "<i>click a heatmap cell</i>"

    def click_cell(self, sample: int, test: int) -> None:
        """The code panel: program ``sample`` of the current question with test ``test`` (a heatmap click)."""
        tests = list(self.questions.loc[self.current]["tests"]) if "tests" in self.questions else []
        self.code.value = cell_html(self.programs, self.current, sample, test, tests)

    # --- what the controls do ------------------------------------------------------------------------------
    def _on_heatmap_click(self, points) -> None:
        if points.xs:  # y labels are "sample N"
            self.click_cell(int(str(points.ys[0]).split()[-1]), int(points.xs[0]))

    def _on_selection(self, k: int, trace, points) -> None:
        ids = {trace.customdata[i] for i in points.point_inds}
        if ids:
            self.lasso[k] = ids
        else:
            self.lasso.pop(k, None)
        self._refresh()

    def select_points(self, ids) -> None:
        """A box/lasso selection of these question ids (None clears it, as a double click does)."""
        self.lasso = {} if ids is None else {0: set(ids)}
        self._refresh()

    def set_filters(self, sources=None, splits=None, pass_rate=None, n_tests=None) -> None:
        """Set the filter controls (None leaves one as it is)."""
        if sources is not None:
            self.sources.value = tuple(sources)
        if splits is not None:
            self.splits.value = tuple(splits)
        if pass_rate is not None:
            self.pass_range.value = tuple(pass_rate)
        if n_tests is not None:
            self.test_range.value = tuple(n_tests)

    def static_view(self) -> list:
        """What a reader without a kernel sees: the scatter, and the most spread question's heatmap and view."""
        out = [distribution_figure(self.table)]
        if self.current is not None:
            out += [heatmap_figure(verdict_matrix(self.programs, self.current), self.current)]
        return out


def pair_html(pair, programs: pd.DataFrame) -> str:
    """One preference pair: chosen and rejected side by side as a line diff, each with its pass rate and verdict
    row (the first sample of the question with that program text)."""
    import difflib

    mine = programs[programs[QUESTION_ID] == pair[QUESTION_ID]]

    def verdict_row(code: str) -> str:
        hit = mine[mine["program"] == code]
        return "".join(MARK.get(v, "?") for v in hit.iloc[0]["verdicts"]) if len(hit) else "?"

    chosen, rejected = str(pair["chosen"]), str(pair["rejected"])
    table = difflib.HtmlDiff(wrapcolumn=70).make_table(chosen.splitlines(), rejected.splitlines(),
                                                       "chosen", "rejected", context=False)
    return (f"<div data-pair='{html.escape(str(pair[QUESTION_ID]))}'><p>chosen: pass rate "
            f"{pair['chosen_pass_rate']:.2f}, verdicts {verdict_row(chosen)} &nbsp; | &nbsp; rejected: pass rate "
            f"{pair['rejected_pass_rate']:.2f}, verdicts {verdict_row(rejected)}</p>{table}</div>")


class PairExplorer:
    """The pair view of notebook 05: live sliders for the pair rule's thresholds (top, margin, floor) with the
    pairs and questions each setting yields, and for one question its pairs, chosen vs rejected as a diff.

    ``make_pairs(programs, top=, margin=, floor=)`` is the phase's own rule (notebook 05 passes
    ``p05_build_pairs.build_pairs`` with its questions), so the counts are exactly what the phase would build."""

    def __init__(self, programs: pd.DataFrame, make_pairs, top: float = 0.8, margin: float = 0.4,
                 floor: float = 0.0):
        import ipywidgets as w

        self.programs, self.make_pairs = programs, make_pairs
        slider = dict(min=0.0, max=1.0, step=0.05, continuous_update=False)
        self.top = w.FloatSlider(value=top, description="top", **slider)
        self.margin = w.FloatSlider(value=margin, description="margin", **slider)
        self.floor = w.FloatSlider(value=floor, description="floor", **slider)
        for control in (self.top, self.margin, self.floor):
            control.observe(lambda _change: self._refresh(), names="value")
        self.count = w.HTML()
        self.question = w.Dropdown(options=[], description="question", layout=w.Layout(width="60%"))
        self.index = w.IntSlider(value=0, min=0, max=0, description="pair")
        self.question.observe(lambda _change: self._show(), names="value")
        self.index.observe(lambda _change: self._show(), names="value")
        self.view = w.HTML()
        self.widget = w.VBox([w.HBox([self.top, self.margin, self.floor]), self.count,
                              w.HBox([self.question, self.index]), self.view])
        self._refresh()

    def set_rule(self, top: float | None = None, margin: float | None = None, floor: float | None = None) -> None:
        """Move the sliders (None leaves one as it is)."""
        for control, value in ((self.top, top), (self.margin, margin), (self.floor, floor)):
            if value is not None:
                control.value = value

    def _refresh(self) -> None:
        self.pairs = self.make_pairs(self.programs, top=self.top.value, margin=self.margin.value,
                                     floor=self.floor.value)
        n_q = self.pairs[QUESTION_ID].nunique()
        self.count.value = (f"<b data-pairs='{len(self.pairs)}' data-questions='{n_q}'>{len(self.pairs)} pairs from "
                            f"{n_q} questions</b> (top {self.top.value:.2f}, margin {self.margin.value:.2f}, floor "
                            f"{self.floor.value:.2f})")
        counts = self.pairs[QUESTION_ID].value_counts()
        keep = self.question.value if self.question.value in counts.index else None
        self.question.options = [(f"{q}  ({c} pairs)", q) for q, c in counts.items()]
        if len(counts):
            self.question.value = keep or counts.index[0]
        self._show()

    def _show(self) -> None:
        mine = self.pairs[self.pairs[QUESTION_ID] == self.question.value]
        self.index.max = max(0, len(mine) - 1)
        if mine.empty:
            self.view.value = "<i>no pair under this rule</i>"
            return
        self.view.value = pair_html(mine.iloc[min(self.index.value, len(mine) - 1)], self.programs)

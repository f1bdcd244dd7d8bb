"""The explorer of notebook 04 in a real JupyterLab, driven by headless Chromium (Debian's, through Playwright; no
browser download).

The test copies ``notebooks/04_sample_programs.ipynb`` itself into a JupyterLab root, gives it a two-question
``03_questions`` artifact in a private runs folder, runs every cell from JupyterLab's Run menu (the notebook's own
smoke defaults: the embedded model samples 4 programs per question), then picks the other question in the
explorer's dropdown and checks that the view shows it. The linked views of ``acecoder_lib.explorer`` are checked on a
notebook of their own (a box selection, a heatmap click, a pair-rule slider), once live and once with each callback
disabled, where every check has to fail.
"""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

pytestmark = pytest.mark.browser

QUESTIONS = [("q-add", "Return the sum of the integers a and b.", "add", ["assert add(1, 2) == 3",
                                                                          "assert add(0, 0) == 0",
                                                                          "assert add(-1, 1) == 0"],
              "def add(a, b):\n    return a + b\n"),
             ("q-neg", "Return the negation of the integer x.", "neg", ["assert neg(1) == -1", "assert neg(0) == 0",
                                                                        "assert neg(-5) == 5"],
              "def neg(x):\n    return -x\n")]


def _write_questions(runs_dir):
    from acecoder_lib.core import io, schemas

    rows = [{"question_id": qid, "seed_id": qid, "source": "starter", "method": "grounded", "question": text,
             "tests": tests, "entry_point": entry, "oracle": "reference", "n_tests_synthesized": len(tests),
             "n_tests": len(tests), "reference": ref, "reference_chars": len(ref), "split": "train"}
            for qid, text, entry, tests, ref in QUESTIONS]
    old = os.environ.get("ACECODER_RUNS_DIR")
    os.environ["ACECODER_RUNS_DIR"] = str(runs_dir)
    try:
        io.write_artifact("smoke", schemas.FILTERED, pd.DataFrame(rows))
    finally:
        if old is None:
            del os.environ["ACECODER_RUNS_DIR"]
        else:
            os.environ["ACECODER_RUNS_DIR"] = old


@pytest.fixture()
def lab(tmp_path):
    from acecoder_lib.core import lab as jlab
    from acecoder_lib.core import paths

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(paths.NOTEBOOKS_DIR / "04_sample_programs.ipynb", root / "04_sample_programs.ipynb")
    _write_questions(tmp_path / "runs")
    with jlab.serve(root, env={"ACECODER_RUNS_DIR": str(tmp_path / "runs")}) as base:
        yield jlab.notebook_url(base, "04_sample_programs.ipynb")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_selecting_a_question_in_notebook_04_changes_the_view(lab):
    playwright = pytest.importorskip("playwright.sync_api")
    from acecoder_lib.core import lab as jlab

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab)
            jlab.run_all_cells(page, ".jp-OutputArea-output select")
            dropdown = page.query_selector(".jp-OutputArea-output select")
            assert dropdown is not None, "the explorer widget never rendered"
            # the explorer's own view: the HTML widget next to the dropdown (tqdm's bars are HTML widgets too)
            view = page.locator(".jp-OutputArea-output:has(select)").first.locator(".widget-html-content").last
            js_view = ("document.querySelector('.jp-OutputArea-output select')?.closest('.jp-OutputArea-output')"
                       "?.querySelectorAll('.widget-html-content')")
            texts = [text for _, text, *_ in QUESTIONS]
            page.wait_for_function(f"() => {texts!r}.some(t => Array.from({js_view} || [])"
                                   f".some(e => e.innerText.includes(t)))", timeout=60_000)
            shown = next(t for t in texts if t in view.inner_text())
            wanted = next(t for t in texts if t != shown)
            other = dropdown.evaluate("s => Array.from(s.options).map(o => o.value).find(v => v !== s.value)")
            dropdown.select_option(value=other)
            page.wait_for_function(f"() => Array.from({js_view} || []).some(e => e.innerText.includes({wanted!r}))",
                                   timeout=60_000)
            assert shown not in view.inner_text()
        finally:
            browser.close()


# --- the linked views of issue 16: scatter selection, heatmap click, pair-rule slider ----------------------------
# Six questions of four tests and four samples: three with a low mean pass rate and three with a high one, so a box
# over the left half of the scatter selects exactly the low three. Every program text is distinct.
PASSES = {"q-low-a": [0, 1, 2, 1], "q-low-b": [0, 0, 2, 2], "q-low-c": [1, 1, 1, 2],
          "q-high-d": [4, 3, 4, 2], "q-high-e": [4, 4, 1, 4], "q-high-f": [4, 4, 4, 3]}


def _views_data():
    questions = pd.DataFrame({"question_id": list(PASSES), "question": [f"Question {q}." for q in PASSES],
                              "source": ["starter", "codeio"] * 3, "method": "grounded", "split": "train",
                              "tests": [[f"assert f({k}) == {k}" for k in range(4)] for _ in PASSES]})
    rows = [{"question_id": q, "sample": s, "program": f"def f(x):\n    return x  # {q} sample {s}",
             "extraction": "ok", "verdicts": ["pass"] * n + ["fail"] * (4 - n), "pass_rate": n / 4,
             "first_error": "AssertionError" if n < 4 else ""}
            for q, counts in PASSES.items() for s, n in enumerate(counts)]
    return questions, pd.DataFrame(rows)


def _views_notebook(path, live: bool):
    import nbformat

    cells = ["import pandas as pd\nfrom acecoder_lib import explorer\nfrom acecoder_lib.phases import p05_build_pairs"
             " as pairs\nquestions, programs = pd.read_pickle('questions.pkl'), pd.read_pickle('programs.pkl')"]
    if not live:  # the check of each view must fail when the callback behind it does nothing
        cells.append("explorer.PassRateExplorer._on_selection = lambda *args: None\n"
                     "explorer.PassRateExplorer._on_heatmap_click = lambda *args: None")
    cells.append("view = explorer.PassRateExplorer(questions, programs)\nview.widget")
    cells.append("pair_view = explorer.PairExplorer(programs, lambda progs, **rule: pairs.build_pairs(progs, questions,"
                 " **rule))\n" + ("" if live else "pair_view._refresh = lambda: None\n") + "pair_view.widget")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(params=["live", "disabled"])
def views_lab(tmp_path, request):
    root = tmp_path / "lab"
    root.mkdir()
    questions, programs = _views_data()
    questions.to_pickle(root / "questions.pkl")
    programs.to_pickle(root / "programs.pkl")
    _views_notebook(root / "views.ipynb", live=request.param == "live")
    from acecoder_lib.core import lab as jlab

    with jlab.serve(root, env={"ACECODER_RUNS_DIR": str(tmp_path / "runs")}) as base:
        yield jlab.notebook_url(base, "views.ipynb"), request.param == "live", programs, questions


def _holds(page, playwright, condition: str, live: bool, timeout_ms: int = 60_000) -> bool:
    """Whether the JS ``condition`` comes true (within ``timeout_ms`` when the callbacks are live, 10 s when not)."""
    try:
        page.wait_for_function(condition, timeout=timeout_ms if live else 10_000)
        return True
    except playwright.TimeoutError:
        return False


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_linked_views_follow_a_box_selection_a_heatmap_click_and_a_pair_slider(views_lab):
    playwright = pytest.importorskip("playwright.sync_api")
    from acecoder_lib import explorer
    from acecoder_lib.core import lab as jlab
    from acecoder_lib.phases import p05_build_pairs

    url, live, programs, questions = views_lab
    table = explorer.question_table(questions, programs)
    low = set(table.loc[table["mean_pass_rate"] < 0.5, "question_id"])
    assert len(low) == 3
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.goto(url)
            jlab.run_all_cells(page, "[data-pairs]", timeout_ms=240_000)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=60_000)
            assert page.locator(f"[data-count='{len(table)}']").count() == 1, "the explorer did not render"

            # 1. a box over the left half of the scatter: the question list keeps the three low questions
            box = page.locator(".js-plotly-plot").nth(0).locator(".nsewdrag").first.bounding_box()
            jlab.drag(page, (box["x"] + 3, box["y"] + 3), (box["x"] + box["width"] / 2, box["y"] + box["height"] - 3))
            followed = _holds(page, playwright, f"() => document.querySelector(\"[data-count='{len(low)}']\")", live)
            assert followed == live, f"the question list {'did not follow' if live else 'followed'} the box"
            if live:
                listed = page.locator(".jp-OutputArea-output select:not([multiple])").first.evaluate(
                    "s => Array.from(s.options).map(o => o.text.trim().split(/\\s+/)[0])")  # 'id  (mean, spread)'
                assert set(listed) == low

            # 2. a click on cell (sample 2, test 1) of the heatmap: the code panel shows that program
            shown = page.locator("[data-question]").first.get_attribute("data-question")
            page.locator(".js-plotly-plot").nth(2).scroll_into_view_if_needed()
            cells = page.locator(".js-plotly-plot").nth(2).locator(".nsewdrag").first.bounding_box()
            page.mouse.click(cells["x"] + cells["width"] * 1.5 / 4, cells["y"] + cells["height"] * 2.5 / 4)
            marker = f"{shown}:2:1"
            clicked = _holds(page, playwright, f"() => document.querySelector(\"[data-cell='{marker}']\")", live)
            assert clicked == live, f"the code panel {'did not show' if live else 'showed'} the clicked cell"
            if live:
                panel = page.locator(f"[data-cell='{marker}']").inner_text()
                assert f"{shown} sample 2" in panel and "assert f(1) == 1" in panel

            # 3. drag the pair rule's margin slider to the left: the count is what build_pairs gives at its value
            before = int(page.locator("[data-pairs]").first.get_attribute("data-pairs"))
            slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="margin")).first
            slider.scroll_into_view_if_needed()
            handle = slider.locator(".noUi-handle").first.bounding_box()
            track = slider.locator(".noUi-target").first.bounding_box()
            middle = handle["y"] + handle["height"] / 2
            jlab.drag(page, (handle["x"] + handle["width"] / 2, middle), (track["x"] + track["width"] * 0.1, middle))
            margin = float(slider.locator(".widget-readout").first.inner_text())
            assert margin < 0.4, f"the drag did not move the margin slider (still {margin})"
            expected = len(p05_build_pairs.build_pairs(programs, questions, top=0.8, margin=margin, floor=0.0))
            assert expected != before  # the fixture is built so that a lower margin admits more pairs
            counted = _holds(page, playwright, f"() => document.querySelector(\"[data-pairs='{expected}']\")", live)
            assert counted == live, f"the pair count {'did not follow' if live else 'followed'} the slider"
        finally:
            browser.close()

"""How responsive the pass-rate explorer stays as a run grows (issue 16 item 5; prints figures, not a test).

    .venv/bin/python benchmarks/bench_explorer.py                    # 1,000 and 10,000 questions
    .venv/bin/python benchmarks/bench_explorer.py --sizes 1000 10000 50000 --no-browser

Synthetic runs of N questions x 8 programs x 10 tests (pass rates drawn per question, two sources, a tenth
held out). For each N it prints, in seconds:

- ``table``: ``question_table`` (the per-question mean and spread every view filters);
- ``build``: constructing ``PassRateExplorer`` (widgets, the scatter and histograms, the first question view);
- ``select``: one box selection of a quarter of the questions (``select_points``: the opacity of every drawn point,
  the histograms and the question list recomputed), and ``filter``: one pass-rate filter change;
- ``question``: showing one question (its flagged tests and heatmap);
- ``scatter KB``: the scatter's JSON (what travels to the browser), and ``browser``: headless Chromium (Debian's,
  through Playwright) drawing that scatter afresh (``Plotly.newPlot`` on a static page, timed in the page); above
  ``explorer.MAX_POINTS`` questions the scatter draws a seeded sample of that many.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from acecoder_lib import explorer  # noqa: E402

N_PROGRAMS, N_TESTS = 8, 10


def synthetic_run(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` questions (03_questions columns the explorer reads) and their 04_programs rows."""
    rng = np.random.default_rng(seed)
    ids = [f"q{k:06d}" for k in range(n)]
    questions = pd.DataFrame({"question_id": ids, "question": [f"Question {k}." for k in range(n)],
                              "source": rng.choice(["starter", "codeio"], n), "method": "grounded",
                              "split": np.where(rng.random(n) < 0.1, "heldout", "train"),
                              "tests": [[f"assert f({t}) == {t}" for t in range(N_TESTS)]] * n})
    p = rng.beta(0.6, 0.6, n)  # per-question solve probability: most near 0 or 1, as in real runs
    passed = rng.random((n, N_PROGRAMS, N_TESTS)) < p[:, None, None]
    verdicts = np.where(passed, "pass", "fail")
    programs = pd.DataFrame({
        "question_id": np.repeat(ids, N_PROGRAMS), "sample": np.tile(np.arange(N_PROGRAMS), n),
        "program": [f"def f(x):\n    return x  # {k}" for k in range(n * N_PROGRAMS)], "extraction": "ok",
        "verdicts": list(verdicts.reshape(n * N_PROGRAMS, N_TESTS).tolist()),
        "pass_rate": passed.mean(axis=2).reshape(-1), "first_error": ""})
    return questions, programs


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def browser_seconds(fig, workdir: Path) -> float | None:
    """Chromium's time from page load to the scatter's first ``plotly_afterplot`` (None without a browser)."""
    if shutil.which("chromium") is None:
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    page_file = workdir / "scatter.html"
    fig.write_html(page_file, include_plotlyjs=True, div_id="scatter")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.wait_for_selector("#scatter .nsewdrag", timeout=120_000)
            # a fresh draw of the same figure, timed inside the page (what opening the notebook costs per view)
            ms = page.evaluate("async () => { const el = document.getElementById('scatter'); const t = "
                               "performance.now(); await Plotly.newPlot(el, el.data, el.layout); "
                               "return performance.now() - t; }")
        finally:
            browser.close()
    return ms / 1000


def measure(n: int, workdir: Path, browser: bool) -> str:
    """One row of the table for a synthetic run of ``n`` questions."""
    questions, programs = synthetic_run(n)
    table, t_table = _timed(lambda: explorer.question_table(questions, programs))
    view, t_build = _timed(lambda: explorer.PassRateExplorer(questions, programs))
    quarter = table["question_id"].sample(frac=0.25, random_state=1)
    _, t_select = _timed(lambda: view.select_points(quarter))
    _, t_filter = _timed(lambda: view.set_filters(pass_rate=(0.2, 0.8)))
    _, t_question = _timed(lambda: view.show_question(table["question_id"].iloc[0]))
    fig = explorer.distribution_figure(table)
    drawn = sum(len(t.x) for t in fig.data)
    kb = len(fig.to_json()) / 1024
    seconds = browser_seconds(fig, workdir) if browser else None
    shown = "-" if seconds is None else f"{seconds:.2f}"
    return (f"{n:>9} {t_table:>7.2f} {t_build:>7.2f} {t_select:>7.2f} {t_filter:>7.2f} {t_question:>8.2f} "
            f"{drawn:>6} {kb:>10.0f} {shown:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(f"{'questions':>9} {'table':>7} {'build':>7} {'select':>7} {'filter':>7} {'question':>8} "
          f"{'drawn':>6} {'scatter KB':>10} {'browser':>8}")
    explorer.PassRateExplorer(*synthetic_run(10))  # imports plotly and ipywidgets once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            print(measure(n, Path(tmp), not args.no_browser), flush=True)


if __name__ == "__main__":
    main()

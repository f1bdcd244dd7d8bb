"""The explorer of notebook 04 in a real JupyterLab, driven by headless Chromium (Debian's, through Playwright; no
browser download).

The test copies ``notebooks/04_sample_programs.ipynb`` itself into a JupyterLab root, gives it a two-question
``03_questions`` artifact in a private runs folder, runs every cell from JupyterLab's Run menu (the notebook's own
smoke defaults: the embedded model samples 4 programs per question), then picks the other question in the
explorer's dropdown and checks that the view shows it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lab(tmp_path):
    from acecoder_lib.core import paths

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(paths.NOTEBOOKS_DIR / "04_sample_programs.ipynb", root / "04_sample_programs.ipynb")
    _write_questions(tmp_path / "runs")
    port, token = _free_port(), "acecoder-test-token"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), ACECODER_RUNS_DIR=str(tmp_path / "runs"))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start within 60 s")
    yield f"http://127.0.0.1:{port}/lab/tree/04_sample_programs.ipynb?token={token}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_selecting_a_question_in_notebook_04_changes_the_view(lab):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # a run started before the kernel is connected is dropped: wait for the status bar's "Idle" first, and
            # start again if nothing ran (re-running the notebook is harmless: its sampling is cached)
            page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=90_000)
            dropdown = None
            for _ in range(3):
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:
                    dropdown = page.wait_for_selector(".jp-OutputArea-output select", timeout=300_000)
                    break
                except playwright.TimeoutError:
                    continue
            assert dropdown is not None, "the explorer widget never rendered"
            # the explorer's own view: the HTML widget next to the dropdown (tqdm's bars are HTML widgets too)
            view = page.locator(".jp-OutputArea-output:has(select) .widget-html-content").last
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

"""The explorer widget in a real JupyterLab, driven by headless Chromium (Debian's, through Playwright; no download).

A small notebook builds a question table and programs in the shape of phase 04's artifacts and displays
``explorer.Explorer``; the test runs it in JupyterLab, picks another question in the dropdown and checks that the
view shows that question.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import nbformat
import pytest

pytestmark = pytest.mark.browser

CELL = '''
import pandas as pd
from acecoder_lib import explorer
questions = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Add a and b.", "Negate x, please."],
                          "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 0"], ["assert neg(1) == -1"]]})
programs = pd.DataFrame({"question_id": ["q1", "q1", "q2"], "sample": [0, 1, 0],
                         "program": ["def add(a, b):\\n    return a + b", "def add(a, b):\\n    return a", "x = 1"],
                         "extraction": ["ok", "ok", "ok"], "verdicts": [["pass", "pass"], ["fail", "pass"], ["error"]],
                         "pass_rate": [1.0, 0.5, 0.0]})
view = explorer.Explorer(questions, programs)
view.widget
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lab(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL.strip())]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "explorer.ipynb")
    port, token = _free_port(), "acecoder-test-token"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}", "--ServerApp.open_browser=False"]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
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
    yield f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_selecting_a_question_changes_the_view(lab):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # a cell run before the kernel is connected is dropped: wait for the status bar's "Idle", then run,
            # and run again if no output came (re-running the cell is harmless)
            page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=90_000)
            dropdown = None
            for _ in range(4):
                page.click(".jp-Notebook .jp-Cell .jp-InputArea-editor >> nth=0")
                page.keyboard.press("Shift+Enter")
                try:
                    dropdown = page.wait_for_selector(".jp-OutputArea-output select", timeout=20_000)
                    break
                except playwright.TimeoutError:
                    continue
            assert dropdown is not None, "the explorer widget never rendered"
            view = page.locator(".jp-OutputArea-output .widget-html-content")
            page.wait_for_function("() => document.querySelector('.widget-html-content')?.innerText.includes('q1')",
                                   timeout=30_000)
            assert "Add a and b." in view.inner_text()
            dropdown.select_option(value=dropdown.evaluate("s => s.options[1].value"))
            page.wait_for_function(
                "() => document.querySelector('.widget-html-content')?.innerText.includes('Negate x, please.')",
                timeout=30_000)
            assert "Add a and b." not in view.inner_text()
        finally:
            browser.close()

"""Publishing a run's executed notebooks as Markdown pages (core/publish.py)."""
import base64
import json

import plotly.graph_objects as go
import pytest

from acecoder_lib.core import publish
from acecoder_lib.core.plotting import _browser

PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def _notebook():
    figure = json.loads(go.Figure(go.Bar(x=[1, 2], y=[3, 4])).to_json())
    return {"metadata": {"papermill": {"duration": 12.4}}, "cells": [
        {"cell_type": "markdown", "source": ["# 04 · Sample\n", "Some prose."], "metadata": {}},
        {"cell_type": "code", "source": "N = 4", "metadata": {"tags": ["injected-parameters"]}, "outputs": []},
        {"cell_type": "code", "source": "print('x')", "metadata": {}, "outputs": [
            {"output_type": "stream", "name": "stdout", "text": [f"line {i}\n" for i in range(100)]},
            {"output_type": "display_data", "data": {publish.WIDGET: {"model_id": "m"}, "text/plain": ["0%|"]}},
            {"output_type": "display_data", "data": {"image/png": PNG_1PX, "text/plain": "<Figure>"}},
            {"output_type": "execute_result", "data": {"text/html": "<table><tr><td>7</td></tr></table>",
                                                       "text/plain": "7"}},
        ]},
        {"cell_type": "code", "source": "fig", "metadata": {}, "outputs": [
            {"output_type": "display_data", "data": {publish.PLOTLY: figure}}]},
    ]}


def test_page_keeps_prose_code_tables_and_figures(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    page = publish.notebook_markdown(_notebook(), "04_sample", figures)
    assert page.startswith("# 04 · Sample\nSome prose.")
    assert "*Parameters (parameters this run used):*" in page and "```python\nN = 4\n```" in page
    assert "line 0\n" in page and "line 99" in page and "line 50" not in page and "(60 lines left out)" in page
    assert "0%|" not in page, "progress bars are left out"
    assert "<table><tr><td>7</td></tr></table>" in page
    assert (figures / "04_sample-02-2.png").read_bytes() == base64.b64decode(PNG_1PX)
    if _browser() is None:  # the plotly figure says why it has no picture
        assert "*(figure not rendered: no Chromium" in page
    else:
        target = figures / "04_sample-03-0.png"
        assert "![figure](figures/04_sample-03-0.png)" in page
        assert target.read_bytes()[:8] == bytes.fromhex("89504e470d0a1a0a")


def test_publish_run_writes_pages_and_index(tmp_path, monkeypatch):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path / "runs"))
    executed = tmp_path / "runs" / "r1" / "notebooks"
    executed.mkdir(parents=True)
    (executed / "04_sample.ipynb").write_text(json.dumps(_notebook()))
    (tmp_path / "runs" / "r1" / "10_metrics.json").write_text(json.dumps(
        {"wall_seconds": 100, "pairs": 9, "rm_heldout_sampled": {"n": 4, "accuracy": 0.75, "ci_low": 0.25,
                                                                  "ci_high": 1.0}}))
    out = tmp_path / "docs"
    (out / "stale.md").parent.mkdir(parents=True)
    (out / "stale.md").write_text("old")
    assert publish.publish_run("r1", out, log=lambda *_: None) == out
    assert not (out / "stale.md").exists(), "the folder is rewritten whole"
    index = (out / "index.md").read_text()
    assert "| [04_sample](04_sample.md) | 12 s |" in index
    assert "4 held-out sampled pairs: 75.0% [25.0%, 100.0%]" in index
    assert (out / "04_sample.md").read_text().startswith("# 04 · Sample")


def test_publish_run_without_executed_notebooks_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="run the chain first"):
        publish.publish_run("empty", tmp_path / "out")

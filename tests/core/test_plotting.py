"""save_figure writes an offline HTML figure under the run and a PNG where Chromium exists."""
from __future__ import annotations

import shutil

import plotly.graph_objects as go
import pytest

from acecoder_lib.core import plotting


@pytest.fixture
def fig():
    return go.Figure(go.Bar(x=["a", "b"], y=[1, 3]), layout={"title": "test"})


def test_html_is_written_under_the_run_with_local_plotly(tmp_path, monkeypatch, fig):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    out = plotting.save_figure(fig, "r1", "04_bars", png=False)
    assert out["html"] == tmp_path / "r1" / "figures" / "04_bars.html"
    assert (tmp_path / "r1" / "figures" / "plotly.min.js").exists()  # opens offline
    assert "plotly.min.js" in out["html"].read_text()


def test_name_must_carry_notebook_number(tmp_path, monkeypatch, fig):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="notebook number"):
        plotting.save_figure(fig, "r1", "bars")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_png_export_with_chromium(tmp_path, monkeypatch, fig):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    out = plotting.save_figure(fig, "r1", "04_bars")
    assert "png" in out, out.get("png_skipped")
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

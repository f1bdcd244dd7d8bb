"""The reproduction report (phase 10): sections from artifacts, missing phases named, one offline HTML file."""
from __future__ import annotations

import json

import pandas as pd

from acecoder_lib.core import io, schemas
from acecoder_lib.phases import p10_report as report


def test_a_partial_run_reports_what_it_has_and_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    results = pd.DataFrame({"benchmark": ["humaneval"] * 3, "strategy": ["greedy", "oracle", "oracle"], "n": [1, 1, 4],
                            "questions": [10, 10, 10], "accuracy": [0.1, 0.1, 0.3], "ci_low": [0.0, 0.0, 0.1],
                            "ci_high": [0.3, 0.3, 0.6]})
    io.write_artifact("r", schemas.BON_RESULTS, results)
    sections = report.gather("r")
    by = {s.title: s for s in sections}
    assert by["Best-of-N (Table 2)"].available
    assert not by["Reward model (phase 06)"].available and "06_rm_pair_scores" in by["Reward model (phase 06)"].note
    t2 = dict(by["Best-of-N (Table 2)"].tables)["this run (accuracy %)"]
    assert t2.loc["oracle@4", "humaneval"] == 30.0 and t2.loc["greedy", "humaneval"] == 10.0
    path = report.write_html(sections, tmp_path / "r" / "10_report.html", "t")
    text = path.read_text()
    assert text.count("<h2>") == len(sections) and "not in this run" in text and "plotly" in text.lower()
    frame = report.report_frame(sections)
    assert list(frame.columns) == schemas.REPORT.column_names
    assert json.loads(frame.set_index("section").loc["Best-of-N (Table 2)", "metrics"])["table2"]

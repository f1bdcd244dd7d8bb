"""Timing spans: exclusive time per category, the file the batch runner reads, refusal of unknown categories."""
from __future__ import annotations

import json
import time

import pytest

from acecoder_lib.core import timing


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(timing.ENV, raising=False)
    timing.reset()
    yield
    timing.reset()


def test_nested_spans_count_exclusive_time():
    with timing.span("training"):
        time.sleep(0.05)
        with timing.span("execution"):
            time.sleep(0.1)
    t = timing.totals()
    assert 0.1 <= t["execution"] < 0.14
    assert 0.05 <= t["training"] < 0.09  # the nested execution is not counted twice
    assert t["generation"] == 0.0


def test_totals_go_to_the_file_named_by_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "nb.timing.json"
    monkeypatch.setenv(timing.ENV, str(target))

    @timing.timed("io")
    def work():
        time.sleep(0.02)
        return 7

    assert work() == 7
    data = json.loads(target.read_text())
    assert data["calls"]["io"] == 1 and data["seconds"]["io"] >= 0.02
    assert timing.read_profile(target)["io"] == data["seconds"]["io"]
    assert timing.read_profile(tmp_path / "missing.json") == {}


def test_a_span_that_raises_is_still_counted_and_unknown_categories_are_refused():
    with pytest.raises(ZeroDivisionError):
        with timing.span("scoring"):
            raise ZeroDivisionError("inside the span")
    assert timing.totals()["scoring"] > 0.0
    with pytest.raises(ValueError, match="unknown timing category"):
        with timing.span("thinking"):
            pass

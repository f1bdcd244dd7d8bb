"""Artifacts: atomic writes, schema validation on write and read, and errors that name file and column."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from acecoder_lib.core import io
from acecoder_lib.core.schemas import Column, Schema

TABLE = Schema("99_table", 1, (Column("question_id", "str"), Column("tests", "list[str]"), Column("score", "float"),
                               Column("note", "str", nullable=True)))


def _df():
    return pd.DataFrame({"question_id": ["q1", "q2"], "tests": [["assert f(1) == 1"], []], "score": [0.5, 1.0],
                         "note": ["x", None]})


def test_roundtrip_keeps_lists_and_writes_meta(tmp_path):
    path = io.write_artifact(tmp_path, TABLE, _df(), params={"N": 3}, inputs=["01_seeds"])
    assert path == tmp_path / "99_table.parquet"
    back = io.read_artifact(tmp_path, TABLE)
    assert back["tests"].tolist() == [["assert f(1) == 1"], []]
    assert isinstance(back["tests"][0], list)
    meta = io.read_meta(tmp_path, TABLE)
    assert meta["rows"] == 2 and meta["params"] == {"N": 3} and meta["inputs"] == ["01_seeds"]
    assert meta["schema_version"] == 1 and meta["columns"]["tests"] == "list[str]"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_write_refuses_wrong_type_naming_column_and_row(tmp_path):
    bad = _df().assign(score=[0.5, "high"])
    with pytest.raises(io.ArtifactError,
                       match=r"column 'score' row 1 holds str 'high'; schema '99_table' expects float"):
        io.write_artifact(tmp_path, TABLE, bad)
    assert not (tmp_path / "99_table.parquet").exists()


def test_write_refuses_missing_column_and_null(tmp_path):
    with pytest.raises(io.ArtifactError, match=r"missing column\(s\) \['score'\]"):
        io.write_artifact(tmp_path, TABLE, _df().drop(columns=["score"]))
    nulls = _df()
    nulls.loc[0, "question_id"] = None
    with pytest.raises(io.ArtifactError, match="column 'question_id' row 0 is null"):
        io.write_artifact(tmp_path, TABLE, nulls)


def test_read_detects_half_written_or_edited_file(tmp_path):
    io.write_artifact(tmp_path, TABLE, _df())
    parquet = tmp_path / "99_table.parquet"
    parquet.write_bytes(parquet.read_bytes()[:-10])
    with pytest.raises(io.ArtifactError, match="does not match the hash"):
        io.read_artifact(tmp_path, TABLE)


def test_read_missing_and_version_mismatch_say_what_to_do(tmp_path):
    with pytest.raises(io.ArtifactError,
                       match=r"does not exist: run the notebook that writes 99_table \(notebooks/99_\*"):
        io.read_artifact(tmp_path, TABLE)
    io.write_artifact(tmp_path, TABLE, _df())
    newer = Schema("99_table", 2, TABLE.columns)
    with pytest.raises(io.ArtifactError, match="schema '99_table' v1, this library expects v2"):
        io.read_artifact(tmp_path, newer)


def test_failed_write_keeps_previous_artifact(tmp_path, monkeypatch):
    io.write_artifact(tmp_path, TABLE, _df())
    before = (tmp_path / "99_table.parquet").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        io.write_artifact(tmp_path, TABLE, _df().iloc[:1])
    assert (tmp_path / "99_table.parquet").read_bytes() == before
    assert len(io.read_artifact(tmp_path, TABLE)) == 2


def test_write_json_handles_numpy_and_nan(tmp_path):
    import numpy as np

    io.write_json(tmp_path / "m.json", {"a": np.int64(3), "b": float("nan"), "c": np.array([1.5])})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 3, "b": None, "c": [1.5]}

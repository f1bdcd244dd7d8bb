"""Artifact files: the only way phases read and write data.

Each phase writes ``runs/<RUN_NAME>/NN_<name>.parquet`` plus ``NN_<name>.meta.json`` (schema name and version,
row count, parameters, inputs, git revision, sha256 of the parquet bytes). Writes are atomic: both files are
written to temporary names and renamed into place, parquet first, meta last, and the meta records the parquet's
hash, so a run killed mid-write leaves either the old artifact or a detectably incomplete one, never a silently
half-written table. Reading validates the schema and fails with a message naming the file, the column and what
was expected.

    from acecoder_lib.core import io, schemas
    io.write_artifact("smoke", schemas.ENVIRONMENT, df, params={...}, inputs=[])
    df = io.read_artifact("smoke", schemas.ENVIRONMENT)
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import subprocess
import tempfile
from io import BytesIO  # the standard library's io (this module is acecoder_lib.core.io)
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..core import paths, timing
from ..core.schemas import SCHEMAS, Schema


class ArtifactError(RuntimeError):
    """An artifact is missing, incomplete or does not match its schema."""


def _run_path(run: str | Path) -> Path:
    """Accept a run name (``runs/<name>``) or an explicit folder."""
    if isinstance(run, Path) or os.sep in str(run):
        path = Path(run)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return paths.run_dir(str(run))


def artifact_paths(run: str | Path, name: str) -> tuple[Path, Path]:
    """(parquet path, meta path) of artifact ``name`` in ``run``."""
    base = _run_path(run)
    return base / f"{name}.parquet", base / f"{name}.meta.json"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN becomes null)."""
    _atomic_write_bytes(Path(path), json.dumps(_jsonable(obj), indent=2, sort_keys=True).encode() + b"\n")


def read_json(path: Path) -> Any:
    """Read a JSON file, with an error that names the file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); delete it and rerun the phase that writes it") from None


def _jsonable(obj: Any) -> Any:
    """Make numpy/pandas/Path values JSON-serialisable."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def git_revision() -> str:
    """The repo's current commit (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---------------------------------------------------------------- validation

def _check_value(value: Any, dtype: str) -> bool:
    if dtype == "str" or dtype == "json":
        return isinstance(value, str)
    if dtype == "int":
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if dtype == "float":
        return isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool)
    if dtype == "bool":
        return isinstance(value, (bool, np.bool_))
    if dtype.startswith("list[") and dtype.endswith("]"):
        inner = dtype[5:-1]
        return isinstance(value, (list, tuple, np.ndarray)) and all(_check_value(v, inner) for v in value)
    raise ValueError(f"unknown dtype {dtype!r} in a schema")


def validate(df: pd.DataFrame, schema: Schema, where: str) -> None:
    """Raise ArtifactError naming ``where``, the column and the expectation when ``df`` does not fit ``schema``."""
    if not isinstance(df, pd.DataFrame):
        raise ArtifactError(f"{where}: expected a pandas DataFrame for schema {schema.name!r}, got {type(df).__name__}")
    missing = [c.name for c in schema.columns if c.name not in df.columns]
    if missing:
        raise ArtifactError(f"{where}: missing column(s) {missing} required by schema {schema.name!r} "
                            f"v{schema.version}; present: {list(df.columns)}")
    for col in schema.columns:
        series = df[col.name]
        for i, value in enumerate(series.tolist()):
            if value is None or (isinstance(value, float) and math.isnan(value) and col.dtype != "float"):
                if not col.nullable:
                    raise ArtifactError(f"{where}: column {col.name!r} row {i} is null; schema {schema.name!r} "
                                        f"expects {col.dtype} with no nulls")
                continue
            if not _check_value(value, col.dtype):
                raise ArtifactError(f"{where}: column {col.name!r} row {i} holds {type(value).__name__} "
                                    f"{_short(value)}; schema {schema.name!r} expects {col.dtype}")


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _as_python_lists(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """pyarrow reads list columns back as numpy arrays; give callers plain lists, as they wrote them."""
    for col in schema.columns:
        if col.dtype.startswith("list[") and col.name in df.columns:
            df[col.name] = [list(v) if v is not None else None for v in df[col.name]]
    return df


# ---------------------------------------------------------------- artifacts

@timing.timed("io")
def write_artifact(run: str | Path, schema: Schema, df: pd.DataFrame, params: dict | None = None,
                   inputs: Iterable[str] = (), extra: dict | None = None) -> Path:
    """Validate ``df`` against ``schema`` and write it atomically as ``<run>/<schema.name>.parquet`` + meta."""
    parquet_path, meta_path = artifact_paths(run, schema.name)
    validate(df, schema, where=f"writing {parquet_path}")
    table = df.reset_index(drop=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{parquet_path.name}.", suffix=".tmp", dir=parquet_path.parent)
    os.close(fd)
    try:
        table.to_parquet(tmp, index=False)
        data = Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    meta = {
        "artifact": schema.name,
        "schema_version": schema.version,
        "columns": {c.name: c.dtype for c in schema.columns},
        "rows": int(len(table)),
        "sha256": hashlib.sha256(data).hexdigest(),
        "params": params or {},
        "inputs": list(inputs),
        "git_revision": git_revision(),
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        meta["extra"] = extra
    _atomic_write_bytes(parquet_path, data)
    write_json(meta_path, meta)
    return parquet_path


def read_meta(run: str | Path, name: str | Schema) -> dict:
    """The meta.json of an artifact."""
    name = name.name if isinstance(name, Schema) else name
    return read_json(artifact_paths(run, name)[1])


def artifact_exists(run: str | Path, name: str | Schema) -> bool:
    """True when both the parquet and its meta exist."""
    name = name.name if isinstance(name, Schema) else name
    return all(p.exists() for p in artifact_paths(run, name))


@timing.timed("io")
def read_artifact(run: str | Path, schema: Schema | str) -> pd.DataFrame:
    """Read and validate an artifact; errors say which file, which column and what to rerun."""
    if isinstance(schema, str):
        if schema not in SCHEMAS:
            raise ArtifactError(f"no schema named {schema!r}; known: {sorted(SCHEMAS)}")
        schema = SCHEMAS[schema]
    parquet_path, meta_path = artifact_paths(run, schema.name)
    hint = f"run the notebook that writes {schema.name} (notebooks/{schema.name.split('_')[0]}_*.ipynb) for this run"
    if not parquet_path.exists():
        raise ArtifactError(f"{parquet_path} does not exist: {hint}")
    if not meta_path.exists():
        raise ArtifactError(f"{meta_path} is missing, so {parquet_path.name} may be incomplete: {hint}")
    meta = read_json(meta_path)
    data = parquet_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise ArtifactError(f"{parquet_path} does not match the hash in {meta_path.name} (an interrupted write, or "
                            f"the file was edited by hand): {hint}")
    if meta.get("schema_version") != schema.version:
        raise ArtifactError(f"{parquet_path} was written with schema {schema.name!r} v{meta.get('schema_version')}, "
                            f"this library expects v{schema.version}: {hint}")
    df = _as_python_lists(pd.read_parquet(BytesIO(data)), schema)
    validate(df, schema, where=f"reading {parquet_path}")
    return df

"""Where things live. Every path in the workbench is resolved here, never from the working directory.

papermill runs a notebook in the caller's directory and nbval starts the kernel in the notebook's folder,
so nothing may depend on ``os.getcwd()``. The repo root is found from this file's location.

Environment overrides:
    ACECODER_RUNS_DIR   where ``runs/<RUN_NAME>/`` live (default: ``<repo>/runs``)
    ACECODER_CACHE_DIR  the model/data cache outside the git tree (default: ``~/.cache/acecoder``)
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent.parent  # acecoder_lib/core/paths.py -> repo
NOTEBOOKS_DIR: Path = REPO_ROOT / "notebooks"
PARAMS_DIR: Path = NOTEBOOKS_DIR / "params"
FIGURES_DIR: Path = REPO_ROOT / "figures"

_RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def runs_root() -> Path:
    """The folder holding every run (``ACECODER_RUNS_DIR`` or ``<repo>/runs``)."""
    return Path(os.environ.get("ACECODER_RUNS_DIR", REPO_ROOT / "runs")).resolve()


def check_run_name(run_name: str) -> str:
    """Return ``run_name`` if it is a safe folder name, else raise ValueError saying what is allowed."""
    if not isinstance(run_name, str) or not _RUN_NAME_RE.match(run_name):
        raise ValueError(
            f"RUN_NAME {run_name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it becomes a folder under runs/)."
        )
    return run_name


def run_dir(run_name: str, create: bool = True) -> Path:
    """``runs/<run_name>/``, created on demand."""
    path = runs_root() / check_run_name(run_name)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str, create: bool = True) -> Path:
    """A folder in the workbench cache (outside git): models, prompt caches, downloaded data."""
    base = Path(os.environ.get("ACECODER_CACHE_DIR", Path.home() / ".cache" / "acecoder")).expanduser()
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoints(folder: Path) -> list[Path]:
    """The trainer's numbered ``checkpoint-N`` folders in ``folder``, oldest first (anything else is ignored)."""
    found = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))

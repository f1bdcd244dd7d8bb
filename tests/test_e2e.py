"""End to end: the whole notebook chain on the smoke profile through the batch runner's command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from acecoder_lib.core import profiles

pytestmark = pytest.mark.e2e


def test_smoke_chain_runs_end_to_end_and_then_resumes_as_done(tmp_path):
    env = dict(os.environ, ACECODER_RUNS_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "acecoder_lib.core.batch", "run", "--profile", "smoke", "--run-name", "e2e"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, f"batch run failed:\n{first.stdout[-4000:]}\n{first.stderr[-4000:]}"
    stems = [p.stem for p in profiles.notebook_paths()]
    state = json.loads((tmp_path / "e2e" / "batch_state.json").read_text())
    assert sorted(state) == stems
    for stem in stems:
        assert (tmp_path / "e2e" / "notebooks" / f"{stem}.ipynb").exists()
        assert state[stem]["outputs"], f"{stem} wrote no file under runs/e2e/"
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    assert second.stdout.count("[skip]") == len(stems)

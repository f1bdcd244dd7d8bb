"""End to end: the whole notebook chain on the smoke profile through the batch runner's command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from acecoder_lib import funnel
from acecoder_lib.core import profiles

pytestmark = pytest.mark.e2e

# The smoke chain's funnel, exactly: the chain is deterministic (fixed seeds, greedy proxy, seeded sampling, a fixed
# PYTHONHASHSEED in the sandbox). Measured with funnel.run_funnel on two smoke runs in fresh run folders (one with
# the library before the reason columns, one after), identical. A change here needs a reason: see the artifacts'
# `reason` / `first_error` columns (reasons.funnel_by_reason) for why rows moved.
SMOKE_FUNNEL = {
    "filter.proxy": 4, "filter.proxy.kept": 1, "filter.proxy.oracle_passed_too_few": 3, "filter.reference": 38,
    "filter.reference.kept": 38, "hard_questions": 1, "pairs": 0, "pairs.questions": 0, "programs": 16,
    "programs.pass_all": 4, "programs.pass_none": 9, "programs.pass_some": 3, "programs.questions": 4,
    "programs.questions_with_spread": 3, "questions": 38, "questions.heldout.codeio": 1,
    "questions.heldout.starter": 3, "questions.train.codeio": 17, "questions.train.starter": 17, "questions_02": 44,
    "questions_02.grounded": 40, "questions_02.grounded.ok": 38, "questions_02.grounded.unstable_reference": 2,
    "questions_02.hybrid": 2, "questions_02.hybrid.llm_unusable": 2, "questions_02.llm": 2,
    "questions_02.llm.unparseable": 2, "questions_02_usable": 38, "questions_02_usable.grounded": 38,
    "questions_02_usable.hybrid": 0, "questions_02_usable.llm": 0, "seeds": 300, "seeds.codeio": 150,
    "seeds.starter": 150, "seeds_loaded.codeio": 150, "seeds_loaded.starter": 150, "tests": 731
}


def test_smoke_chain_runs_end_to_end_and_then_resumes_as_done(tmp_path):
    env = dict(os.environ, ACECODER_RUNS_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "acecoder_lib.core.batch", "run", "--profile", "smoke", "--run-name", "e2e"]
    # ~10 min on a quiet 2-core machine; one shared with other work can take three times that
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    assert first.returncode == 0, f"batch run failed:\n{first.stdout[-4000:]}\n{first.stderr[-4000:]}"
    counts = funnel.run_funnel(tmp_path / "e2e")
    extra = sorted(set(counts) - set(SMOKE_FUNNEL))
    assert counts == SMOKE_FUNNEL, "\n".join(funnel.compare(SMOKE_FUNNEL, counts) + [f"new keys: {extra}"])
    stems = [p.stem for p in profiles.notebook_paths()]
    state = json.loads((tmp_path / "e2e" / "batch_state.json").read_text())
    assert sorted(state) == stems
    for stem in stems:
        assert (tmp_path / "e2e" / "notebooks" / f"{stem}.ipynb").exists()
        assert state[stem]["outputs"], f"{stem} wrote no file under runs/e2e/"
    metrics = json.loads((tmp_path / "e2e" / "10_metrics.json").read_text())
    for key in ("wall_seconds", "pairs", "llm_synthesis_usable_share", "proxy_kept_share", "rm_heldout_sampled",
                "rl", "difficulty_spearman"):
        assert metrics[key] is not None or key in metrics["missing"], key  # a gap always says why
    assert metrics["pairs"] == counts["pairs"] and metrics["wall_seconds"] > 0 and metrics["best_of_n"]
    assert metrics["rl"]["steps"] > 0
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    assert second.stdout.count("[skip]") == len(stems)


def test_the_chain_from_released_acecode_rows_reaches_the_report(tmp_path):
    """The released-smoke profile: AceCode-87K's released questions and tests (a 16-question fixture in the Hub
    schema) enter at phase 02 (METHODS released), pass phase 03 unchanged (ORACLE released) and go through 04-10."""
    env = dict(os.environ, ACECODER_RUNS_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "acecoder_lib.core.batch", "run", "--profile", "released-smoke", "--run-name", "rel"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"batch run failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    import pandas as pd

    questions = pd.read_parquet(tmp_path / "rel" / "03_questions.parquet")
    assert len(questions) == 16 and set(questions["oracle"]) == set(questions["method"]) == {"released"}
    programs = pd.read_parquet(tmp_path / "rel" / "04_programs.parquet")
    assert set(programs["question_id"]) <= set(questions["question_id"]) and len(programs) > 0
    assert (tmp_path / "rel" / "10_metrics.json").is_file()

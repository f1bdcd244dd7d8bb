"""scripts/gpu_check.py: its CPU self-test (--tiny) runs every check through the workbench's own training code, and it
refuses clearly where it cannot run (no GPU without --tiny, trl missing)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from acecoder_lib.core import paths

SCRIPT = paths.REPO_ROOT / "scripts" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_self_test_trains_and_reports(tmp_path):
    """The wrapper runs the tiny check (~1 min on 2 cores): the RM step (launched), the GRPO step and the engine all
    pass, with fp32 master weights moved by bf16-autocast steps at the paper's learning rates."""
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(paths.REPO_ROOT / "scripts" / "gpu_check.sh"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "gpu_check: all checks passed" in proc.stdout
    summary = json.loads((out / "gpu_check.json").read_text())
    rm, rl, ex = summary["rm"], summary["rl"], summary["exec"]
    assert rm["ok"] and rl["ok"] and ex["ok"]
    assert rm["steps"] == 3 and rl["steps"] == 3
    assert rm["block_weights_changed"] >= 0.9 and rl["block_weights_changed"] >= 0.9
    assert rm["median_step_s"] > 0 and rm["tokens_per_s"] > 0 and rm["peak_rss_gib"] > 0
    assert rm["peak_gpu_memory_gib"] is None  # no CUDA here: said as None, not as 0
    assert rl["generation_tokens_per_s"] > 0 and rl["mean_completion_tokens"] > 0
    assert ex["programs"] == 20 and ex["calibrated_programs_per_s"] > ex["fixed_programs_per_s"]
    assert "vLLM" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_refuses_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stdout and "--tiny" in proc.stdout
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_refuses_without_trl(gpu_check, monkeypatch, capsys, tmp_path):
    found = gpu_check.versions()
    monkeypatch.setattr(gpu_check, "versions", lambda: {**found, "trl": None})
    assert gpu_check.main(["--tiny", "--out", str(tmp_path / "x")]) == 2
    text = capsys.readouterr().out
    assert "trl not installed" in text and "--fetch-wheels" in text
    assert not (tmp_path / "x").exists()
    assert gpu_check.missing({**found, "peft": None}) == []  # peft is optional (LoRA only)


def test_changed_share_counts_elements(gpu_check):
    import torch

    base = {"0.w": torch.zeros(10), "1.w": torch.zeros(2, 5)}
    assert gpu_check.changed_share(base, {k: v.clone() for k, v in base.items()}) == 0.0
    moved = {"0.w": torch.zeros(10), "1.w": torch.zeros(2, 5)}
    moved["0.w"][:3] = 1e-7  # a change bf16 could not hold still counts: fp32 tensors are compared
    assert gpu_check.changed_share(base, moved) == pytest.approx(3 / 20)
    with pytest.raises(RuntimeError, match="no transformer-block weights"):
        gpu_check.changed_share(base, {"other": torch.zeros(3)})

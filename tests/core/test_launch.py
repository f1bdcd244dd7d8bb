"""The launcher's refusals: each is one clear error before anything starts."""
from __future__ import annotations

import pytest

from acecoder_lib.core import launch


def test_more_processes_than_devices_is_refused(monkeypatch):
    with pytest.raises(launch.LaunchError, match="4 processes asked for, but this machine has 2 GPU"):
        launch.check(4, gpus=2)
    assert launch.check(2, gpus=2) is None
    monkeypatch.setattr(launch.os, "cpu_count", lambda: 2)
    assert launch.check(2, gpus=0) is None  # CPU: gloo processes, one per core at most
    with pytest.raises(launch.LaunchError, match="3 processes asked for on a CPU-only machine with 2 cores"):
        launch.check(3, gpus=0)


def test_deepspeed_without_a_gpu_and_unknown_configs_are_refused():
    with pytest.raises(launch.LaunchError, match="8gpu_zero3.yaml uses DeepSpeed, which needs CUDA GPUs"):
        launch.check(1, "8gpu_zero3", gpus=0)
    assert launch.check(8, "8gpu_zero3", gpus=8).name == "8gpu_zero3.yaml"
    with pytest.raises(launch.LaunchError, match="no accelerate config 'nope'.*8gpu_ddp"):
        launch.check(1, "nope", gpus=0)
    with pytest.raises(launch.LaunchError, match="at least 1"):
        launch.check(0, gpus=0)


def test_a_missing_accelerate_is_refused(monkeypatch):
    real = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec", lambda name: None if name == "accelerate" else real(name))
    with pytest.raises(launch.LaunchError, match="accelerate is not installed"):
        launch.check(1, gpus=0)


def test_the_command_launches_the_module_with_a_port_for_two_processes(tmp_path):
    cmd = launch.command("pkg.mod", tmp_path / "spec.json", 2, None, gpus=0)
    # accelerate's --cpu would start one process: two CPU processes go through its torchrun path (--multi_gpu)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--cpu" not in cmd and "--multi_gpu" in cmd
    assert "--cpu" in launch.command("pkg.mod", tmp_path / "spec.json", 1, None, gpus=0)
    assert cmd[cmd.index("--num_processes") + 1] == "2" and "--main_process_port" in cmd
    assert cmd[-4:] == ["-m", "pkg.mod", "--config", str(tmp_path / "spec.json")]
    gpu = launch.command("pkg.mod", tmp_path / "spec.json", 8, launch.resolve_config("8gpu_ddp"), gpus=8)
    assert "--cpu" not in gpu and "--config_file" in gpu and "--mixed_precision" not in gpu


def test_a_failing_process_raises_with_the_tail_of_its_log(tmp_path):
    with pytest.raises(launch.LaunchError, match="exited with 1") as err:
        launch.launch("acecoder_lib.no_such_module", {}, tmp_path, num_processes=1, log=None, gpus=0)
    assert "No module named acecoder_lib.no_such_module" in str(err.value)
    assert (tmp_path / "launch.log").is_file() and not (tmp_path / "launch.pid").exists()

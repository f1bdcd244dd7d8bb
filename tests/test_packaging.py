"""The install files agree with each other: CPU pins, conda environment, scripts."""
from __future__ import annotations

import os
import re

import tomllib
import yaml

from acecoder_lib.core import paths

ROOT = paths.REPO_ROOT


def _pins(lines):
    return dict(re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line).groups()
                for line in lines if "==" in line and not line.startswith("#"))


def test_cpu_extra_matches_constraints_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = _pins(project["optional-dependencies"]["cpu"])
    constraints = _pins((ROOT / "scripts" / "constraints.txt").read_text().splitlines())
    assert extra == constraints
    assert extra["torch"] == "2.13.0"  # the CPU wheel; an unpinned torch pulls a multi-GB CUDA build


def test_environment_yml_is_a_valid_conda_spec():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "acecoder"
    deps = env["dependencies"]
    assert any(isinstance(d, str) and d.startswith("python=3.") for d in deps)
    assert any(isinstance(d, str) and d.startswith("pip") for d in deps)  # conda needs pip listed to run a pip section
    pip_section = [d["pip"] for d in deps if isinstance(d, dict)]
    assert len(pip_section) == 1 and all(isinstance(x, str) for x in pip_section[0])
    assert "-e .[gpu,test]" in pip_section[0]
    assert all(isinstance(d, (str, dict)) for d in deps)


def test_scripts_are_executable_and_ci_runs_the_readme_test_command():
    for script in ("scripts/setup.sh", "scripts/run.sh", "scripts/test.sh", ".ci/run"):
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/run.sh" in readme


def _gpu_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    [pip_section] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return _pins(pip_section)


def test_environment_yml_pins_the_gpu_stack():
    pins = _gpu_pins()
    assert set(pins) >= {"vllm", "torch", "transformers", "trl", "accelerate", "peft"}
    assert pins["trl"] == _pins((ROOT / "scripts" / "constraints.txt").read_text().splitlines())["trl"]


def test_the_gpu_environment_resolves(tmp_path):
    """pip resolves environment.yml's pins with the project's own requirements (dependencies + the gpu and test
    extras) for Linux x86-64 and Python 3.11, without installing anything (--dry-run; ~40 s, needs the package
    registry). An unreachable registry skips; a pin that no longer resolves fails."""
    import subprocess
    import sys

    import pytest

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = [*project["dependencies"], *extras["gpu"], *extras["test"]]
    constraints = tmp_path / "pins.txt"
    constraints.write_text("".join(f"{k}=={v}\n" for k, v in _gpu_pins().items()))
    platforms = [a for n in range(5, 40) for a in ("--platform", f"manylinux_2_{n}_x86_64")]
    platforms += ["--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64", "--platform", "linux_x86_64"]
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
           str(report), "--python-version", "3.11", "--only-binary=:all:", "--target", str(tmp_path / "t"),
           *platforms, "-c", str(constraints), *reqs, *_gpu_pins()]
    # pip's own config may cap versions on a machine (PIP_CONSTRAINT, /etc/xdg/pip); the pins alone decide here
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode != 0 and any(s in proc.stderr for s in ("NewConnectionError", "Temporary failure in name",
                                                               "Network is unreachable", "ConnectTimeout")):
        pytest.skip("the package registry is unreachable: " + proc.stderr.strip().splitlines()[-1][:200])
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    installs = json.loads(report.read_text())["install"]
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}
    for name, version in _gpu_pins().items():
        assert resolved[name] == version, name

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

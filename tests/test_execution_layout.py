"""The sandbox sees the interpreter's packages wherever they live: a venv and a checkout under /tmp (issue 12).

Each worker mounts a private tmpfs on /tmp. Before that was made layout-aware, a venv under /tmp vanished inside the
sandbox and every program importing numpy got `error` on every test (367 of 1,200 CodeIO seeds of phase 02 were lost
as `generator_failed`, silently). The test builds that layout for real: a venv under pytest's tmp folder (itself
under /tmp, in a 0700 folder) whose site-packages holds symlinks to this venv's packages, and a copy of the library,
then runs the engine from that interpreter.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import acecoder_lib

SCRIPT = r"""
import json, sys
import acecoder_lib
from acecoder_lib.execution import ExecutionEngine
with ExecutionEngine(workers=1) as eng:
    iso = eng.isolation
    [r] = eng.run(["import numpy\ndef f(n):\n    return int(numpy.arange(n).sum())\n"],
                  [["assert f(4) == 6", "import yaml\nassert yaml.safe_load('a: 1') == {'a': 1}",
                    "open('/tmp/x.txt', 'w').write('ok')", "assert open('/tmp/x.txt').read() == 'ok'"]])
    # a hostile program tries to take the way to the venv away from the next one
    [h] = eng.run(["import os, shutil\nfor e in os.listdir('/tmp'):\n"
                   "    try:\n        os.rename('/tmp/' + e, '/tmp/gone-' + e)\n    except OSError:\n        pass\n"
                   "    shutil.rmtree('/tmp/' + e, ignore_errors=True)\n"], [["assert True"]])
    [again] = eng.run(["import numpy"], [["assert numpy.zeros(2).sum() == 0"]])
print(json.dumps({"lib": acecoder_lib.__file__, "prefix": sys.prefix, "carried": iso.get("carried"),
                  "verdicts": r.verdicts, "errors": r.errors, "again": again.verdicts}))
"""


def make_layout(root: Path, lib_src: Path) -> Path:
    """A venv under `root` (under /tmp) whose site-packages links to this interpreter's packages, and a copy of the
    library in `root/repo`; returns the new interpreter."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.startswith(("__editable__", "acecoder", "_distutils_hack", "distutils-precedence")):
            continue  # the library comes from the copy below, not from our checkout
        target = site / entry.name
        if not target.exists():
            target.symlink_to(entry)
    shutil.copytree(lib_src, root / "repo" / "acecoder_lib", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "acecoder_repo.pth").write_text(str(root / "repo") + "\n")
    return py


def run_layout(py: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the layout alone decides what is imported
    out = subprocess.run([str(py), "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd="/", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox's mount namespace is Linux only")
def test_venv_and_repo_under_tmp_are_seen_by_the_sandbox(tmp_path):
    assert str(tmp_path.resolve()).startswith("/tmp/"), "pytest's tmp folder must be under /tmp for this test"
    py = make_layout(tmp_path, Path(acecoder_lib.__file__).parent)
    got = run_layout(py)
    assert got["lib"].startswith(str(tmp_path)) and got["prefix"].startswith(str(tmp_path))
    if os.geteuid() == 0:  # the mount namespace is there: the venv's site-packages were carried into the sandbox
        assert any(p.startswith(str(tmp_path.resolve())) for p in got["carried"]), got
    assert got["verdicts"] == ["pass", "pass", "pass", "pass"], got["errors"]
    assert got["again"] == ["pass"]  # the hostile program could not take the venv away from the next program


def test_engine_start_fails_loudly_when_the_sandbox_cannot_see_a_path(monkeypatch):
    from acecoder_lib.execution import engine as engine_mod

    real = engine_mod.sandbox_paths
    monkeypatch.setattr(engine_mod, "sandbox_paths", lambda: real() + ["/proc/1/root/nonexistent-for-the-check"])
    with pytest.raises(RuntimeError, match="self-check failed.*nonexistent-for-the-check"):
        engine_mod.ExecutionEngine(workers=1)

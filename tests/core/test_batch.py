"""The batch runner on a three-notebook fixture chain: run, skip, resume after changes, failure, kill + resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acecoder_lib.core import batch, profiles

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "notebooks"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Send runs/ to a temporary folder (the kernels papermill starts inherit the variable)."""
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    return tmp_path


def _run(**kw):
    return batch.run("t", "smoke", notebooks_dir=FIXTURES, log=lambda *_: None, **kw)


def test_runs_chain_then_skips_then_resumes_after_deleted_output(runs):
    first = _run()
    assert [(r.stem, r.status) for r in first] == [("00_first", "ran"), ("01_second", "ran"), ("02_third", "ran")]
    assert json.loads((runs / "t" / "02_third.json").read_text()) == {"double": 6}  # 2 * (0 + 1 + 2)
    assert (runs / "t" / "notebooks" / "01_second.ipynb").exists()
    assert first[0].outputs == ["00_first.json"]

    again = _run()
    assert [r.status for r in again] == ["skipped"] * 3

    (runs / "t" / "01_second.json").unlink()
    resumed = _run()
    assert [r.status for r in resumed] == ["skipped", "ran", "ran"]


def test_changed_parameter_reruns_from_that_notebook(runs):
    _run()
    changed = _run(overrides={"N": 4})
    assert [r.status for r in changed] == ["ran", "ran", "ran"]
    assert json.loads((runs / "t" / "02_third.json").read_text()) == {"double": 12}  # 2 * (0+1+2+3)


def test_failure_shows_cell_and_keeps_finished_work(runs):
    with pytest.raises(batch.BatchError) as err:
        _run(overrides={"FAIL": True})
    message = str(err.value)
    assert "01_second failed" in message and 'raise ValueError("asked to fail")' in message
    assert "ValueError: asked to fail" in message
    state = batch.load_state(runs / "t")
    assert set(state) == {"00_first"}
    assert [r.status for r in _run()] == ["skipped", "ran", "ran"]


def test_unknown_override_and_profile_key_are_refused_before_running(runs):
    with pytest.raises(batch.BatchError, match="NOPE"):
        _run(overrides={"NOPE": 1})
    with pytest.raises(profiles.ProfileError, match="SLEEEP_S is not a parameter"):
        batch.run("t", "bad", notebooks_dir=FIXTURES, log=lambda *_: None)
    with pytest.raises(profiles.ProfileError, match="unknown profile 'nosuch'"):
        batch.run("t", "nosuch", notebooks_dir=FIXTURES, log=lambda *_: None)
    assert not (runs / "t" / "batch_state.json").exists()


def test_bad_run_name_is_refused(runs):
    with pytest.raises(ValueError, match="RUN_NAME"):
        batch.run("../escape", "smoke", notebooks_dir=FIXTURES)


def test_killed_run_resumes_at_the_unfinished_notebook(runs):
    cmd = [sys.executable, "-m", "acecoder_lib.core.batch", "run", "--run-name", "k", "--notebooks-dir", str(FIXTURES),
           "-p", "SLEEP_S=120"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_path = runs / "k" / "batch_state.json"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if state_path.exists() and "00_first" in json.loads(state_path.read_text() or "{}"):
                break
            assert proc.poll() is None, "the batch run ended before it could be killed"
            time.sleep(0.5)
        else:
            pytest.fail("00_first never finished")
        time.sleep(2)  # let 01_second start sleeping
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel, as a crash would
        proc.wait()
    state = batch.load_state(runs / "k")
    assert set(state) == {"00_first"}
    results = batch.run("k", "smoke", notebooks_dir=FIXTURES, log=lambda *_: None)
    assert [r.status for r in results] == ["skipped", "ran", "ran"]
    assert json.loads((runs / "k" / "02_third.json").read_text()) == {"double": 6}


def test_cli_reports_errors_with_exit_code_1(runs, capsys):
    code = batch.main(["run", "--run-name", "t", "--profile", "nosuch", "--notebooks-dir", str(FIXTURES)])
    assert code == 1
    assert "unknown profile 'nosuch'" in capsys.readouterr().err


def test_forced_subset_keeps_the_other_notebooks_state(runs):
    _run()
    forced = _run(only=["02"], force=True)
    assert [(r.stem, r.status) for r in forced] == [("02_third", "ran")]
    assert set(batch.load_state(runs / "t")) == {"00_first", "01_second", "02_third"}  # merged, not replaced
    assert [r.status for r in _run()] == ["skipped"] * 3  # a subset's fingerprints are the full chain's


def test_library_closure_follows_imports_transitively(tmp_path):
    pkg = tmp_path / "fakelib"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("from . import io\n")
    (pkg / "core" / "io.py").write_text("import json\nfrom .paths import ROOT\n")
    (pkg / "core" / "paths.py").write_text("ROOT = 1\n")
    (pkg / "phase.py").write_text("def f():\n    from .core import io  # a lazy import counts too\n")
    (pkg / "unused.py").write_text("x = 1\n")
    nb = tmp_path / "00_x.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n",
                                                                         "from fakelib import phase\n"]}]}))
    files = batch.library_files(nb, package="fakelib", root=pkg)
    assert sorted(files) == ["fakelib/__init__.py", "fakelib/core/__init__.py", "fakelib/core/io.py",
                             "fakelib/core/paths.py", "fakelib/phase.py"]
    (pkg / "core" / "paths.py").write_text("ROOT = 2\n")
    assert (batch.library_files(nb, package="fakelib", root=pkg)["fakelib/core/paths.py"]
            != files["fakelib/core/paths.py"])


def test_library_change_reruns_and_status_says_why(runs, monkeypatch):
    _run()
    real = batch.library_files
    assert "acecoder_lib/core/io.py" in real(FIXTURES / "01_second.ipynb")  # the fixture imports acecoder_lib.core.io
    changed = lambda nb, **kw: ({**real(nb, **kw), "acecoder_lib/core/io.py": "0" * 16}  # noqa: E731
                                if nb.stem == "01_second" else real(nb, **kw))
    monkeypatch.setattr(batch, "library_files", changed)
    shown = batch.status("t", "smoke", notebooks_dir=FIXTURES).split("\n\n")[0]  # the time profile follows
    lines = {ln.split()[0]: ln for ln in shown.splitlines()[1:]}
    assert "would rerun" not in lines["00_first"]
    assert lines["01_second"].endswith("would rerun: library code changed: acecoder_lib/core/io.py")
    assert lines["02_third"].endswith("would rerun: an earlier notebook changed or reran")
    assert [r.status for r in _run(ignore_library=True)] == ["ran"] * 3  # ignoring the library changes the fingerprint
    assert [r.status for r in _run(ignore_library=True)] == ["skipped"] * 3
    assert [r.status for r in _run()] == ["ran"] * 3


def test_time_profile_records_the_library_spans_of_each_notebook(runs):
    _run(overrides={"WORK_S": 0.3})
    state = batch.load_state(runs / "t")
    third = state["02_third"]["profile"]
    assert third["training"] >= 0.3  # the span ran in the kernel papermill started; its total reached the runner
    assert abs(sum(third.values()) - state["02_third"]["seconds"]) < 0.05  # categories + other = wall time
    assert state["00_first"]["profile"]["training"] == 0.0
    written = json.loads((runs / "t" / batch.PROFILE_FILE).read_text())
    assert set(written["notebooks"]) == {"00_first", "01_second", "02_third"}
    assert written["total"]["training"] == third["training"]
    shown = batch.status("t", "smoke", notebooks_dir=FIXTURES)
    assert "time profile (s)" in shown and "02_third" in shown.split("time profile (s)")[1]
    assert [r.status for r in _run(overrides={"WORK_S": 0.3})] == ["skipped"] * 3  # the profile is not an output

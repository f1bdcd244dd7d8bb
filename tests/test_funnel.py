"""The run funnel: counts read from a (small, hand-made) run folder, the README's published block, the check script."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from acecoder_lib import funnel
from acecoder_lib.core import io, paths, schemas

FILL = {"str": "", "json": "{}", "int": 0, "float": 0.0, "bool": False, "list[str]": [], "list[int]": [],
        "list[float]": []}


def _frame(schema, n: int, **columns) -> pd.DataFrame:
    """``n`` rows of ``schema`` with neutral values, ``columns`` (lists of length n) overriding them."""
    data = {c.name: columns.get(c.name, [FILL[c.dtype]] * n) for c in schema.columns}
    return pd.DataFrame(data)


def _fake_run(run) -> None:
    """A finished run in miniature: 3 seeds, 4 phase-02 rows, 2 filtered questions, 4 programs, 1 pair."""
    io.write_artifact(run, schemas.SEED_FUNNEL, _frame(schemas.SEED_FUNNEL, 4,
                                                source=["starter", "starter", "codeio", "codeio"],
                                                stage=["loaded", "compiles"] * 2, step=[0, 2, 0, 2],
                                                rows=[2, 2, 5, 1]))
    io.write_artifact(run, schemas.SEEDS, _frame(schemas.SEEDS, 3, seed_id=["a", "b", "c"],
                                               source=["starter", "starter", "codeio"]))
    io.write_artifact(run, schemas.QUESTIONS, _frame(
        schemas.QUESTIONS, 4, question_id=["a:grounded", "b:grounded", "c:grounded", "c:llm"],
        method=["grounded", "grounded", "grounded", "llm"], status=["ok", "ok", "generator_failed", "unparseable"],
        tests=[["assert f(1) == 1"], ["assert g() == 2"], ["assert False"], ["assert False"]],
        reason=["", "", "ModuleNotFoundError", "unparseable"]))
    io.write_artifact(run, schemas.FILTER_REPORT, _frame(schemas.FILTER_REPORT, 2,
                                                    question_id=["a:grounded", "b:grounded"],
                                                    oracle=["reference"] * 2, status=["kept", "kept"]))
    io.write_artifact(run, schemas.FILTERED, _frame(schemas.FILTERED, 2, question_id=["a:grounded", "b:grounded"],
                                                      source=["starter", "starter"], n_tests=[20, 18],
                                                      split=["train", "heldout"]))
    io.write_artifact(run, schemas.PROGRAMS, _frame(schemas.PROGRAMS, 4, question_id=["a:grounded"] * 4,
                                                     pass_rate=[0.0, 0.5, 1.0, 1.0]))
    io.write_artifact(run, schemas.PAIRS, _frame(schemas.PAIRS, 1, question_id=["a:grounded"], split=["train"]))
    io.write_artifact(run, schemas.HARD, _frame(schemas.HARD, 1, question_id=["a:grounded"]))


def test_run_funnel_counts_every_phase(tmp_path):
    _fake_run(tmp_path / "fake")
    assert funnel.run_funnel(tmp_path / "fake") == {
        "filter.reference": 2, "filter.reference.kept": 2, "hard_questions": 1, "pairs": 1, "pairs.questions": 1,
        "pairs.train": 1, "programs": 4, "programs.pass_all": 2, "programs.pass_none": 1, "programs.pass_some": 1,
        "programs.questions": 1, "programs.questions_with_spread": 1, "questions": 2, "questions.heldout.starter": 1,
        "questions.train.starter": 1, "questions_02": 4, "questions_02.grounded": 3,
        "questions_02.grounded.generator_failed": 1, "questions_02.grounded.ok": 2, "questions_02.llm": 1,
        "questions_02.llm.unparseable": 1, "questions_02_usable": 2, "questions_02_usable.grounded": 2,
        "questions_02_usable.llm": 0, "seeds": 3, "seeds.codeio": 1, "seeds.starter": 2, "seeds_loaded.codeio": 5,
        "seeds_loaded.starter": 2, "tests": 38}
    (tmp_path / "early").mkdir()
    io.write_artifact(tmp_path / "early", schemas.SEEDS, _frame(schemas.SEEDS, 1, source=["codeio"]))
    assert funnel.run_funnel(tmp_path / "early") == {"seeds": 1, "seeds.codeio": 1}  # a run stopped after 01


def test_published_block_and_compare():
    text = ("prose 1,169 questions\n<!-- funnel:begin -->\n```\nquestions: 1,169   # the README's prose\n"
            "seeds_loaded.codeio: 3244\nnot a count line\n```\n<!-- funnel:end -->\nmore prose")
    published = funnel.published_funnel(text)
    assert published == {"questions": 1169, "seeds_loaded.codeio": 3244}
    assert funnel.compare(published, {"questions": 1169, "seeds_loaded.codeio": 3244, "pairs": 3}) == []
    assert funnel.compare(published, {"questions": 1170}) == [
        "questions: published 1169, this run 1170 (+1)", "seeds_loaded.codeio: published 3244, missing from this run"]
    with pytest.raises(ValueError, match="no funnel block"):
        funnel.published_funnel("no markers here")


def test_the_readme_publishes_a_funnel_block():
    published = funnel.published_funnel((paths.REPO_ROOT / "README.md").read_text())
    assert published["questions"] == 1193 and published["pairs"] == 492


def _check(tmp_path, readme_lines: list[str], run_name: str = "fake") -> subprocess.CompletedProcess:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n" + funnel.BEGIN + "\n```\n" + "\n".join(readme_lines) + "\n```\n" + funnel.END + "\n")
    env = dict(os.environ, ACECODER_RUNS_DIR=str(tmp_path / "runs"))
    return subprocess.run([sys.executable, str(paths.REPO_ROOT / "scripts" / "check_funnel.py"), run_name, "--readme",
                           str(readme)], env=env, capture_output=True, text=True, timeout=120)


def test_check_funnel_script_on_a_matching_and_a_differing_run(tmp_path):
    _fake_run(tmp_path / "runs" / "fake")
    same = _check(tmp_path, ["seeds_loaded.codeio: 5", "questions: 2", "programs: 4", "pairs: 1"])
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip().splitlines()[-1].startswith("4 of 4 published numbers match")
    differ = _check(tmp_path, ["questions: 3", "programs: 4", "pairs.validation: 1"])
    assert differ.returncode == 1
    assert differ.stdout.splitlines()[:2] == ["questions: published 3, this run 2 (-1)",
                                              "pairs.validation: published 1, missing from this run"]
    assert "1 of 3 published numbers match" in differ.stdout
    missing = _check(tmp_path, ["questions: 2"], run_name="nope")
    assert missing.returncode == 2 and "no run folder" in missing.stderr


def test_compare_runs_finds_the_artifact_and_the_rows_that_moved(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _fake_run(a)
    _fake_run(b)
    script = [sys.executable, str(paths.REPO_ROOT / "scripts" / "compare_runs.py")]
    same = subprocess.run([*script, str(a), str(b)], capture_output=True, text=True, timeout=120)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "6 of 6 artifacts identical" in same.stdout and "*" not in same.stdout
    # b's phase 04 moves: one program's pass rate (the funnel's pass_some/pass_all move with it)
    io.write_artifact(b, schemas.PROGRAMS, _frame(schemas.PROGRAMS, 4, question_id=["a:grounded"] * 4,
                                                   pass_rate=[0.0, 0.5, 0.5, 1.0]))
    table = funnel.compare_artifacts(a, b)
    moved = table.set_index("artifact").loc["04_programs"]
    assert not moved["same"] and moved["rows_differing"] == 1 and moved["first_differing"] == "a:grounded"
    assert table.drop(columns="artifact")["same"].sum() == len(table) - 1
    for run, seconds in ((a, 0.011), (b, 0.012)):  # timings differ from run to run: compared on their keys only
        io.write_artifact(run, schemas.TEST_TIMES, _frame(schemas.TEST_TIMES, 1, question_id=["a:grounded"],
                                                          cpu_seconds=[[seconds] * 20]))
    timed = funnel.compare_artifacts(a, b, ("03",)).set_index("artifact").loc["03_test_times"]
    assert timed["same"] and timed["sha256_a"] != timed["sha256_b"] and "measurement" in timed["first_differing"]
    differ = subprocess.run([*script, str(a), str(b), "--phases", "04"], capture_output=True, text=True, timeout=120)
    assert differ.returncode == 1 and "0 of 1 artifacts identical" in differ.stdout
    assert "* programs.pass_all" in differ.stdout and "* programs.pass_some" in differ.stdout

"""Phase 04 logic: sampling through a cache (resumable per question), extraction after the prefill, execution."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib import solutions
from acecoder_lib.core import schemas
from acecoder_lib.core.cache import CompletionCache
from acecoder_lib.execution import ExecConfig, ExecutionEngine
from acecoder_lib.phases import p04_sample_programs as sampling

TESTS = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"]
QUESTIONS = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Add a and b.", "Add a and b, again."],
                          "tests": [TESTS, TESTS], "entry_point": ["add", "add"]})
ANSWERS = ["\ndef add(a, b):\n    return a + b\n```", "\ndef add(a, b):\n    return a * b\n```\nDone.",
           "I cannot do that.", "\ndef add(a, b):\n    while True:\n        pass\n```"]


class ScriptedPolicy:
    """Returns the same four answers for every prompt (n must be 4); counts the prompts it was asked."""

    namespace = "scripted:policy"

    def __init__(self):
        self.prompts = 0

    def generate(self, prompts, n=1, **kw):
        assert n == len(ANSWERS) and all(p[-1]["role"] == "assistant" for p in prompts)
        self.prompts += len(prompts)
        return [list(ANSWERS) for _ in prompts]


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=0.25, setup_timeout_s=1.0)) as eng:
        yield eng


def test_sample_execute_summarise(engine, tmp_path):
    policy = ScriptedPolicy()
    cache = CompletionCache(tmp_path / "c.jsonl")
    samples = solutions.sample_programs(QUESTIONS, policy, cache, n=4, max_new_tokens=64, batch_size=1)
    assert len(samples) == 8 and samples["sample"].tolist() == [0, 1, 2, 3] * 2
    assert samples["extraction"].tolist()[:4] == ["ok", "ok", "no_code", "ok"]
    programs = solutions.execute_samples(samples, QUESTIONS, engine)
    assert list(programs.columns) == schemas.PROGRAMS.column_names
    first = programs[programs["question_id"] == "q1"]
    assert first["pass_rate"].tolist() == [1.0, 0.5, 0.0, 0.0]  # a*b agrees on add(0, 0) and add(2, 2)
    assert first["verdicts"].tolist()[1] == ["fail", "pass", "pass", "fail"]
    assert first["verdicts"].tolist()[3] == ["timeout"] * 4
    assert first["failure"].tolist()[0] == "" and first["failure"].tolist()[1].startswith("fail")
    assert first["status"].tolist()[2] == "invalid_input"  # no code extracted: counted, not dropped
    summary = sampling.question_summary(programs).set_index("question_id")
    assert summary.loc["q1", "mean_pass_rate"] == pytest.approx(0.375)
    assert summary.loc["q1", "all_pass"] == 1 and summary.loc["q1", "none_pass"] == 2
    counts = sampling.per_test_pass_counts(programs)
    assert counts[counts["question_id"] == "q1"]["passed"].tolist() == [1, 2, 2, 1]
    # a rerun is served from the cache: nothing is generated twice
    again = solutions.sample_programs(QUESTIONS, policy, CompletionCache(tmp_path / "c.jsonl"), n=4,
                                     max_new_tokens=64)
    assert policy.prompts == 2 and again["completion"].tolist() == samples["completion"].tolist()


class RevisingPolicy:
    """Answers a first block, then a revised one, honouring stop / keep_stop as the real backends do."""

    namespace = "scripted:revising"
    ANSWER = ("\ndef add(a, b):\n    return a * b\n```\nOops, that multiplies. Fixed:\n```python\n"
              "def add(a, b):\n    return a + b\n```\nDone.")

    def __init__(self):
        self.calls = []

    def generate(self, prompts, n=1, **kw):
        self.calls.append(kw)
        text = self.ANSWER
        for s in kw.get("stop") or []:
            if s in text:
                text = text[:text.index(s)] + (s if kw.get("keep_stop") else "")
        return [[text] * n for _ in prompts]


def test_stop_at_code_end_takes_the_first_block_and_leaves_other_runs_cache_keys_alone(tmp_path):
    policy = RevisingPolicy()
    whole = solutions.sample_programs(QUESTIONS.head(1), policy, CompletionCache(tmp_path / "a.jsonl"), n=1)
    assert "stop" not in policy.calls[0] and "keep_stop" not in policy.calls[0]  # not asked: not passed
    assert "return a + b" in whole["program"][0]  # the extractor prefers the later, revised block
    first = solutions.sample_programs(QUESTIONS.head(1), policy, CompletionCache(tmp_path / "b.jsonl"), n=1,
                                      stop_at_code_end=True)
    assert policy.calls[1]["stop"] == [solutions.CODE_END] and policy.calls[1]["keep_stop"] is True
    assert first["completion"][0] == "\ndef add(a, b):\n    return a * b\n```"  # nothing after the closing fence
    assert first["program"][0].endswith("return a * b") and first["extraction"][0] == "ok"
    # the cache key differs, so a run that switches it on does not reuse completions sampled to EOS
    again = solutions.sample_programs(QUESTIONS.head(1), policy, CompletionCache(tmp_path / "a.jsonl"), n=1,
                                      stop_at_code_end=True)
    assert len(policy.calls) == 3 and again["program"][0] == first["program"][0]


def test_bad_input_is_a_clear_error(engine, tmp_path):
    with pytest.raises(ValueError, match="n must be"):
        solutions.sample_programs(QUESTIONS, ScriptedPolicy(), CompletionCache(tmp_path / "c.jsonl"), n=0)
    stray = pd.DataFrame({"question_id": ["zz"], "sample": [0], "completion": [""], "program": ["x = 1"],
                          "extraction": ["ok"]})
    with pytest.raises(ValueError, match="not in the question table"):
        solutions.execute_samples(stray, QUESTIONS, engine)


class DownPolicy(ScriptedPolicy):
    """A backend that is down: every call raises."""

    def generate(self, prompts, n=1, **kw):
        raise ConnectionError("server at 127.0.0.1:8000 refused the connection")


def test_every_failed_program_says_why(engine, tmp_path):
    samples = solutions.sample_programs(QUESTIONS.head(1), ScriptedPolicy(), CompletionCache(tmp_path / "c.jsonl"), n=4)
    assert samples["reason"].tolist() == ["", "", "no_code", ""]  # before execution only extraction can fail
    programs = solutions.execute_samples(samples, QUESTIONS, engine)
    assert programs["reason"].tolist() == ["", "AssertionError", "no_code", "timeout"]
    assert programs["first_error"].tolist()[1] == "fail: AssertionError (in: assert add(1, 2) == 3)"
    assert programs["first_error"].tolist()[2].startswith("no_code: ")
    down = solutions.sample_programs(QUESTIONS.head(1), DownPolicy(), CompletionCache(tmp_path / "d.jsonl"), n=4)
    done = solutions.execute_samples(down, QUESTIONS, engine)
    assert set(done["extraction"]) == {"backend_error"} and set(done["reason"]) == {"ConnectionError"}
    assert done["first_error"].tolist()[0] == ("backend_error: ConnectionError: server at 127.0.0.1:8000 refused "
                                               "the connection")
    legacy = solutions.execute_samples(samples.drop(columns=["reason", "first_error"]), QUESTIONS, engine)
    assert legacy["reason"].tolist() == ["", "AssertionError", "invalid_input", "timeout"]  # samples made elsewhere


def test_calibrated_limits_time_out_a_loop_fast_and_never_a_correct_program_within_the_factor(engine, tmp_path):
    # the oracle took 20 ms per test: limit 10 x 20 ms = 0.2 s; a correct but slower program (15-50 ms of CPU,
    # machine-dependent) passes, and under a 2 ms limit it times out
    slow = "def add(a, b):\n    s = 0\n    for i in range(800_000):\n        s += i\n    return a + b\n"
    loop = "def add(a, b):\n    while True:\n        pass\n"
    times = pd.DataFrame({"question_id": ["q1", "q2"], "oracle": ["reference"] * 2,
                          "cpu_seconds": [[0.02] * 4, [0.02] * 3]})  # q2's times do not match its 4 tests
    limits, calibrated = solutions.test_limits(QUESTIONS, times, "calibrated", floor_s=0.02, factor=10.0,
                                               fixed_s=0.25)
    assert calibrated == 1 and limits == {"q1": [pytest.approx(0.2)] * 4, "q2": [0.25] * 4}
    assert solutions.test_limits(QUESTIONS, times, "fixed") == (None, 0)
    with pytest.raises(ValueError, match="time-limit mode"):
        solutions.test_limits(QUESTIONS, times, "evalplus")
    samples = pd.DataFrame({"question_id": ["q1", "q1"], "sample": [0, 1], "completion": ["", ""],
                            "program": [slow, loop], "extraction": ["fenced", "fenced"],
                            "reason": ["", ""], "first_error": ["", ""]})
    for column in schemas.PROGRAMS.column_names:  # the sampling columns this test does not need
        if column not in samples and column not in ("status", "verdicts", "n_tests", "n_passed", "pass_rate",
                                                    "failure"):
            samples[column] = ""
    programs = solutions.execute_samples(samples, QUESTIONS, engine, time_limits=limits)
    assert programs.iloc[0]["verdicts"] == ["pass"] * 4  # slower than the oracle, within the factor: passes
    assert programs.iloc[1]["verdicts"] == ["timeout"] * 4  # four looping tests at 0.2 s each, not 0.25 s
    # the calibration, not a floor, let it pass: under 2 ms a test (the loop alone takes 15-50 ms) it times out
    floor_only = solutions.execute_samples(samples.head(1), QUESTIONS, engine, time_limits={"q1": [0.002] * 4})
    assert floor_only.iloc[0]["verdicts"] == ["timeout"] * 4

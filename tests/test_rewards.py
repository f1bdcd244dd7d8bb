"""Rule reward adapters: trl's calling convention, stats, and real completions through the real execution engine."""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import pytest

from acecoder_lib.code.extract import TYPING_PRELUDE
from acecoder_lib.rewards import as_tests, completion_text, make_rule_reward

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 2) == 1", "assert add(0, 0) == 0"]
GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nThis returns the sum."
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
PARTIAL = "```python\ndef add(a, b):\n    return abs(a) + b\n```"  # fails only add(-1, 2)
NO_CODE = "I cannot solve this."


# ------------------------------------------------------------------ a stand-in engine: adapter logic without processes
@dataclass
class FakeResult:
    index: int
    status: str
    verdicts: list[str]
    errors: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    output: str = ""
    detail: str = ""

    @property
    def n_tests(self):
        return len(self.verdicts)

    @property
    def n_passed(self):
        return self.verdicts.count("pass")

    @property
    def pass_rate(self):
        return self.n_passed / self.n_tests if self.n_tests else 0.0

    @property
    def all_passed(self):
        return self.n_tests > 0 and self.n_passed == self.n_tests


class FakeEngine:
    """Judges the three `add` variants above by their text; records every batch it is given."""

    def __init__(self):
        self.batches = []

    def run(self, programs, tests, *, config=None, progress=False):
        self.batches.append((list(programs), [list(t) for t in tests], config))
        out = []
        for i, (p, ts) in enumerate(zip(programs, tests)):
            if "a + b" in p and "abs" not in p:
                v = ["pass"] * len(ts)
            elif "abs(a)" in p:
                v = ["fail" if "-1" in t else "pass" for t in ts]
            else:
                v = ["fail"] * len(ts)
            out.append(FakeResult(i, "ok", v))
        return out


def test_name_for_trl_logging():
    assert make_rule_reward().__name__ == "rule_all_pass"
    assert make_rule_reward(mode="pass_rate").__name__ == "rule_pass_rate"
    assert make_rule_reward(name="exec").__name__ == "exec"
    # trl.trainer.utils.get_callable_name: getattr(func, "__name__", type(func).__name__)
    r = make_rule_reward()
    assert getattr(r, "__name__", type(r).__name__) == "rule_all_pass"
    with pytest.raises(ValueError):
        make_rule_reward(mode="partial")


def test_trl_calling_convention_and_stats():
    engine = FakeEngine()
    reward = make_rule_reward(engine=engine, config="CFG")
    metrics, extra = {}, {}
    completions = [GOOD, WRONG, PARTIAL, NO_CODE, GOOD, GOOD]
    n = len(completions)
    # exactly how GRPOTrainer._calculate_rewards calls it: keywords, columns repeated per completion
    out = reward(prompts=["Write add."] * n, completions=completions, completion_ids=[[1, 2]] * n,
                 tests=[ADD_TESTS] * n, entry_point=["add"] * n, question_id=list(range(n)), trainer_state=None,
                 log_extra=lambda col, vals: extra.setdefault(col, []).extend(vals),
                 log_metric=lambda name, v: metrics.setdefault(name, []).append(v))
    assert out == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert all(type(x) is float for x in out)
    programs, tests, config = engine.batches[0]
    assert len(engine.batches) == 1 and len(programs) == 3  # GOOD x3 deduplicated, NO_CODE never run
    assert tests == [ADD_TESTS] * 3 and config == "CFG"
    s = reward.last_stats
    assert (s["n"], s["n_executed"], s["no_code_frac"]) == (6, 3, pytest.approx(1 / 6))
    assert s["mean_pass_rate"] == pytest.approx((1 + 0 + 2 / 3 + 0 + 1 + 1) / 6)
    assert s["mean_reward"] == pytest.approx(0.5) and s["all_pass_frac"] == pytest.approx(0.5)
    assert s["extract_status"] == {"ok": 5, "no_code": 1}
    assert s["seconds"] >= s["exec_seconds"] >= 0
    assert metrics["rule_all_pass/no_code_frac"] == [pytest.approx(1 / 6)]
    assert set(metrics) == {f"rule_all_pass/{k}" for k in
                            ("seconds", "exec_seconds", "no_code_frac", "syntax_error_frac", "mean_pass_rate")}
    assert extra == {"rule_all_pass_extract": ["ok", "ok", "ok", "no_code", "ok", "ok"]}
    assert list(reward.history) == [s]


def test_pass_rate_mode_and_conversational_completions():
    reward = make_rule_reward(mode="pass_rate", engine=FakeEngine())
    conv = [[{"role": "assistant", "content": c}] for c in (GOOD, WRONG, PARTIAL, NO_CODE)]
    out = reward(prompts=[[{"role": "user", "content": "Write add."}]] * 4, completions=conv, tests=[ADD_TESTS] * 4,
                 entry_point=["add"] * 4)
    assert out == [1.0, 0.0, pytest.approx(2 / 3), 0.0]


def test_rows_without_tests_are_unscorable_and_entry_point_is_inferred():
    engine = FakeEngine()
    reward = make_rule_reward(engine=engine)
    out = reward(prompts=["p"] * 3, completions=[GOOD, GOOD, "```python\ndef plus(a, b):\n    return a + b\n```"],
                 tests=[[], ADD_TESTS, ADD_TESTS], entry_point=["", "", ""])
    assert out[0] is None and out[1] == 1.0  # None: trl turns it into NaN and leaves it out of the baseline
    assert reward.last_stats["n_no_tests"] == 1
    assert reward.last_extractions[2].status == "entry_point_mismatch"  # add inferred from the tests
    assert make_rule_reward(engine=FakeEngine(), no_tests_reward=0.0)(completions=[GOOD], tests=[[]]) == [0.0]


def test_missing_column_and_length_mismatch():
    reward = make_rule_reward(engine=FakeEngine())
    with pytest.raises(KeyError, match="tests"):
        reward(prompts=["p"], completions=[GOOD], test_list=[ADD_TESTS])
    with pytest.raises(ValueError):
        reward(prompts=["p", "q"], completions=[GOOD, GOOD], tests=[ADD_TESTS])


def test_pickles_without_its_engine():
    reward = make_rule_reward(engine=FakeEngine(), name="exec")
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "exec" and clone.engine is None and clone.mode == "all_pass"


def test_completion_text_and_as_tests():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"},
                            {"role": "assistant", "content": [{"type": "text", "text": "b"}]}]) == "a\nb"
    assert completion_text({"role": "assistant", "content": None}) == ""
    assert completion_text(None) == ""
    assert as_tests(ADD_TESTS) == ADD_TESTS and as_tests(tuple(ADD_TESTS)) == ADD_TESTS
    assert as_tests('["assert f(1) == 1"]') == ["assert f(1) == 1"]
    assert as_tests(None) == [] and as_tests("  ") == []
    with pytest.raises(TypeError):
        as_tests(3)


# ------------------------------------------------------------------ the real engine
@pytest.fixture(scope="module")
def engine():
    execution = pytest.importorskip("acecoder_lib.execution")
    eng = execution.ExecutionEngine(workers=2, config=execution.ExecConfig(test_timeout_s=0.5, setup_timeout_s=2.0))
    yield eng
    eng.close()


REAL_CASES = [  # (completion, entry_point, all_pass reward, pass_rate reward)
    (GOOD, "add", 1.0, 1.0),
    (WRONG, "add", 0.0, 1 / 3),  # add(0, 0) == 0 still passes
    (PARTIAL, "add", 0.0, 2 / 3),
    (NO_CODE, "add", 0.0, 0.0),
    ("<think>\nSum them.\n</think>\n```python\ndef add(a, b):\n    return a + b\n```", "add", 1.0, 1.0),
    ("Okay, so the sum...</think>\n\n```python\ndef add(a, b):\n    return sum([a, b])\n```", "add", 1.0, 1.0),
    # top-level input() and prints are stripped; otherwise EOFError under the closed stdin fails everything
    ("```python\ndef add(a, b):\n    return a + b\n\na, b = map(int, input().split())\nprint(add(a, b))\n```",
     "add", 1.0, 1.0),
    ("```python\ndef add(a, b):\n    while True:\n        pass\n```", "add", 0.0, 0.0),  # per-test timeout
    ("```python\ndef add(a, b):\n    if a < 0:\n        while True:\n            pass\n    return a + b\n```",
     "add", 0.0, 2 / 3),  # one test times out, the others still run
    ("```python\ndef sum_two(a, b):\n    return a + b\n```", "add", 0.0, 0.0),  # wrong name, not renamed
    ("```python\ndef add(a, b)\n    return a + b\n```", "add", 0.0, 0.0),  # syntax error
    ("```python\ndef add(a, b):\n    return a + b\n\n\nif __name__ == '__main__':\n    print(add(1,", "", 1.0, 1.0),
    ("def add(a, b):\n    return a + b\n", "", 1.0, 1.0),  # no fence, entry point inferred from the tests
]


def test_real_completions_through_the_engine(engine):
    completions = [c[0] for c in REAL_CASES]
    eps = [c[1] for c in REAL_CASES]
    tests = [ADD_TESTS] * len(REAL_CASES)
    all_pass = make_rule_reward(engine=engine)
    out = all_pass(prompts=["Write add."] * len(completions), completions=completions, tests=tests, entry_point=eps)
    assert out == [c[2] for c in REAL_CASES]
    rate = make_rule_reward(mode="pass_rate", engine=engine)
    out = rate(prompts=["Write add."] * len(completions), completions=completions, tests=tests, entry_point=eps)
    assert out == pytest.approx([c[3] for c in REAL_CASES])
    s = rate.last_stats
    assert s["no_code_frac"] == pytest.approx(1 / len(REAL_CASES))
    assert s["syntax_error_frac"] == pytest.approx(1 / len(REAL_CASES))
    assert s["test_verdicts"]["timeout"] == 4  # 3 from the endless loop, 1 from the negative-input branch


def test_rename_and_prelude_through_the_engine(engine):
    wrong_name = "```python\ndef sum_two(a, b):\n    return a + b\n```"
    assert make_rule_reward(engine=engine, rename=True)(completions=[wrong_name], tests=[ADD_TESTS],
                                                        entry_point=["add"]) == [1.0]
    # forgot `from typing import List`; the alias is evaluated at run time whatever the annotation semantics
    typed = "```python\nVector = List[int]\n\ndef first(xs: Vector) -> int:\n    return xs[0]\n```"
    tests = [["assert first([3, 4]) == 3"]]
    assert make_rule_reward(engine=engine)(completions=[typed], tests=tests, entry_point=["first"]) == [0.0]
    assert make_rule_reward(engine=engine, prelude=TYPING_PRELUDE)(completions=[typed], tests=tests,
                                                                   entry_point=["first"]) == [1.0]


def test_human_eval_suite_string_through_the_engine(engine):
    suite = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"
    reward = make_rule_reward(mode="pass_rate", engine=engine)
    assert reward(completions=[GOOD, PARTIAL], tests=[suite, suite], entry_point=["add", "add"]) == [1.0, 1.0]
    assert reward.last_stats["test_verdicts"] == {"pass": 4}


def test_shared_engine_when_none_is_given():
    pytest.importorskip("acecoder_lib.execution")
    assert make_rule_reward()(completions=[GOOD, WRONG], tests=[ADD_TESTS] * 2, entry_point=["add"] * 2) == [1.0, 0.0]


@pytest.mark.slow  # importing GRPOTrainer alone takes ~16 s on 2 CPU cores
def test_inside_trl_calculate_rewards():
    """Run trl's own GRPOTrainer._calculate_rewards on a stand-in trainer: the real calling convention."""
    from types import SimpleNamespace

    import torch
    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.utils import get_callable_name

    reward = make_rule_reward(engine=FakeEngine())
    pending_metrics, pending_extra = {}, {}
    class FakeTrainer(SimpleNamespace):  # profiling_context names the timer after the trainer class
        pass

    trainer = FakeTrainer(
        reward_funcs=[reward], reward_processing_classes=[None], reward_func_names=[get_callable_name(reward)],
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        state=SimpleNamespace(global_step=0), args=SimpleNamespace(report_to=[]), environments=None,
        _log_completion_extra=lambda c, v: pending_extra.setdefault(c, []).extend(v),
        _log_metric=lambda n, v: pending_metrics.setdefault(n, []).append(v))
    completions = [GOOD, WRONG, NO_CODE]
    inputs = [{"prompt": "Write add.", "tests": ADD_TESTS, "entry_point": "add", "question_id": i} for i in range(3)]
    fn = getattr(GRPOTrainer._calculate_rewards, "__wrapped__", GRPOTrainer._calculate_rewards)
    rewards = fn(trainer, inputs, ["Write add."] * 3, completions, [[1]] * 3)
    assert trainer.reward_func_names == ["rule_all_pass"]
    assert rewards[:, 0].tolist() == [1.0, 0.0, 0.0]
    assert pending_extra == {"rule_all_pass_extract": ["ok", "ok", "no_code"]}
    assert pending_metrics["rule_all_pass/no_code_frac"] == [pytest.approx(1 / 3)]


def test_a_time_limits_column_sets_each_tests_limit(engine):
    # ~50 ms of CPU per call: passes under its 0.5 s limits and times out under 10 ms ones
    slow = "```python\ndef add(a, b):\n    s = 0\n    for i in range(800_000):\n        s += i\n    return a + b\n```"
    reward = make_rule_reward(mode="pass_rate", engine=engine)
    tight, loose = [[0.01] * len(ADD_TESTS)], [[0.5] * len(ADD_TESTS)]
    assert reward(completions=[slow], tests=[ADD_TESTS], entry_point=["add"], time_limits=loose) == [1.0]
    assert reward(completions=[slow], tests=[ADD_TESTS], entry_point=["add"], time_limits=tight) == [0.0]
    assert reward.last_stats["test_verdicts"] == {"timeout": len(ADD_TESTS)}
    # the same program under two different limits in one batch is run twice, not merged
    both = reward(completions=[slow, slow], tests=[ADD_TESTS] * 2, entry_point=["add"] * 2, time_limits=loose + tight)
    assert both == [1.0, 0.0] and reward.last_stats["n_executed"] == 2
    with pytest.raises(ValueError, match="time limits"):
        reward(completions=[slow], tests=[ADD_TESTS], entry_point=["add"], time_limits=[[0.5]])
    with pytest.raises(ValueError, match="rows of time limits"):
        reward(completions=[slow], tests=[ADD_TESTS], entry_point=["add"], time_limits=loose + tight)

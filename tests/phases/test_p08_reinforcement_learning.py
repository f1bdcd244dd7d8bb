"""RL (phase 08): GRPO/RLOO on the tiny model with the rule reward and an RM reward, resume, and the monitors."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from acecoder_lib import rewards
from acecoder_lib.core import schemas
from acecoder_lib.phases import p08_reinforcement_learning as rl


def _questions():
    return pd.DataFrame({"question_id": ["a", "b"], "question": ["Write add(a, b).", "Write neg(x)."],
                         "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 0"], ["assert neg(1) == -1"]],
                         "entry_point": ["add", "neg"]})


class _CompletionLength:
    """A trl reward function: the completion's length in characters (differs between samples of one prompt)."""

    __name__ = "completion_length"

    def __call__(self, prompts=None, completions=None, **kwargs):
        return [float(len(rewards.completion_text(c))) for c in completions]


class _LengthRM:
    """A stand-in reward model: longer programs score higher."""

    def score_many(self, questions, programs, batch_size=8):
        return [float(len(p)) for p in programs]


@pytest.fixture(scope="module")
def dataset(tiny_model_dir):
    from transformers import AutoTokenizer

    # calibrated per-test limits, as notebook 08 passes them (solutions.test_limits): trl hands the column to the
    # rule reward, which runs each test under its own limit
    limits = {"a": [0.5, 0.5], "b": [0.5]}
    return rl.rl_dataset(_questions(), AutoTokenizer.from_pretrained(tiny_model_dir), time_limits=limits)


def test_rl_dataset_carries_the_time_limits_only_when_given(dataset, tiny_model_dir):
    from transformers import AutoTokenizer

    assert dataset["time_limits"] == [[0.5, 0.5], [0.5]]
    plain = rl.rl_dataset(_questions(), AutoTokenizer.from_pretrained(tiny_model_dir))
    assert "time_limits" not in plain.column_names and plain["tests"] == dataset["tests"]


@pytest.fixture(scope="module")
def engine():
    from acecoder_lib.execution import ExecutionEngine

    with ExecutionEngine(workers=2) as eng:
        yield eng


CFG = dict(max_steps=2, num_generations=2, per_device_batch_size=4, max_completion_length=12, learning_rate=1e-5)


class _Recording:
    """A reward function passed through, recording the time_limits column trl hands it."""

    def __init__(self, reward):
        self.reward, self.__name__, self.limits = reward, reward.__name__, []

    def __call__(self, prompts=None, completions=None, **kwargs):
        self.limits.append(kwargs.get("time_limits"))
        return self.reward(prompts=prompts, completions=completions, **kwargs)


def test_rule_reward_run_logs_every_step_and_is_reused(dataset, engine, tiny_model_dir, tmp_path):
    funcs, weights = rl.make_rewards("rule", engine)
    funcs = [_Recording(funcs[0])]
    steps = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "r", funcs, weights, rl.RLConfig(**CFG))
    # trl gives the rule reward each completion's calibrated limits (one list per completion, as in the dataset)
    assert len(funcs[0].limits) == 2 and all(len(batch) == 4 for batch in funcs[0].limits)
    assert all(row in ([0.5, 0.5], [0.5]) for batch in funcs[0].limits for row in batch)
    assert steps["step"].tolist() == [1, 2] and list(steps.columns) == schemas.RL_STEPS.column_names
    assert (steps["generation_s"] > 0).all() and (steps["reward_s"] >= 0).all()
    assert (steps["step_s"] >= steps["generation_s"]).all() and steps["rm_reward"].isna().all()
    assert steps["no_code_frac"].between(0, 1).all()
    assert (tmp_path / "r" / "final" / "config.json").is_file()
    again = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "r", funcs, weights, rl.RLConfig(**CFG))
    pd.testing.assert_frame_equal(again.reset_index(drop=True), steps.reset_index(drop=True), check_dtype=False)


def test_rm_reward_logs_the_rule_pass_rate_alongside(dataset, engine, tiny_model_dir, tmp_path):
    funcs, weights = rl.make_rewards("reward_model", engine, rm=_LengthRM())
    assert weights == [0.0, 1.0] and funcs[1].__name__ == "reward_model"
    steps = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "m", funcs, weights,
                            rl.RLConfig(algorithm="rloo", **CFG), reward_name="reward_model")
    assert steps["rm_reward"].notna().all() and steps["rule_pass_rate"].between(0, 1).all()
    assert set(steps["reward"]) == {"reward_model"}


def test_training_resumes_from_a_checkpoint(dataset, engine, tiny_model_dir, tmp_path):
    funcs, weights = rl.make_rewards("rule", engine)
    rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "c", funcs, weights, rl.RLConfig(**CFG, save_steps=2),
                    keep_checkpoints=True)
    # leave what a crash right after the step-2 checkpoint of a 3-step run leaves: the checkpoint and that run's
    # fingerprint, nothing else
    (tmp_path / "c" / rl.MARKER).unlink()
    shutil.rmtree(tmp_path / "c" / "final")
    three = rl.RLConfig(**{**CFG, "max_steps": 3}, save_steps=2)
    (tmp_path / "c" / "fingerprint.txt").write_text(
        rl.training_fingerprint(dataset, str(tiny_model_dir), three, funcs, weights, "rule"))
    assert (tmp_path / "c" / "checkpoints" / "checkpoint-2").is_dir()
    steps = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "c", funcs, weights, three)
    assert steps["step"].tolist() == [1, 2, 3]  # steps 1-2 come back from the checkpoint's trainer state
    assert steps.set_index("step")["generation_s"].isna().tolist() == [True, True, False]  # only step 3 ran again
    assert (tmp_path / "c" / "final" / "config.json").is_file() and not (tmp_path / "c" / "checkpoints").exists()


def test_a_step_changes_the_policy_weights_and_other_inputs_retrain(dataset, engine, tiny_model_dir, tmp_path):
    """One optimisation step with a reward that varies within a group moves (nearly) every weight; a finished folder
    is reused only for the same inputs (fingerprint), and retrained when they change."""
    import torch
    from transformers import AutoModelForCausalLM

    funcs, weights = [_CompletionLength()], [1.0]  # varies within every group even when no code is extracted
    one = rl.RLConfig(**{**CFG, "max_steps": 1})
    first = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "w", funcs, weights, one,
                            reward_name="reward_model")
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "w" / "final", dtype=torch.float32).state_dict()
    # Embedding rows of tokens no prompt or completion used get no gradient (Adam leaves them as they are); every
    # other weight of the network must have moved.
    dense = [k for k in before if "embed" not in k and "lm_head" not in k]
    moved = sum(int((before[k] != after[k]).sum()) for k in dense)
    total = sum(before[k].numel() for k in dense)
    assert moved / total > 0.9, f"only {moved} of {total} non-embedding weights changed after one step"
    assert any((before[k] != after[k]).any() for k in before if "embed" in k)
    stamp = (tmp_path / "w" / "fingerprint.txt").read_text()
    saved = (tmp_path / "w" / "final" / "config.json").stat().st_mtime_ns
    again = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "w", funcs, weights, one,
                            reward_name="reward_model")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), first.reset_index(drop=True), check_dtype=False)
    assert (tmp_path / "w" / "final" / "config.json").stat().st_mtime_ns == saved  # reused, not retrained
    rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "w", funcs, weights,
                    rl.RLConfig(**{**CFG, "max_steps": 1, "learning_rate": 2e-5}), reward_name="reward_model")
    marker = json.loads((tmp_path / "w" / rl.MARKER).read_text())
    assert marker["config"]["learning_rate"] == 2e-5 and (tmp_path / "w" / "fingerprint.txt").read_text() != stamp


def test_bad_settings_are_refused(engine, dataset, tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="needs a reward model"):
        rl.make_rewards("reward_model", engine)
    with pytest.raises(ValueError, match="reward must be"):
        rl.make_rewards("vibes", engine)
    funcs, weights = rl.make_rewards("rule", engine)
    with pytest.raises(ValueError, match="multiple of"):
        rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "x", funcs, weights,
                        rl.RLConfig(num_generations=3, per_device_batch_size=4))


def test_divergence_flags_rm_up_rule_flat():
    steps = pd.DataFrame({"step": [1, 2, 3, 4], "rm_reward": [0.1, 0.5, 0.9, 1.4],
                          "rule_pass_rate": [0.2, 0.2, 0.1, 0.1]})
    assert rl.divergence(steps)["flag"]
    healthy = steps.assign(rule_pass_rate=[0.1, 0.2, 0.3, 0.4])
    assert not rl.divergence(healthy)["flag"]
    assert not rl.divergence(steps.head(2))["flag"]


def test_rm_reward_gives_no_code_the_lowest_score():
    r = rewards.RMReward(_LengthRM(), prefix="")
    out = r(completions=["def add(a, b):\n    return a + b\n", "no code here at all"], question=["q", "q"],
            entry_point=["add", "add"])
    assert out[1] < out[0] and len(r.seconds) == 1


def test_bf16_rl_keeps_fp32_master_weights_at_the_paper_learning_rate(dataset, tiny_model_dir, tmp_path):
    """The paper's 5e-7 with bf16 compute: the weights are fp32 (saved as such), so one step moves nearly every
    non-embedding weight; a bf16-loaded policy moved about 1% of them."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    config = rl.RLConfig(**{**CFG, "max_steps": 1, "learning_rate": 5e-7, "bf16": True})
    rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "b", [_CompletionLength()], [1.0], config,
                    reward_name="reward_model")
    after = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    dense = [k for k in after if "embed" not in k and "lm_head" not in k]
    assert {after[k].dtype for k in dense} == {torch.float32}
    moved = sum(int((after[k] != before[k].to(after[k].dtype)).sum()) for k in dense)
    assert moved / sum(after[k].numel() for k in dense) > 0.9


def _programs_for(solved: dict[str, list[bool]]) -> pd.DataFrame:
    rows = [{"question_id": q, "sample": i, "n_tests": 2, "n_passed": 2 if ok else 1}
            for q, flags in solved.items() for i, ok in enumerate(flags)]
    return pd.DataFrame(rows)


def test_rl_questions_mixed_takes_sometimes_solved_train_questions_closest_to_half_first():
    questions = pd.DataFrame({"question_id": ["a", "b", "c", "d", "e"], "question": list("ABCDE"),
                              "tests": [["assert 1"]] * 5, "entry_point": ["f"] * 5,
                              "split": ["train", "train", "train", "train", "heldout"]})
    programs = _programs_for({"a": [True, False, False, False], "b": [True, True, False, False],
                              "c": [False] * 4, "d": [True] * 4, "e": [True, False]})
    hard = pd.DataFrame({"question_id": ["c", "e"]})
    mixed = rl.rl_questions(questions, programs, hard, "mixed")
    assert mixed["question_id"].tolist() == ["b", "a"]  # c never, d always solved; e is held out
    assert rl.rl_questions(questions, programs, hard, "mixed", limit=1)["question_id"].tolist() == ["b"]
    assert rl.rl_questions(questions, programs, hard, "hard")["question_id"].tolist() == ["c"]
    with pytest.raises(ValueError, match="no question has samples that pass everything"):
        rl.rl_questions(questions, _programs_for({"c": [False] * 4}), hard, "mixed")
    with pytest.raises(ValueError, match="selection must be one of"):
        rl.rl_questions(questions, programs, hard, "easy")


def test_steps_record_the_share_of_groups_with_reward_variance_and_the_trend():
    log = [{"step": s, "reward": r, "frac_reward_zero_std": z, "rewards/rule_all_pass/mean": r}
           for s, r, z in ((1, 0.1, 0.75), (2, 0.2, 0.5), (3, 0.3, 0.25), (4, 0.4, 1.0))]
    steps = rl.steps_frame("rule", log, [], ["rule_all_pass"])
    assert steps["nonzero_advantage_share"].tolist() == [0.25, 0.5, 0.75, 0.0]
    trend = rl.reward_trend(steps).iloc[0]
    assert trend["nonzero_advantage_share"] == pytest.approx(0.375) and trend["steps_with_no_gradient"] == 1
    assert trend["reward_slope"] == pytest.approx(0.1) and trend["slope_ci_low"] <= 0.1 <= trend["slope_ci_high"]
    short = rl.reward_trend(steps.head(2)).iloc[0]
    assert short["reward_slope"] is None or short["reward_slope"] != short["reward_slope"]


def test_before_after_ci_pairs_the_problems():
    from acecoder_lib import analysis

    evals = pd.DataFrame({"policy": ["base"] * 4 + ["rl-rule"] * 4, "question_id": list("wxyz") * 2,
                          "benchmark": ["heldout"] * 8, "correct": [0, 0, 1, 1, 1, 0, 1, 1]})
    table = analysis.before_after_ci(evals).set_index("policy")
    assert table.loc["base", "pass_at_1"] == 0.5 and table.loc["rl-rule", "pass_at_1"] == 0.75
    assert table.loc["rl-rule", "change"] == 0.25 and table.loc["rl-rule", "change_ci_low"] <= 0.25
    assert table.loc["base", "change"] != table.loc["base", "change"]  # NaN: base is the reference


def test_verdicts_report_gradient_share_slope_and_change():
    trend = pd.DataFrame([{"reward": "rule", "steps": 6, "nonzero_advantage_share": 0.5, "steps_with_no_gradient": 3,
                           "reward_slope": 0.05, "slope_ci_low": 0.01, "slope_ci_high": 0.09}])
    changes = pd.DataFrame([{"policy": "base", "benchmark": "heldout", "problems": 24, "pass_at_1": 0.0,
                             "change": float("nan"), "change_ci_low": float("nan"), "change_ci_high": float("nan")},
                            {"policy": "rule", "benchmark": "heldout", "problems": 24, "pass_at_1": 0.083,
                             "change": 0.042, "change_ci_low": -0.04, "change_ci_high": 0.125}])
    assert rl.verdicts(trend, changes) == [
        "rule: 50% of the groups had reward variance (a gradient), 3 of 6 steps none",
        "rule: training reward slope per step +0.0500 [+0.0100, +0.0900]: above no trend (+0.0000)",
        "rule on heldout (24 problems): pass@1 8.3%, change from base 4.2% [-4.0%, 12.5%]: not distinguishable from "
        "no change (0.0%)"]

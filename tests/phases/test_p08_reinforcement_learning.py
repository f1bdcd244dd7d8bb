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


def test_detection_budget_extrapolates_from_the_run_noise_and_step_time():
    from acecoder_lib.core.metrics import steps_to_detect

    noise = [0.1, -0.1, -0.1, 0.1] * 2  # uncorrelated with the step: residuals of a flat fit, sd sqrt(8 x 0.01 / 6)
    steps = pd.DataFrame({"reward": "rule", "step": range(1, 9), "train_reward": [0.4 + e for e in noise],
                          "step_s": 30.0})
    budget = rl.detection_budget(steps, slopes=(0.01,), groups=(1, 4))
    sd = (8 * 0.01 / 6) ** 0.5
    assert budget["residual_sd"].tolist() == pytest.approx([sd, sd], rel=0.02)
    one, four = budget["steps_needed"].tolist()
    assert one == steps_to_detect(sd, 0.01) and four == steps_to_detect(sd / 2, 0.01) and four < one
    assert budget["hours"].tolist() == pytest.approx([one * 30 / 3600, four * 4 * 30 / 3600])
    assert rl.detection_budget(steps.head(2)).empty  # under 3 steps: no noise estimate


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


# --- the paper's schedule (issue 17 item 3) -------------------------------------------------------------------------
def test_schedule_maps_the_papers_rollout_and_train_batches_onto_trl():
    """PAPER_FACTS S7: rollout 256 questions x 8 samples, train batch 128, one episode over ~22K hard questions; on 8
    processes of 4 completions each: 4 accumulation steps, 2,048 completions per rollout = 16 steps of 128."""
    paper = rl.RLConfig(max_steps=0, episodes=1, num_generations=8, per_device_batch_size=4, train_batch=128,
                        rollout_questions=256)
    plan = rl.schedule(paper, 22_000, num_processes=8)
    assert plan == {"processes": 8, "gradient_accumulation_steps": 4, "train_batch": 128,
                    "generation_batch_size": 2048, "steps_per_generation": 64, "steps_per_rollout": 16,
                    "max_steps": 1375, "questions_seen": 22_000}
    assert rl.schedule(rl.RLConfig(**{**paper.__dict__, "max_steps": 80}), 22_000, 8)["questions_seen"] == 1280
    with pytest.raises(ValueError, match="TRAIN_BATCH"):
        rl.schedule(paper, 100, num_processes=3)  # 128 completions do not split over 3 x 4
    with pytest.raises(ValueError, match="ROLLOUT_QUESTIONS"):
        rl.schedule(rl.RLConfig(**{**paper.__dict__, "rollout_questions": 20}), 100, 8)  # 160 is not k x 128
    with pytest.raises(ValueError, match="MAX_STEPS"):
        rl.schedule(rl.RLConfig(max_steps=0, episodes=0), 100)
    with pytest.raises(ValueError, match="only 100 questions"):
        rl.schedule(paper, 100, 8)  # trl would find no full rollout and train nothing


def test_a_rollout_of_two_steps_generates_once_for_both(dataset, engine, tiny_model_dir, tmp_path):
    """rollout_questions = 2 questions x 2 samples = 4 completions, train batch 2: trl generates every other step and
    the step in between trains on the same rollout (no reward of its own)."""
    funcs, weights = rl.make_rewards("rule", engine)
    funcs = [_Recording(funcs[0])]
    config = rl.RLConfig(**{**CFG, "max_steps": 4, "per_device_batch_size": 2}, rollout_questions=2)
    steps = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "r", funcs, weights, config)
    assert len(funcs[0].limits) == 2 and all(len(batch) == 4 for batch in funcs[0].limits)  # two rollouts of 4
    assert steps["step"].tolist() == [1, 2, 3, 4]
    assert steps["train_reward"].notna().tolist() == [True, False, True, False]
    marker = json.loads((tmp_path / "r" / rl.MARKER).read_text())
    assert marker["schedule"]["steps_per_rollout"] == 2 and marker["processes"] == 1
    assert rl.reward_trend(steps).iloc[0]["steps"] == 4


def test_reinforce_pp_scales_by_the_batch_and_leaves_the_group_share_unrecorded(dataset, tiny_model_dir, tmp_path):
    config = rl.RLConfig(algorithm="reinforce_pp", **CFG)
    steps = rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "p", [_CompletionLength()], [1.0], config,
                            reward_name="reward_model")
    assert len(steps) == 2 and steps["train_reward"].notna().all() and steps["nonzero_advantage_share"].isna().all()
    assert "scale_rewards='batch'" in rl.REINFORCE_PP_NOTE


def test_long_prompts_are_left_out_not_cut(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    questions = _questions()
    questions.loc[1, "question"] = "Write neg(x). " + "Think about it carefully. " * 80
    full = rl.rl_dataset(questions, tok)
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in full["prompt"]]
    kept = rl.rl_dataset(questions, tok, max_prompt_tokens=(lengths[0] + lengths[1]) // 2)
    assert kept["question_id"] == ["a"] and kept["prompt"] == full["prompt"][:1]
    with pytest.raises(ValueError, match="MAX_PROMPT_LENGTH"):
        rl.rl_dataset(questions, tok, max_prompt_tokens=5)


def test_lora_trains_adapters_and_saves_a_merged_standard_folder(dataset, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    config = rl.RLConfig(**{**CFG, "max_steps": 1, "learning_rate": 1e-2}, lora_r=4)
    rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "l", [_CompletionLength()], [1.0], config,
                    reward_name="reward_model")
    final = tmp_path / "l" / "final"
    assert (final / "config.json").is_file() and not (final / "adapter_config.json").exists()
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).state_dict()
    after = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32).state_dict()
    assert set(after) == set(before)  # merged: no lora_A / lora_B left
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("q_proj" in k for k in changed) and not any("norm" in k for k in changed)  # adapters only


# --- launched training (issue 17 item 2): accelerate launch --num_processes 2, gloo on CPU ---------------------------
def test_two_processes_train_the_policy_and_agree_on_the_weights(dataset, engine, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from acecoder_lib.core import launch

    funcs, weights = rl.make_rewards("rule", engine)
    out, lines = tmp_path / "two", []
    config = rl.RLConfig(**{**CFG, "max_steps": 3, "per_device_batch_size": 2})  # 2 processes x 2 = 4 per step
    steps = rl.train_policy(dataset, str(tiny_model_dir), out, funcs, weights, config, num_processes=2,
                            log=lines.append)
    assert steps["step"].tolist() == [1, 2, 3] and steps["rule_pass_rate"].between(0, 1).all()
    marker = json.loads((out / rl.MARKER).read_text())
    assert marker["processes"] == 2 and marker["schedule"]["gradient_accumulation_steps"] == 1
    digests = {p.name: p.read_text() for p in (out / "ranks").glob("rank*.sha256")}
    assert sorted(digests) == ["rank0.sha256", "rank1.sha256"] and len(set(digests.values())) == 1
    saved = AutoModelForCausalLM.from_pretrained(out / "final")
    assert launch.weights_digest(saved) == digests["rank0.sha256"]
    assert any("'reward'" in line for line in lines)  # trl's per-step log reached the caller
    again = rl.train_policy(dataset, str(tiny_model_dir), out, funcs, weights, config, num_processes=2)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), steps.reset_index(drop=True), check_dtype=False)


def test_a_launch_that_cannot_start_touches_nothing(dataset, engine, tiny_model_dir, tmp_path):
    from acecoder_lib.core import launch

    with pytest.raises(launch.LaunchError, match="cannot be rebuilt in a launched process"):
        rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "x", [_CompletionLength()], [1.0],
                        rl.RLConfig(**CFG), num_processes=2)
    funcs, weights = rl.make_rewards("rule", engine)
    with pytest.raises(launch.LaunchError, match="DeepSpeed, which needs CUDA GPUs"):
        rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "x", funcs, weights, rl.RLConfig(**CFG),
                        num_processes=1, accelerate_config="8gpu_zero3")
    with pytest.raises(ValueError, match="TRAIN_BATCH"):
        rl.train_policy(dataset, str(tiny_model_dir), tmp_path / "x", funcs, weights,
                        rl.RLConfig(**CFG, train_batch=6), num_processes=2)
    assert not (tmp_path / "x").exists()


def test_the_reward_recipe_rebuilds_rule_and_reward_model_rewards(engine, tiny_model_dir, tmp_path):
    from acecoder_lib.llm.reward_model import RewardModel
    from acecoder_lib.phases import p06_train_reward_model as rmod

    pairs = pd.DataFrame({"question_id": ["q"] * 4, "prompt": ["Write add."] * 4,
                          "chosen": ["def add(a, b):\n    return a + b\n"] * 4,
                          "rejected": ["def add(a, b):\n    return 0\n"] * 4})
    rmod.train_reward_model(pairs, str(tiny_model_dir), tmp_path / "rm",
                            rmod.RMTrainConfig(max_steps=1, max_length=64, per_device_batch_size=4))
    funcs, weights = rl.make_rewards("mix", engine, rm=RewardModel.load(tmp_path / "rm"), config=rl.RLConfig())
    recipe = rl.reward_recipe(funcs, num_processes=2)
    assert recipe[0]["engine"]["workers"] == 1 and recipe[1]["folder"] == str(tmp_path / "rm")
    rebuilt, engines = rl.rewards_from_recipe(json.loads(json.dumps(recipe)), device="cpu")
    try:
        completion = ["\ndef add(a, b):\n    return a + b\n```"]
        kwargs = dict(tests=[["assert add(1, 2) == 3"]], entry_point=["add"], question=["Write add(a, b)."])
        assert rebuilt[0](completions=completion, **kwargs) == funcs[0](completions=completion, **kwargs) == [1.0]
        rm_score = funcs[1](completions=completion, **kwargs)
        assert rebuilt[1](completions=completion, **kwargs) == pytest.approx(rm_score)
        assert [f.__name__ for f in rebuilt] == [f.__name__ for f in funcs]
    finally:
        for e in engines:
            e.close()
    # What a notebook hands to a launched run: the same recipe, without loading the model in the kernel
    from acecoder_lib.llm.reward_model import LazyRewardModel, RewardModelError

    lazy = LazyRewardModel(tmp_path / "rm")
    lazy_funcs, _ = rl.make_rewards("mix", engine, rm=lazy, config=rl.RLConfig())
    assert rl.reward_recipe(lazy_funcs, num_processes=2) == recipe and not lazy.loaded
    assert lazy_funcs[1](completions=completion, **kwargs) == pytest.approx(rm_score) and lazy.loaded
    with pytest.raises(RewardModelError, match="not a model folder"):
        LazyRewardModel(tmp_path / "nothing")


def test_a_killed_two_process_launch_resumes_from_its_last_checkpoint(dataset, engine, tiny_model_dir, tmp_path):
    import signal
    import threading
    import time

    import psutil

    from acecoder_lib.core import launch

    funcs, weights = rl.make_rewards("rule", engine)
    out, errors = tmp_path / "k", []
    config = rl.RLConfig(**{**CFG, "max_steps": 200, "per_device_batch_size": 2, "save_steps": 5})

    def first_run():
        try:
            rl.train_policy(dataset, str(tiny_model_dir), out, funcs, weights, config, num_processes=2, log=None)
        except launch.LaunchError as e:
            errors.append(e)

    worker = threading.Thread(target=first_run)
    worker.start()
    saved = out / "checkpoints" / "checkpoint-5"
    deadline = time.monotonic() + 300
    while not all((saved / f).is_file() for f in ("trainer_state.json", "rng_state_0.pth", "rng_state_1.pth")):
        assert time.monotonic() < deadline and worker.is_alive(), "the first launch never saved checkpoint-5"
        time.sleep(0.05)
    launcher = psutil.Process(int((out / "launch" / "launch.pid").read_text()))
    for proc in [*launcher.children(recursive=True), launcher]:  # every rank and the launcher, mid-training
        proc.send_signal(signal.SIGKILL)
    worker.join(60)
    assert errors and "exited with" in str(errors[0]) and not (out / rl.MARKER).exists()
    done = sorted(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*"))
    assert done and done[-1] < 200
    # rerun: the same config would resume the same way; a max_steps just past the checkpoint keeps the test short,
    # with its fingerprint stamped as if the killed run had used it (else the folder is wiped, not resumed)
    short = rl.RLConfig(**{**config.__dict__, "max_steps": done[-1] + 2})
    (out / "fingerprint.txt").write_text(rl.training_fingerprint(dataset, str(tiny_model_dir), short, funcs, weights,
                                                                 "rule"))
    steps = rl.train_policy(dataset, str(tiny_model_dir), out, funcs, weights, short, num_processes=2, log=None)
    marker = json.loads((out / rl.MARKER).read_text())
    assert marker["resumed_from_step"] == done[-1] and marker["processes"] == 2
    assert steps["step"].tolist() == list(range(1, done[-1] + 3))
    assert steps["generation_s"].notna().sum() == 2  # only the two steps after the checkpoint ran again


# ------------------------------------------------------------------------------------------ stop at the code's end
def test_code_end_tokens_are_the_fence_tokens_of_the_vocabulary(smollm2_dir, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    ids = rl.code_end_token_ids(tok)
    assert ids and all("```" in tok.decode([i]) for i in ids)
    # the closing fence of a completion, as the policy writes it, is one of them
    completion = tok("    return a + b\n```\nThis function adds.", add_special_tokens=False)["input_ids"]
    assert set(completion) & set(ids)
    assert rl.code_end_token_ids(AutoTokenizer.from_pretrained(tiny_model_dir)) == []  # no fence token: no stop


def test_generation_stops_at_the_closing_fence_and_keeps_eos(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from acecoder_lib.llm import prompts

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    eos_before = model.generation_config.eos_token_id
    added = rl.stop_at_code_end(model, tok)
    eos = model.generation_config.eos_token_id
    assert added and set(added) <= set(eos) and tok.eos_token_id in eos
    assert set([eos_before] if isinstance(eos_before, int) else eos_before) <= set(eos)
    assert rl.stop_at_code_end(model, tok) == [] and model.generation_config.eos_token_id == eos  # idempotent
    text = tok.apply_chat_template(prompts.solve_messages("Write a function add(a, b) that returns a + b.",
                                                          ["assert add(1, 2) == 3"], 1),
                                   tokenize=False, continue_final_message=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=120, do_sample=False)[0, ids["input_ids"].shape[1]:]
    completion = tok.decode(out, skip_special_tokens=True)
    assert completion.rstrip().endswith("```") and completion.count("```") == 1, completion
    assert len(out) < 120

"""``paper.yaml`` carries the paper's reward-model, sampling, Best-of-N and RL hyper-parameters (issue 17).

The expected values are transcribed here from ../shared/PAPER_FACTS.md (section numbers in the comments), so a
profile edit that drifts from the paper fails this test; the batch arithmetic is checked through the same functions
the notebooks call (``p08.schedule``)."""
from __future__ import annotations

import pytest

from acecoder_lib.core import profiles
from acecoder_lib.phases import p08_reinforcement_learning as rl

# PAPER_FACTS S5: Bradley-Terry RM on Qwen2.5-Coder-7B-Instruct, full fine-tune, 1 epoch, lr 1e-5 cosine, warmup 0.1,
# batch 128, bf16, cutoff 2048 tokens, "8 x A100"
RM = {"BASE_MODEL": "Qwen/Qwen2.5-Coder-7B-Instruct", "EPOCHS": 1.0, "LEARNING_RATE": 1e-5, "WARMUP_RATIO": 0.1,
      "MAX_LENGTH": 2048, "BF16": True, "LORA_R": None, "NUM_PROCESSES": 8}
RM_BATCH = 128
# PAPER_FACTS S4: 16 samples per question, temperature 0.7, top_p 1.0, max_tokens 1024, Qwen2.5-Coder-7B-Instruct
SAMPLING = {"POLICY_MODEL": "Qwen/Qwen2.5-Coder-7B-Instruct", "N_SAMPLES": 16, "TEMPERATURE": 0.7, "TOP_P": 1.0,
            "MAX_NEW_TOKENS": 1024}
# PAPER_FACTS S6: temperature 1.0, N up to 64 (16, 32, 64), oracle = pass@64
BON = {"TEMPERATURE": 1.0, "N_MAX": 64}
# PAPER_FACTS S7: Reinforce++, rule reward or the RM, the hard subset, rollout batch 256, 8 samples per question,
# train batch 128, lr 5e-7, KL 0.01, 1 episode, prompt/generation length 2048/2048
RL = {"ROLLOUT_QUESTIONS": 256, "NUM_GENERATIONS": 8, "TRAIN_BATCH": 128, "LEARNING_RATE": 5e-7, "BETA": 0.01,
      "EPISODES": 1, "MAX_PROMPT_LENGTH": 2048, "MAX_COMPLETION_LENGTH": 2048, "QUESTIONS": "hard"}


@pytest.fixture(scope="module")
def paper():
    return profiles.load_profile("paper")["notebooks"]


def _check(section: dict, expected: dict):
    for key, value in expected.items():
        if value is None:  # the paper's default: the key must be absent or falsy (LoRA off: a full fine-tune)
            assert not section.get(key), key
        elif isinstance(value, float):
            assert section.get(key) == pytest.approx(value), key
        else:
            assert section.get(key) == value, key


def test_the_reward_model_is_trained_as_the_paper_did(paper):
    rm = paper["06_train_reward_model"]
    _check(rm, RM)
    assert rm["BATCH_SIZE"] * rm["GRAD_ACCUM"] * rm["NUM_PROCESSES"] == RM_BATCH
    assert rm["MAX_STEPS"] == 0 and rm["PAIRS_SOURCE"] == "sampled"


def test_sampling_and_best_of_n_use_the_papers_settings(paper):
    _check(paper["04_sample_programs"], SAMPLING)
    bon = paper["07_best_of_n"]
    _check(bon, BON)
    assert {16, 32, 64} <= set(bon["NS"])


def test_rl_carries_every_hyper_parameter_and_the_schedule_divides_as_the_papers(paper):
    section = paper["08_reinforcement_learning"]
    _check(section, RL)
    assert set(section["REWARDS"]) == {"rule", "reward_model"} and section["ALGORITHM"] == "reinforce_pp"
    config = rl.RLConfig(max_steps=section["MAX_STEPS"], episodes=section["EPISODES"],
                         num_generations=section["NUM_GENERATIONS"], per_device_batch_size=section["BATCH_SIZE"],
                         train_batch=section["TRAIN_BATCH"], rollout_questions=section["ROLLOUT_QUESTIONS"])
    plan = rl.schedule(config, 22_000, section["NUM_PROCESSES"])  # S7: ~22K hard questions
    assert plan["train_batch"] == 128 and plan["generation_batch_size"] == 256 * 8 and plan["steps_per_rollout"] == 16
    assert plan["questions_seen"] == 22_000  # one episode


# PAPER_FACTS S4: the pair rule (strict), margin 0.4, top 0.8, zero pass rates excluded
PAIRS = {"RULE": "paper", "MARGIN": 0.4, "TOP": 0.8, "FLOOR": 0.0}
# PAPER_FACTS S8: CodeRM-8B writes the tests, 100 per question
SCALING = {"TEST_MODEL": "KAKA22/CodeRM-8B", "LLM_MAX_TESTS": 100, "TEST_STYLE": "unittest", "PROBLEMS": "eval"}


def test_every_notebook_has_a_paper_section(paper):
    from acecoder_lib.core import paths

    names = sorted(p.stem for p in (paths.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(names) == 11 and sorted(paper) == names


def test_pairs_and_test_scaling_follow_the_papers(paper):
    _check(paper["05_build_pairs"], PAIRS)
    _check(paper["09_test_scaling"], SCALING)
    assert max(paper["09_test_scaling"]["MS"]) == 100
    assert paper["07_best_of_n"]["BENCHMARKS"][:2] == ["humaneval+", "mbpp+"]  # S6: HE/HE+/MBPP/MBPP+ via evalplus

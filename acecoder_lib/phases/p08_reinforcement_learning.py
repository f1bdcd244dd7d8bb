"""Phase 08 logic: reinforcement learning of the policy with the rule reward or the reward model (ACECODER S7).

    dataset = rl.rl_dataset(hard_questions, tokenizer)                          # prompts + tests + question text
    rewards, weights = rl.make_rewards("rule", engine=engine)                   # or "reward_model" / "mix"
    log = rl.train_policy(dataset, "smollm2-135m-instruct", out_dir, rewards, weights, RLConfig(max_steps=8))

The paper trains with Reinforce++ (OpenRLHF), which trl has no trainer of. ``algorithm``:
- ``grpo`` (default): trl's ``GRPOTrainer``, advantages normalised within each question's group;
- ``reinforce_pp``: the closest trl setting to OpenRLHF's ``reinforce_baseline`` estimator (REINFORCE++-baseline):
  ``GRPOTrainer`` with ``scale_rewards="batch"``, i.e. each reward minus its group's mean, divided by the standard
  deviation over the whole batch (not the group), with the KL to the reference weighted by ``beta``. Where it differs
  from OpenRLHF's Reinforce++: trl puts the KL in the loss (its k3 estimator, ``beta`` x KL) where OpenRLHF folds a
  per-token KL penalty into the reward before normalising; trl subtracts the group mean where plain Reinforce++
  (one sample per prompt) subtracts the batch mean; both clip the ratio at 0.2 (PPO-style). See ``REINFORCE_PP_NOTE``.
- ``rloo``: trl's ``RLOOTrainer`` (a leave-one-out baseline).
The paper's schedule (rollout batch 256 questions x 8 samples, train batch 128, one episode) maps onto trl's batch
settings in ``schedule``. Rewards:
- ``rule``: 1.0 only when every test passes (the paper's), or the pass rate (``rule_mode="pass_rate"``); run by the
  sandboxed engine in parallel (identical programs of one group run once);
- ``reward_model``: the phase-06 model's score of (question, extracted program); a completion with no code gets the
  batch's lowest score minus 1;
- ``mix``: ``mix_weight`` x rule + (1 - mix_weight) x reward model, through trl's ``reward_weights``.
The rule reward is ALWAYS computed (with weight 0 when training on the RM alone) so every step logs the rule pass
rate of the very completions the RM scored: the reward-hacking monitor (``divergence``) compares the two.

Prompts are plain strings: the chat template over the paper's solve prompt with the answer prefilled
(``prompts.SOLVE_PREFILL``), so the policy continues inside a python block; the reward puts the prefill back
before extracting code. Step time is split into generation (the model's ``generate``, timed), reward (the reward
functions' own timers) and the rest (log-probs, loss, optimiser).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import launch, timing
from ..core.paths import checkpoints
from ..core.schemas import ENTRY_POINT, QUESTION, QUESTION_ID, RL_STEPS, TESTS
from ..llm import prompts
from ..rewards import RMReward, make_rule_reward

ALGORITHMS = ("grpo", "rloo", "reinforce_pp")
REINFORCE_PP_NOTE = (
    "reinforce_pp is trl's GRPOTrainer with scale_rewards='batch' (group-mean baseline, batch-level std "
    "normalisation), the closest trl setting to OpenRLHF's REINFORCE++-baseline. It differs from the paper's "
    "Reinforce++ in the KL: trl adds beta x KL (k3 estimator) to the loss, OpenRLHF subtracts a per-token KL penalty "
    "from the reward before the advantages are normalised; and in the baseline: plain Reinforce++ uses the batch mean "
    "where this uses each question's group mean. Its logs' share of groups with reward variance is not recorded "
    "(trl's zero-std flag is batch-level under batch scaling).")
REWARDS = ("rule", "reward_model", "mix")
MARKER = "acecoder_rl.json"
PAPER = {"rollout_questions": 256, "samples": 8, "train_batch": 128, "lr": 5e-7, "kl": 0.01, "episodes": 1,
         "prompt_tokens": 2048, "completion_tokens": 2048}  # PAPER_FACTS S7


@dataclass
class RLConfig:
    """trl settings; defaults are the paper's where a CPU run allows (PAPER_FACTS S7)."""

    algorithm: str = "grpo"
    max_steps: int = 8                  # optimisation steps; 0: ``episodes`` passes over the questions
    episodes: float = 0.0               # used when max_steps is 0; paper 1
    learning_rate: float = 5e-7
    beta: float = 0.01                  # KL coefficient, paper 0.01
    num_generations: int = 8            # samples per question, paper 8
    per_device_batch_size: int = 8      # completions per process and micro-step
    gradient_accumulation_steps: int = 1  # used when train_batch is 0
    train_batch: int = 0                # completions per optimisation step over all processes (paper 128); 0:
                                        # per_device_batch_size x processes x gradient_accumulation_steps
    rollout_questions: int = 0          # questions per rollout (paper 256): each rollout's completions are split
                                        # into optimisation steps of train_batch; 0: one rollout per step
    max_completion_length: int = 256    # paper 2048
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    save_steps: int = 0                 # 0: a checkpoint every max(10, max_steps // 4) steps
    bf16: bool = False
    use_vllm: bool = False              # trl's vLLM generation: GPU only (fails on CPU at weight sync)
    vllm_mode: str = "colocate"         # colocate (vLLM in the training processes) or server (``trl vllm-serve``)
    vllm_gpu_memory_utilization: float = 0.3  # colocate: the share of each GPU vLLM may take
    vllm_tensor_parallel_size: int = 1  # colocate: GPUs per vLLM engine
    lora_r: int = 0                     # 0: full fine-tune (paper); > 0: LoRA of that rank (peft), merged at the end
    lora_alpha: int = 16
    gradient_checkpointing: bool = False  # trl defaults to True, which also turns the KV cache off during rollouts:
                                          # ~10x slower generation on CPU; turn on for memory on a GPU
    rule_mode: str = "all_pass"         # or pass_rate
    mix_weight: float = 0.5             # rule weight in "mix"
    stop_at_code_end: bool = True       # end a completion at the fence that closes the prefilled code block: the
                                        # prose after it is read by no reward and cost ~45% of the tokens (default
                                        # run, 2026-12-07); the paper's completions run to EOS (False)


def schedule(config: RLConfig, n_questions: int, num_processes: int = 1) -> dict:
    """trl's batch settings for ``config`` on ``n_questions`` questions and ``num_processes`` processes, with the
    paper's terms (PAPER_FACTS S7: rollout batch 256 questions x 8 samples = 2,048 completions per rollout, train batch
    128 completions per optimisation step, so 16 steps per rollout; one episode over the questions):

    - ``gradient_accumulation_steps``: train_batch / (per_device_batch_size x processes);
    - ``generation_batch_size``: completions per rollout (trl generates them at once and splits them into
      ``steps_per_generation`` micro-steps);
    - ``max_steps``: config.max_steps, or ceil(questions x samples x episodes / train_batch).
    Raises ValueError (naming the parameter) when the numbers do not divide."""
    import math

    procs = max(1, int(num_processes))
    micro = config.per_device_batch_size * procs  # completions per micro-step over all processes
    if config.train_batch:
        if config.train_batch % micro:
            raise ValueError(f"train batch {config.train_batch} (TRAIN_BATCH) is not a multiple of "
                             f"{config.per_device_batch_size} completions per process x {procs} processes")
        accum = config.train_batch // micro
    else:
        accum = config.gradient_accumulation_steps
    train_batch = micro * accum
    if train_batch % config.num_generations:
        raise ValueError(f"the train batch ({train_batch} completions per optimisation step) must be a multiple of "
                         f"num_generations ({config.num_generations}): every question's samples in one step")
    if config.rollout_questions:
        if config.rollout_questions > n_questions:
            raise ValueError(f"a rollout of {config.rollout_questions} questions (ROLLOUT_QUESTIONS) but only "
                             f"{n_questions} questions to train on: trl would find no full rollout and train nothing")
        generation = config.rollout_questions * config.num_generations
        if generation % train_batch:
            raise ValueError(f"a rollout of {config.rollout_questions} questions x {config.num_generations} samples "
                             f"({generation} completions, ROLLOUT_QUESTIONS) is not a whole number of train batches "
                             f"of {train_batch}")
    else:
        generation = train_batch
    if config.max_steps > 0:
        max_steps = config.max_steps
    elif config.episodes > 0:
        max_steps = max(1, math.ceil(n_questions * config.num_generations * config.episodes / train_batch))
    else:
        raise ValueError("set max_steps (MAX_STEPS) or episodes (EPISODES): one of them must be positive")
    return {"processes": procs, "gradient_accumulation_steps": accum, "train_batch": train_batch,
            "generation_batch_size": generation, "steps_per_generation": generation // micro,
            "steps_per_rollout": generation // train_batch, "max_steps": max_steps,
            "questions_seen": max_steps * train_batch // config.num_generations}


SELECTIONS = ("hard", "mixed")


def rl_questions(questions: pd.DataFrame, programs: pd.DataFrame, hard: pd.DataFrame, how: str = "hard",
                 limit: int = 0) -> pd.DataFrame:
    """The train questions RL trains on (rows of ``03_questions``), first ``limit`` (0: all):

    - ``hard``: the paper's subset (``05_hard``: mean pass rate at most the median, spread at least the median);
    - ``mixed``: questions whose phase-04 samples pass every test sometimes but not always, so the all-pass rule's
      reward differs within a group of samples (a group of equal rewards has zero advantage: no gradient), the
      share closest to 1/2 first. For a weak policy the paper's subset is mostly questions it never solves.
    Held-out questions are never chosen."""
    if how not in SELECTIONS:
        raise ValueError(f"RL question selection must be one of {SELECTIONS}, got {how!r}")
    train = questions[questions["split"] == "train"] if "split" in questions else questions
    if how == "hard":
        chosen = train[train[QUESTION_ID].isin(set(hard[QUESTION_ID]))]
    else:
        solved = ((programs["n_passed"] == programs["n_tests"]) & (programs["n_tests"] > 0)).groupby(
            programs[QUESTION_ID]).mean()
        mixed = solved[(solved > 0) & (solved < 1)]
        order = (mixed - 0.5).abs().sort_values(kind="stable").index
        chosen = train.set_index(QUESTION_ID).reindex([q for q in order if q in set(train[QUESTION_ID])])
        chosen = chosen.reset_index()
    if chosen.empty:
        raise ValueError(f"no train question fits the {how!r} selection"
                         + (": no question has samples that pass everything and samples that do not; try 'hard'"
                            if how == "mixed" else ": phase 05 found no hard questions; try 'mixed'"))
    return (chosen.head(limit) if limit else chosen).reset_index(drop=True)


FENCE = "```"


def code_end_token_ids(tokenizer) -> list[int]:
    """Ids of the vocabulary's tokens that contain a code fence. The RL prompt ends inside a prefilled code block, so
    the first fence the policy writes closes its program (``code.extract`` reads up to it); generation may stop there.
    Byte-level BPE keeps the backtick as it is in its token strings, and so does sentencepiece; an empty list means
    the tokenizer has no such token (nothing to stop at)."""
    return sorted(i for t, i in tokenizer.get_vocab().items() if FENCE in t)


def stop_at_code_end(model, tokenizer) -> list[int]:
    """Add the fence tokens to ``model.generation_config.eos_token_id``, which trl reads for its generation and for
    the completion mask (everything after the first of them is masked out of the loss); returns the ids added."""
    ids = code_end_token_ids(tokenizer)
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.insert(0, tokenizer.eos_token_id)
    added = [i for i in ids if i not in eos]
    model.generation_config.eos_token_id = eos + added
    return added


def rl_dataset(questions: pd.DataFrame, tokenizer, n_tests_shown: int = 2,
               time_limits: dict[str, list[float]] | None = None, max_prompt_tokens: int = 0):
    """A ``datasets.Dataset``: ``prompt`` (chat template + prefill, a string), ``tests``, ``entry_point``,
    ``question`` (for the reward model) and ``question_id``; with ``time_limits`` (question_id -> CPU seconds per
    test, ``solutions.test_limits``), also a ``time_limits`` column the rule reward runs each test under.

    ``max_prompt_tokens`` > 0 (the paper's prompt length, 2,048) leaves out the questions whose prompt is longer
    (rather than cutting a question short; trl has no prompt limit of its own): compare the dataset's length with
    ``questions``'. Raises ValueError when none is left."""
    import datasets

    texts = [tokenizer.apply_chat_template(prompts.solve_messages(q.question, list(q.tests), n_tests_shown),
                                           tokenize=False, continue_final_message=True)
             for q in questions.itertuples()]
    if max_prompt_tokens:
        keep = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) <= max_prompt_tokens for t in texts]
        if not any(keep):
            raise ValueError(f"every prompt is longer than {max_prompt_tokens} tokens (MAX_PROMPT_LENGTH)")
        questions = questions[keep]
        texts = [t for t, k in zip(texts, keep) if k]
    columns = {"prompt": texts, TESTS: [list(t) for t in questions[TESTS]],
               ENTRY_POINT: questions[ENTRY_POINT].tolist(), QUESTION: questions[QUESTION].tolist(),
               QUESTION_ID: questions[QUESTION_ID].tolist()}
    if time_limits is not None:
        columns["time_limits"] = [[float(x) for x in time_limits[q]] for q in questions[QUESTION_ID]]
    return datasets.Dataset.from_dict(columns)


def make_rewards(kind: str, engine, rm=None, config: RLConfig | None = None,
                 rm_batch_size: int = 8) -> tuple[list, list[float]]:
    """(reward functions, weights) for trl: the rule reward first (always), the RM second when used (scoring
    ``rm_batch_size`` sequences per forward pass)."""

    config = config or RLConfig()
    if kind not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {kind!r}")
    rule = make_rule_reward(mode=config.rule_mode, engine=engine, prefix=prompts.SOLVE_PREFILL,
                            name=f"rule_{config.rule_mode}")
    if kind == "rule":
        return [rule], [1.0]
    if rm is None:
        raise ValueError(f"reward {kind!r} needs a reward model (phase 06's runs/<RUN_NAME>/06_reward_model)")
    if kind == "reward_model":
        return [rule, RMReward(rm, batch_size=rm_batch_size)], [0.0, 1.0]
    return [rule, RMReward(rm, batch_size=rm_batch_size)], [config.mix_weight, 1.0 - config.mix_weight]


class _Timing:
    """Times the policy's ``generate`` calls and each optimisation step (a transformers TrainerCallback)."""

    def __init__(self):
        from transformers import TrainerCallback

        timing = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timing.step_start = time.perf_counter()
                timing.gen_mark, timing.reward_mark = timing.generation_s, timing.reward_seconds()

            def on_step_end(self, args, state, control, **kw):
                total = time.perf_counter() - timing.step_start
                gen = timing.generation_s - timing.gen_mark
                rew = timing.reward_seconds() - timing.reward_mark
                timing.steps.append({"step": state.global_step, "step_s": total, "generation_s": gen,
                                     "reward_s": rew, "optimisation_s": max(0.0, total - gen - rew)})

        self.callback = Callback()
        self.generation_s, self.steps, self.reward_funcs = 0.0, [], []
        self.step_start = self.gen_mark = self.reward_mark = 0.0

    def reward_seconds(self) -> float:
        total = 0.0
        for f in self.reward_funcs:
            if isinstance(f, RMReward):
                total += sum(f.seconds)
            else:  # a RuleReward keeps its calls' stats; any other trl reward function is not timed
                total += sum(h.get("seconds", 0.0) for h in getattr(f, "history", ()))
        return total

    def wrap(self, model) -> None:
        original = model.generate

        def timed_generate(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.generation_s += time.perf_counter() - t0

        model.generate = timed_generate


def verdicts(trend: pd.DataFrame, changes: pd.DataFrame | None = None) -> list[str]:
    """Sentences from the numbers: per reward type the share of groups with reward variance and the training reward's
    slope against 0 (``reward_trend`` rows); per trained policy and benchmark the greedy pass@1 change from the base
    against 0 (``analysis.before_after_ci`` rows)."""
    from ..core.metrics import verdict

    out = []
    for r in trend.itertuples():
        out.append(f"{r.reward}: {r.nonzero_advantage_share:.0%} of the groups had reward variance (a gradient), "
                   f"{r.steps_with_no_gradient} of {r.steps} steps none")
        out.append(verdict(f"{r.reward}: training reward slope per step", r.reward_slope, r.slope_ci_low,
                           r.slope_ci_high, 0.0, "no trend", percent=False))
    if changes is not None:
        for r in changes[changes["change"].notna()].itertuples():
            out.append(verdict(f"{r.policy} on {r.benchmark} ({int(r.problems)} problems): pass@1 {r.pass_at_1:.1%}, "
                               "change from base", r.change, r.change_ci_low, r.change_ci_high, 0.0, "no change"))
    return out


def reward_trend(steps: pd.DataFrame) -> pd.DataFrame:
    """Per reward type: steps, the mean share of groups with reward variance (non-zero advantage), and the slope of
    the training reward over steps with its 95% t-interval (``core.metrics.slope_ci``; None under 3 steps)."""
    from ..core.metrics import slope_ci

    rows = []
    for reward, g in steps.groupby("reward", sort=False):
        rolled = g.dropna(subset=["train_reward"])  # steps that trained on an earlier rollout have no reward
        slope, lo, hi = slope_ci(rolled["step"], rolled["train_reward"])
        share = g["nonzero_advantage_share"].dropna() if "nonzero_advantage_share" in g else pd.Series(dtype=float)
        rows.append({"reward": reward, "steps": len(g),
                     "nonzero_advantage_share": float(share.mean()) if len(share) else float("nan"),
                     "steps_with_no_gradient": int((share == 0).sum()),
                     "reward_slope": slope, "slope_ci_low": lo, "slope_ci_high": hi})
    return pd.DataFrame(rows)


def detection_budget(steps: pd.DataFrame, slopes=(0.005, 0.01, 0.02), groups=(1,), rewards=("rule",),
                     alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """What a run would need for its training-reward trend to show: per reward type in ``rewards`` (the rule reward's
    0-1 scale by default: hypothesised slopes in RM-score units would mean nothing), each hypothesised slope (reward
    per step) and number of question groups per step, the steps and hours at which the slope's CI excludes 0 with
    probability ``power`` (``core.metrics.steps_to_detect``).

    Extrapolated from this run: the noise is the residual standard deviation of its training reward around its own
    least-squares trend (with one group a step it is mostly which question was drawn), divided by sqrt(groups) for
    several independent groups a step; the time is the run's mean step time x groups (a step's generation and
    optimisation grow with its completions). Only the run's own group count is measured; for others the same slope
    per step is assumed, although more groups a step also give each step more signal. The slopes are hypotheses,
    not estimates: this run's own slope is in ``reward_trend``."""
    from ..core.metrics import steps_to_detect, trend_residual_sd

    rows = []
    for reward, g in steps.groupby("reward", sort=False):
        if reward not in rewards:
            continue
        rolled = g.dropna(subset=["train_reward"])
        if len(rolled) < 3:
            continue
        sd = trend_residual_sd(rolled["step"], rolled["train_reward"])
        step_s = float(rolled["step_s"].mean()) if "step_s" in rolled else float("nan")
        for k in groups:
            for b in slopes:
                t = steps_to_detect(sd / np.sqrt(k), b, alpha=alpha, power=power)
                rows.append({"reward": reward, "slope_per_step": b, "groups_per_step": k, "residual_sd": sd,
                             "steps_needed": t, "hours": t * step_s * k / 3600 if t else float("nan")})
    return pd.DataFrame(rows, columns=["reward", "slope_per_step", "groups_per_step", "residual_sd", "steps_needed",
                                       "hours"])


def steps_frame(reward: str, log_history: list[dict], timing: list[dict], reward_names: list[str],
                group_variance: bool = True) -> pd.DataFrame:
    """``08_rl_steps`` rows from trl's log history (one entry per step at logging_steps=1) and the timer. A step
    that trained on an earlier step's rollout (``rollout_questions`` larger than one step's worth) has no reward of its
    own: its reward columns are NaN. ``group_variance`` False (batch-scaled rewards, ``reinforce_pp``): trl's zero-std
    flag is then batch-level, so the share of groups with reward variance is left NaN."""
    times = {t["step"]: t for t in timing}
    rule, rm = reward_names[0], (reward_names[1] if len(reward_names) > 1 else None)
    rows = []
    for e in log_history:
        if "step" not in e or not ("reward" in e or "loss" in e):
            continue
        t = times.get(int(e["step"]), {})
        rows.append({"reward": reward, "step": int(e["step"]), "train_reward": float(e.get("reward", float("nan"))),
                     "rule_pass_rate": float(e.get(f"rewards/{rule}/mean", float("nan"))),
                     "rm_reward": float(e.get(f"rewards/{rm}/mean", float("nan"))) if rm else float("nan"),
                     "mean_length": float(e.get("completions/mean_length", float("nan"))),
                     "no_code_frac": float(e.get(f"{rule}/no_code_frac", float("nan"))),
                     "kl": float(e.get("kl", float("nan"))),
                     "nonzero_advantage_share": (1.0 - float(e.get("frac_reward_zero_std", float("nan"))))
                     if group_variance else float("nan"),
                     **{k: float(t.get(k, float("nan")))
                        for k in ("generation_s", "reward_s", "optimisation_s", "step_s")}})
    return pd.DataFrame(rows, columns=RL_STEPS.column_names)


def training_fingerprint(dataset, base: str, config: RLConfig, reward_funcs: list, reward_weights: list[float],
                         reward_name: str) -> str:
    """sha256 of what determines a trained policy: base model, config, rewards (with the reward model's identity)
    and weights, and every row of the training set."""
    import hashlib

    rewards = [getattr(f, "fingerprint", None) or getattr(f, "__name__", type(f).__name__) for f in reward_funcs]
    head = {"base": str(base), "config": asdict(config), "rewards": rewards, "weights": list(reward_weights),
            "reward_name": reward_name}
    h = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode())
    h.update(json.dumps(dataset.to_dict(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


@timing.timed("training")
def train_policy(dataset, base: str, out_dir: str | Path, reward_funcs: list, reward_weights: list[float],
                 config: RLConfig | None = None, reward_name: str = "rule", progress: bool = False,
                 keep_checkpoints: bool = False, num_processes: int = 0, accelerate_config: str | None = None,
                 log=print) -> pd.DataFrame:
    """RL of the policy ``base`` (registry name or folder) on ``dataset``; the final model goes to
    ``out_dir/final`` (a standard transformers folder), checkpoints to ``out_dir/checkpoints`` (a rerun after a
    crash resumes from the last one, and they are deleted once the final model is saved unless
    ``keep_checkpoints``; a finished ``out_dir`` of the same ``training_fingerprint`` returns its saved step log without
    training, one of another fingerprint is wiped and trained anew).

    ``num_processes`` 0 trains in this process (the notebook's kernel); >= 1 runs this module's CLI under
    ``accelerate launch`` (``core.launch``) with that many processes (``accelerate_config``: a file or a name under
    ``configs/accelerate/``), its log lines going to ``log``. Each process rebuilds the rewards from
    ``reward_recipe`` (its own sandbox engine with a share of the workers; the reward model on its own device), so
    only the rule and reward-model rewards of ``make_rewards`` can be launched. The launch and the schedule are
    checked before anything under ``out_dir`` is touched."""
    config = config or RLConfig()
    if config.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {config.algorithm!r}")
    launched = bool(num_processes or accelerate_config)
    procs = max(1, num_processes) if launched else 1
    if launched:
        launch.check(procs, accelerate_config)
        recipe = reward_recipe(reward_funcs, procs)  # refuses a reward a launched process cannot rebuild
    schedule(config, len(dataset), procs)  # refuses numbers that do not divide
    out_dir = Path(out_dir)
    fingerprint = training_fingerprint(dataset, base, config, reward_funcs, reward_weights, reward_name)
    stamp = out_dir / "fingerprint.txt"
    if out_dir.exists() and (not stamp.is_file() or stamp.read_text().strip() != fingerprint):
        import shutil
        shutil.rmtree(out_dir)  # trained (or half-trained) on other inputs: never reused, never resumed
    if (out_dir / MARKER).is_file():
        return _saved_steps(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    if not launched:
        return run_trainer(dataset, base, out_dir, reward_funcs, reward_weights, config, reward_name, progress,
                           keep_checkpoints)
    work = out_dir / "launch"
    work.mkdir(exist_ok=True)
    (work / "dataset.json").write_text(json.dumps(dataset.to_dict(), default=str))
    spec = {"dataset": str(work / "dataset.json"), "base": str(base), "out_dir": str(out_dir),
            "config": asdict(config), "rewards": recipe, "weights": list(reward_weights),
            "reward_name": reward_name, "keep_checkpoints": keep_checkpoints}
    launch.launch(__name__, spec, work, procs, accelerate_config, log=log)
    return _saved_steps(out_dir)


def _saved_steps(out_dir: Path) -> pd.DataFrame:
    """The step log a finished training saved (``run_trainer``'s steps.json), in ``08_rl_steps``' columns."""
    return pd.read_json(out_dir / "steps.json", orient="records").reindex(columns=RL_STEPS.column_names)


def run_trainer(dataset, base: str, out_dir: str | Path, reward_funcs: list, reward_weights: list[float],
                config: RLConfig, reward_name: str = "rule", progress: bool = False,
                keep_checkpoints: bool = False) -> pd.DataFrame | None:
    """The training itself, in this process (``train_policy`` handles reuse and the fingerprint). Run in each process
    of an ``accelerate launch`` (``main``), trl trains data-parallel; every rank takes part in saving (ZeRO-3 gathers
    its shards) and, with more than one process (not under DeepSpeed, where each rank holds a shard), writes the
    sha256 of its final weights to ``out_dir/ranks/rank<k>.sha256``; only the main process writes the step log and
    the marker and returns the steps (the others return None)."""
    import os

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..llm import models

    out_dir = Path(out_dir)
    plan = schedule(config, len(dataset), int(os.environ.get("WORLD_SIZE", "1")))
    path = Path(base) if Path(base).is_dir() else models.resolve_model(base)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    # fp32 master weights and optimizer state; bf16=True computes in bf16 under autocast (a bf16-loaded policy would
    # round the paper's 5e-7 updates away: 1% of the weights moved in one step, measured on CPU).
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    fence_ids = stop_at_code_end(model, tok) if config.stop_at_code_end else []
    timing = _Timing()
    timing.reward_funcs = reward_funcs
    timing.wrap(model)
    common = dict(output_dir=str(out_dir / "checkpoints"), max_steps=plan["max_steps"],
                  learning_rate=config.learning_rate, beta=config.beta, num_generations=config.num_generations,
                  per_device_train_batch_size=config.per_device_batch_size,
                  gradient_accumulation_steps=plan["gradient_accumulation_steps"],
                  max_completion_length=config.max_completion_length, temperature=config.temperature,
                  top_p=config.top_p, seed=config.seed, logging_steps=1, save_strategy="steps",
                  save_steps=config.save_steps or max(10, plan["max_steps"] // 4), save_total_limit=1, report_to=[],
                  disable_tqdm=not progress, bf16=config.bf16, use_cpu=not torch.cuda.is_available(),
                  use_vllm=config.use_vllm, reward_weights=reward_weights, dataloader_num_workers=0,
                  gradient_checkpointing=config.gradient_checkpointing)
    if config.rollout_questions:
        common["generation_batch_size"] = plan["generation_batch_size"]
    if config.use_vllm:
        common.update(vllm_mode=config.vllm_mode, vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization,
                      vllm_tensor_parallel_size=config.vllm_tensor_parallel_size)
        if fence_ids:  # trl hands generation_kwargs to vLLM's SamplingParams (not run here: no GPU in this project)
            common["generation_kwargs"] = {"stop_token_ids": fence_ids}
    if config.algorithm == "rloo":
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    else:
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
        if config.algorithm == "reinforce_pp":
            common["scale_rewards"] = "batch"
    peft_config = None
    if config.lora_r > 0:
        from peft import LoraConfig, TaskType
        peft_config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=0.0, target_modules="all-linear")
    trainer = Trainer(model=model, reward_funcs=reward_funcs, args=Config(**common), train_dataset=dataset,
                      processing_class=tok, callbacks=[timing.callback], peft_config=peft_config)
    resume = checkpoints(out_dir / "checkpoints")
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=bool(resume) or None)
    seconds = time.perf_counter() - started
    if peft_config is not None:
        trainer.model = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    world = trainer.args.world_size
    final = out_dir / "final"
    if not launch.save_on_every_rank(trainer, final, out_dir / "ranks"):
        return None
    tok.padding_side = "right"
    tok.save_pretrained(final)
    names = [getattr(f, "__name__", type(f).__name__) for f in reward_funcs]
    steps = steps_frame(reward_name, trainer.state.log_history, timing.steps, names,
                        group_variance=config.algorithm != "reinforce_pp")
    steps.to_json(out_dir / "steps.json", orient="records")
    (out_dir / MARKER).write_text(json.dumps({"base": str(base), "config": asdict(config), "reward": reward_name,
                                              "reward_weights": reward_weights, "steps": trainer.state.global_step,
                                              "schedule": plan, "processes": int(world),
                                              "resumed_from_step": int(resume[-1].name.split("-")[-1]) if resume else 0,
                                              "train_seconds": round(seconds, 1), **launch.peak_memory()},
                                             indent=1))
    if not keep_checkpoints:
        import shutil
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return steps


_RULE_FIELDS = ("tests_column", "mode", "entry_point_column", "prelude", "rename", "no_tests_reward", "prefix",
                "limits_column")


def reward_recipe(reward_funcs: list, num_processes: int = 1) -> list[dict]:
    """How a launched process rebuilds ``reward_funcs`` (``rewards_from_recipe``): a rule reward's settings and its
    engine's (the engine's workers shared out over the processes, at least one each), a reward model's folder, dtype
    and batch size. Raises ``core.launch.LaunchError`` for any other reward function (train it in-process)."""
    from ..rewards import RuleReward

    out = []
    for f in reward_funcs:
        if isinstance(f, RuleReward):
            engine = f.engine
            out.append({"type": "rule", "name": f.__name__, **{k: getattr(f, k) for k in _RULE_FIELDS},
                        "config": asdict(f.config) if f.config is not None else None,
                        "engine": None if engine is None else {
                            "workers": max(1, engine.n_workers // max(1, num_processes)),
                            "config": asdict(engine.config), "isolation": engine.isolation_requested}})
        elif isinstance(f, RMReward) and getattr(f.rm, "folder", None) is not None:
            dtype = str(getattr(f.rm, "dtype", "torch.float32")).replace("torch.", "")  # a LazyRewardModel's too
            out.append({"type": "reward_model", "folder": str(f.rm.folder), "dtype": dtype, "prefix": f.prefix,
                        "batch_size": f.batch_size})
        else:
            name = getattr(f, "__name__", type(f).__name__)
            raise launch.LaunchError(f"reward function {name!r} cannot be rebuilt in a launched process (only "
                                     "make_rewards' rule and reward-model rewards can): train in-process "
                                     "(NUM_PROCESSES = 0)")
    return out


def rewards_from_recipe(recipe: list[dict], device: str | None = None) -> tuple[list, list]:
    """(reward functions, engines to close) from ``reward_recipe``'s output, in this process; the reward model goes
    to ``device`` (default: this process's GPU, else the CPU)."""
    import torch

    from ..execution import ExecConfig, ExecutionEngine
    from ..llm.reward_model import RewardModel
    from ..rewards import RuleReward

    funcs, engines = [], []
    for r in recipe:
        if r["type"] == "rule":
            engine = None
            if r["engine"] is not None:
                e = r["engine"]
                engine = ExecutionEngine(workers=e["workers"], config=ExecConfig(**e["config"]),
                                         isolation=e["isolation"])
                engines.append(engine)
            funcs.append(RuleReward(engine=engine, config=ExecConfig(**r["config"]) if r["config"] else None,
                                    name=r["name"], **{k: r[k] for k in _RULE_FIELDS}))
        else:
            rm = RewardModel.load(r["folder"], device=device, dtype=getattr(torch, r["dtype"]))
            funcs.append(RMReward(rm, prefix=r["prefix"], batch_size=r["batch_size"]))
    return funcs, engines


def main(argv: list[str] | None = None) -> None:
    """One process of a launched RL run: ``python -m acecoder_lib.phases.p08_reinforcement_learning --config
    spec.json`` (what ``train_policy`` runs under ``accelerate launch``; the spec names the dataset file, the base
    policy, the output folder, the ``RLConfig`` fields and the rewards' recipe)."""
    import argparse
    import os

    import datasets
    import torch

    parser = argparse.ArgumentParser(prog="python -m acecoder_lib.phases.p08_reinforcement_learning",
                                     description="Train the phase-08 policy (one process of a launch).")
    parser.add_argument("--config", required=True, type=Path, help="the launch spec (JSON)")
    args = parser.parse_args(argv)
    spec = json.loads(args.config.read_text())
    dataset = datasets.Dataset.from_dict(json.loads(Path(spec["dataset"]).read_text()))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    funcs, engines = rewards_from_recipe(spec["rewards"], device)
    try:
        run_trainer(dataset, spec["base"], spec["out_dir"], funcs, spec["weights"], RLConfig(**spec["config"]),
                    spec["reward_name"], progress=False, keep_checkpoints=spec["keep_checkpoints"])
    finally:
        for engine in engines:
            engine.close()


def divergence(steps: pd.DataFrame, min_steps: int = 3) -> dict:
    """Reward-hacking check: the slope (per step) of the RM reward and of the rule pass rate; ``flag`` when the RM
    reward rises while the rule pass rate does not (the paper saw this with RM rewards from a base model)."""
    s = steps.dropna(subset=["rm_reward"])
    if len(s) < min_steps:
        return {"steps": len(s), "rm_slope": float("nan"), "rule_slope": float("nan"), "flag": False,
                "note": f"fewer than {min_steps} steps with an RM reward"}
    rm_slope = float(np.polyfit(s["step"], s["rm_reward"], 1)[0])
    rule_slope = float(np.polyfit(s["step"], s["rule_pass_rate"], 1)[0])
    flag = rm_slope > 0 and rule_slope <= 0
    return {"steps": len(s), "rm_slope": rm_slope, "rule_slope": rule_slope, "flag": bool(flag),
            "note": "RM reward rises while the rule pass rate does not: possible reward hacking" if flag else ""}


def plot_steps(steps: pd.DataFrame):
    """Per step and reward type: train reward, rule pass rate, RM reward, length, no-code share (plotly)."""
    import plotly.express as px

    long = steps.melt(id_vars=["reward", "step"], value_vars=["train_reward", "rule_pass_rate", "rm_reward",
                                                              "mean_length", "no_code_frac"],
                      var_name="metric", value_name="value").dropna()
    fig = px.line(long, x="step", y="value", color="reward", facet_row="metric", markers=True,
                  title="RL per step: what was optimised, the rule pass rate of the same completions, length, no code")
    fig.update_yaxes(matches=None)
    fig.update_layout(height=900)
    return fig




def policy_stamp(folder: str | Path) -> str:
    """A short hash that changes whenever the policy in ``folder`` is retrained: its run's MARKER (config, steps,
    time) when it is one of ours, else the folder's name. Keys the evaluation cache, so a retrained policy is never
    scored from the previous one's cached answers."""
    import hashlib

    marker = Path(folder).parent / MARKER
    return hashlib.sha256((marker.read_text() if marker.is_file() else str(folder)).encode()).hexdigest()[:12]


def evaluate_policies(policies: dict[str, str], problems: pd.DataFrame, engine, cache, backend: str = "transformers",
                      max_new_tokens: int = 512, stop_at_code_end: bool = False) -> pd.DataFrame:
    """``08_rl_eval``: one greedy program per problem from each policy ({name: model folder}), run against the
    problem's tests (under its ``time_limits`` column, phase 07's calibrated limits, where it has one); ``correct``
    means every test passed. ``stop_at_code_end``: each program ends at the fence closing its code block
    (``solutions.sample_programs``), as the RL completions do with ``RLConfig.stop_at_code_end``."""
    from ..llm.generation import make_backend
    from ..solutions import execute_samples, greedy

    benchmark = dict(zip(problems[QUESTION_ID], problems["benchmark"]))
    limits = dict(zip(problems[QUESTION_ID], problems["time_limits"])) if "time_limits" in problems else None
    evals = []
    for name, folder in policies.items():
        policy = make_backend(backend, folder)
        try:
            drawn = greedy(problems, policy, cache, max_new_tokens=max_new_tokens,
                           namespace=f"{backend}:{name}:{policy_stamp(folder)}", stop_at_code_end=stop_at_code_end)
        finally:
            policy.close()
        done = execute_samples(drawn, problems, engine, time_limits=limits)
        evals.append(pd.DataFrame({"policy": name, QUESTION_ID: done[QUESTION_ID],
                                   "benchmark": done[QUESTION_ID].map(benchmark),
                                   "correct": (done["n_passed"] == done["n_tests"]) & (done["n_tests"] > 0),
                                   "pass_rate": done["pass_rate"], "extraction": done["extraction"]}))
    return pd.concat(evals, ignore_index=True)


if __name__ == "__main__":
    main()

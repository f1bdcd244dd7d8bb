"""Phase 08 logic: reinforcement learning of the policy with the rule reward or the reward model (ACECODER S7).

    dataset = rl.rl_dataset(hard_questions, tokenizer)                          # prompts + tests + question text
    rewards, weights = rl.make_rewards("rule", engine=engine)                   # or "reward_model" / "mix"
    log = rl.train_policy(dataset, "smollm2-135m-instruct", out_dir, rewards, weights, RLConfig(max_steps=8))

The paper trains with Reinforce++ (OpenRLHF); here trl's ``GRPOTrainer`` is the default and ``RLOOTrainer`` (the
closest trl relative of Reinforce++: a leave-one-out baseline instead of a critic) the option. Rewards:
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

from ..core import timing
from ..core.paths import checkpoints
from ..core.schemas import ENTRY_POINT, QUESTION, QUESTION_ID, RL_STEPS, TESTS
from ..llm import prompts
from ..rewards import RMReward, make_rule_reward

ALGORITHMS = ("grpo", "rloo")
REWARDS = ("rule", "reward_model", "mix")
MARKER = "acecoder_rl.json"
PAPER = {"rollout_questions": 256, "samples": 8, "train_batch": 128, "lr": 5e-7, "kl": 0.01, "episodes": 1,
         "prompt_tokens": 2048, "completion_tokens": 2048}  # PAPER_FACTS S7


@dataclass
class RLConfig:
    """trl settings; defaults are the paper's where a CPU run allows (PAPER_FACTS S7)."""

    algorithm: str = "grpo"
    max_steps: int = 8
    learning_rate: float = 5e-7
    beta: float = 0.01                  # KL coefficient, paper 0.01
    num_generations: int = 8            # samples per question, paper 8
    per_device_batch_size: int = 8      # completions per step (a multiple of num_generations)
    gradient_accumulation_steps: int = 1
    max_completion_length: int = 256    # paper 2048
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    save_steps: int = 0                 # 0: a checkpoint every max(10, max_steps // 4) steps
    bf16: bool = False
    use_vllm: bool = False              # trl's vLLM generation: GPU only (fails on CPU at weight sync)
    gradient_checkpointing: bool = False  # trl defaults to True, which also turns the KV cache off during rollouts:
                                          # ~10x slower generation on CPU; turn on for memory on a GPU
    rule_mode: str = "all_pass"         # or pass_rate
    mix_weight: float = 0.5             # rule weight in "mix"


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


def rl_dataset(questions: pd.DataFrame, tokenizer, n_tests_shown: int = 2,
               time_limits: dict[str, list[float]] | None = None):
    """A ``datasets.Dataset``: ``prompt`` (chat template + prefill, a string), ``tests``, ``entry_point``,
    ``question`` (for the reward model) and ``question_id``; with ``time_limits`` (question_id -> CPU seconds per
    test, ``solutions.test_limits``), also a ``time_limits`` column the rule reward runs each test under."""
    import datasets

    texts = [tokenizer.apply_chat_template(prompts.solve_messages(q.question, list(q.tests), n_tests_shown),
                                           tokenize=False, continue_final_message=True)
             for q in questions.itertuples()]
    columns = {"prompt": texts, TESTS: [list(t) for t in questions[TESTS]],
               ENTRY_POINT: questions[ENTRY_POINT].tolist(), QUESTION: questions[QUESTION].tolist(),
               QUESTION_ID: questions[QUESTION_ID].tolist()}
    if time_limits is not None:
        columns["time_limits"] = [[float(x) for x in time_limits[q]] for q in questions[QUESTION_ID]]
    return datasets.Dataset.from_dict(columns)


def make_rewards(kind: str, engine, rm=None, config: RLConfig | None = None) -> tuple[list, list[float]]:
    """(reward functions, weights) for trl: the rule reward first (always), the RM second when used."""

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
        return [rule, RMReward(rm)], [0.0, 1.0]
    return [rule, RMReward(rm)], [config.mix_weight, 1.0 - config.mix_weight]


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
        slope, lo, hi = slope_ci(g["step"], g["train_reward"])
        share = g["nonzero_advantage_share"].dropna() if "nonzero_advantage_share" in g else pd.Series(dtype=float)
        rows.append({"reward": reward, "steps": len(g),
                     "nonzero_advantage_share": float(share.mean()) if len(share) else float("nan"),
                     "steps_with_no_gradient": int((share == 0).sum()),
                     "reward_slope": slope, "slope_ci_low": lo, "slope_ci_high": hi})
    return pd.DataFrame(rows)


def steps_frame(reward: str, log_history: list[dict], timing: list[dict], reward_names: list[str]) -> pd.DataFrame:
    """``08_rl_steps`` rows from trl's log history (one entry per step at logging_steps=1) and the timer."""
    times = {t["step"]: t for t in timing}
    rule, rm = reward_names[0], (reward_names[1] if len(reward_names) > 1 else None)
    rows = []
    for e in log_history:
        if "reward" not in e or "step" not in e:
            continue
        t = times.get(int(e["step"]), {})
        rows.append({"reward": reward, "step": int(e["step"]), "train_reward": float(e["reward"]),
                     "rule_pass_rate": float(e.get(f"rewards/{rule}/mean", float("nan"))),
                     "rm_reward": float(e.get(f"rewards/{rm}/mean", float("nan"))) if rm else float("nan"),
                     "mean_length": float(e.get("completions/mean_length", float("nan"))),
                     "no_code_frac": float(e.get(f"{rule}/no_code_frac", float("nan"))),
                     "kl": float(e.get("kl", float("nan"))),
                     "nonzero_advantage_share": 1.0 - float(e.get("frac_reward_zero_std", float("nan"))),
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
                 keep_checkpoints: bool = False) -> pd.DataFrame:
    """RL of the policy ``base`` (registry name or folder) on ``dataset``; the final model goes to
    ``out_dir/final`` (a standard transformers folder), checkpoints to ``out_dir/checkpoints`` (a rerun after a
    crash resumes from the last one, and they are deleted once the final model is saved unless
    ``keep_checkpoints``; a finished ``out_dir`` of the same ``training_fingerprint`` returns its saved step log without
    training, one of another fingerprint is wiped and trained anew)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..llm import models

    config = config or RLConfig()
    if config.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {config.algorithm!r}")
    if config.per_device_batch_size % config.num_generations:
        raise ValueError(f"per_device_batch_size ({config.per_device_batch_size}) must be a multiple of "
                         f"num_generations ({config.num_generations})")
    out_dir = Path(out_dir)
    fingerprint = training_fingerprint(dataset, base, config, reward_funcs, reward_weights, reward_name)
    stamp = out_dir / "fingerprint.txt"
    if out_dir.exists() and (not stamp.is_file() or stamp.read_text().strip() != fingerprint):
        import shutil
        shutil.rmtree(out_dir)  # trained (or half-trained) on other inputs: never reused, never resumed
    if (out_dir / MARKER).is_file():
        return pd.read_json(out_dir / "steps.json", orient="records").reindex(columns=RL_STEPS.column_names)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    path = Path(base) if Path(base).is_dir() else models.resolve_model(base)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    # fp32 master weights and optimizer state; bf16=True computes in bf16 under autocast (a bf16-loaded policy would
    # round the paper's 5e-7 updates away: 1% of the weights moved in one step, measured on CPU).
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    timing = _Timing()
    timing.reward_funcs = reward_funcs
    timing.wrap(model)
    common = dict(output_dir=str(out_dir / "checkpoints"), max_steps=config.max_steps,
                  learning_rate=config.learning_rate, beta=config.beta, num_generations=config.num_generations,
                  per_device_train_batch_size=config.per_device_batch_size,
                  gradient_accumulation_steps=config.gradient_accumulation_steps,
                  max_completion_length=config.max_completion_length, temperature=config.temperature,
                  top_p=config.top_p, seed=config.seed, logging_steps=1, save_strategy="steps",
                  save_steps=config.save_steps or max(10, config.max_steps // 4), save_total_limit=1, report_to=[],
                  disable_tqdm=not progress, bf16=config.bf16, use_cpu=not torch.cuda.is_available(),
                  use_vllm=config.use_vllm, reward_weights=reward_weights, dataloader_num_workers=0,
                  gradient_checkpointing=config.gradient_checkpointing)
    if config.algorithm == "grpo":
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    trainer = Trainer(model=model, reward_funcs=reward_funcs, args=Config(**common), train_dataset=dataset,
                      processing_class=tok, callbacks=[timing.callback])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=bool(checkpoints(out_dir / "checkpoints")) or None)
    seconds = time.perf_counter() - started
    final = out_dir / "final"
    trainer.model.save_pretrained(final)
    tok.padding_side = "right"
    tok.save_pretrained(final)
    names = [getattr(f, "__name__", type(f).__name__) for f in reward_funcs]
    steps = steps_frame(reward_name, trainer.state.log_history, timing.steps, names)
    steps.to_json(out_dir / "steps.json", orient="records")
    (out_dir / MARKER).write_text(json.dumps({"base": str(base), "config": asdict(config), "reward": reward_name,
                                              "reward_weights": reward_weights, "steps": trainer.state.global_step,
                                              "train_seconds": round(seconds, 1)}, indent=1))
    if not keep_checkpoints:
        import shutil
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return steps


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
                      max_new_tokens: int = 512) -> pd.DataFrame:
    """``08_rl_eval``: one greedy program per problem from each policy ({name: model folder}), run against the
    problem's tests (under its ``time_limits`` column, phase 07's calibrated limits, where it has one); ``correct``
    means every test passed."""
    from ..llm.generation import make_backend
    from ..solutions import execute_samples, greedy

    benchmark = dict(zip(problems[QUESTION_ID], problems["benchmark"]))
    limits = dict(zip(problems[QUESTION_ID], problems["time_limits"])) if "time_limits" in problems else None
    evals = []
    for name, folder in policies.items():
        policy = make_backend(backend, folder)
        try:
            drawn = greedy(problems, policy, cache, max_new_tokens=max_new_tokens,
                           namespace=f"{backend}:{name}:{policy_stamp(folder)}")
        finally:
            policy.close()
        done = execute_samples(drawn, problems, engine, time_limits=limits)
        evals.append(pd.DataFrame({"policy": name, QUESTION_ID: done[QUESTION_ID],
                                   "benchmark": done[QUESTION_ID].map(benchmark),
                                   "correct": (done["n_passed"] == done["n_tests"]) & (done["n_tests"] > 0),
                                   "pass_rate": done["pass_rate"], "extraction": done["extraction"]}))
    return pd.concat(evals, ignore_index=True)

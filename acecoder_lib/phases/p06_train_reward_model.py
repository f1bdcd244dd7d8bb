"""Phase 06 logic: a Bradley-Terry reward model over (question, program) (ACECODER section 5; PAPER_FACTS S5).

    history = reward_model.train_reward_model(pairs, "smollm2-135m-instruct", out_dir, RMTrainConfig(max_steps=40))
    rm = reward_model.RewardModel.load(out_dir)        # a folder trained here, or a released AceCodeRM checkpoint
    rm.score(question, [program_a, program_b])         # -> [float, float], higher = more likely correct

Loss: -log sigmoid(r(x, y_chosen) - r(x, y_rejected)) with trl's ``RewardTrainer``; the scalar comes from a linear
head on the hidden state of the last token. The pairs' ``margin`` column (a pass-rate difference) is NOT passed to
the trainer: trl would subtract it inside the sigmoid, which is not the paper's loss.

Input format, the same for training and scoring (and the one AceCodeRM's own example uses): the tokenizer's chat
template over ``[{"role": "user", "content": question}, {"role": "assistant", "content": program}]``, the program as
plain code. Sequences longer than ``max_length`` tokens keep their LAST ``max_length`` tokens (the program and the
end of the question survive; the start of the chat is cut), so the token the head reads is always the real last one.

Two checkpoint layouts load:
- ``sequence_classification``: what ``train_reward_model`` saves: a standard transformers folder of
  ``AutoModelForSequenceClassification`` (``num_labels=1``, head ``score`` without bias) plus ``acecoder_rm.json``.
- ``value_head``: the released AceCodeRM-7B/32B format: a causal LM whose weights also hold ``v_head.summary.weight``
  and ``v_head.summary.bias`` (a ``Linear(hidden, 1)`` with bias); the score is that head on the last hidden state
  at the last attended token (right padding), as in AceCoder's ``rm_utils.py``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ..core import launch, timing
from ..core.paths import checkpoints
from ..core.schemas import (
    CHOSEN,
    LEARNING_CURVE,
    PAIR_SCORES,
    PASS_RATE,
    PROGRAM,
    PROGRAM_SCORES,
    QUESTION_ID,
    REJECTED,
    RM_HISTORY,
    SPLIT,
)
from ..llm.reward_model import MARKER, RewardModel, RewardModelError, encode


@dataclass
class RMTrainConfig:
    """What ``train_reward_model`` passes to trl's ``RewardConfig``. Defaults are the paper's (PAPER_FACTS S5) except
    the batch: paper 128 = per_device_batch_size x gradient_accumulation_steps x GPUs."""

    epochs: float = 1.0
    max_steps: int = -1                 # > 0 overrides epochs (the CPU profiles use a fixed number of steps)
    learning_rate: float = 1e-5
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 2048
    bf16: bool = False
    lora_r: int = 0                     # 0: full fine-tune (paper); > 0: LoRA of that rank, for smaller GPUs
    lora_alpha: int = 32
    seed: int = 0
    logging_steps: int = 1
    eval_steps: int = 0                 # 0: evaluate once at the end
    save_steps: int = 0                 # 0: a checkpoint (weights + optimizer, ~3x the model) every max(25, 10% of
                                        # the steps) for resuming after a crash; the final model is saved anyway
    gradient_checkpointing: bool = False
    group_by_length: bool = True        # batches of pairs of similar length (transformers' LengthGroupedSampler:
                                        # shuffled, then sorted within mega-batches), so a batch pads to its own
                                        # longest pair instead of the longest of a random draw; False: random order
    head_only: bool = False             # True: the backbone stays frozen and only the linear head is fitted (the
                                        # same Bradley-Terry loss, to convergence, on the last-token states; see
                                        # train_head): a CPU simplification of the paper's full fine-tune
    head_l2: float = 0.0                # head_only: L2 weight on the (standardised) head; 0 chooses it from
                                        # HEAD_L2_GRID by cross-validation over the TRAIN questions


PAIRS_SOURCES = ("sampled", "sampled+reference", "acecode-pair-300k")


def training_pairs(sampled: pd.DataFrame, reference: pd.DataFrame, source: str = "sampled") -> pd.DataFrame:
    """The pairs the reward model trains and is evaluated on, with a ``kind`` column (sampled | reference):
    phase 05's pairs (the paper's), plus its reference pairs when ``source`` is ``sampled+reference``."""
    if source not in PAIRS_SOURCES:
        raise ValueError(f"unknown PAIRS_SOURCE {source!r}: use one of {PAIRS_SOURCES}")
    frames = [sampled.assign(kind="sampled")]  # (acecode-pair-300k: the released pairs train; see train_split)
    if source == "sampled+reference":
        frames.append(reference.assign(kind="reference"))
    return pd.concat(frames, ignore_index=True)


def train_split(pairs: pd.DataFrame, source: str, released: pd.DataFrame | None = None) -> pd.DataFrame:
    """The train-split rows of ``training_pairs(..., "sampled+reference")`` that a model trained on ``source``
    fits: every pair is scored afterwards, so reference pairs stay a probe even when not trained on. Source
    ``acecode-pair-300k``: the released pairs (``core.datasets.load_acecode_pairs``), kind ``released``, instead;
    the run's own held-out pairs still judge the model."""
    if source not in PAIRS_SOURCES:
        raise ValueError(f"unknown PAIRS_SOURCE {source!r}: use one of {PAIRS_SOURCES}")
    if source == "acecode-pair-300k":
        if released is None or not len(released):
            raise ValueError("PAIRS_SOURCE acecode-pair-300k needs the released pairs (RELEASED_PAIRS_PATH)")
        return released[released[SPLIT] == "train"].assign(kind="released")
    kinds = {"sampled"} if source == "sampled" else {"sampled", "reference"}
    return pairs[(pairs[SPLIT] == "train") & pairs["kind"].isin(kinds)]


def origin_scores(pair_scores: pd.DataFrame, program_scores: pd.DataFrame) -> pd.DataFrame:
    """What the model's score tracks, per split: the mean score of each question's reference (the chosen side of
    its reference pairs) against sampled programs that pass every test, some, or none, on the questions that have a
    reference pair (``score_sd``: the spread of the sample scores of the split); and the share of those questions
    whose reference outscores every one of their samples. A model
    that learned correctness puts all-passing samples near the reference and above failing ones; one that learned
    "human reference vs model sample" puts the reference far above every sample, correct or not."""
    ref = (pair_scores[pair_scores["kind"] == "reference"].groupby([QUESTION_ID, SPLIT], as_index=False)
           ["r_chosen"].first().rename(columns={"r_chosen": "reference_score"}))
    progs = program_scores.drop(columns=SPLIT).merge(ref, on=QUESTION_ID)
    rows = []
    for split, g in progs.groupby(SPLIT, sort=True):
        refs = g.groupby(QUESTION_ID)["reference_score"].first()
        beats = g.groupby(QUESTION_ID).apply(lambda h: bool((h["reference_score"] > h["score"]).all()),
                                             include_groups=False)
        rows.append({SPLIT: split, "origin": "reference", "programs": len(refs), "mean_score": refs.mean(),
                     "score_sd": refs.std(), "questions": len(refs),
                     "reference_beats_all_samples": float(beats.mean())})
        for label, mask in (("sample, passes all", g[PASS_RATE] >= 1.0),
                            ("sample, passes some", (g[PASS_RATE] > 0) & (g[PASS_RATE] < 1.0)),
                            ("sample, passes none", g[PASS_RATE] <= 0)):
            rows.append({SPLIT: split, "origin": label, "programs": int(mask.sum()),
                         "mean_score": g.loc[mask, "score"].mean() if mask.any() else float("nan"),
                         "score_sd": g["score"].std(),
                         "questions": int(g.loc[mask, QUESTION_ID].nunique()),
                         "reference_beats_all_samples": float("nan")})
    return pd.DataFrame(rows, columns=[SPLIT, "origin", "programs", "mean_score", "score_sd", "questions",
                                       "reference_beats_all_samples"])


def length_preference(pairs: pd.DataFrame, pair_scores: pd.DataFrame) -> pd.DataFrame:
    """Per (kind, split): pairs, how often the chosen program is the shorter (characters), how often the model
    prefers the shorter one, and its accuracy; ``pairs`` and ``pair_scores`` row-aligned (``score_pairs``'s order).
    A model that prefers the shorter side far more often than the chosen side is shorter has learned length."""
    if len(pairs) != len(pair_scores):
        raise ValueError(f"{len(pairs)} pairs but {len(pair_scores)} pair scores; pass the table that was scored")
    shorter = (pairs[CHOSEN].str.len() < pairs[REJECTED].str.len()).to_numpy()
    prefers_chosen = pair_scores["correct"].to_numpy(dtype=bool)
    frame = pd.DataFrame({"kind": pair_scores["kind"].to_numpy(), SPLIT: pair_scores[SPLIT].to_numpy(),
                          "chosen_shorter": shorter, "prefers_shorter": prefers_chosen == shorter,
                          "accuracy": prefers_chosen})
    return frame.groupby(["kind", SPLIT], as_index=False).agg(pairs=("accuracy", "size"),
                                                              chosen_shorter=("chosen_shorter", "mean"),
                                                              prefers_shorter=("prefers_shorter", "mean"),
                                                              accuracy=("accuracy", "mean"))


def accuracy_verdicts(accuracy: pd.DataFrame) -> list[str]:
    """Sentences per held-out kind of pair (``analysis.pair_accuracy`` rows by split and kind): accuracy, its CI
    over pairs and whether it clears chance (``core.metrics.verdict``), then the same with the CI over questions
    (where the rows have it)."""
    from ..core.metrics import verdict

    held = accuracy[accuracy[SPLIT] == "heldout"]
    out = []
    for r in held.itertuples():
        out.append(verdict(f"held-out {r.kind} pairs (n = {int(r.pairs)}): accuracy", r.accuracy, r.ci_low,
                           r.ci_high, 0.5, "chance"))
        if "ci_low_by_question" in held:
            out.append(verdict(f"  the same, CI resampling its {int(r.questions)} questions", r.accuracy,
                               r.ci_low_by_question, r.ci_high_by_question, 0.5, "chance"))
    return out or ["no held-out pairs: the accuracy is not measured"]


def origin_verdict(origins: pd.DataFrame, split: str = "heldout") -> str:
    """One sentence on ``origin_scores`` for ``split``, computed from its numbers (the notebook's conclusion)."""
    g = origins[origins[SPLIT] == split].set_index("origin")
    if "reference" not in g.index:
        return f"no {split} question has a reference pair to compare with"
    ref, beats = g.loc["reference", "mean_score"], g.loc["reference", "reference_beats_all_samples"]
    good, bad = g.loc["sample, passes all", "mean_score"], g.loc["sample, passes none", "mean_score"]
    text = (f"{split}: the reference scores {ref:+.2f} on average and outscores every sample of its question on "
            f"{beats:.0%} of {int(g.loc['reference', 'questions'])} questions; samples that pass every test score "
            f"{good:+.2f}, samples that pass none {bad:+.2f}")
    sd = g.loc["sample, passes some", "score_sd"] if "score_sd" in g else float("nan")
    if good == good and bad == bad and ref - max(good, bad) > 2 * abs(good - bad):
        text += (" -> the score separates reference code from model samples far more than right from wrong "
                 "samples (a source detector, not a correctness model)")
    elif good == good and bad == bad and sd == sd and abs(good - bad) < 0.5 * sd:
        text += (f" -> a gap of {good - bad:+.2f} between right and wrong samples, under half the spread of "
                 f"sample scores (sd {sd:.2f}): no usable preference for correctness")
    elif good == good and bad == bad and good > bad:
        text += " -> correct samples score above failing ones"
    return text


def pair_dataset(pairs: pd.DataFrame, tokenizer, max_length: int):
    """A ``datasets.Dataset`` of ``chosen_ids`` / ``rejected_ids`` (trl's processed format) for the rows of
    ``pairs``, with ``length``: the longer of the two, the width the pair pads a batch to (what length-grouped
    batching sorts by)."""
    import datasets

    missing = {"prompt", CHOSEN, REJECTED} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs lack column(s) {sorted(missing)}; expected the 05_pairs artifact")
    rows = []
    for p, c, r in zip(pairs["prompt"], pairs[CHOSEN], pairs[REJECTED]):
        chosen, rejected = encode(tokenizer, p, c, max_length), encode(tokenizer, p, r, max_length)
        rows.append({"chosen_ids": chosen, "rejected_ids": rejected, "length": max(len(chosen), len(rejected))})
    return datasets.Dataset.from_list(rows)


def batch_order(dataset, batch_size: int, grouped: bool, seed: int = 0) -> list[list[int]]:
    """One epoch's batches of ``pair_dataset`` row indices: transformers' length-grouped order when ``grouped``
    (what ``group_by_length`` trains with), a random permutation otherwise; one draw, seeded."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    generator = torch.Generator().manual_seed(seed)
    order = (get_length_grouped_indices(list(dataset["length"]), batch_size, generator=generator) if grouped
             else torch.randperm(len(dataset), generator=generator).tolist())
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def padding_share(dataset, batch_size: int, grouped: bool, seed: int = 0) -> float:
    """Share of the token slots of one epoch's training batches (``batch_order``) that are padding, for
    ``pair_dataset`` rows: trl pads a batch's chosen and rejected sequences together to the longest of them."""
    if len(dataset) == 0:
        return 0.0
    chosen = [len(ids) for ids in dataset["chosen_ids"]]
    rejected = [len(ids) for ids in dataset["rejected_ids"]]
    widths = dataset["length"]
    real = slots = 0
    for batch in batch_order(dataset, batch_size, grouped, seed):
        real += sum(chosen[i] + rejected[i] for i in batch)
        slots += 2 * len(batch) * max(widths[i] for i in batch)
    return 1 - real / slots


def _load_backbone(base: str, dtype=None):
    """Tokenizer and a fresh ``AutoModelForSequenceClassification`` (1 label) on top of ``base``'s weights."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..llm import models

    path = models.resolve_model(base) if not Path(base).is_dir() else Path(base)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(0)  # the new head's initialisation
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype or torch.float32)
    model.config.pad_token_id = tok.pad_token_id
    return tok, model, path


HEAD_L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)  # head_only: the L2 weights cross-validation chooses from
_BACKBONES: dict = {}  # (backbone path, dtype) -> (tokenizer, model): a head-only run loads its backbone once


def fit_head(diff, l2: float, scale, max_iter: int = 200, log=None):
    """Pairwise logistic regression, the Bradley-Terry loss of a linear head: the ``w`` minimising
    mean(softplus(-(diff / scale) . w)) + l2 |w|^2 over the rows of ``diff`` (chosen-minus-rejected states; a bias
    cancels within a pair, so there is none), by L-BFGS in float64. ``scale`` (the states' standard deviation per
    dimension) makes ``l2`` mean the same for every backbone. Returns (the weight on unscaled states, evaluations);
    ``log(evaluation, loss, accuracy)`` sees every evaluation of the loss."""
    import numpy as np
    import torch

    z = torch.tensor(np.asarray(diff, dtype=np.float64) / scale)
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                            tolerance_change=1e-12)
    calls = [0]

    def closure():
        opt.zero_grad()
        margin = z @ w
        loss = torch.nn.functional.softplus(-margin).mean() + l2 * (w * w).sum()
        loss.backward()
        calls[0] += 1
        if log is not None:
            log(calls[0], float(loss.detach()), float((margin.detach() > 0).double().mean()))
        return loss

    opt.step(closure)
    return w.detach().numpy() / scale, calls[0]


def choose_head_l2(diff, questions, scale, grid=HEAD_L2_GRID, folds: int = 4, seed: int = 0) -> pd.DataFrame:
    """Per L2 weight of ``grid``: the pair accuracy of heads fitted without one fold of the questions, on that fold
    (k-fold grouped by question, as the held-out split is; ``questions``: each row's question id), averaged over
    the folds. Only the train pairs are used. Column ``chosen`` marks the best (ties go to the larger weight: the
    simpler head); with fewer than 2 questions nothing can be validated and the middle of the grid is chosen."""
    import numpy as np

    questions = np.asarray(questions)
    unique = np.unique(questions)
    k = min(folds, len(unique))
    rows = []
    if k < 2:
        rows = [{"l2": float(l2), "cv_accuracy": float("nan"), "folds": 0} for l2 in grid]
        table = pd.DataFrame(rows)
        table["chosen"] = table.index == len(grid) // 2
        return table
    fold_of = dict(zip(np.random.default_rng(seed).permutation(unique), np.arange(len(unique)) % k))
    fold = np.array([fold_of[q] for q in questions])
    for l2 in grid:
        accuracies = []
        for f in range(k):
            fit, val = fold != f, fold == f
            w, _ = fit_head(diff[fit], l2, scale)
            accuracies.append(float(((diff[val] @ w) > 0).mean()))
        rows.append({"l2": float(l2), "cv_accuracy": float(np.mean(accuracies)), "folds": k})
    table = pd.DataFrame(rows)
    best = table["cv_accuracy"].max()
    table["chosen"] = False
    table.loc[table[table["cv_accuracy"] >= best - 1e-12].index.max(), "chosen"] = True
    return table


def _state_dtype(config: "RMTrainConfig"):
    """The dtype a head-only model's states are computed (and its folder saved) in: bf16 with ``config.bf16``."""
    import torch

    return torch.bfloat16 if config.bf16 else torch.float32


def _frozen_backbone(base: str, dtype):
    """(tokenizer, sequence-classification model, its path) of ``base``, loaded once per process and dtype."""
    import torch

    from ..llm import models

    path = Path(base) if Path(base).is_dir() else models.resolve_model(base)
    key = (str(path), str(dtype))
    if key not in _BACKBONES:
        tok, model, _ = _load_backbone(str(path), dtype)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        _BACKBONES[key] = (tok, model)
    return (*_BACKBONES[key], path)


def pair_states(pairs: pd.DataFrame, base: str, config: "RMTrainConfig"):
    """(chosen states, rejected states, how many sequences were computed): the frozen backbone's last-token states
    of each pair's two sequences, from ``reward_model.STATE_CACHE`` where this process already computed them."""
    from ..llm import reward_model as rmodel

    dtype = _state_dtype(config)
    tok, model, path = _frozen_backbone(base, dtype)
    cache = rmodel.STATE_CACHE.setdefault((str(path), str(dtype), config.max_length), {})
    ids = [encode(tok, q, p, config.max_length) for q, p in
           zip(list(pairs["prompt"]) * 2, list(pairs[CHOSEN]) + list(pairs[REJECTED]))]
    states, computed = rmodel.cached_states(model.base_model, cache, ids, tok.pad_token_id, model.device,
                                            batch_size=rmodel.HEAD_ONLY_BATCH)
    return states[:len(pairs)], states[len(pairs):], computed


def fit_pairs_head(pairs: pd.DataFrame, base: str, config: "RMTrainConfig", log=None) -> dict:
    """The head of a head-only reward model fitted on ``pairs``: ``weight`` (on unscaled states), ``l2`` (given, or
    chosen by ``choose_head_l2`` on these pairs), the ``cv`` table, ``evaluations`` of the loss, ``computed``
    sequences."""
    import numpy as np

    chosen, rejected, computed = pair_states(pairs, base, config)
    diff = (chosen - rejected).astype(np.float64)
    scale = np.concatenate([chosen, rejected]).astype(np.float64).std(0) + 1e-6
    cv = (pd.DataFrame(columns=["l2", "cv_accuracy", "folds", "chosen"]) if config.head_l2 > 0 else
          choose_head_l2(diff, pairs[QUESTION_ID].to_numpy(), scale, seed=config.seed))
    l2 = float(config.head_l2) if config.head_l2 > 0 else float(cv.loc[cv["chosen"], "l2"].iloc[0])
    weight, evaluations = fit_head(diff, l2, scale, log=log)
    return {"weight": weight, "l2": l2, "cv": cv, "evaluations": evaluations, "computed": computed}


def train_head(pairs: pd.DataFrame, base: str, out_dir: str | Path, config: "RMTrainConfig",
               eval_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``train_reward_model`` for ``config.head_only``: the backbone stays as it is and its linear score head is
    fitted to convergence on the pairs' last-token states (``fit_pairs_head``): the paper's Bradley-Terry loss and
    input format, without updating the backbone. A simplification for CPU runs, where a full fine-tune gets a few
    dozen steps: with ~100 pairs, 12 steps of lr 1e-5 leave a freshly initialised head barely trained. The folder
    is a standard ``sequence_classification`` one (the backbone saved in the dtype the states were computed in,
    bf16 with ``config.bf16``), marked ``head_only`` so scoring reuses the states of this process."""
    import numpy as np
    import torch

    out_dir = Path(out_dir)
    dtype = _state_dtype(config)
    log_history: list[dict] = []
    started = time.perf_counter()
    head = fit_pairs_head(pairs, base, config, log=lambda step, loss, acc: log_history.append(
        {"step": step, "loss": loss, "accuracy": acc}))
    if eval_pairs is not None and len(eval_pairs):
        chosen, rejected, _ = pair_states(eval_pairs, base, config)
        margin = (chosen - rejected) @ head["weight"]
        log_history.append({"step": head["evaluations"], "eval_loss": float(np.logaddexp(0, -margin).mean()),
                            "eval_accuracy": float((margin > 0).mean())})
    seconds = time.perf_counter() - started
    tok, model, base_path = _frozen_backbone(base, dtype)
    original = model.score.weight.detach().clone()
    try:
        model.score.weight.data = torch.tensor(head["weight"], dtype=dtype, device=model.device)[None]
        model.save_pretrained(out_dir)
    finally:
        model.score.weight.data = original  # the cached backbone keeps its untrained head
    tok.save_pretrained(out_dir)
    marker = {"layout": "sequence_classification", "head_only": True, "base": str(base), "base_path": str(base_path),
              "dtype": str(dtype).replace("torch.", ""), "max_length": config.max_length, "config": asdict(config),
              "train_pairs": len(pairs), "steps": int(head["evaluations"]), "train_seconds": round(seconds, 1),
              "seconds_per_step": round(seconds / max(1, head["evaluations"]), 3), "head_l2": head["l2"],
              "head_cv": head["cv"].to_dict(orient="records"), "states_computed": int(head["computed"]),
              "processes": 1, "resumed_from_step": 0, **launch.peak_memory()}
    (out_dir / "history.json").write_text(json.dumps(log_history))
    (out_dir / MARKER).write_text(json.dumps(marker, indent=1))
    return history_frame(log_history)


def history_frame(log_history: list[dict]) -> pd.DataFrame:
    """trl/transformers ``state.log_history`` as the long ``06_rm_history`` frame."""
    names = {"loss": ("train", "loss"), "learning_rate": ("train", "learning_rate"),
             "grad_norm": ("train", "grad_norm"), "accuracy": ("train", "accuracy"), "margin": ("train", "margin"),
             "eval_loss": ("eval", "loss"), "eval_accuracy": ("eval", "accuracy"), "eval_margin": ("eval", "margin")}
    rows = []
    for entry in log_history:
        for key, (split, metric) in names.items():
            value = entry.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                rows.append({"step": int(entry.get("step", 0)), "epoch": float(entry.get("epoch", 0.0) or 0.0),
                             SPLIT: split, "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=RM_HISTORY.column_names)


@timing.timed("training")
def train_reward_model(pairs: pd.DataFrame, base: str, out_dir: str | Path, config: RMTrainConfig | None = None,
                       eval_pairs: pd.DataFrame | None = None, progress: bool = True,
                       keep_checkpoints: bool = False) -> pd.DataFrame | None:
    """Train a Bradley-Terry RM on ``pairs`` (05_pairs rows) from backbone ``base`` (a registry name or a folder) and
    save it to ``out_dir`` as a standard transformers folder; returns the training history (06_rm_history).

    Checkpoints go to ``out_dir/checkpoints``; a rerun after a crash resumes from the last one. They are deleted
    once the model is saved (each holds the optimizer state, ~3x the model) unless ``keep_checkpoints``. A finished
    folder (its ``acecoder_rm.json`` written) is not retrained: delete it to train again.

    Run in each process of an ``accelerate launch`` (``main``), the Trainer trains data-parallel; only the main
    process writes the folder and returns the history (the others return None), and with more than one process
    every rank writes the sha256 of its final weights to ``out_dir/ranks/rank<k>.sha256`` (not under ZeRO-3,
    where each rank holds a shard), so a run can show that the ranks agree."""
    config = config or RMTrainConfig()
    out_dir = Path(out_dir)
    if (out_dir / MARKER).is_file():
        raise RewardModelError(f"{out_dir} already holds a trained reward model ({MARKER}); delete the folder to "
                               f"retrain, or load it with RewardModel.load")
    if len(pairs) == 0:
        raise ValueError("no training pairs: phase 05 produced none for the train split (see its sensitivity plot)")
    if config.head_only:
        if config.lora_r > 0:
            raise ValueError("head_only fits the head of a frozen backbone: lora_r must be 0")
        out_dir.mkdir(parents=True, exist_ok=True)
        return train_head(pairs, base, out_dir, config, eval_pairs)
    import torch
    from trl import RewardConfig, RewardTrainer

    # Weights and optimizer state stay fp32 (the master copy); bf16=True makes the Trainer compute in bf16 under
    # autocast. A bf16-loaded model would let AdamW round most updates away at the paper's learning rates.
    tok, model, base_path = _load_backbone(base, torch.float32)
    if config.lora_r > 0:
        from peft import LoraConfig, TaskType, get_peft_model
        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r,
                                                 lora_alpha=config.lora_alpha, lora_dropout=0.0))
    train_ds = pair_dataset(pairs, tok, config.max_length)
    eval_ds = pair_dataset(eval_pairs, tok, config.max_length) if eval_pairs is not None and len(eval_pairs) else None
    steps_per_epoch = math.ceil(len(train_ds) / (config.per_device_batch_size * config.gradient_accumulation_steps))
    total = config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    ckpt_dir = out_dir / "checkpoints"
    args = RewardConfig(
        output_dir=str(ckpt_dir), num_train_epochs=config.epochs, max_steps=config.max_steps,
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=max(0, round(config.warmup_ratio * total)),
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_length=config.max_length,
        bf16=config.bf16, seed=config.seed, logging_steps=config.logging_steps,
        eval_strategy="no" if eval_ds is None or not config.eval_steps else "steps",
        eval_steps=config.eval_steps or None, save_strategy="steps",
        save_steps=config.save_steps or max(25, total // 10), save_total_limit=2, report_to=[],
        disable_tqdm=not progress, gradient_checkpointing=config.gradient_checkpointing,
        center_rewards_coefficient=None, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        # ``length`` must survive column pruning to reach the sampler; trl's collator reads only the ids
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        length_column_name="length", remove_unused_columns=False)
    clock = timing.step_clock()
    trainer = RewardTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                            processing_class=tok, callbacks=[clock])
    resume = checkpoints(ckpt_dir)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=bool(resume) or None)
    seconds = time.perf_counter() - started
    if eval_ds is not None:
        trainer.evaluate()
    if config.lora_r > 0:
        trainer.model = trainer.model.merge_and_unload()
    world = trainer.args.world_size
    if not launch.save_on_every_rank(trainer, out_dir, out_dir / "ranks"):
        return None
    tok.save_pretrained(out_dir)
    history = history_frame(trainer.state.log_history)
    marker = {"layout": "sequence_classification", "base": str(base), "base_path": str(base_path),
              "max_length": config.max_length, "config": asdict(config), "train_pairs": len(train_ds),
              "steps": int(trainer.state.global_step), "train_seconds": round(seconds, 1),
              "seconds_per_step": round(seconds / max(1, trainer.state.global_step), 3),
              **timing.step_summary(clock.seconds), **launch.peak_memory(),
              "processes": int(world),
              "resumed_from_step": int(resume[-1].name.split("-")[-1]) if resume else 0,
              "padding_share": round(padding_share(train_ds, config.per_device_batch_size, config.group_by_length,
                                                   config.seed), 4)}
    (out_dir / "history.json").write_text(json.dumps(trainer.state.log_history))
    (out_dir / MARKER).write_text(json.dumps(marker, indent=1))
    if not keep_checkpoints:
        import shutil
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return history


def training_fingerprint(pairs: pd.DataFrame, base: str, config: RMTrainConfig,
                         eval_pairs: pd.DataFrame | None = None) -> str:
    """sha256 of what determines a trained model: backbone, config, and the pairs' texts (train and eval)."""
    import hashlib

    h = hashlib.sha256(json.dumps({"base": str(base), "config": asdict(config)}, sort_keys=True).encode())
    for frame in (pairs, eval_pairs):
        if frame is not None:
            _hash_pairs(h, frame)
        h.update(b"\x1d")
    return h.hexdigest()[:16]


def _hash_pairs(h, pairs: pd.DataFrame):
    """Feed each pair's prompt, chosen and rejected text to the hash ``h`` (separated, so no two tables collide)."""
    for row in zip(pairs["prompt"], pairs[CHOSEN], pairs[REJECTED]):
        h.update("\x1f".join(row).encode() + b"\x1e")
    return h


def train_or_load(pairs: pd.DataFrame, base: str, out_dir: str | Path, config: RMTrainConfig | None = None,
                  eval_pairs: pd.DataFrame | None = None, progress: bool = True, num_processes: int = 0,
                  accelerate_config: str | None = None, log=print) -> tuple[pd.DataFrame, dict]:
    """``train_reward_model`` unless ``out_dir`` already holds a model trained on the same fingerprint (then its
    saved history comes back); a folder of another fingerprint, finished or not, is wiped first. Returns
    (history, the folder's acecoder_rm.json + ``reused``).

    ``num_processes`` 0 trains in this process (the notebook's kernel); >= 1 runs this module's CLI under
    ``accelerate launch`` with that many processes (``accelerate_config``: a file or a name under
    ``configs/accelerate/``), its log lines going to ``log``; the launch is checked before anything is touched, and
    a rerun after a killed launch resumes from the last checkpoint as in-process training does."""
    import shutil

    config = config or RMTrainConfig()
    out_dir = Path(out_dir)
    if config.head_only and (num_processes or accelerate_config):
        raise ValueError("head_only fits the head in this process: leave num_processes at 0 and no accelerate config")
    if num_processes or accelerate_config:
        launch.check(max(1, num_processes), accelerate_config)
    fingerprint = training_fingerprint(pairs, base, config, eval_pairs)
    stamp = out_dir / "fingerprint.txt"
    if out_dir.exists() and (not stamp.is_file() or stamp.read_text().strip() != fingerprint):
        shutil.rmtree(out_dir)
    if (out_dir / MARKER).is_file():
        info = json.loads((out_dir / MARKER).read_text())
        return history_frame(json.loads((out_dir / "history.json").read_text())), {**info, "reused": True}
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    if num_processes or accelerate_config:
        work = out_dir / "launch"
        work.mkdir(exist_ok=True)
        pairs.to_parquet(work / "pairs.parquet")
        if eval_pairs is not None:
            eval_pairs.to_parquet(work / "eval_pairs.parquet")
        spec = {"pairs": str(work / "pairs.parquet"), "base": str(base), "out_dir": str(out_dir),
                "eval_pairs": str(work / "eval_pairs.parquet") if eval_pairs is not None else None,
                "config": asdict(config)}
        launch.launch(__name__, spec, work, max(1, num_processes), accelerate_config, log=log)
        history = history_frame(json.loads((out_dir / "history.json").read_text()))
    else:
        history = train_reward_model(pairs, base, out_dir, config, eval_pairs=eval_pairs, progress=progress)
    return history, {**json.loads((out_dir / MARKER).read_text()), "reused": False}


def learning_curve(train_pairs: pd.DataFrame, eval_pairs: pd.DataFrame, base: str, out_root: str | Path,
                   config: RMTrainConfig, fractions=(0.125, 0.25, 0.5), full: pd.DataFrame | None = None,
                   full_steps: int = 0, seed: int = 0, score_batch_size: int = 8, num_processes: int = 0,
                   accelerate_config: str | None = None) -> pd.DataFrame:
    """``06_rm_learning_curve``: for each fraction below 1, a model trained on a nested random subset of
    ``train_pairs`` (one seeded permutation, so 1/8 is inside 1/4), scored on ``eval_pairs`` by kind. ``full``: the
    phase's own model's scores of the same held-out pairs (``score_pairs`` rows), the curve's last point.

    Each point trains in ``out_root/pairs-N`` (``train_or_load``: resumed after a crash); once scored, its scores go
    to ``out_root/pairs-N.json`` with the fingerprint of what made them and the model folder is deleted (a 135M
    backbone is ~0.5 GB a point), so a rerun with nothing changed reuses the scores and trains nothing.
    ``num_processes`` / ``accelerate_config``: as for ``train_or_load`` (each point launched, quietly). Without
    held-out pairs (a small run whose held-out questions produced none) there is nothing to score: an empty curve,
    nothing trained (``plot_learning_curve`` says so)."""
    import hashlib
    import shutil

    from ..analysis import pair_accuracy

    if not len(eval_pairs):
        return pd.DataFrame(columns=LEARNING_CURVE.column_names)
    order = train_pairs.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    Path(out_root).mkdir(parents=True, exist_ok=True)
    eval_key = _hash_pairs(hashlib.sha256(), eval_pairs).hexdigest()[:16]
    rows = []

    def add(scored: pd.DataFrame, n: int, fraction: float, steps: int):
        for r in pair_accuracy(scored, by=("kind",)).itertuples():
            rows.append({"train_pairs": n, "fraction": fraction, "steps": steps, "kind": r.kind, "pairs": r.pairs,
                         "accuracy": r.accuracy, "ci_low": r.ci_low, "ci_high": r.ci_high})

    for fraction in sorted(f for f in fractions if 0 < f < 1):
        n = max(2, round(fraction * len(order)))
        subset = order.head(n)
        folder, record = Path(out_root) / f"pairs-{n}", Path(out_root) / f"pairs-{n}.json"
        key = f"{training_fingerprint(subset, base, config)}-{eval_key}-{score_batch_size}"
        saved = json.loads(record.read_text()) if record.is_file() else {}
        if saved.get("fingerprint") != key and config.head_only:  # no folder: the states are this process's
            head = fit_pairs_head(subset, base, config)
            chosen, rejected, _ = pair_states(eval_pairs, base, config)
            scored = _pair_frame(eval_pairs, list(chosen @ head["weight"]) + list(rejected @ head["weight"]))
            saved = {"fingerprint": key, "steps": int(head["evaluations"]), "scores": scored.to_dict(orient="records")}
            record.write_text(json.dumps(saved))
        elif saved.get("fingerprint") != key:
            _, info = train_or_load(subset, base, folder, config, progress=False, num_processes=num_processes,
                                    accelerate_config=accelerate_config, log=None)
            scored = score_pairs(RewardModel.load(folder), eval_pairs, batch_size=score_batch_size)
            saved = {"fingerprint": key, "steps": int(info.get("steps", 0)),
                     "scores": scored.to_dict(orient="records")}
            record.write_text(json.dumps(saved))
            shutil.rmtree(folder, ignore_errors=True)
        add(pd.DataFrame(saved["scores"]), n, fraction, saved["steps"])
    if full is not None:
        add(full, len(train_pairs), 1.0, full_steps)
    return pd.DataFrame(rows, columns=LEARNING_CURVE.column_names)


def plot_learning_curve(curve: pd.DataFrame):
    """Held-out accuracy (with its 95% CI) against training pairs, one line per kind of held-out pair."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind, g in curve.groupby("kind", sort=True):
        g = g.sort_values("train_pairs")
        fig.add_trace(go.Scatter(x=g["train_pairs"], y=g["accuracy"], mode="lines+markers", name=f"held-out {kind}",
                                 error_y={"type": "data", "symmetric": False, "array": g["ci_high"] - g["accuracy"],
                                          "arrayminus": g["accuracy"] - g["ci_low"]}))
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    title = "Reward-model learning curve" + ("" if len(curve) else ": no held-out pairs in this run, nothing to score")
    fig.update_layout(title=title, xaxis_title="training pairs", xaxis_type="log",
                      yaxis_title="held-out pair accuracy", yaxis_range=[0, 1.05], height=380)
    return fig


def score_pairs(rm: RewardModel, pairs: pd.DataFrame, batch_size: int = 8) -> pd.DataFrame:
    """``06_rm_pair_scores`` rows: the model's score of each pair's chosen and rejected program."""
    return _pair_frame(pairs, rm.score_many(list(pairs["prompt"]) * 2, list(pairs[CHOSEN]) + list(pairs[REJECTED]),
                                            batch_size))


def _pair_frame(pairs: pd.DataFrame, scores: list[float]) -> pd.DataFrame:
    """``06_rm_pair_scores`` rows from the scores of ``pairs``' chosen programs followed by their rejected ones."""
    n = len(pairs)
    scores = [float(x) for x in scores]
    kind = pairs["kind"].to_numpy() if "kind" in pairs else ["sampled"] * n
    out = pd.DataFrame({QUESTION_ID: pairs[QUESTION_ID].to_numpy(), SPLIT: pairs[SPLIT].to_numpy(), "kind": kind,
                        "r_chosen": scores[:n], "r_rejected": scores[n:],
                        "chosen_pass_rate": pairs["chosen_pass_rate"].to_numpy(),
                        "rejected_pass_rate": pairs["rejected_pass_rate"].to_numpy()})
    out["correct"] = out["r_chosen"] > out["r_rejected"]
    return out[PAIR_SCORES.column_names]


def score_programs(rm: RewardModel, programs: pd.DataFrame, questions: pd.DataFrame, held_out: set[str],
                   batch_size: int = 8, sample: int = 0, seed: int = 0) -> pd.DataFrame:
    """``06_rm_program_scores``: every program of ``programs`` (non-empty code) scored against its question, or,
    with ``sample`` > 0, a random ``sample`` of them (seeded; for the calibration diagnostic at paper scale, where
    phase 04 holds ~1.4M programs)."""
    text = dict(zip(questions[QUESTION_ID], questions["question"]))
    rows = programs[programs[PROGRAM].str.strip() != ""]
    if sample and sample < len(rows):
        rows = rows.sample(n=sample, random_state=seed).sort_index()
    scores = rm.score_many([text[q] for q in rows[QUESTION_ID]], list(rows[PROGRAM]), batch_size)
    out = pd.DataFrame({QUESTION_ID: rows[QUESTION_ID].to_numpy(), "sample": rows["sample"].to_numpy(),
                        SPLIT: ["heldout" if q in held_out else "train" for q in rows[QUESTION_ID]],
                        PASS_RATE: rows[PASS_RATE].astype(float).to_numpy(), "score": scores})
    return out[PROGRAM_SCORES.column_names]


def plot_history(history: pd.DataFrame):
    """Loss and accuracy against step (train and eval), plotly."""
    import plotly.express as px

    shown = history[history["metric"].isin(["loss", "accuracy"])]
    fig = px.line(shown, x="step", y="value", color=SPLIT, facet_row="metric", markers=True,
                  title="Reward model training (Bradley-Terry loss; accuracy = share of pairs ranked right)")
    fig.update_yaxes(matches=None)
    return fig


def plot_calibration(scores: pd.DataFrame):
    """Score against true pass rate, one point per program, coloured by split."""
    import plotly.express as px

    fig = px.strip(scores, x=PASS_RATE, y="score", color=SPLIT, hover_data=[QUESTION_ID, "sample"],
                   title="Reward-model score vs the program's true pass rate")
    fig.update_xaxes(title="true pass rate over the filtered tests")
    return fig


def main(argv: list[str] | None = None) -> None:
    """One process of a launched training run: ``python -m acecoder_lib.phases.p06_train_reward_model --config
    spec.json`` (what ``train_or_load`` runs under ``accelerate launch``; the spec names the pairs' parquet files,
    the backbone, the output folder and the ``RMTrainConfig`` fields)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m acecoder_lib.phases.p06_train_reward_model",
                                     description="Train the phase-06 reward model (one process of a launch).")
    parser.add_argument("--config", required=True, type=Path, help="the launch spec (JSON)")
    args = parser.parse_args(argv)
    spec = json.loads(args.config.read_text())
    eval_pairs = pd.read_parquet(spec["eval_pairs"]) if spec.get("eval_pairs") else None
    # progress as the Trainer's per-step log lines (tqdm's carriage returns would flood the notebook)
    train_reward_model(pd.read_parquet(spec["pairs"]), spec["base"], spec["out_dir"],
                       RMTrainConfig(**spec["config"]), eval_pairs=eval_pairs, progress=False)


if __name__ == "__main__":
    main()

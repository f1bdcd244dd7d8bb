"""A reward model as a scorer of (question, program): load a checkpoint, score programs (phases 06, 07, 08).

    rm = reward_model.RewardModel.load(out_dir)       # a folder trained by phase 06, or a released AceCodeRM checkpoint
    rm.score(question, [program_a, program_b])        # -> [float, float], higher = more likely correct

Input format, the same for training and scoring (and the one AceCodeRM's own example uses): the tokenizer's chat
template over ``[{"role": "user", "content": question}, {"role": "assistant", "content": program}]``, the program as
plain code. Sequences longer than ``max_length`` tokens keep their LAST ``max_length`` tokens (the program and the
end of the question survive; the start of the chat is cut), so the token the head reads is always the real last one.

Two checkpoint layouts load:
- ``sequence_classification``: what phase 06 saves: a standard transformers folder of
  ``AutoModelForSequenceClassification`` (``num_labels=1``, head ``score`` without bias) plus ``acecoder_rm.json``.
- ``value_head``: the released AceCodeRM-7B/32B format: a causal LM whose weights also hold ``v_head.summary.weight``
  and ``v_head.summary.bias`` (a ``Linear(hidden, 1)`` with bias); the score is that head on the last hidden state
  at the last attended token (right padding), as in AceCoder's ``rm_utils.py``.

A *head-only* model (phase 06's ``RMTrainConfig.head_only``, marker ``"head_only": true``) is a
``sequence_classification`` folder whose backbone is the untouched base model: it scores with the backbone's
last-token states, which ``STATE_CACHE`` keeps per backbone for the life of the process, so the states phase 06
computed to fit the head are not computed again to score the same sequences.
"""
from __future__ import annotations

import array
import hashlib
import json
from pathlib import Path
from typing import Sequence

from ..core import timing

MARKER = "acecoder_rm.json"       # written last by train_reward_model: a folder without it is unfinished


LAYOUTS = ("sequence_classification", "value_head")


VALUE_HEAD_KEYS = ("v_head.summary.weight", "v_head.summary.bias")
RELEASED = ("TIGER-Lab/AceCodeRM-7B", "TIGER-Lab/AceCodeRM-32B")  # the paper's reward models (value-head layout)
DTYPES = ("float32", "bfloat16", "float16")
HEAD_ONLY_BATCH = 1  # a head-only model's states are computed one sequence per pass: in bf16 a state moves with
                     # the padded width of its batch (up to 1.0 on states of mean size 5, measured on Qwen2.5-Coder-
                     # 0.5B), alone it is the same whatever else is scored, and on CPU batch 1 was as fast as 8
STATE_CACHE: dict[tuple[str, str, int], dict[bytes, "object"]] = {}  # (backbone, dtype, max_length) -> ids hash ->
                                                                      # last-token state (fp32 numpy row)


def resolve(name: str, trained: str | Path) -> Path:
    """Where the reward model of phases 07/08 comes from: ``""`` is this run's phase-06 model (``trained``); anything
    else is a local folder or a Hugging Face id such as ``TIGER-Lab/AceCodeRM-7B`` (one of ``RELEASED``), found in
    the local HF cache (``models.resolve_model``: nothing is downloaded while offline; the error names the id)."""
    if not name:
        return Path(trained)
    from . import models

    return models.resolve_model(name)


def torch_dtype(name: str):
    """``"float32"`` / ``"bfloat16"`` / ``"float16"`` as a torch dtype, ``""`` as None (the folder's own dtype:
    ``folder_dtype``); a clear error otherwise."""
    import torch

    if name == "":
        return None
    if name not in DTYPES:
        raise ValueError(f"reward model dtype must be one of {DTYPES} or empty (the folder's own), got {name!r}")
    return getattr(torch, name)


def folder_dtype(folder: str | Path):
    """The dtype a reward-model folder scores in by default: the one its head was fitted in (a head-only model's
    ``acecoder_rm.json`` records it), else float32."""
    import torch

    marker = Path(folder) / MARKER
    name = json.loads(marker.read_text()).get("dtype") if marker.is_file() else None
    return getattr(torch, name) if name in DTYPES else torch.float32


class RewardModelError(RuntimeError):
    """A reward-model folder is missing, unfinished or of an unknown layout; the message says which and why."""


def chat_text(tokenizer, question: str, program: str) -> str:
    """The one text both training and scoring tokenize (no generation prompt: the assistant turn is complete)."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": program}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return f"{question}\n\n{program}"


def encode(tokenizer, question: str, program: str, max_length: int) -> list[int]:
    """Token ids of ``chat_text``, left-truncated to the last ``max_length`` tokens."""
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    ids = tokenizer(chat_text(tokenizer, question, program), add_special_tokens=False)["input_ids"]
    return ids[-max_length:]


def sequence_key(ids: list[int]) -> bytes:
    """The cache key of one token-id sequence (a 16-byte blake2b of the ids)."""
    return hashlib.blake2b(array.array("q", ids).tobytes(), digest_size=16).digest()


def last_token_states(backbone, batch: list[list[int]], pad_id: int, device) -> "object":
    """The last layer's hidden state at each sequence's last token, as fp32 (right padding; ``backbone`` is the
    model without its head, e.g. ``model.base_model``)."""
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in batch], device=device)
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch], device=device)
    with torch.no_grad():
        hidden = backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return hidden[torch.arange(len(batch), device=device), mask.sum(-1) - 1].float()


def cached_states(backbone, cache: dict, id_lists: Sequence[list[int]], pad_id: int, device,
                  batch_size: int = 8) -> tuple["object", int]:
    """(states as an fp32 numpy array, one row per sequence in order; how many were computed): sequences already in
    ``cache`` (keyed by ``sequence_key``) are not run again, the others are batched by length."""
    import numpy as np

    keys = [sequence_key(ids) for ids in id_lists]
    todo: dict[bytes, list[int]] = {}
    for key, ids in zip(keys, id_lists):
        if key not in cache:
            todo.setdefault(key, ids)
    pending = sorted(todo.items(), key=lambda item: len(item[1]))
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        states = last_token_states(backbone, [ids for _, ids in chunk], pad_id, device).cpu().numpy()
        for (key, _), row in zip(chunk, states):
            cache[key] = row
    if not keys:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.stack([cache[key] for key in keys]), len(pending)


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()})
    return sorted(folder.glob("*.safetensors"))


def detect_layout(folder: str | Path) -> str:
    """``sequence_classification`` or ``value_head`` (see the module docstring); RewardModelError otherwise."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise RewardModelError(f"{folder} is not a model folder (no config.json)")
    marker = folder / MARKER
    if marker.is_file():
        return json.loads(marker.read_text())["layout"]
    from safetensors import safe_open

    for file in _safetensors_files(folder):
        with safe_open(str(file), framework="pt") as f:
            if VALUE_HEAD_KEYS[0] in f.keys():
                return "value_head"
    archs = json.loads((folder / "config.json").read_text()).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "sequence_classification"
    raise RewardModelError(f"{folder} is neither a sequence-classification reward model nor a value-head (AceCodeRM) "
                           f"checkpoint: no {VALUE_HEAD_KEYS[0]} tensor, architectures {archs}")


class RewardModel:
    """A loaded reward model; ``score`` batches (length-sorted), pads right and truncates like training did."""

    def __init__(self, folder: str | Path, device: str | None = None, dtype=None, max_length: int | None = None):
        import torch
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        if self.folder.is_dir() and (self.folder / "checkpoints").is_dir() and not (self.folder / MARKER).is_file() \
                and not (self.folder / "config.json").is_file():
            raise RewardModelError(f"{self.folder} holds checkpoints but no finished model: training did not end; "
                                   f"rerun train_reward_model to resume")
        self.layout = detect_layout(self.folder)
        marker = json.loads((self.folder / MARKER).read_text()) if (self.folder / MARKER).is_file() else {}
        self.max_length = int(max_length or marker.get("max_length") or 2048)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self.dtype = dtype or folder_dtype(self.folder)  # a head-only model: the dtype of its fit
        self.head_only = bool(marker.get("head_only"))
        self._states = (STATE_CACHE.setdefault((str(marker.get("base_path", "")), str(dtype), self.max_length), {})
                        if self.head_only else None)
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.layout == "sequence_classification":
            from transformers import AutoModelForSequenceClassification
            self.model = AutoModelForSequenceClassification.from_pretrained(self.folder, dtype=dtype)
            self.model.config.pad_token_id = self.model.config.pad_token_id or self.tokenizer.pad_token_id
            self.head = None
        else:
            from safetensors import safe_open
            from transformers import AutoModelForCausalLM
            from transformers.utils import logging as hf_logging

            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # the v_head tensors are "unexpected" for the plain causal LM: expected
            try:
                self.model = AutoModelForCausalLM.from_pretrained(self.folder, dtype=dtype)
            finally:
                hf_logging.set_verbosity(verbosity)
            tensors = {}
            for file in _safetensors_files(self.folder):
                with safe_open(str(file), framework="pt") as f:
                    tensors.update({k: f.get_tensor(k) for k in VALUE_HEAD_KEYS if k in f.keys()})
            if set(tensors) != set(VALUE_HEAD_KEYS):
                raise RewardModelError(f"{self.folder}: value-head checkpoint lacks "
                                       f"{sorted(set(VALUE_HEAD_KEYS) - set(tensors))}")
            weight = tensors[VALUE_HEAD_KEYS[0]]
            self.head = torch.nn.Linear(weight.shape[1], 1, bias=True)
            self.head.load_state_dict({"weight": weight.float(), "bias": tensors[VALUE_HEAD_KEYS[1]].float()})
            self.head.to(self.device)
        self.model.to(self.device).eval()
        self._cache: dict[bytes, float] = {}  # score by hash of the token ids (see score_many)
        self.last_stats: dict = {}

    @classmethod
    def load(cls, folder: str | Path, **kw) -> "RewardModel":
        with timing.span("model_load"):
            return cls(folder, **kw)

    def _forward(self, batch: list[list[int]]) -> list[float]:
        import torch

        pad = self.tokenizer.pad_token_id
        if self.head_only:  # the frozen backbone's states (shared with phase 06's fit), the head in fp32
            states, _ = cached_states(self.model.base_model, self._states, batch, pad, self.device, HEAD_ONLY_BATCH)
            weight = self.model.score.weight.detach().float().cpu().numpy()[0]
            return (states @ weight).tolist()
        if self.head is None and self.dtype == torch.float32:
            width = max(len(ids) for ids in batch)
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in batch], device=self.device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch], device=self.device)
            with torch.no_grad():
                return self.model(input_ids=input_ids, attention_mask=mask).logits[:, 0].float().tolist()
        if self.head is None:  # a bf16/fp16 backbone: the score head in fp32, so close scores do not round equal
            last = last_token_states(self.model.base_model, batch, pad, self.device)
            return (last @ self.model.score.weight.float().T)[:, 0].tolist()
        # value head (AceCodeRM): the causal LM's last hidden layer; its base_model is the same decoder
        with torch.no_grad():
            return self.head(last_token_states(self.model.base_model, batch, pad, self.device)).squeeze(-1).tolist()

    @timing.timed("scoring")
    def score_many(self, questions: Sequence[str], programs: Sequence[str], batch_size: int = 8) -> list[float]:
        """One score per (question, program) pair, in order.

        A sequence (the token ids of ``chat_text``) is scored once per loaded model: repeats within a call (a
        program in several preference pairs, a greedy answer equal to a sample, duplicate completions of an RL
        group) and across calls (phase 06 scores the pairs, then the programs they came from) come from a cache
        keyed by a hash of the ids. New sequences are batched by length, so a batch pads to its own longest member.
        ``last_stats`` tells what the call did: sequences asked for, how many were computed, and the padding share
        of its batches."""
        if len(questions) != len(programs):
            raise ValueError(f"{len(questions)} questions but {len(programs)} programs")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        keys = []
        todo: dict[bytes, list[int]] = {}
        for q, p in zip(questions, programs):
            ids = encode(self.tokenizer, q, p, self.max_length)
            key = sequence_key(ids)
            keys.append(key)
            if key not in self._cache:
                todo.setdefault(key, ids)
        pending = sorted(todo.items(), key=lambda item: len(item[1]))
        real = padded = 0
        for start in range(0, len(pending), batch_size):
            chunk = pending[start:start + batch_size]
            real += sum(len(ids) for _, ids in chunk)
            padded += len(chunk) * len(chunk[-1][1])
            for (key, _), s in zip(chunk, self._forward([ids for _, ids in chunk])):
                self._cache[key] = float(s)
        self.last_stats = {"sequences": len(keys), "computed": len(pending),
                           "padding_share": round(1 - real / padded, 4) if padded else 0.0}
        return [self._cache[key] for key in keys]

    def score(self, question: str, programs: Sequence[str], batch_size: int = 8) -> list[float]:
        """Scores of ``programs`` for one ``question`` (higher: more likely to pass the tests)."""
        return self.score_many([question] * len(programs), list(programs), batch_size=batch_size)


class LazyRewardModel:
    """A reward model that loads on first use (``score``, ``score_many``, any ``RewardModel`` attribute): what a
    notebook hands to a LAUNCHED training, whose processes each load their own copy from ``folder`` (phase 08's
    ``reward_recipe`` reads only ``folder`` and ``dtype``), so the kernel does not hold one more copy of a 7B model
    on the first GPU. The folder's layout is checked at once, so a wrong path fails before training starts."""

    def __init__(self, folder: str | Path, dtype=None, **kw):
        self.folder = Path(folder)
        self.layout = detect_layout(self.folder)
        self.dtype = dtype or folder_dtype(self.folder)
        self._kw = {**kw, "dtype": self.dtype}
        self._rm: RewardModel | None = None

    @property
    def loaded(self) -> bool:
        return self._rm is not None

    def __getattr__(self, name: str):  # only for what is not set above: the loaded model's attributes
        if name.startswith("_"):
            raise AttributeError(name)
        if self._rm is None:
            self._rm = RewardModel.load(self.folder, **self._kw)
        return getattr(self._rm, name)

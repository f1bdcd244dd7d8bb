"""cached_generate: pays once per distinct prompt, resumes after a crash, survives a torn last line."""
from __future__ import annotations

import pytest

from acecoder_lib.core.cache import CompletionCache, cached_generate, prompt_key


class CountingBackend:
    """A deterministic stand-in model: echoes the prompt, counts calls, can fail on a chosen call."""

    def __init__(self, fail_on_call=None):
        self.calls, self.prompts_seen, self.fail_on_call = 0, [], fail_on_call

    def generate(self, prompts, n=1, **kw):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("backend died")
        self.prompts_seen += list(prompts)
        return [[f"{p}-{i}" for i in range(n)] for p in prompts]


def test_generates_each_distinct_prompt_once_and_reuses_across_runs(tmp_path):
    prompts = ["a", "b", "a", "c"]
    backend = CountingBackend()
    out = cached_generate(backend, prompts, CompletionCache(tmp_path / "c.jsonl"), "m", batch_size=2, n=2)
    assert out == [["a-0", "a-1"], ["b-0", "b-1"], ["a-0", "a-1"], ["c-0", "c-1"]]
    assert backend.prompts_seen == ["a", "b", "c"] and backend.calls == 2
    again = CountingBackend()
    assert cached_generate(again, prompts, CompletionCache(tmp_path / "c.jsonl"), "m", batch_size=2, n=2) == out
    assert again.calls == 0
    other_params = CountingBackend()
    cached_generate(other_params, ["a"], CompletionCache(tmp_path / "c.jsonl"), "m", n=3)
    assert other_params.calls == 1  # different n -> different key


def test_crash_mid_run_keeps_finished_batches(tmp_path):
    prompts = [f"p{i}" for i in range(6)]
    with pytest.raises(RuntimeError, match="backend died"):
        cached_generate(CountingBackend(fail_on_call=2), prompts, CompletionCache(tmp_path / "c.jsonl"), "m",
                        batch_size=2)
    resumed = CountingBackend()
    out = cached_generate(resumed, prompts, CompletionCache(tmp_path / "c.jsonl"), "m", batch_size=2)
    assert resumed.prompts_seen == ["p2", "p3", "p4", "p5"]
    assert out[0] == ["p0-0"] and out[5] == ["p5-0"]


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "c.jsonl"
    cached_generate(CountingBackend(), ["a"], CompletionCache(path), "m")
    with open(path, "a") as f:
        f.write('{"key": "abc", "compl')
    store = CompletionCache(path)
    assert len(store) == 1 and store.torn_lines == 1
    assert store.get(prompt_key("m", "a", {})) == ["a-0"]
    cached_generate(CountingBackend(), ["b"], store, "m")  # appended after the torn line, on its own line
    reloaded = CompletionCache(path)
    assert len(reloaded) == 2 and reloaded.get(prompt_key("m", "b", {})) == ["b-0"]

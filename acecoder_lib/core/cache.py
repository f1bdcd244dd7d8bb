"""A resumable cache of LLM completions, keyed by a hash of everything that determines them.

Phases that call a model (test synthesis, proxy solving, policy sampling) go through ``cached_generate``: prompts
already answered are read back, the rest are generated in batches and appended to a JSONL file after every batch,
so a crash loses at most one batch and a rerun never pays twice. The key covers the model, the backend kind,
the messages, the sampling parameters and n; change any of them and the prompt is generated anew.

    store = CompletionCache(paths.run_dir(RUN_NAME) / "02_llm_cache.jsonl")
    completions = cached_generate(backend, prompts, store, namespace="transformers:smollm2-135m-instruct",
                                  n=1, temperature=0.7, max_new_tokens=512, batch_size=8)
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence


def prompt_key(namespace: str, prompt, params: dict) -> str:
    """sha256 of the namespace (backend + model), the prompt (str or messages) and the generation parameters."""
    blob = json.dumps([namespace, prompt, params], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CompletionCache:
    """Append-only JSONL of {"key", "completions"}; a torn last line (crash mid-write) is ignored on load."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._data: dict[str, list[str]] = {}
        self.torn_lines = 0
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        self._data[row["key"]] = row["completions"]
                    except (ValueError, KeyError, TypeError):
                        self.torn_lines += 1

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> list[str] | None:
        return self._data.get(key)

    def put_many(self, items: dict[str, list[str]]) -> None:
        """Append entries and flush them to disk before returning."""
        if not items:
            return
        with open(self.path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn line from a crash: start ours on a fresh line
                    f.write(b"\n")
            for key, completions in items.items():
                f.write((json.dumps({"key": key, "completions": completions}, ensure_ascii=False) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        self._data.update(items)


def cached_generate(backend, prompts: Sequence, cache: CompletionCache, namespace: str, batch_size: int = 8,
                    progress: Callable[[int, int], None] | None = None, failures: dict | None = None,
                    **gen_kwargs) -> list[list[str]]:
    """``backend.generate`` for the prompts not in ``cache``, in batches saved as they finish; all results in order.

    With ``failures`` (a dict), a batch whose backend call raises (a timeout, a server error) does not stop the rest:
    its prompts get ``n`` empty completions, are NOT cached (a rerun retries them), and ``failures[index]`` holds the
    error text for each of their prompt indexes. Without it, the error propagates (batches already done are kept)."""
    keys = [prompt_key(namespace, p, gen_kwargs) for p in prompts]
    first_index: dict[str, int] = {}
    for i, k in enumerate(keys):  # one pass (a keys.index per prompt was quadratic: hours at 124K prompts)
        first_index.setdefault(k, i)
    todo = [k for k in first_index if k not in cache]  # one call per distinct prompt, in first-seen order
    done = len(set(keys)) - len(todo)
    failed: dict[str, str] = {}
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        try:
            outputs = backend.generate([prompts[first_index[k]] for k in chunk], **gen_kwargs)
            if len(outputs) != len(chunk):
                raise RuntimeError(f"backend returned {len(outputs)} results for {len(chunk)} prompts")
        except Exception as exc:
            if failures is None:
                raise
            failed.update({k: f"{type(exc).__name__}: {exc}"[:500] for k in chunk})
            continue
        cache.put_many(dict(zip(chunk, [list(o) for o in outputs])))
        done += len(chunk)
        if progress:
            progress(done, len(set(keys)))
    n = gen_kwargs.get("n", 1)
    if failures is not None:
        failures.update({i: failed[k] for i, k in enumerate(keys) if k in failed})
    return [[""] * n if k in failed else list(cache.get(k)) for k in keys]

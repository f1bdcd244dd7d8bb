"""``VLLMBackend.close`` really ends the engine (issue 18 item 4): after it, a new engine starts and generates in the
same process, as notebook 08 does for each policy it evaluates. A module of its own, so no other engine of the
session is alive while one is closed (closing tears down vLLM's process-wide distributed state)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.vllm


def test_a_closed_engine_frees_its_place_for_the_next(smollm2_dir):
    try:
        import vllm  # noqa: F401
    except Exception as exc:
        pytest.skip(f"vllm is not importable here: {type(exc).__name__}: {exc}")
    from acecoder_lib.llm.generation import make_backend

    prompt = "def add(a, b):\n    return"
    first = make_backend("vllm", "smollm2-135m-instruct", dtype="float32")
    before = first.generate([prompt], max_new_tokens=8, temperature=0.0)
    engine = first.llm.llm_engine
    first.close()
    assert first.llm is None
    assert not engine.engine_core._finalizer.alive  # the engine core's shutdown ran (it runs once)
    first.close()  # a second close is a no-op
    second = make_backend("vllm", "smollm2-135m-instruct", dtype="float32")
    try:
        assert second.generate([prompt], max_new_tokens=8, temperature=0.0) == before
    finally:
        second.close()

"""Tests for acecoder_lib.llm.generation and acecoder_lib.llm.serve: every backend answers, is seeded, and fails
clearly."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from acecoder_lib.llm.generation import BackendError, OpenAIBackend, make_backend
from acecoder_lib.llm.prompts import SOLVE_PREFILL, solve_messages

ADD = [{"role": "user", "content": "Write a Python function add(a, b) that returns the sum of a and b."}]


# ------------------------------------------------------------------------------------------ tiny model, fast
def test_tiny_shapes_usage_and_greedy_copies(tiny_backend):
    out = tiny_backend.generate_detailed([ADD, "def f(x):", ADD], n=3, max_new_tokens=5)
    assert [len(r) for r in out] == [3, 3, 3]
    assert all(c.text == r[0].text and c.tokens == 5 and c.finish_reason == "length" for r in out for c in r)
    assert out[0][0].text == out[2][0].text  # same prompt, greedy
    u = tiny_backend.last_usage
    assert u.sequences == 3 and u.completion_tokens == 15 and u.seconds > 0  # greedy: generated once per prompt
    assert u.tokens_per_second == pytest.approx(15 / u.seconds)


def test_tiny_sampling_is_seeded(tiny_backend):
    kw = dict(n=4, temperature=1.0, top_p=1.0, max_new_tokens=8)
    a = tiny_backend.generate([ADD, "def g(y):"], seed=7, **kw)
    b = tiny_backend.generate([ADD, "def g(y):"], seed=7, **kw)
    c = tiny_backend.generate([ADD, "def g(y):"], seed=8, **kw)
    assert a == b and a != c
    assert len(set(a[0])) > 1  # the 4 samples of one prompt differ (random weights: near-uniform next tokens)


def test_tiny_more_samples_than_batch(tiny_model_dir):
    backend = make_backend("transformers", "tiny-random", batch_size=4, progress=False)
    out = backend.generate([ADD, ADD], n=10, temperature=1.0, max_new_tokens=3, seed=1)
    assert [len(r) for r in out] == [10, 10] and backend.last_usage.sequences == 20


def test_bad_inputs_are_clear_errors(tiny_backend):
    with pytest.raises(ValueError, match="wrap a single prompt"):
        tiny_backend.generate("def f():")
    with pytest.raises(ValueError, match="prompt 1 is neither"):
        tiny_backend.generate(["ok", [{"role": "user"}]])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        tiny_backend.generate(["ok"], n=0)
    with pytest.raises(ValueError, match="top_p"):
        tiny_backend.generate(["ok"], top_p=0)
    with pytest.raises(ValueError, match="already is a prefill"):
        tiny_backend.generate([ADD + [{"role": "assistant", "content": "x"}]], prefill="y")
    with pytest.raises(ValueError, match="unknown backend kind 'tgi'"):
        make_backend("tgi", "tiny-random")
    assert tiny_backend.generate([]) == []


# ---------------------------------------------------------------------------------- SmolLM2, transformers
def test_smollm2_greedy_is_deterministic_and_sensible(smollm2_backend):
    a = smollm2_backend.generate([ADD], max_new_tokens=30)
    b = smollm2_backend.generate([ADD], max_new_tokens=30)
    assert a == b and "def add(a, b)" in a[0][0]


def test_smollm2_prefill_continues_the_assistant_turn(smollm2_backend):
    msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
    assert msgs[-1]["content"] == SOLVE_PREFILL
    (row,) = smollm2_backend.generate_detailed([msgs], max_new_tokens=60, stop=["```"])
    assert "def add" in row[0].text and "return" in row[0].text
    assert not row[0].text.lstrip().startswith("Below is")  # only the continuation comes back
    assert "```" not in row[0].text and row[0].finish_reason == "stop"
    # the same prefill through prefill= on the plain question gives the same tokens
    same = smollm2_backend.generate([msgs[:-1]], prefill=SOLVE_PREFILL, max_new_tokens=60, stop=["```"])
    assert same[0][0] == row[0].text
    # the stop string that ended it is known, and keep_stop puts it back
    assert row[0].stop_string == "```"
    assert smollm2_backend.generate([msgs], max_new_tokens=60, stop=["```"], keep_stop=True) == [[row[0].text + "```"]]


def test_truncate_at_stop_cuts_at_the_earliest_stop_string():
    from acecoder_lib.llm.generation import _truncate_at_stop

    assert _truncate_at_stop("a = 1\n```\nmore", ["\n\n", "```"]) == ("a = 1\n", "```")
    assert _truncate_at_stop("x```y", ["``", "```"]) == ("x", "```")  # same place: the longer one is what was hit
    assert _truncate_at_stop("no stop here", ["```"]) == ("no stop here", None)
    assert _truncate_at_stop("text", None) == ("text", None)


def test_smollm2_sampling_n_and_seed(smollm2_backend):
    kw = dict(n=3, temperature=0.8, top_p=0.95, max_new_tokens=10)
    a = smollm2_backend.generate([ADD, "def is_prime(n):"], seed=3, **kw)
    assert a == smollm2_backend.generate([ADD, "def is_prime(n):"], seed=3, **kw)
    assert [len(r) for r in a] == [3, 3] and all(t.strip() for r in a for t in r)
    assert a != smollm2_backend.generate([ADD, "def is_prime(n):"], seed=4, **kw)


# ------------------------------------------------------------------------------------------ llama.cpp
def test_llamacpp_without_the_package_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # importing it now raises ImportError
    with pytest.raises(BackendError, match="llama-cpp-python"):
        make_backend("llamacpp", "smollm2-135m-instruct")


def test_gguf_path_finds_one_file_or_says_why(tmp_path):
    from acecoder_lib.llm import models

    with pytest.raises(models.ModelNotAvailableError, match="no single GGUF"):
        models.gguf_path(str(tmp_path))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert models.gguf_path(str(tmp_path)) == tmp_path / "m.gguf"
    assert models.gguf_path(str(tmp_path / "m.gguf")) == tmp_path / "m.gguf"
    (tmp_path / "n.gguf").write_bytes(b"GGUF")
    with pytest.raises(models.ModelNotAvailableError, match="found 2"):
        models.gguf_path(str(tmp_path))


@pytest.fixture(scope="module")
def llamacpp_backend(smollm2_dir):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is optional (built from source)")
    backend = make_backend("llamacpp", "smollm2-135m-instruct")
    yield backend
    backend.close()


def test_llamacpp_greedy_prefill_seed_and_n(llamacpp_backend):
    msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
    (row,) = llamacpp_backend.generate_detailed([msgs], max_new_tokens=60, stop=["```"])
    assert "def add" in row[0].text and row[0].finish_reason == "stop" and "```" not in row[0].text
    kw = dict(n=3, temperature=0.8, top_p=0.95, max_new_tokens=12)
    a = llamacpp_backend.generate([ADD, "def is_prime(n):"], seed=3, **kw)
    assert [len(r) for r in a] == [3, 3] and len(set(a[0])) > 1  # n different samples of one prompt
    assert a == llamacpp_backend.generate([ADD, "def is_prime(n):"], seed=3, **kw)
    assert a != llamacpp_backend.generate([ADD, "def is_prime(n):"], seed=4, **kw)
    assert llamacpp_backend.last_usage.sequences == 6 and llamacpp_backend.last_usage.completion_tokens > 0


# ---------------------------------------------------------------------------------------------- vLLM
@pytest.fixture(scope="module")
def vllm_backend(smollm2_dir):
    try:
        import vllm  # noqa: F401
    except Exception as exc:
        pytest.skip(f"vllm is not importable here: {type(exc).__name__}: {exc}")
    backend = make_backend("vllm", "smollm2-135m-instruct", dtype="float32")
    yield backend
    backend.close()


def test_vllm_kv_cache_setting_is_for_that_engine_only(smollm2_dir, monkeypatch):
    try:
        import vllm
    except Exception as exc:
        pytest.skip(f"vllm is not importable here: {type(exc).__name__}: {exc}")
    import os

    seen = []

    class FakeLLM:  # records what the engine would read at start; no engine is built
        def __init__(self, **kw):
            seen.append((os.environ["VLLM_CPU_KVCACHE_SPACE"], kw["max_num_batched_tokens"]))

        def get_tokenizer(self):
            return None

    monkeypatch.setattr(vllm, "LLM", FakeLLM)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    make_backend("vllm", "smollm2-135m-instruct", kv_cache_gib=4, max_num_batched_tokens=65536)
    make_backend("vllm", "smollm2-135m-instruct")
    assert seen == [("4", 65536), ("1", 8192)] and os.environ["VLLM_CPU_KVCACHE_SPACE"] == "1"


@pytest.mark.vllm
def test_vllm_backend_greedy_seed_and_n(vllm_backend, smollm2_backend):
    a = vllm_backend.generate([ADD, "def fib(n):"], max_new_tokens=24)
    assert a == vllm_backend.generate([ADD, "def fib(n):"], max_new_tokens=24)
    assert "def add" in a[0][0]
    # same fp32 weights and token ids as transformers: the greedy answers start the same way
    ref = smollm2_backend.generate([ADD], max_new_tokens=24)[0][0]
    assert a[0][0][:20] == ref[:20]
    kw = dict(n=4, temperature=0.8, top_p=0.95, max_new_tokens=16)
    story = [{"role": "user", "content": "Tell me a story about a cat."}]
    s = vllm_backend.generate_detailed([story], seed=5, **kw)
    assert len(s[0]) == 4 and [c.text for c in s[0]] == vllm_backend.generate([story], seed=5, **kw)[0]
    assert len({c.text for c in s[0]}) > 1 and vllm_backend.last_usage.completion_tokens > 0
    # neighbouring seeds must not share samples (vLLM seeds a request's n samples seed, seed+1, ...)
    long_ones = {c.text for c in s[0] if len(c.text) > 10}  # short or empty answers may coincide by chance
    assert long_ones and not long_ones & set(vllm_backend.generate([story], seed=6, **kw)[0])


@pytest.mark.vllm
def test_vllm_stop_string_is_reported_and_kept_on_request(vllm_backend):
    msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
    (row,) = vllm_backend.generate_detailed([msgs], max_new_tokens=80, stop=["```"])
    assert "def add" in row[0].text and "```" not in row[0].text
    assert row[0].finish_reason == "stop" and row[0].stop_string == "```"
    kept = vllm_backend.generate([msgs], max_new_tokens=80, stop=["```"], keep_stop=True)
    assert kept == [[row[0].text + "```"]]


# -------------------------------------------------------------------- OpenAI client against a real server
def test_openai_backend_against_serve(serve_url, smollm2_backend):
    client = make_backend("openai", "smollm2-135m-instruct", base_url=serve_url, concurrency=2)
    greedy = client.generate([ADD, "def fib(n):"], max_new_tokens=24)
    assert greedy == smollm2_backend.generate([ADD, "def fib(n):"], max_new_tokens=24)  # same model, same code
    assert client.last_usage.completion_tokens > 0 and client.last_usage.prompt_tokens > 0
    kw = dict(n=3, temperature=0.8, top_p=0.95, max_new_tokens=12, seed=11)
    s1, s2 = client.generate([ADD], **kw), client.generate([ADD], **kw)
    assert s1 == s2 and len(s1[0]) == 3 and len(set(s1[0])) > 1
    msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
    pre = client.generate([msgs], max_new_tokens=60, stop=["```"])
    assert pre == smollm2_backend.generate([msgs], max_new_tokens=60, stop=["```"])
    # the server reports which stop string ended a choice (vLLM's stop_reason), so keep_stop works through it
    kept = client.generate([msgs], max_new_tokens=60, stop=["```"], keep_stop=True)
    assert kept == [[pre[0][0] + "```"]] == smollm2_backend.generate([msgs], max_new_tokens=60, stop=["```"],
                                                                     keep_stop=True)


def test_serve_rejects_bad_requests(serve_url):
    import requests

    r = requests.post(serve_url + "/chat/completions", json={"model": "gpt-9", "messages": ADD}, timeout=30)
    assert r.status_code == 404 and "smollm2-135m-instruct" in r.text
    r = requests.post(serve_url + "/chat/completions", json={"messages": ADD, "n": 0}, timeout=30)
    assert r.status_code == 400 and "n must be" in r.text
    models = requests.get(serve_url + "/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct"]
    client = OpenAIBackend("gpt-9", base_url=serve_url, max_retries=3, backoff_s=0.01)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="HTTP 404"):
        client.generate([ADD], max_new_tokens=4)
    assert time.perf_counter() - t0 < 5  # a 404 is not retried
    r = requests.post(serve_url + "/chat/completions", json={"messages": ADD, "response_format": {
        "type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}}, timeout=30)
    assert r.status_code == 400 and "no constrained decoding" in r.text  # refused, never silently ignored


SERVED = "smollm2-135m-instruct"
STORY = [{"role": "user", "content": "Tell me a long story about a cat."}]


@pytest.fixture(scope="module")
def oai(serve_url):
    """The official openai client on the live acecoder_lib.llm.serve (no retries: every error must surface at once)."""
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=serve_url, api_key="unused", max_retries=0, timeout=120)


def _chat_stream(chunks, n: int = 1):
    """(texts, finish_reasons, usage) of streamed chat chunks, checking OpenAI's order: role, content, finish."""
    texts, roles, finish, usage = [""] * n, [None] * n, [None] * n, None
    for ch in chunks:
        assert ch.object == "chat.completion.chunk"
        if not ch.choices:  # stream_options.include_usage: the last chunk
            usage = ch.usage
        for c in ch.choices:
            assert finish[c.index] is None, "a chunk after the choice's finish_reason"
            if c.delta.role:
                assert roles[c.index] is None and texts[c.index] == ""
                roles[c.index] = c.delta.role
            assert roles[c.index] == "assistant", "the role comes in the first chunk of a choice"
            texts[c.index] += c.delta.content or ""
            finish[c.index] = c.finish_reason
    assert all(f in ("stop", "length") for f in finish)
    return texts, finish, usage


def _text_stream(chunks, n: int = 1):
    """(texts, finish_reasons) of streamed completion chunks."""
    texts, finish = [""] * n, [None] * n
    for ch in chunks:
        assert ch.object == "text_completion"
        for c in ch.choices:
            assert finish[c.index] is None, "a chunk after the choice's finish_reason"
            texts[c.index] += c.text
            finish[c.index] = c.finish_reason
    assert all(f in ("stop", "length") for f in finish)
    return texts, finish


def test_serve_with_the_official_openai_client(oai):
    import openai

    assert [m.id for m in oai.models.list()] == [SERVED] and oai.models.retrieve(SERVED).id == SERVED
    r = oai.chat.completions.create(model=SERVED, messages=ADD, max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and len(r.choices) == 1 and r.choices[0].message.role == "assistant"
    assert "def add" in r.choices[0].message.content and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 12 and r.usage.prompt_tokens > 0
    parts = [{"role": "user", "content": [{"type": "text", "text": ADD[0]["content"]}]}]  # content as text parts
    same = oai.chat.completions.create(model=SERVED, messages=parts, max_tokens=12, temperature=0)
    assert same.choices[0].message.content == r.choices[0].message.content
    c = oai.completions.create(model=SERVED, prompt="def fib(n):", max_tokens=6, n=2, temperature=0.8, seed=3)
    assert c.object == "text_completion" and [x.index for x in c.choices] == [0, 1]
    assert all(x.text and x.finish_reason in ("stop", "length") for x in c.choices)

    for call in (lambda: oai.chat.completions.create(model="gpt-9", messages=ADD, max_tokens=2),
                 lambda: oai.completions.create(model="gpt-9", prompt="x", max_tokens=2),
                 lambda: oai.models.retrieve("gpt-9")):
        with pytest.raises(openai.NotFoundError) as err:
            call()
        assert err.value.status_code == 404 and SERVED in err.value.message and err.value.code == "model_not_found"
    bad_chat = [dict(n=0), dict(n="x"), dict(messages=[]), dict(messages=[{"content": "hi"}]), dict(max_tokens=0),
                dict(temperature="hot"), dict(top_p=0), dict(seed="s"), dict(stop=[""]),
                dict(messages=ADD + [{"role": "assistant", "content": "def"}])]  # a prefill needs the flag
    for bad in bad_chat:
        with pytest.raises(openai.BadRequestError) as err:
            oai.chat.completions.create(**{"model": SERVED, "messages": ADD, "max_tokens": 2, **bad})
        assert err.value.status_code == 400 and err.value.type == "invalid_request_error", bad
    with pytest.raises(openai.BadRequestError, match="n must be an integer"):
        oai.chat.completions.create(model=SERVED, messages=ADD, n=0, stream=True)
    with pytest.raises(openai.BadRequestError, match="messages must be"):
        oai.post("/chat/completions", body={"model": SERVED}, cast_to=object)  # no messages at all
    with pytest.raises(openai.BadRequestError, match="prompt must be one string"):
        oai.completions.create(model=SERVED, prompt=["a", "b"], max_tokens=2)


def test_serve_streams_the_same_text_as_it_returns(oai, serve_url):
    import requests

    kw = dict(model=SERVED, messages=ADD, max_tokens=12, n=2, temperature=0)  # greedy: one row for both choices
    whole = oai.chat.completions.create(**kw)
    chunks = list(oai.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    texts, finish, usage = _chat_stream(chunks, n=2)
    assert texts == [c.message.content for c in whole.choices] and texts[0] == texts[1] and "def add" in texts[0]
    assert finish == [c.finish_reason for c in whole.choices] == ["length", "length"]
    assert usage.completion_tokens == whole.usage.completion_tokens == 12
    assert sum(1 for ch in chunks for c in ch.choices if c.delta.content) > 6  # pieces, not one block per choice
    assert len({ch.id for ch in chunks}) == 1

    kw = dict(model=SERVED, messages=STORY, max_tokens=8, n=2, temperature=0.8, seed=5)  # sampled, two choices
    whole = oai.chat.completions.create(**kw)
    texts, finish, _ = _chat_stream(oai.chat.completions.create(stream=True, **kw), n=2)
    assert texts == [c.message.content for c in whole.choices] and finish == [c.finish_reason for c in whole.choices]
    assert texts[0] != texts[1]

    # more samples than the server's batch (16): two generate calls, streamed rows must land on the right choice
    kw = dict(model=SERVED, prompt="def fib(n):", max_tokens=3, n=17, temperature=1.0, seed=2)
    whole = oai.completions.create(**kw)
    texts, finish = _text_stream(oai.completions.create(stream=True, **kw), n=17)
    assert texts == [c.text for c in whole.choices] and finish == [c.finish_reason for c in whole.choices]
    assert len(set(texts)) > 2

    # a stop string that ends the greedy answer: its first characters are held back until they are known
    kw = dict(model=SERVED, prompt="def add(a, b):", max_tokens=12, temperature=0, stop=["= b\n"])
    whole = oai.completions.create(**kw)
    assert whole.choices[0].finish_reason == "stop"
    assert _text_stream(oai.completions.create(stream=True, **kw)) == ([whole.choices[0].text], ["stop"])

    # the wire format itself
    r = requests.post(serve_url + "/completions", json={"model": SERVED, "prompt": "Hi", "max_tokens": 3,
                                                        "stream": True}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("\n\n") and r.text.count("data: [DONE]") == 1
    events = r.text.split("\n\n")[:-1]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert all(c["object"] == "text_completion" and len(c["choices"]) == 1 for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_serve_answers_health_and_models_while_generating(oai, serve_url):
    import requests

    base = serve_url.rsplit("/v1", 1)[0]
    # a non-streamed generation in a thread: health and the model list answer while it runs
    box = {}
    long_one = threading.Thread(target=lambda: box.setdefault("r", oai.completions.create(
        model=SERVED, prompt="Once upon a time", max_tokens=48, temperature=1.0, seed=1)))
    long_one.start()
    deadline = time.time() + 60
    while not requests.get(base + "/health", timeout=10).json()["generating"]:
        assert long_one.is_alive() and time.time() < deadline, "the generation never showed up in /health"
        time.sleep(0.02)
    for url in (base + "/health", serve_url + "/models"):
        t0 = time.perf_counter()
        assert requests.get(url, timeout=10).status_code == 200
        assert time.perf_counter() - t0 < 2
    assert long_one.is_alive()  # still generating when they answered
    long_one.join()
    assert box["r"].choices[0].text and box["r"].usage.completion_tokens > 1

    # a long stream: once tokens flow the model is busy; closing the stream stops its generation
    stream = oai.chat.completions.create(model=SERVED, messages=STORY, max_tokens=1000, temperature=1.0, seed=1,
                                         stream=True)
    chunks = iter(stream)
    assert next(chunks).choices[0].delta.role == "assistant"
    assert next(chunks).choices[0].delta.content
    t0 = time.perf_counter()
    health = requests.get(base + "/health", timeout=10).json()
    assert time.perf_counter() - t0 < 2 and health["status"] == "ok" and health["generating"] == 1
    stream.close()
    deadline = time.time() + 10  # 1000 tokens take minutes here; a cancelled stream stops at its next token
    while requests.get(base + "/health", timeout=10).json()["generating"]:
        assert time.time() < deadline, "the closed stream kept generating"
        time.sleep(0.05)


def test_serve_concurrent_requests_give_their_solo_answers(oai):
    from concurrent.futures import ThreadPoolExecutor

    msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
    prefill = dict(model=SERVED, messages=msgs, max_tokens=8, temperature=0,
                   extra_body={"continue_final_message": True, "add_generation_prompt": False})
    jobs = {
        "sampled": lambda: [c.message.content for c in oai.chat.completions.create(
            model=SERVED, messages=STORY, n=2, temperature=0.8, seed=5, max_tokens=8).choices],
        "prefill": lambda: [oai.chat.completions.create(**prefill).choices[0].message.content],
        "prefill_stream": lambda: _chat_stream(oai.chat.completions.create(stream=True, **prefill))[0],
        "completion": lambda: [c.text for c in oai.completions.create(
            model=SERVED, prompt="def fib(n):", temperature=0.8, seed=7, max_tokens=8).choices],
    }
    solo = {name: job() for name, job in jobs.items()}
    assert solo["prefill"] == solo["prefill_stream"] and solo["prefill"][0]
    assert not solo["prefill"][0].lstrip().startswith("Below is")  # only the continuation comes back
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        together = {name: f.result(timeout=300) for name, f in futures.items()}
    assert together == solo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_unreachable_server_fails_after_retries():
    client = OpenAIBackend("m", base_url=f"http://127.0.0.1:{_free_port()}/v1", max_retries=2, backoff_s=0.01)
    with pytest.raises(BackendError, match=r"after 3 attempts.*Is the server running"):
        client.generate(["hi"], max_new_tokens=4)


def test_openai_needs_a_key_for_the_hosted_api(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o-mini")


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first two requests, then an OpenAI-shaped completion; records request bodies."""
    calls: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Flaky.calls.append((self.path, body, self.headers.get("Authorization")))
        if len(_Flaky.calls) <= 2:
            self.send_response(503)
            self.end_headers()
            return
        data = json.dumps({"choices": [{"index": 1, "message": {"content": "Below is X\nB"}},
                                       {"index": 0, "message": {"content": "Below is X\nA"}}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 4}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_retries_with_backoff_and_instruction_prefill():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Flaky.calls = []
        client = OpenAIBackend("gpt-4o-mini", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="k",
                               backoff_s=0.01, prefill_mode="instruction")
        out = client.generate([ADD], n=2, temperature=0.7, prefill="Below is X")
        assert out == [["\nA", "\nB"]]  # sorted by index, the echoed prefill stripped
        assert len(_Flaky.calls) == 3 and _Flaky.calls[-1][0] == "/v1/chat/completions"
        body = _Flaky.calls[-1][1]
        assert body["n"] == 2 and body["temperature"] == 0.7 and body["seed"] == 0 and body["model"] == "gpt-4o-mini"
        assert "Below is X" in body["messages"][-1]["content"] and body["messages"][-1]["role"] == "user"
        assert _Flaky.calls[-1][2] == "Bearer k" and client.last_usage.completion_tokens == 4
    finally:
        server.shutdown()


def test_openai_sends_a_json_schema_as_response_format():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Flaky.calls = [None, None]  # no 503s this time
        client = OpenAIBackend("m", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="k")
        client.generate([ADD], n=2, temperature=0.7, json_schema={"type": "object"})
        fmt = _Flaky.calls[-1][1]["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == {"type": "object"}
        with pytest.raises(BackendError, match="needs a chat prompt"):
            client.generate(["def f():"], json_schema={"type": "object"})
    finally:
        server.shutdown()


def test_json_schema_is_refused_by_a_backend_that_cannot_constrain(tiny_backend):
    with pytest.raises(BackendError, match="cannot constrain its output to a JSON schema"):
        tiny_backend.generate([ADD], max_new_tokens=4, json_schema={"type": "object"})


@pytest.mark.vllm
def test_vllm_json_schema_holds_the_answer_to_the_synthesis_format(vllm_backend):
    from acecoder_lib.llm import prompts

    messages = prompts.synthesis_messages("def add(a, b):\n    return a + b", "Add two numbers.")
    [held] = vllm_backend.generate([messages], max_new_tokens=400, temperature=0.7, seed=1,
                                   json_schema=prompts.SYNTHESIS_SCHEMA)[0]
    answer = json.loads(held)  # (a cut answer would not parse: 400 tokens hold a question and a few asserts)
    assert set(answer) == {"question", "tests"} and isinstance(answer["question"], str)
    assert 1 <= len(answer["tests"]) <= 25 and all(t.startswith("assert ") for t in answer["tests"])


@pytest.mark.slow
@pytest.mark.vllm
def test_openai_backend_against_vllm_serve(smollm2_dir, tmp_path):
    """The same client against ``vllm serve`` (vllm-cpu, ~1-2 min to start on 2 cores)."""
    import os
    import subprocess
    import sys

    import requests

    try:
        import vllm  # noqa: F401
    except Exception as exc:
        pytest.skip(f"vllm is not importable here: {type(exc).__name__}: {exc}")
    port = _free_port()
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1")
    log = open(tmp_path / "vllm.log", "w")
    # the module, not the `vllm serve` CLI: with vllm-cpu the CLI dies looking up the "vllm" dist's version
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_dir),
                             "--host", "127.0.0.1", "--port", str(port),
                             "--served-model-name", "smollm2-135m-instruct", "--enforce-eager", "--dtype", "float32",
                             "--max-model-len", "2048"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            try:
                if requests.get(url + "/models", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(1)
        assert proc.poll() is None, (tmp_path / "vllm.log").read_text()[-3000:]
        client = OpenAIBackend("smollm2-135m-instruct", base_url=url, concurrency=2)
        greedy = client.generate([ADD, "def fib(n):"], max_new_tokens=24)
        assert "def add" in greedy[0][0] and greedy == client.generate([ADD, "def fib(n):"], max_new_tokens=24)
        msgs = solve_messages("Write a function add(a, b) that returns a + b.", ["assert add(1, 2) == 3"])
        pre = client.generate([msgs], max_new_tokens=60, stop=["```"])
        assert "return" in pre[0][0] and not pre[0][0].lstrip().startswith("Below is")
        s = client.generate([ADD], n=3, temperature=0.8, max_new_tokens=12, seed=3)
        assert len(s[0]) == 3 and s == client.generate([ADD], n=3, temperature=0.8, max_new_tokens=12, seed=3)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

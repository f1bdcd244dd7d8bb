"""A small OpenAI-compatible HTTP server around the transformers backend (for the ``openai`` backend and tools).

    python -m acecoder_lib.llm.serve --model smollm2-135m-instruct --port 0        # prints the bound port

Serves ``GET /health`` (200 while the server runs; its JSON counts the requests generating and queued),
``GET /v1/models`` and ``GET /v1/models/{id}``, ``POST /v1/chat/completions`` and ``POST /v1/completions`` with n,
temperature, top_p, max_tokens (default 16), seed, stop and stream. Like vLLM's server it accepts
``continue_final_message`` / ``add_generation_prompt`` so a chat ending in an assistant message is continued (the
paper's prefill); message content may be a string or a list of ``{"type": "text"}`` parts. A non-streamed choice
carries vLLM's ``stop_reason`` too (the stop string that ended it, else null). Errors come in OpenAI's
shape ``{"error": {"message", "type", "param", "code"}}``: 404 for a model this server does not serve, 400 for a bad
body, so the official ``openai`` client raises ``NotFoundError`` / ``BadRequestError``. Binds to 127.0.0.1 unless
``--host`` says otherwise: the server runs no authentication.

Streaming (``"stream": true``) answers ``text/event-stream`` in OpenAI's wire format: ``data: {chunk}\\n\\n`` events,
``chat.completion.chunk`` objects whose ``choices[0].delta`` holds the role first and then content pieces, or
``text_completion`` chunks with ``choices[0].text`` (one choice per chunk, ``index`` says which), a last chunk per
choice with its ``finish_reason``, with ``stream_options={"include_usage": true}`` a chunk with empty choices and the
usage, and ``data: [DONE]\\n\\n``. Tokens are streamed as they are generated: a transformers streamer is attached to
the very ``model.generate`` calls the non-streamed request makes (same batches, same seeds), text that may still
become a stop string or an incomplete UTF-8 character is held back, and each choice's last chunk completes its text
to exactly the non-streamed answer (an error event is sent instead should the streamed pieces ever disagree with
it). A client that disconnects mid-stream stops its generation at the next token.

Concurrency: generation runs one request at a time behind one lock (one model, and a fixed seed must give the same
samples whatever else is in flight); the ``n`` samples of a request are generated in one batch. A request waits for
the lock in a worker thread of the server's pool (anyio's, 40 threads; beyond that requests wait for a thread), so
the event loop stays free: ``/health`` and ``/v1/models`` run on it and need neither the lock nor a thread, so they
answer at once however many requests are generating or queued. (Handing the turn over on the event loop instead,
requests queued on an asyncio lock, measured 3-5x slower for bursts of short requests on 2 busy cores.)
"""

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import threading
import time
import uuid

from .generation import TransformersBackend


class RequestError(Exception):
    """A request the server refuses, answered as an OpenAI error object with this HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _error_body(status: int, message: str, kind: str = "invalid_request_error", code=None) -> dict:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code if code is not None else status}}


def _number(body: dict, key: str, default: float) -> float:
    """A numeric field (null means the default); bools and strings are refused."""
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{key} must be a number, got {v!r}")
    return float(v)


def _params(body: dict) -> dict:
    """The sampling parameters of an OpenAI request body, validated with one clear message."""
    n = 1 if body.get("n") is None else body["n"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128:
        raise ValueError(f"n must be an integer in 1..128, got {n!r}")
    temperature, top_p = _number(body, "temperature", 1.0), _number(body, "top_p", 1.0)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = 16  # OpenAI's completions default
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop)):
        raise ValueError(f"stop must be a non-empty string or a list of them, got {stop!r}")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise ValueError(f"response_format {response_format!r} is not supported: this server runs the transformers "
                         "backend, which has no constrained decoding (vLLM's server has it)")
    return dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_tokens, seed=seed, stop=stop or None)


def _stream_flags(body: dict) -> tuple[bool, bool]:
    """(stream, include_usage) of a request body."""
    stream, options = body.get("stream") or False, body.get("stream_options") or {}
    if not isinstance(stream, bool):
        raise ValueError(f"stream must be true or false, got {stream!r}")
    if not isinstance(options, dict):
        raise ValueError(f"stream_options must be an object, got {options!r}")
    return stream, bool(options.get("include_usage", False))


def _content(content) -> str:
    """A message's text: a string, or the text parts of a content list joined by newlines (as vLLM does)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "\n".join(p["text"] for p in content)
    raise ValueError("message content must be a string or a list of {'type': 'text', 'text': str} parts")


def _messages(body: dict) -> list[dict]:
    """The chat messages of a request body as {role, content} strings."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content}")
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"each message needs a string role, got {str(m)[:80]!r}")
        out.append({"role": m["role"], "content": _content(m.get("content"))})
    # a trailing assistant message is continued by the backend (prefill); like vLLM, ask for the flag
    if out[-1]["role"] == "assistant" and not body.get("continue_final_message", False):
        raise ValueError("the last message is from the assistant: set continue_final_message=true "
                         "(and add_generation_prompt=false) to continue it")
    return out


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters of ``text`` could be the start of a stop string (not streamed yet)."""
    return max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)


class _StreamCancelled(Exception):
    """Raised inside ``model.generate`` (from the streamer) when the client of a stream went away."""


class _StreamSink:
    """A transformers streamer for one request: each decoding step's tokens become text deltas per sample row.

    ``begin_call`` is told how many rows each ``model.generate`` call has; rows are numbered across calls in order,
    which is how ``TransformersBackend`` lays out the samples of one prompt (greedy: one row for all n choices).
    A row's text is the decode of its tokens up to the first end token, cut at the first stop string, without a
    trailing incomplete character or possible stop-string start; ``emit(("delta", (row, piece)))`` sends new text.
    """

    def __init__(self, tokenizer, end_ids, rows: int, stop: list[str] | None, emit):
        self.tokenizer, self.end_ids, self.stop, self.emit = tokenizer, set(end_ids), list(stop or []), emit
        self.ids = [[] for _ in range(rows)]
        self.sent = [""] * rows
        self.done = [False] * rows
        self.base = self.next = 0
        self.cancelled = threading.Event()

    def begin_call(self, rows: int) -> None:
        """A ``model.generate`` call with ``rows`` sequences starts."""
        self.base, self.next = self.next, self.next + rows

    def put(self, value) -> None:
        """transformers hands the (expanded) prompt ids first, as a 2-D tensor, then one token per row and step."""
        if self.cancelled.is_set():
            raise _StreamCancelled("the client closed the stream")
        if value.dim() != 1:
            return
        for r, tok in enumerate(value.tolist()):
            self._step(self.base + r, int(tok))

    def end(self) -> None:
        """End of one ``model.generate`` call (nothing is held for it: the final text comes from the backend)."""

    def _step(self, j: int, tok: int) -> None:
        if j >= len(self.ids) or self.done[j]:
            return
        if tok in self.end_ids:
            self.done[j] = True
            return
        self.ids[j].append(tok)
        text = self.tokenizer.decode(self.ids[j], skip_special_tokens=True).rstrip("\ufffd")
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, self.done[j] = text[:cut], True
        else:
            text = text[:len(text) - _held_back(text, self.stop)]
        if len(text) > len(self.sent[j]) and text.startswith(self.sent[j]):
            self.emit(("delta", (j, text[len(self.sent[j]):])))
            self.sent[j] = text


def build_app(backend: TransformersBackend, served_name: str):
    """The FastAPI app serving ``backend`` under the model name ``served_name``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(title="acecoder_lib.llm.serve")
    lock = threading.Lock()  # one generation at a time; waiting requests block here, each in its worker thread
    counts = {"requests": 0, "generating": 0}  # requests in generate calls (waiting or running) / running now
    background: set = set()  # stream workers still running after their client left (kept from garbage collection)

    async def in_turn(fn, *args):
        """Run ``fn(*args)`` (which takes ``lock``) in a worker thread: the event loop stays free meanwhile."""
        import anyio

        counts["requests"] += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args)  # not abandoned on cancel: it ends with the thread
        finally:
            counts["requests"] -= 1

    def generate(prompt, params: dict):
        with lock:
            counts["generating"] = 1
            try:
                rows = backend.generate_detailed([prompt], **params)
                return rows[0], backend.last_usage
            finally:
                counts["generating"] = 0

    def generate_streaming(prompt, params: dict, sink: _StreamSink):
        with lock:
            if sink.cancelled.is_set():
                raise _StreamCancelled("the client closed the stream before its turn")
            counts["generating"] = 1
            model = backend.model
            plain = model.generate

            def hooked(*args, **kw):
                sink.begin_call(kw["input_ids"].shape[0] * kw.get("num_return_sequences", 1))
                return plain(*args, streamer=sink, **kw)

            model.generate = hooked  # only for this call: the lock keeps every other request out meanwhile
            try:
                rows = backend.generate_detailed([prompt], **params)
                return rows[0], backend.last_usage
            finally:
                del model.generate  # back to the class's method
                counts["generating"] = 0

    def check_model(body: dict) -> None:
        if body.get("model") not in (None, served_name, str(backend.path)):
            raise RequestError(404, f"model {body.get('model')!r} is not served here; this server serves "
                                    f"{served_name!r}", code="model_not_found")

    async def read_body(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError as exc:
            raise RequestError(400, f"bad request: the body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise RequestError(400, "bad request: the body must be a JSON object")
        check_model(body)
        return body

    def usage_json(u) -> dict:
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "total_tokens": u.prompt_tokens + u.completion_tokens}

    def stream(kind: str, prompt, params: dict, include_usage: bool):
        """The server-sent events of one streamed request (``kind`` is "chat" or "text")."""
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex}"
        obj, created, n = ("chat.completion.chunk" if kind == "chat" else "text_completion"), int(time.time()), \
            params["n"]
        greedy = params["temperature"] == 0.0  # the backend generates one row and copies it to the n choices

        def event(choices: list, usage=None) -> str:
            data = {"id": rid, "object": obj, "created": created, "model": served_name, "choices": choices}
            if include_usage:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n"

        def failure(status: int, message: str, kind: str) -> str:
            return f"data: {json.dumps(_error_body(status, message, kind))}\n\n"

        def choice(i: int, text: str, finish=None) -> dict:
            if kind == "chat":
                return {"index": i, "delta": {"content": text} if text else {}, "logprobs": None,
                        "finish_reason": finish}
            return {"index": i, "text": text, "logprobs": None, "finish_reason": finish}

        async def events():
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue()
            sink = _StreamSink(backend.tokenizer, backend._end_ids, 1 if greedy else n, params["stop"],
                               lambda item: loop.call_soon_threadsafe(queue.put_nowait, item))

            async def work():
                try:
                    queue.put_nowait(("done", await in_turn(generate_streaming, prompt, params, sink)))
                except Exception as exc:  # noqa: BLE001 - reported to the client as an error event
                    queue.put_nowait(("error", exc))

            task = asyncio.ensure_future(work())
            background.add(task)
            task.add_done_callback(background.discard)
            sent = [""] * n
            try:
                if kind == "chat":
                    for i in range(n):
                        yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                      "finish_reason": None}])
                while True:
                    what, payload = await queue.get()
                    if what == "delta":
                        j, piece = payload
                        for i in (range(n) if greedy else [j]):
                            sent[i] += piece
                            yield event([choice(i, piece)])
                        continue
                    if what == "error":  # the client's openai library raises APIError on this event
                        bad = isinstance(payload, ValueError)
                        yield failure(400 if bad else 500, f"{type(payload).__name__}: {payload}",
                                      "invalid_request_error" if bad else "server_error")
                        break
                    row, usage = payload
                    if any(not c.text.startswith(s) for c, s in zip(row, sent)):
                        yield failure(500, "the streamed text diverged from the generated text; retry without "
                                           "stream", "server_error")
                        break
                    for i, c in enumerate(row):
                        yield event([choice(i, c.text[len(sent[i]):], c.finish_reason)])
                    if include_usage:
                        yield event([], usage_json(usage))
                    break
                yield "data: [DONE]\n\n"
            finally:
                sink.cancelled.set()  # a client that left stops the generation at its next token

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.exception_handler(RequestError)
    async def request_error(_request, exc: RequestError):
        return JSONResponse(_error_body(exc.status, exc.message, exc.kind, exc.code), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):  # unknown routes, wrong methods
        return JSONResponse(_error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)

    @app.get("/health")
    async def health():
        running = counts["generating"]
        return {"status": "ok", "model": served_name, "generating": running,
                "queued": max(0, counts["requests"] - running)}

    def model_card() -> dict:
        return {"id": served_name, "object": "model", "created": int(time.time()), "owned_by": "acecoder"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        if model_id != served_name:
            raise RequestError(404, f"model {model_id!r} is not served here; this server serves {served_name!r}",
                               code="model_not_found")
        return model_card()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await read_body(request)
        try:
            params, (streaming, include_usage), messages = _params(body), _stream_flags(body), _messages(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise RequestError(400, f"bad request: {exc}") from None
        if streaming:
            return stream("chat", messages, params, include_usage)
        row, u = await in_turn(generate, messages, params)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": served_name, "usage": usage_json(u),
                "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                             "finish_reason": c.finish_reason, "stop_reason": c.stop_string}
                            for i, c in enumerate(row)]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await read_body(request)
        prompt = body.get("prompt")
        try:
            params, (streaming, include_usage) = _params(body), _stream_flags(body)
            if not isinstance(prompt, str):
                raise ValueError("prompt must be one string (send several requests for several prompts)")
        except (ValueError, TypeError) as exc:
            raise RequestError(400, f"bad request: {exc}") from None
        if streaming:
            return stream("text", prompt, params, include_usage)
        row, u = await in_turn(generate, prompt, params)
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": served_name, "usage": usage_json(u),
                "choices": [{"index": i, "text": c.text, "finish_reason": c.finish_reason,
                             "stop_reason": c.stop_string} for i, c in enumerate(row)]}

    return app


def _is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv=None) -> None:
    """Parse arguments, load the model, bind the socket, print the address and serve until interrupted."""
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="registry name, local folder or HF id")
    ap.add_argument("--served-name", default=None, help="the model id clients send (default: --model)")
    ap.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only: no authentication)")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on startup)")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per generate call")
    args = ap.parse_args(argv)
    if not _is_loopback(args.host):
        print(f"[acecoder.serve] WARNING: binding to {args.host}, reachable from other machines; this server has "
              "no authentication", file=sys.stderr, flush=True)
    backend = TransformersBackend(args.model, batch_size=args.batch_size, progress=False)
    served = args.served_name or args.model
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))  # bound here so --port 0 can report the port the OS picked
    port = sock.getsockname()[1]
    print(f"ACECODER_SERVE_PORT={port}", flush=True)
    print(f"[acecoder.serve] serving {served!r} at http://{args.host}:{port}/v1", flush=True)
    config = uvicorn.Config(build_app(backend, served), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()

"""A small OpenAI-compatible HTTP server around the transformers backend (for the ``openai`` backend and tools).

    python -m acecoder_lib.llm.serve --model smollm2-135m-instruct --port 0        # prints the bound port

Serves ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions`` with n, temperature, top_p,
max_tokens, seed and stop. Like vLLM's server it accepts ``continue_final_message`` / ``add_generation_prompt`` so
a chat ending in an assistant message is continued (the paper's prefill). Binds to 127.0.0.1 unless ``--host`` says
otherwise: the server runs no authentication. Requests are served one at a time (one model, and a fixed seed must
give the same samples whatever else is in flight); ``n`` samples of a request are generated in one batch.
"""

import argparse
import ipaddress
import socket
import sys
import threading
import time
import uuid

from ..llm.generation import TransformersBackend


def _params(body: dict) -> dict:
    """The sampling parameters of an OpenAI request body, validated with one clear message."""
    n, temperature, top_p = body.get("n", 1), body.get("temperature", 1.0), body.get("top_p", 1.0)
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 16  # OpenAI's completions default
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise ValueError(f"n must be an integer in 1..128, got {n!r}")
    return dict(n=n, temperature=float(temperature), top_p=float(top_p), max_new_tokens=int(max_tokens),
                seed=body.get("seed"), stop=stop)


def build_app(backend: TransformersBackend, served_name: str):
    """The FastAPI app serving ``backend`` under the model name ``served_name``."""
    from fastapi import FastAPI, HTTPException, Request

    app = FastAPI(title="acecoder_lib.llm.serve")
    lock = threading.Lock()

    def run(prompt, params: dict, prefill: str | None):
        with lock:
            rows = backend.generate_detailed([prompt], prefill=prefill, **params)
            return rows[0], backend.last_usage

    def check_model(body: dict) -> None:
        if body.get("model") not in (None, served_name, str(backend.path)):
            raise HTTPException(404, f"model {body.get('model')!r} is not served here; this server serves "
                                     f"{served_name!r}")

    def usage_json(u) -> dict:
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "total_tokens": u.prompt_tokens + u.completion_tokens}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": served_name, "object": "model", "created": int(time.time()),
                                            "owned_by": "acecoder"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        check_model(body)
        messages = body.get("messages")
        try:
            params = _params(body)
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list of {role, content}")
            messages = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
            # a trailing assistant message is continued by the backend (prefill); like vLLM, ask for the flag
            if messages[-1]["role"] == "assistant" and not body.get("continue_final_message", False):
                raise ValueError("the last message is from the assistant: set continue_final_message=true "
                                 "(and add_generation_prompt=false) to continue it")
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, f"bad request: {exc}") from None
        import anyio

        row, u = await anyio.to_thread.run_sync(run, messages, params, None)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": served_name, "usage": usage_json(u),
                "choices": [{"index": i, "message": {"role": "assistant", "content": c.text},
                             "finish_reason": c.finish_reason} for i, c in enumerate(row)]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        check_model(body)
        prompt = body.get("prompt")
        try:
            params = _params(body)
            if not isinstance(prompt, str):
                raise ValueError("prompt must be one string (send several requests for several prompts)")
        except (ValueError, TypeError) as exc:
            raise HTTPException(400, f"bad request: {exc}") from None
        import anyio

        row, u = await anyio.to_thread.run_sync(run, prompt, params, None)
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": served_name, "usage": usage_json(u),
                "choices": [{"index": i, "text": c.text, "finish_reason": c.finish_reason}
                            for i, c in enumerate(row)]}

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

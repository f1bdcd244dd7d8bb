"""A private JupyterLab server driven by headless Chromium: what the browser tests and the explorer screenshots use.

Debian's ``chromium`` through Playwright (no browser download); both are optional, and callers skip without them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOKEN = "acecoder-lab-token"


def chromium() -> str | None:
    """The path of Debian's chromium, or None."""
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(root: Path, env: dict | None = None, start_timeout_s: float = 60.0) -> Iterator[str]:
    """JupyterLab on a free local port with ``root`` as its root folder; yields the base URL (``.../lab``) and
    stops the server afterwards. ``env`` is added to this process's environment (e.g. ``ACECODER_RUNS_DIR``)."""
    import requests

    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"]
    full_env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(Path(root) / ".runtime"), **(env or {}))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"JupyterLab did not start within {start_timeout_s:.0f} s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def notebook_url(base: str, name: str) -> str:
    return f"{base}/tree/{name}?token={TOKEN}"


def run_all_cells(page, ready: str, timeout_ms: int = 300_000, tries: int = 3) -> None:
    """Open state to finished run: wait for the kernel's "Idle", choose Run > Run All Cells, and wait for the CSS
    selector ``ready``; a run started before the kernel is connected is dropped, so start again up to ``tries``
    times (harmless for notebooks whose work is cached or cheap). Raises TimeoutError when it never shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=90_000)
    for _ in range(tries):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_selector(ready, timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            continue
    raise TimeoutError(f"{ready!r} never appeared after {tries} runs of every cell")


def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    """A mouse drag from ``start`` to ``end`` (page pixels), as a hand does it: press, move in steps, release."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()

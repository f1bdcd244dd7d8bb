"""The one Hugging Face Hub probe: is offline mode asked for, and does the Hub answer at all.

Model and data loaders ask here before touching the Hub, so an unreachable Hub (this workbench's normal case) fails in
seconds with a clear message instead of hanging in the client's retries.
"""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

# Any of these set to 1/true/yes/on means "no network" (huggingface_hub, datasets and transformers each read one).
OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT_S = 3.0  # a reachable Hub answers a TCP connect well within this


def offline_requested() -> bool:
    """True when one of OFFLINE_FLAGS asks for no network."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_FLAGS)


def reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """False at once in offline mode, else whether the Hub endpoint (``HF_ENDPOINT``) accepts a TCP connection."""
    if offline_requested():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except OSError:
        return False

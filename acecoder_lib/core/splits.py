"""Splits and subsets shared by the phases: the stable held-out split, the shortest-first subset, usable rows.

One name for the held-out side everywhere: HELDOUT (artifacts, plots, pairs); the other side is TRAIN.
"""
from __future__ import annotations

import hashlib

import pandas as pd


def assign_split(ids, heldout_fraction: float, salt: str = "acecoder") -> list[str]:
    """'heldout' for a stable pseudo-random ``heldout_fraction`` of ids (sha256 of salt + id), else 'train'.

    Pass seed ids, not question ids: two questions made from one seed (grounded and hybrid) must share a side."""
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    out = []
    for key in ids:
        h = int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big") / 2 ** 64
        out.append("heldout" if h < heldout_fraction else "train")
    return out


def shortest_first(rows: pd.DataFrame, n: int, column: str = "code") -> pd.DataFrame:
    """The ``n`` rows with the shortest ``column`` (0 = all). For the small default model's samples: short seeds
    (or references) give it its best chance and the shortest prompts; the paper sends everything."""
    if n <= 0 or n >= len(rows):
        return rows.reset_index(drop=True)
    order = rows[column].str.len().sort_values(kind="stable").index[:n]
    return rows.loc[order].reset_index(drop=True)


def is_usable(questions: pd.DataFrame) -> pd.Series:
    """True for rows worth filtering: status ok/repaired and real tests (not the paper's `assert False`)."""
    return questions["status"].isin(["ok", "repaired"]) & questions["tests"].map(lambda t: list(t) != ["assert False"])

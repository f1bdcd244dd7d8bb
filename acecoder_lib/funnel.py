"""A run's funnel in numbers (seeds -> questions -> tests -> programs -> pairs), read from its artifacts.

    counts = funnel.run_funnel("default")                     # {"questions": 1169, "seeds_loaded.codeio": 3244, ...}
    published = funnel.published_funnel(README.read_text())   # the README's block between the funnel markers
    funnel.compare(published, counts)                         # [] or ["questions: published 1169, this run 1170"]

One function computes the counts, so the end-to-end test (the smoke chain's counts, asserted exactly: the chain is
deterministic) and ``scripts/check_funnel.py`` (a finished ``default`` run against the README's published numbers)
read the same numbers. Keys are dotted, e.g. ``questions_02.grounded.generator_failed``; a phase whose artifact is
missing (the run stopped before it) contributes no key. Why rows were dropped is in the artifacts' ``reason``
columns (``acecoder_lib.core.reasons``); a count that moved is explained there.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import analysis
from .core import io, schemas, splits

BEGIN, END = "<!-- funnel:begin -->", "<!-- funnel:end -->"
_LINE_RE = re.compile(r"^\s*([A-Za-z0-9_.:-]+)\s*:\s*([0-9][0-9,_]*)\s*(?:#.*)?$")


def _counts(prefix: str, frame, columns: list[str]) -> dict[str, int]:
    """``prefix.<value>[.<value>]`` -> rows, for each combination of ``columns`` present in ``frame``."""
    sizes = frame.groupby(columns).size()
    return {".".join([prefix, *([k] if isinstance(k, str) else list(k))]): int(n) for k, n in sizes.items()}


def run_funnel(run: str | Path) -> dict[str, int]:
    """The funnel counts of a run (a run name or folder), one int per key, sorted by key (see the module docstring)."""
    out: dict[str, int] = {}
    have = io.artifact_exists
    if have(run, schemas.SEED_FUNNEL):
        stages = io.read_artifact(run, schemas.SEED_FUNNEL)
        loaded = stages[stages["step"] == 0]
        out.update({f"seeds_loaded.{source}": int(rows) for source, rows in zip(loaded["source"], loaded["rows"])})
    if have(run, schemas.SEEDS):
        kept = io.read_artifact(run, schemas.SEEDS)
        out["seeds"] = len(kept)
        out.update(_counts("seeds", kept, ["source"]))
    if have(run, schemas.QUESTIONS):
        q = io.read_artifact(run, schemas.QUESTIONS)
        out["questions_02"] = len(q)
        out.update(_counts("questions_02", q, ["method"]))
        out.update(_counts("questions_02", q, ["method", "status"]))
        usable = q[splits.is_usable(q)]
        out["questions_02_usable"] = len(usable)
        out.update({f"questions_02_usable.{m}": int((usable["method"] == m).sum()) for m in q["method"].unique()})
    if have(run, schemas.FILTER_REPORT):
        report = io.read_artifact(run, schemas.FILTER_REPORT)
        out.update(_counts("filter", report, ["oracle"]))
        out.update(_counts("filter", report, ["oracle", "status"]))
    if have(run, schemas.FILTERED):
        kept = io.read_artifact(run, schemas.FILTERED)
        out["questions"] = len(kept)
        out["tests"] = int(kept["n_tests"].sum())
        out.update(_counts("questions", kept, ["split", "source"]))
    if have(run, schemas.PROGRAMS):
        stats = analysis.distribution_stats(io.read_artifact(run, schemas.PROGRAMS))
        out.update({"programs": stats["programs"], "programs.pass_none": stats["programs_zero"],
                    "programs.pass_some": stats["programs_partial"], "programs.pass_all": stats["programs_all_pass"],
                    "programs.questions": stats["questions"],
                    "programs.questions_with_spread": stats["questions_with_spread"]})
    if have(run, schemas.PAIRS):
        table = io.read_artifact(run, schemas.PAIRS)
        out["pairs"] = len(table)
        out["pairs.questions"] = int(table["question_id"].nunique())
        out.update(_counts("pairs", table, ["split"]))
    if have(run, schemas.HARD):
        out["hard_questions"] = len(io.read_artifact(run, schemas.HARD))
    return dict(sorted(out.items()))


def published_funnel(text: str) -> dict[str, int]:
    """The ``key: value`` lines between the funnel markers of a README (commas in numbers allowed)."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no funnel block: expected lines 'key: value' between {BEGIN} and {END}")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    out = {}
    for line in block.splitlines():
        m = _LINE_RE.match(line)
        if m:
            out[m.group(1)] = int(m.group(2).replace(",", "").replace("_", ""))
    if not out:
        raise ValueError("the funnel block holds no 'key: value' line")
    return out


def compare(published: dict[str, int], counts: dict[str, int]) -> list[str]:
    """One line per published key whose count in the run differs or is missing ([] when all agree)."""
    out = []
    for key, value in published.items():
        got = counts.get(key)
        if got is None:
            out.append(f"{key}: published {value}, missing from this run")
        elif got != value:
            out.append(f"{key}: published {value}, this run {got} ({got - value:+d})")
    return out


# Artifacts that hold measurements (CPU times): never byte-identical between two runs; their rows and keys are
# compared, not their values.
MEASUREMENTS = ("03_test_times",)


def compare_artifacts(run_a: str | Path, run_b: str | Path, phases: tuple[str, ...] = ("02", "03", "04", "05")):
    """Artifact by artifact (those of ``phases`` present in either run): rows and sha256 of the parquet file in each
    run, whether they match, and for a mismatch how many rows differ and the keys of the first few (rows compared in
    order on every column, keyed by the artifact's first column). The two runs of a reproducibility check. For a
    measurement (``MEASUREMENTS``) ``same`` means the same rows with the same keys."""
    import pandas as pd

    rows = []
    for name, schema in sorted(schemas.SCHEMAS.items()):
        if not name.startswith(tuple(f"{p}_" for p in phases)):
            continue
        have = [io.artifact_exists(r, schema) for r in (run_a, run_b)]
        if not any(have):
            continue
        meta = [io.read_meta(r, schema) if h else {} for r, h in zip((run_a, run_b), have)]
        same = all(have) and meta[0]["sha256"] == meta[1]["sha256"]
        differ, keys = 0, ""
        if all(have) and not same:
            a, b = (io.read_artifact(r, schema).astype(str) for r in (run_a, run_b))
            if name in MEASUREMENTS:
                a, b = a.iloc[:, :1], b.iloc[:, :1]  # the keys: the values are timings
                same = len(a) == len(b) and a.equals(b)
            n = min(len(a), len(b))
            mask = (a.iloc[:n].reset_index(drop=True) != b.iloc[:n].reset_index(drop=True)).any(axis=1)
            differ = int(mask.sum()) + abs(len(a) - len(b))
            keys = ", ".join(a.iloc[:n][mask.to_numpy()].iloc[:, 0].head(5))
            if name in MEASUREMENTS and same:
                keys = "(a measurement: the same rows and keys; its values are timings)"
        rows.append({"artifact": name, "rows_a": meta[0].get("rows"), "rows_b": meta[1].get("rows"),
                     "sha256_a": meta[0].get("sha256", "")[:12], "sha256_b": meta[1].get("sha256", "")[:12],
                     "same": same, "rows_differing": differ, "first_differing": keys})
    return pd.DataFrame(rows, columns=["artifact", "rows_a", "rows_b", "sha256_a", "sha256_b", "same",
                                       "rows_differing", "first_differing"])

"""Phase 01: seed code -> the cleaned, deduplicated, decontaminated seed table (notebooks/01_seed_data.ipynb).

    raw = seeds.load_seed_sources(["codeio:all"], limit_per_source=None)        # or the paper's three Hub sets
    bench, report = seeds.load_benchmarks(["humaneval", "mbpp"])                 # mbpp only where a file exists
    result = seeds.build_seed_table(raw, bench, near_dup_threshold=0.85, ngram=10, contamination_threshold=0.5)
    io.write_artifact(run, seeds.SEEDS, result.seeds); io.write_artifact(run, seeds.FUNNEL, result.funnel) ...

Stages, in order (each row of ``result.funnel`` counts the rows of one source left after one stage):
    loaded          what the loaders returned
    paper_rules     paper S1 via ``apply_seed_rules``: python only, a ``def``/``class``, Stack code > 100 chars,
                    print lines removed (plus rows whose seed_id is empty or repeated)
    compiles        the cleaned code must compile (``compile()`` builds bytecode only; nothing is executed)
    exact_dedup     normalised code seen before (``dedup.exact_dedup``)
    near_dedup      MinHash LSH over code shingles (``dedup.near_dedup``)
    decontaminated  n-gram overlap of instruction + code with a benchmark's prompt + solution (``dedup.decontaminate``)
Every removed row is one row of ``result.removed`` (seed_id, source, stage, reason, detail, related_id, overlap):
bad rows are counted there per reason, never raised.
"""
from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from ..code import dedup
from ..core import datasets as data
from ..core import schemas
from ..core.datasets import MARKDOWN_SOURCES, PYTHON_FENCE_TAGS, DataError, is_null, validated
from ..core.schemas import (
    CODE,
    CODE_CHARS,
    EXTRA,
    INSTRUCTION,
    LANGUAGE,
    SEED_COLUMNS,
    SEED_FUNNEL,
    SEED_ID,
    SEED_REMOVED,
    SEED_SCHEMA,
    SEEDS,
    SOURCE,
    STAGES,
)
from ..core.text import fenced_blocks

CODEIO_VARIANTS = {"codeio": "codeio", "codeio:codeio": "codeio", "codeio-hq": "hq", "codeio:hq": "hq",
                   "codeio-all": "all", "codeio:all": "all"}

_REMOVED_COLUMNS = SEED_REMOVED.column_names


@dataclass
class SeedResult:
    """What phase 01 produced: kept seeds (schema 01_seeds), the funnel and one row per removed seed."""

    seeds: pd.DataFrame
    funnel: pd.DataFrame
    removed: pd.DataFrame

    def reason_counts(self) -> pd.DataFrame:
        """Removed rows per (stage, reason) and source, with a total column (empty frame when nothing was removed)."""
        if self.removed.empty:
            return pd.DataFrame(columns=["total"], index=pd.MultiIndex.from_tuples([], names=["stage", "reason"]))
        table = pd.crosstab([self.removed["stage"], self.removed["reason"]], self.removed[SOURCE])
        table["total"] = table.sum(axis=1)
        order = {s: i for i, s in enumerate(STAGES)}
        return table.sort_index(key=lambda ix: ix.map(order) if ix.name == "stage" else ix)

    def funnel_wide(self) -> pd.DataFrame:
        """The funnel as stage x source (rows left), stages in order, with a total column."""
        wide = self.funnel.pivot(index="stage", columns=SOURCE, values="rows").reindex(list(STAGES))
        wide["total"] = wide.sum(axis=1)
        return wide.astype(int)


# ---------------------------------------------------------------- loading

def load_seed_sources(sources: list[str], limit_per_source: int | None = None, *,
                      limits: dict[str, int] | None = None, paths: dict[str, str] | None = None,
                      cache_dir: str | None = None) -> pd.DataFrame:
    """Seed rows (schemas.SEED_SCHEMA) of every named source, in the order given; the first ``limit`` rows of each.

    Names: 'starter' (the repo's easy function tasks, ``data.load_starter``), 'codeio' (3,002 tasks), 'codeio:hq'
    (2,750), 'codeio:all' (their union, 3,244), or a Hub name of
    ``data.HUB_SEED_SOURCES``. ``limits`` overrides the limit per name (paper S1: 50,000 Stack rows);
    ``paths`` maps a Hub name to a local file or folder of that dataset (the offline route). Every source that
    cannot be loaded is named in ONE DataError with its loader's reason and what to do.
    """
    if isinstance(sources, str) or not sources:
        raise data.DataError(f"sources must be a non-empty list of names, got {sources!r}; known: "
                             f"{sorted(CODEIO_VARIANTS)} and {sorted(data.HUB_SEED_SOURCES)}")
    limits, paths = dict(limits or {}), dict(paths or {})
    frames, failures = [], []
    for name in sources:
        limit = limits.get(name, limit_per_source)
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise data.DataError(f"limit for source {name!r} must be a non-negative int or None, got {limit!r}")
        try:
            if name in CODEIO_VARIANTS:
                frame = data.load_codeio(CODEIO_VARIANTS[name], path=paths.get(name))
                frame = frame if limit is None else frame.head(limit)
            elif name == "starter":
                frame = data.load_starter(path=paths.get(name))
                frame = frame if limit is None else frame.head(limit)
            elif name in data.HUB_SEED_SOURCES:
                frame = data.load_hub_seed(name, path=paths.get(name), limit=limit, cache_dir=cache_dir)
            else:
                raise data.DataError(f"unknown seed source {name!r}; known: 'starter', {sorted(CODEIO_VARIANTS)} and "
                                     f"{sorted(data.HUB_SEED_SOURCES)}")
        except data.DataError as exc:
            failures.append(f"{name}: {exc}")
            continue
        frames.append(frame)
    if failures:
        raise data.DataError(f"{len(failures)} of {len(sources)} seed source(s) could not be loaded (a local copy of a "
                             f"Hub set goes in paths={{name: file}}, the notebook's SOURCE_PATHS):\n  - "
                             + "\n  - ".join(failures))
    raw = pd.concat(frames, ignore_index=True)
    repeated = raw[schemas.SEED_ID][raw[schemas.SEED_ID].duplicated()].unique().tolist()
    if repeated:  # e.g. 'codeio' together with 'codeio:all', which contains it
        raise data.DataError(f"sources {sources} overlap: {len(repeated)} seed_id(s) appear twice, e.g. "
                             f"{repeated[:3]}; name each source once ('codeio:all' already holds 'codeio')")
    return raw


def load_benchmarks(names: list[str], required: tuple[str, ...] = ("humaneval",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(eval rows of every available benchmark, report: name, available, rows, why_not). A missing ``required``
    benchmark raises its DataError; a missing optional one (MBPP without an evalplus file) is reported and skipped."""
    frames, report = [], []
    for name in names:
        try:
            frame = data.load_eval_set(name)
        except data.DataError as exc:
            if name in required:
                raise
            report.append({"name": name, "available": False, "rows": 0, "why_not": str(exc)})
            continue
        frames.append(frame)
        report.append({"name": name, "available": True, "rows": len(frame), "why_not": ""})
    bench = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(schemas.EVAL_COLUMNS))
    return bench, pd.DataFrame(report, columns=["name", "available", "rows", "why_not"])


# ---------------------------------------------------------------- the stages

def _removed_rows(df: pd.DataFrame, stage: str, reason: str | list[str], detail: list[str] | str = "",
                  related: list[str] | str = "", overlap: list[float] | float = float("nan")) -> pd.DataFrame:
    """Rows of the removed table for the seeds of ``df``."""
    return pd.DataFrame({schemas.SEED_ID: df[schemas.SEED_ID].astype(str).tolist(), SOURCE: df[SOURCE].tolist(),
                         "stage": stage, "reason": reason, "detail": detail, "related_id": related,
                         "overlap": overlap}, columns=_REMOVED_COLUMNS)


def _seed_id_problems(raw: pd.DataFrame) -> pd.Series:
    """Per row: '' for a usable seed_id, else bad_seed_id (not a non-empty str) or duplicate_seed_id."""
    ids = raw[schemas.SEED_ID]
    bad = ~ids.map(lambda v: isinstance(v, str) and v.strip() != "")
    dup = ids.where(~bad).duplicated() & ~bad
    return pd.Series(["bad_seed_id" if b else "duplicate_seed_id" if d else "" for b, d in zip(bad, dup)],
                     index=raw.index)


def _rule_reasons(dropped: pd.DataFrame, rule_kwargs: dict, chunk: int = 256) -> list[str]:
    """The apply_seed_rules reason of each dropped row: giving every row its own source name turns the per-source
    drop counts into per-row reasons, so the rules are applied by data.py alone, never re-implemented here."""
    markdown = set(rule_kwargs.get("markdown_sources", MARKDOWN_SOURCES))
    stack = set(rule_kwargs.get("stack_sources", ("stack",)))
    reasons: list[str] = []
    for start in range(0, len(dropped), chunk):
        part = dropped.iloc[start:start + chunk]
        ids = part[schemas.SEED_ID].tolist()
        kwargs = dict(rule_kwargs, markdown_sources=tuple(i for i, s in zip(ids, part[SOURCE]) if s in markdown),
                      stack_sources=tuple(i for i, s in zip(ids, part[SOURCE]) if s in stack))
        _, counts = apply_seed_rules(part.assign(**{SOURCE: ids}), **kwargs)
        drops = counts.drop(index="kept")[ids]
        reasons += drops.idxmax().where(drops.sum() > 0, "kept").tolist()
    return reasons


def compile_error(code: str) -> str:
    """'' when ``code`` compiles to bytecode, else the error ('SyntaxError: ... (line 3)'). Nothing is executed."""
    try:
        with warnings.catch_warnings():  # e.g. "'is' with a literal" SyntaxWarnings are not failures
            warnings.simplefilter("ignore")
            compile(code, "<seed>", "exec", dont_inherit=True)
        return ""
    except SyntaxError as exc:  # IndentationError and TabError included
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}"


def build_seed_table(raw: pd.DataFrame, benchmarks: pd.DataFrame, *, near_dup_threshold: float = 0.85,
                     shingle: int = 5, num_perm: int = 128, ngram: int = 10, contamination_threshold: float = 0.5,
                     min_stack_chars: int = 100, strip_prints: bool = True, seed: int = 1) -> SeedResult:
    """Run every stage of phase 01 on loader output; bad rows are removed with a reason, never raised.

    ``near_dup_threshold``: estimated Jaccard of ``shingle``-token shingles at which a later seed is dropped
    (0.85: only near-copies; BigCode's near-dedup script uses 0.7 with 5-grams). ``ngram`` and
    ``contamination_threshold``: a seed sharing >= that fraction of its ``ngram``-token n-grams with one
    benchmark problem is dropped. ``min_stack_chars`` (100) and ``strip_prints`` are paper S1. ``seed``: MinHash.
    """
    from datasketch import MinHashLSH
    try:  # datasketch cannot band thresholds too close to 1 (0.99 with 128 permutations)
        MinHashLSH(threshold=near_dup_threshold, num_perm=num_perm)
    except ValueError as exc:
        raise ValueError(f"near_dup_threshold must be in (0, 1) and bandable with num_perm={num_perm}, got "
                         f"{near_dup_threshold} ({exc}); exact copies are removed by exact_dedup anyway") from None
    if not 0 < contamination_threshold <= 1:
        raise ValueError(f"contamination_threshold must be in (0, 1], got {contamination_threshold}")
    missing = [c for c in schemas.SEED_COLUMNS if c not in raw.columns]
    if missing:
        raise data.DataError(f"build_seed_table: the seed frame lacks column(s) {missing}; pass the output of "
                             f"load_seed_sources (columns {list(schemas.SEED_COLUMNS)})")
    raw = raw[list(schemas.SEED_COLUMNS)].reset_index(drop=True)
    raw[SOURCE] = raw[SOURCE].map(lambda s: s if isinstance(s, str) and s else "unknown")
    sources = list(dict.fromkeys(raw[SOURCE]))
    removed: list[pd.DataFrame] = []
    left = {"loaded": raw}

    # paper_rules: unusable ids first (rows are tracked by seed_id from here on), then apply_seed_rules
    id_problem = _seed_id_problems(raw)
    if id_problem.any():
        bad = raw[id_problem != ""]
        removed.append(_removed_rows(bad.assign(**{schemas.SEED_ID: bad[schemas.SEED_ID].map(repr)}), "paper_rules",
                                     id_problem[id_problem != ""].tolist(), "the seed_id is empty, not a str or "
                                     "repeated; loaders give '<source>-<index>'"))
    usable = raw[id_problem == ""]
    rule_kwargs = {"min_stack_chars": min_stack_chars, "strip_prints": strip_prints}
    kept, counts = apply_seed_rules(usable, **rule_kwargs)
    dropped = usable[~usable[schemas.SEED_ID].isin(set(kept[schemas.SEED_ID]))]
    reasons = _rule_reasons(dropped, rule_kwargs)
    tally = Counter(zip(reasons, dropped[SOURCE]))
    for (reason, source), n in tally.items():  # both views of the rules must agree, or data.py changed under us
        if reason == "kept" or counts.loc[reason, source] != n:
            raise RuntimeError(f"per-row seed-rule reasons disagree with apply_seed_rules for {source}/{reason}")
    removed.append(_removed_rows(dropped, "paper_rules", reasons, [f"paper S1 rule: {r}" for r in reasons]))
    left["paper_rules"] = kept.reset_index(drop=True)

    # compiles: seeds are later executed as references, so code that cannot even compile is useless
    errors = kept[schemas.CODE].map(compile_error)
    removed.append(_removed_rows(kept[errors != ""], "compiles", "does_not_compile", errors[errors != ""].tolist()))
    current = kept[errors == ""].reset_index(drop=True)
    left["compiles"] = current

    # exact and near duplicates: the first seed of a group stays (sources in the order they were loaded)
    for stage, (dedup_fn, kwargs) in {"exact_dedup": (dedup.exact_dedup, {}),
                                      "near_dedup": (dedup.near_dedup, {"threshold": near_dup_threshold,
                                                                        "shingle": shingle, "num_perm": num_perm,
                                                                        "seed": seed})}.items():
        kept_part, dups = dedup_fn(current, schemas.CODE, **kwargs)
        first_ids = current.loc[dups["duplicate_of"].tolist(), schemas.SEED_ID].tolist()
        # near_dedup reports the exact shingle Jaccard it confirmed; exact duplicates are identical once normalised
        sims = dups["similarity"].tolist() if "similarity" in dups else [1.0] * len(dups)
        reason = "exact_duplicate" if stage == "exact_dedup" else "near_duplicate"
        removed.append(_removed_rows(dups, stage, reason,
                                     [f"duplicate of {f} (shingle Jaccard {s:.2f})" for f, s in zip(first_ids, sims)],
                                     first_ids, sims))
        current = kept_part.reset_index(drop=True)
        left[stage] = current

    # decontamination against the evaluation benchmarks
    clean, hits = dedup.decontaminate(current, benchmarks, n=ngram, threshold=contamination_threshold)
    removed.append(_removed_rows(hits, "decontaminated", "contaminated",
                                 [f"{o:.0%} of its {ngram}-grams are in {m}"
                                  for o, m in zip(hits["overlap"], hits["matched"])],
                                 hits["matched"].astype(str).tolist(), hits["overlap"].astype(float).tolist()))
    left["decontaminated"] = clean

    seeds = clean.reset_index(drop=True)
    seeds[CODE_CHARS] = seeds[schemas.CODE].str.len().astype(int)
    funnel = []
    for step, stage in enumerate(STAGES):
        per_source = left[stage][SOURCE].value_counts()
        for source in sources:
            rows = int(per_source.get(source, 0))
            before = rows if step == 0 else int(left[STAGES[step - 1]][SOURCE].value_counts().get(source, 0))
            funnel.append({SOURCE: source, "stage": stage, "step": step, "rows": rows, "removed": before - rows})
    removed_df = pd.concat([r for r in removed if not r.empty] or [_removed_rows(raw.iloc[0:0], "", "")],
                           ignore_index=True)
    removed_df["overlap"] = removed_df["overlap"].astype(float)
    return SeedResult(seeds[SEEDS.column_names], pd.DataFrame(funnel, columns=SEED_FUNNEL.column_names), removed_df)


# ---------------------------------------------------------------- figures

def plot_funnel(funnel: pd.DataFrame):
    """Grouped bars: seeds left per source after each stage."""
    import plotly.express as px
    fig = px.bar(funnel.sort_values("step"), x="stage", y="rows", color=SOURCE, barmode="group", text="rows",
                 category_orders={"stage": list(STAGES)},
                 title="Seed funnel: rows left after each stage, per source",
                 labels={"stage": "stage (in order)", "rows": "seeds left (rows)", SOURCE: "source"})
    fig.update_traces(textposition="outside", cliponaxis=False)
    return fig


def plot_code_lengths(seeds: pd.DataFrame, nbins: int = 60):
    """Histogram of kept code length (characters) per source, log-scaled counts to show the long tail."""
    import plotly.express as px
    fig = px.histogram(seeds, x=CODE_CHARS, color=SOURCE, nbins=nbins, barmode="overlay", opacity=0.7,
                       title="Kept seed code length per source",
                       labels={CODE_CHARS: "code length (characters, after print removal)", SOURCE: "source"})
    fig.update_yaxes(title_text="seeds (count)")
    return fig


DROP_REASONS = ("code_missing", "code_not_string", "not_python", "no_python_block", "empty_code",
                "stack_too_short", "no_def_or_class")


def _is_print_statement(node: ast.stmt, lines: list[bytes]) -> bool:
    """A bare ``print(...)`` call statement alone on its lines (col offsets are UTF-8 byte offsets)."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print"):
        return False
    tail = lines[node.end_lineno - 1][node.end_col_offset:].strip()
    return not lines[node.lineno - 1][:node.col_offset].strip() and (not tail or tail.startswith(b"#"))


def remove_print_lines(code: str) -> str:
    """Delete whole-line ``print(...)`` statements, multi-line calls included; a block left empty gets ``pass``.

    Simplification of the paper's code, which drops every line whose stripped text starts with "print" (breaking
    multi-line calls, ``printer = ...`` and blocks that held only a print): statements are found with ``ast``, so
    prints inside strings, after ``;`` or on an ``if x: print(y)`` line stay; unparseable code is returned as is.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return code
    lines = re.findall(r".*?(?:\r\n|\r|\n)|.+\Z", code, flags=re.S)
    raw = [line.encode() for line in lines]
    drop: set[int] = set()
    keep_pass: dict[int, str] = {}
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            prints = [s for s in block if _is_print_statement(s, raw)]
            for stmt in prints:
                drop.update(range(stmt.lineno - 1, stmt.end_lineno))
            if prints and len(prints) == len(block) and not isinstance(node, ast.Module):
                first = prints[0]
                keep_pass[first.lineno - 1] = raw[first.lineno - 1][:first.col_offset].decode() + "pass\n"
    return "".join(keep_pass.get(i, line) for i, line in enumerate(lines) if i not in drop or i in keep_pass)


def apply_seed_rules(seeds: pd.DataFrame, *, markdown_sources: tuple = MARKDOWN_SOURCES,
                     stack_sources: tuple = ("stack",), min_stack_chars: int = 100,
                     strip_prints: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paper S1 on a seed frame: (kept seeds with cleaned code, drop counts: one row per reason, one column per source).

    In order: code must be a non-null str; language python; markdown sources keep their first python block; the
    code must be non-blank; stack code must be longer than ``min_stack_chars`` (100, paper); it must contain
    ``def `` or ``class ``; then print statements are removed. Bad rows are counted, never raised (a null
    instruction or extra becomes '' / '{}'). Apply it once to loader output: extracted code has no fence left.
    """
    missing = [c for c in SEED_COLUMNS if c not in seeds.columns]
    if missing:
        raise DataError(f"apply_seed_rules: seed frame lacks column(s) {missing}; expected {list(SEED_COLUMNS)}")
    kept, reasons = [], []
    for rec in seeds[list(SEED_COLUMNS)].to_dict("records"):
        code, source = rec[CODE], str(rec[SOURCE])
        language = rec[LANGUAGE].lower() if isinstance(rec[LANGUAGE], str) else ""
        markdown = source in markdown_sources
        reason = ("code_missing" if is_null(code) else
                  "code_not_string" if not isinstance(code, str) else
                  "not_python" if language not in ("python", "py") and not (markdown and language == "") else "")
        if not reason and markdown:
            code = extract_python_block(code)
            reason = "" if code else "no_python_block"
        if not reason:
            reason = ("empty_code" if not code.strip() else
                      "stack_too_short" if source in stack_sources and len(code) <= min_stack_chars else
                      "no_def_or_class" if "def " not in code and "class " not in code else "")
        reasons.append((reason or "kept", source))
        if not reason:
            kept.append({SEED_ID: str(rec[SEED_ID]), SOURCE: source, LANGUAGE: "python",
                         INSTRUCTION: rec[INSTRUCTION] if isinstance(rec[INSTRUCTION], str) else "",
                         CODE: remove_print_lines(code) if strip_prints else code,
                         EXTRA: rec[EXTRA] if isinstance(rec[EXTRA], str) else "{}"})
    counts = pd.DataFrame(0, index=pd.Index(DROP_REASONS + ("kept",), name="reason"),
                          columns=sorted({s for _, s in reasons}))
    for (reason, source), n in Counter(reasons).items():
        counts.loc[reason, source] = n
    counts["total"] = counts.sum(axis=1)
    return validated(kept, SEED_SCHEMA, "apply_seed_rules output"), counts


def extract_python_block(text: str) -> str:
    """The first closed ```python (or ```py / ```python3) block of a markdown text, '' when there is none."""
    blocks = ([f for f in fenced_blocks(text) if f.closed and f.tag in PYTHON_FENCE_TAGS]
              if isinstance(text, str) else [])
    return blocks[0].raw if blocks else ""



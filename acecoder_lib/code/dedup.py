"""Deduplication and benchmark decontamination of seed code (phase 01).

- ``exact_dedup``: drop rows whose normalised code (comments and blank space removed) repeats an earlier row.
- ``near_dedup``: MinHash LSH over token shingles (datasketch); a row whose estimated Jaccard similarity to an
  earlier kept row is >= ``threshold`` is dropped, and the row it duplicates is recorded.
- ``decontaminate``: word n-gram overlap between each seed (instruction + code) and every benchmark problem
  (prompt + canonical solution); a seed sharing >= ``threshold`` of its n-grams with one problem is removed.

The ACECODER paper does not describe a decontamination step; this is the workbench's own, with the n-gram size and
threshold as parameters (13-gram overlap is the common choice since GPT-3's contamination study; code is
shorter than prose, so the default here is 10 tokens).
"""
from __future__ import annotations

import hashlib
import io as _stdio
import re
import tokenize

import pandas as pd

_TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\sA-Za-z0-9_]")


def normalize_code(code: str) -> str:
    """Code without comments, docstring-free formatting differences or blank lines (for exact matching)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(_stdio.StringIO(code).readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                    tokenize.DEDENT, tokenize.ENDMARKER)]
        return " ".join(t.string for t in tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(_TOKEN_RE.findall(code))


def tokens(text: str) -> list[str]:
    """Identifiers, numbers and single punctuation characters, lower-cased."""
    return [t.lower() for t in _TOKEN_RE.findall(text)]


def ngrams(toks: list[str], n: int) -> set[tuple[str, ...]]:
    """The set of n-grams of a token list (a list shorter than n gives its single whole tuple)."""
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def exact_dedup(df: pd.DataFrame, column: str = "code") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, removed): removed rows repeat an earlier row's normalised ``column``; ``duplicate_of`` names it."""
    digests = df[column].map(lambda c: hashlib.sha1(normalize_code(c).encode()).hexdigest())
    first = ~digests.duplicated(keep="first")
    index_of = {d: i for i, d in zip(df.index[first], digests[first])}
    removed = df.loc[~first].copy()
    removed["duplicate_of"] = [index_of[d] for d in digests[~first]]
    return df.loc[first].copy(), removed


def near_dedup(df: pd.DataFrame, column: str = "code", threshold: float = 0.85, shingle: int = 5,
               num_perm: int = 128, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, removed) by MinHash LSH, confirmed by exact shingle Jaccard; the first row of a group stays."""
    from datasketch import MinHash, MinHashLSH

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    keep, dup_of, similarity, shingles = [], {}, {}, {}
    for idx, code in zip(df.index, df[column]):
        grams = {" ".join(g) for g in ngrams(tokens(normalize_code(code)), shingle)}
        mh = MinHash(num_perm=num_perm, seed=seed)
        for gram in grams:
            mh.update(gram.encode())
        # LSH only proposes candidates (with false positives): confirm with the exact Jaccard similarity
        best, best_sim = None, 0.0
        for hit in lsh.query(mh):
            sim = len(grams & shingles[hit]) / max(1, len(grams | shingles[hit]))
            if sim > best_sim:
                best, best_sim = hit, sim
        if best is not None and best_sim >= threshold:
            dup_of[idx], similarity[idx] = best, best_sim
            continue
        lsh.insert(idx, mh)
        shingles[idx] = grams
        keep.append(idx)
    removed = df.loc[list(dup_of)].copy()
    removed["duplicate_of"] = list(dup_of.values())
    removed["similarity"] = list(similarity.values())
    return df.loc[keep].copy(), removed


def decontaminate(seeds: pd.DataFrame, benchmark: pd.DataFrame, n: int = 10, threshold: float = 0.5,
                  seed_text: tuple[str, ...] = ("instruction", "code"),
                  bench_text: tuple[str, ...] = ("prompt", "canonical_solution"),
                  bench_id: str = "task_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, removed) seeds; ``removed`` has ``overlap`` (fraction of the seed's n-grams) and ``matched`` task id."""
    if benchmark.empty:
        return seeds.copy(), seeds.iloc[0:0].assign(overlap=[], matched=[])
    index: dict[tuple[str, ...], set[int]] = {}
    ids = benchmark[bench_id].tolist()
    for j, row in enumerate(benchmark.itertuples(index=False)):
        text = "\n".join(str(getattr(row, c) or "") for c in bench_text)
        for gram in ngrams(tokens(text), n):
            index.setdefault(gram, set()).add(j)
    best_overlap, best_match = [], []
    for row in seeds.itertuples(index=False):
        grams = ngrams(tokens("\n".join(str(getattr(row, c) or "") for c in seed_text)), n)
        counts: dict[int, int] = {}
        for gram in grams:
            for j in index.get(gram, ()):
                counts[j] = counts.get(j, 0) + 1
        if counts and grams:
            j, c = max(counts.items(), key=lambda kv: kv[1])
            best_overlap.append(c / len(grams))
            best_match.append(ids[j])
        else:
            best_overlap.append(0.0)
            best_match.append("")
    scored = seeds.assign(overlap=best_overlap, matched=best_match)
    hit = scored["overlap"] >= threshold
    return seeds.loc[~hit.values].copy(), scored.loc[hit.values].copy()

"""Exact and near deduplication, and n-gram decontamination against a benchmark."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib.code import dedup

ADD = "def add(a, b):\n    # sum two numbers\n    return a + b\n"
ADD_REFORMATTED = "def add(a, b):\n\n    return a + b   # different comment\n"
LONG = ("def running_total(values):\n    total = 0\n    out = []\n    for v in values:\n        total += v\n"
        "        out.append(total)\n    return out\n")
LONG_RENAMED_VAR = LONG.replace("out.append(total)", "out.append(total)  # keep it")
OTHER = ("class Stack:\n    def __init__(self):\n        self.items = []\n"
         "    def push(self, x):\n        self.items.append(x)\n")


def test_exact_dedup_ignores_comments_and_blank_lines():
    df = pd.DataFrame({"code": [ADD, OTHER, ADD_REFORMATTED]}, index=[10, 11, 12])
    kept, removed = dedup.exact_dedup(df)
    assert kept.index.tolist() == [10, 11]
    assert removed.index.tolist() == [12] and removed["duplicate_of"].tolist() == [10]


def test_near_dedup_catches_small_edits_but_keeps_different_code():
    near = LONG.replace("total += v", "total = total + v")
    df = pd.DataFrame({"code": [LONG, OTHER, near, LONG_RENAMED_VAR]})
    kept, removed = dedup.near_dedup(df, threshold=0.6)
    assert kept.index.tolist() == [0, 1]
    assert set(removed.index) == {2, 3} and set(removed["duplicate_of"]) == {0}
    assert (removed["similarity"] >= 0.6).all()
    with pytest.raises(ValueError, match="threshold"):
        dedup.near_dedup(df, threshold=0)


def test_decontaminate_removes_seed_copying_a_benchmark_problem():
    bench = pd.DataFrame({"task_id": ["HumanEval/0", "HumanEval/1"],
                          "prompt": ["def running_total(values):\n    \"\"\"Return prefix sums.\"\"\"\n",
                                     "def f(x):\n"],
                          "canonical_solution": [LONG.split("\n", 1)[1], "    return x\n"]})
    seeds = pd.DataFrame({"instruction": ["Compute prefix sums", "Implement a stack"], "code": [LONG, OTHER]})
    kept, removed = dedup.decontaminate(seeds, bench, n=5, threshold=0.5)
    assert kept["code"].tolist() == [OTHER]
    # the instruction's n-grams are new
    assert removed["matched"].tolist() == ["HumanEval/0"] and removed["overlap"].iloc[0] > 0.7
    kept_all, removed_none = dedup.decontaminate(seeds, bench, n=5, threshold=1.01)
    assert len(kept_all) == 2 and removed_none.empty


def test_ngrams_of_short_sequences():
    assert dedup.ngrams(["a", "b"], 3) == {("a", "b")}
    assert dedup.ngrams([], 3) == set()
    assert dedup.ngrams(list("abcd"), 3) == {("a", "b", "c"), ("b", "c", "d")}


def test_near_dedup_never_drops_below_threshold():
    """LSH candidates are confirmed with the exact Jaccard similarity (no false-positive drops)."""
    codes = [LONG, OTHER, ADD, LONG.replace("total", "acc"), OTHER.replace("items", "data")]
    for threshold in (0.3, 0.5, 0.8):
        kept, removed = dedup.near_dedup(pd.DataFrame({"code": codes}), threshold=threshold)
        assert (removed["similarity"] >= threshold).all()
        assert len(kept) + len(removed) == len(codes)

"""Phase 01 seeds: source loading, the funnel's exact counts, per-reason removals, dedup/decontamination records."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from acecoder_lib.core import datasets as data
from acecoder_lib.core import io, schemas
from acecoder_lib.phases import p01_seed_data as seeds

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "data"
EVOL, OSS, STACK = "ise-uiuc/Magicoder-Evol-Instruct-110K", "ise-uiuc/Magicoder-OSS-Instruct-75K", \
    "bigcode/stack-dedup-python-fns"

# A function long enough (about 300 shingles) that changing three literals leaves a shingle Jaccard of 0.95.
LONG = "def table(n):\n" + "".join(f"    v{i} = n * {i} + {i * 7} - (n // {i + 1})\n" for i in range(40)) + \
    "    return [" + ", ".join(f"v{i}" for i in range(40)) + "]\n"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No test reaches the network or the real runs/ folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path / "runs"))
    for var in data.EVAL_ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


def _row(sid, code, source="local", instruction="", language="python"):
    return {schemas.SEED_ID: sid, data.SOURCE: source, schemas.INSTRUCTION: instruction, schemas.CODE: code,
            schemas.LANGUAGE: language, schemas.EXTRA: "{}"}


@pytest.fixture
def bench():
    return data.load_eval_set("humaneval", path=FIX / "HumanEvalPlus_small.jsonl")


@pytest.fixture
def raw(tmp_path, bench):
    """The evol fixture (6 rows, 2 pass the paper's rules) plus hand-made local rows, one per stage's reason."""
    evol = data.load_hub_seed(EVOL, path=FIX / "evol_small.jsonl", cache_dir=tmp_path / "hf")
    he0 = bench.iloc[0]
    local = pd.DataFrame([
        _row("local-a", "def square(x):\n    # the square\n    return x * x\n"),
        _row("local-a2", "def square(x):\n\n    return x*x   # same tokens, other comments\n"),   # exact duplicate
        _row("local-long", LONG),
        _row("local-long2", LONG.replace("n * 5 +", "n * 50 +").replace("n * 20 +", "n * 2 +")
             .replace("n * 35 +", "n * 3 +")),                                                # near duplicate
        _row("local-he", he0["prompt"] + he0["canonical_solution"], instruction=he0["prompt"]),  # contaminated
        _row("local-bad", "def broken(x:\n    return x\n"),                                     # does not compile
        _row("local-ret", "def ok():\n    pass\nreturn 1\n"),                                  # compile-time error
        _row("local-none", None),                                                               # no code
        _row("local-a", "def other(y):\n    return y\n"),                                       # repeated seed_id
    ])
    return pd.concat([evol, local], ignore_index=True)


def test_funnel_counts_are_exact_per_source_and_stage(raw, bench):
    result = seeds.build_seed_table(raw, bench, near_dup_threshold=0.85, ngram=10, contamination_threshold=0.5)
    wide = result.funnel_wide()
    assert wide["evol"].tolist() == [6, 2, 2, 2, 2, 2]
    assert wide["local"].tolist() == [9, 7, 5, 4, 3, 2]
    assert list(wide.index) == list(schemas.STAGES)
    assert result.funnel["removed"].sum() == len(result.removed) == 15 - len(result.seeds)
    assert sorted(result.seeds[schemas.SEED_ID]) == ["evol-0", "evol-5", "local-a", "local-long"]
    assert result.seeds[schemas.CODE_CHARS].tolist() == result.seeds[schemas.CODE].str.len().tolist()
    assert "print" not in "".join(result.seeds[schemas.CODE])  # the paper's print removal happened


def test_every_removed_row_has_its_reason(raw, bench):
    result = seeds.build_seed_table(raw, bench)
    why = result.removed.set_index(schemas.SEED_ID)
    assert why.loc["'local-a'", "reason"] == "duplicate_seed_id"  # the second 'local-a', shown as its repr
    assert why.loc["local-none", "reason"] == "code_missing" and why.loc["local-none", "stage"] == "paper_rules"
    assert why.loc["evol-1", "reason"] == "not_python" and why.loc["evol-3", "reason"] == "no_def_or_class"
    assert why.loc[["evol-2", "evol-4"], "reason"].tolist() == ["no_python_block"] * 2
    assert why.loc["local-bad", "reason"] == "does_not_compile" and "SyntaxError" in why.loc["local-bad", "detail"]
    assert "'return' outside function" in why.loc["local-ret", "detail"]  # compile(), not just ast.parse
    counts = result.reason_counts()
    assert counts.loc[("paper_rules", "no_python_block"), "evol"] == 2
    assert counts["total"].sum() == len(result.removed) == 11


def test_dedup_and_decontamination_records(raw, bench):
    result = seeds.build_seed_table(raw, bench, contamination_threshold=0.5)
    why = result.removed.set_index(schemas.SEED_ID)
    exact, near, dirty = why.loc["local-a2"], why.loc["local-long2"], why.loc["local-he"]
    assert (exact["stage"], exact["reason"], exact["related_id"], exact["overlap"]) == \
        ("exact_dedup", "exact_duplicate", "local-a", 1.0)
    assert (near["stage"], near["reason"], near["related_id"]) == ("near_dedup", "near_duplicate", "local-long")
    assert 0.9 < near["overlap"] < 0.96 and "local-long" in near["detail"]
    assert (dirty["stage"], dirty["reason"], dirty["related_id"]) == ("decontaminated", "contaminated", "HumanEval/0")
    # 10 of its 13 10-grams are the problem's; the other 3 span the seam between instruction and code
    assert dirty["overlap"] == pytest.approx(10 / 13) and "HumanEval/0" in dirty["detail"]
    assert math.isnan(why.loc["local-bad", "overlap"])
    # the thresholds are real parameters: stricter ones keep the near duplicate and the partly copied problem
    strict = seeds.build_seed_table(raw, bench, near_dup_threshold=0.98, contamination_threshold=0.8)
    assert set(strict.seeds[schemas.SEED_ID]) == {"evol-0", "evol-5", "local-a", "local-long", "local-long2",
                                                  "local-he"}


def test_bad_rows_are_counted_never_raised(bench):
    frame = pd.DataFrame([_row("x-0", None), _row("x-1", 42), _row("x-2", "def f(:\n  pass"),
                          _row(None, "def g(): pass"), _row("x-4", "def h(a):\n    return a\n", source=None)])
    result = seeds.build_seed_table(frame, bench)
    assert result.removed["reason"].tolist() == ["bad_seed_id", "code_missing", "code_not_string", "does_not_compile"]
    assert result.seeds[schemas.SEED_ID].tolist() == ["x-4"] and result.seeds[data.SOURCE].tolist() == ["unknown"]
    with pytest.raises(ValueError, match="near_dup_threshold must be in"):
        seeds.build_seed_table(frame, bench, near_dup_threshold=1.0)
    with pytest.raises(data.DataError, match=r"lacks column\(s\) \['code'"):
        seeds.build_seed_table(frame.drop(columns=[schemas.CODE]), bench)


def test_empty_benchmark_removes_nothing(raw):
    result = seeds.build_seed_table(raw, pd.DataFrame(columns=list(schemas.EVAL_COLUMNS)))
    assert "local-he" in set(result.seeds[schemas.SEED_ID])
    assert result.funnel_wide().loc["decontaminated", "total"] == result.funnel_wide().loc["near_dedup", "total"]


def test_compile_error_ignores_warnings_and_names_the_line():
    assert seeds.compile_error("def f(x):\n    return x is 1\n") == ""  # a SyntaxWarning is not a failure
    assert seeds.compile_error("x = (\n").startswith("SyntaxError: ")
    assert seeds.compile_error("def f():\n\treturn 1\n        return 2\n").startswith(("IndentationError", "TabError"))
    assert seeds.compile_error("a = 1\x00").startswith(("SyntaxError", "ValueError"))


def test_artifacts_validate_against_their_schemas(raw, bench, tmp_path):
    result = seeds.build_seed_table(raw, bench)
    for schema, frame in ((schemas.SEEDS, result.seeds), (schemas.SEED_FUNNEL, result.funnel),
                          (schemas.SEED_REMOVED, result.removed)):
        io.write_artifact("t", schema, frame)
        back = io.read_artifact("t", schema.name)
        assert back.shape == frame.shape and list(back.columns) == schema.column_names
    with pytest.raises(io.ArtifactError, match="code_chars"):
        io.write_artifact("t", schemas.SEEDS, result.seeds.drop(columns=[schemas.CODE_CHARS]))
    assert json.loads(result.seeds[schemas.EXTRA].iloc[0]) == {"index": 0}


# ---------------------------------------------------------------- loading

def test_codeio_sources_with_limit_and_union():
    assert len(seeds.load_seed_sources(["codeio"], 5)) == 5
    both = seeds.load_seed_sources(["codeio", "codeio:hq"], 3, limits={"codeio:hq": 2})
    assert both[schemas.SEED_ID].tolist() == ["codeio-00000", "codeio-00001", "codeio-00002",
                                           "codeio_hq-00000", "codeio_hq-00001"]
    assert len(seeds.load_seed_sources(["codeio:all"])) == 3244
    with pytest.raises(data.DataError, match="overlap.*codeio:all"):
        seeds.load_seed_sources(["codeio", "codeio:all"], 10)


def test_hub_sources_from_local_files_and_one_clear_error_offline(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    pd.read_json(FIX / "stack_small.jsonl", lines=True).to_parquet(folder / "train-00000-of-00001.parquet")
    got = seeds.load_seed_sources([EVOL, OSS, STACK], None, limits={STACK: 2}, cache_dir=str(tmp_path / "hf"),
                                  paths={EVOL: str(FIX / "evol_small.jsonl"), OSS: str(FIX / "oss_small.jsonl"),
                                         STACK: str(folder)})
    assert got[data.SOURCE].value_counts().to_dict() == {"evol": 6, "oss": 3, "stack": 2}
    with pytest.raises(data.DataError) as err:
        seeds.load_seed_sources([EVOL, "no-such-source", "codeio"], 5, cache_dir=str(tmp_path / "hf"))
    message = str(err.value)
    assert message.startswith("2 of 3 seed source(s) could not be loaded") and "SOURCE_PATHS" in message
    assert ("Magicoder-Evol-Instruct-110K is not available here" in message
            and "unknown seed source 'no-such-source'" in message)
    with pytest.raises(data.DataError, match="non-empty list"):
        seeds.load_seed_sources("codeio", 5)


def test_load_benchmarks_reports_what_is_missing(monkeypatch):
    bench, report = seeds.load_benchmarks(["humaneval", "mbpp"])
    assert len(bench) == 164 and report["available"].tolist() == [True, False]
    assert "MBPP_OVERRIDE_PATH" in report.loc[1, "why_not"]
    monkeypatch.setenv("MBPP_OVERRIDE_PATH", str(FIX / "MbppPlus_small.jsonl"))
    bench, report = seeds.load_benchmarks(["humaneval", "mbpp"])
    assert report["rows"].tolist() == [164, 2] and bench["task_id"].iloc[-1] == "Mbpp/3"
    monkeypatch.delenv("MBPP_OVERRIDE_PATH")
    with pytest.raises(data.DataError, match="MBPP_OVERRIDE_PATH"):
        seeds.load_benchmarks(["mbpp"], required=("mbpp",))


def test_plots_have_titles_axes_and_one_trace_per_source(raw, bench):
    result = seeds.build_seed_table(raw, bench)
    funnel, lengths = seeds.plot_funnel(result.funnel), seeds.plot_code_lengths(result.seeds)
    assert {t.name for t in funnel.data} == {"evol", "local"} and len(funnel.data[0].x) == len(schemas.STAGES)
    assert funnel.layout.yaxis.title.text == "seeds left (rows)" and funnel.layout.title.text.startswith("Seed funnel")
    assert "characters" in lengths.layout.xaxis.title.text and lengths.layout.yaxis.title.text == "seeds (count)"
    assert sum(len(t.x) for t in lengths.data) == len(result.seeds)

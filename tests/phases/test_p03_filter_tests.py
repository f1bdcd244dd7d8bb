"""Phase 03: the paper's thresholds on real engine verdicts, both oracles, Table 1, the split."""
from __future__ import annotations

import pandas as pd
import pytest

from acecoder_lib import analysis
from acecoder_lib.core import schemas, splits
from acecoder_lib.core.cache import CompletionCache
from acecoder_lib.core.schemas import QUESTIONS
from acecoder_lib.execution import ExecConfig, ExecutionEngine
from acecoder_lib.phases import p03_filter_tests as filtering

ADD_TESTS = [f"assert add({a}, {b}) == {a + b}" for a, b in [(1, 2), (0, 0), (5, 5), (2, 3), (9, 1), (4, 4)]]
WRONG_TESTS = ["assert add(1, 1) == 3", "assert add(2, 2) == 5"]  # hallucinated expected values


def _q(qid, tests, reference, entry="add", source="codeio", method="llm", status="ok"):
    return {"question_id": qid, "seed_id": qid.split(":")[0], "source": source, "method": method,
            "question": f"Add two integers a and b ({qid}).", "tests": tests, "entry_point": entry,
            "reference": reference, "status": status, "detail": "{}"}


@pytest.fixture(scope="module")
def engine():
    with ExecutionEngine(workers=2, config=ExecConfig(test_timeout_s=0.5, setup_timeout_s=1.0)) as eng:
        yield eng


@pytest.fixture()
def questions():
    ref = "def main_solution(a, b):\n    return a + b\n"
    return pd.DataFrame([
        _q("s1:llm", ADD_TESTS + WRONG_TESTS, ref),                  # 6 good tests, 2 wrong ones
        _q("s2:llm", ADD_TESTS[:4] + WRONG_TESTS, ref),              # 4 good: passes the proxy rule, too few left
        _q("s3:llm", ADD_TESTS[:3] + WRONG_TESTS * 2, ref),          # 3 good: the oracle passes <= 3 -> skipped
        _q("s4:llm", ADD_TESTS, "", source="stack"),                 # no reference
        _q("s5:llm", ["assert False"], ref, status="unparseable"),   # the paper's placeholder
    ], columns=QUESTIONS.column_names)


def test_paper_thresholds_on_the_reference_oracle(engine, questions):
    usable = analysis.usable_questions(questions)
    assert usable["question_id"].tolist() == ["s1:llm", "s2:llm", "s3:llm", "s4:llm"]
    programs = filtering.reference_programs(usable)
    assert programs[0].endswith("add = main_solution\n") and programs[3] == ""
    kept, report = filtering.filter_tests(usable, programs, engine, oracle="reference")
    status = dict(zip(report["question_id"], report["status"]))
    assert status == {"s1:llm": "kept", "s2:llm": "too_few_tests_left", "s3:llm": "oracle_passed_too_few",
                      "s4:llm": "no_program"}
    assert kept["question_id"].tolist() == ["s1:llm"] and kept.iloc[0]["tests"] == ADD_TESTS
    assert kept.iloc[0]["n_tests_synthesized"] == 8 and kept.iloc[0]["n_tests"] == 6
    assert report.iloc[0]["passed_mask"] == [1] * 6 + [0, 0]
    # thresholds are parameters: with min_tests=4 the second question survives
    kept4, _ = filtering.filter_tests(usable, programs, engine, oracle="reference", min_tests=4)
    assert kept4["question_id"].tolist() == ["s1:llm", "s2:llm"]


def test_a_broken_oracle_program_is_counted_not_raised(engine, questions):
    usable = analysis.usable_questions(questions).head(2)
    kept, report = filtering.filter_tests(usable, ["def add(a, b) return", "import sys\nsys.exit(3)\n"], engine,
                                          oracle="proxy")
    assert kept.empty and report["status"].tolist() == ["program_broken", "program_broken"]
    assert report["program_status"].tolist() == ["syntax_error", "crash"]
    with pytest.raises(ValueError, match="one each"):
        filtering.filter_tests(usable, ["x = 1"], engine, oracle="proxy")


class ScriptedProxy:
    """Greedy 'model' answering after the paper's prefill: one right and one wrong program."""

    namespace = "scripted:proxy"

    def generate(self, prompts, n=1, **kw):
        assert all(p[-1]["role"] == "assistant" and p[-1]["content"].endswith("```python") for p in prompts)
        right, wrong = "\ndef add(a, b):\n    return a + b\n```\nThis adds.", "\ndef add(a, b):\n    return a * b\n```"
        return [[right]] + [[wrong]] * (len(prompts) - 1)


def test_proxy_programs_extract_after_the_prefill_and_compare_with_the_reference(engine, questions, tmp_path):
    usable = analysis.usable_questions(questions).head(2)
    progs = filtering.proxy_programs(usable, ScriptedProxy(), CompletionCache(tmp_path / "c.jsonl"))
    assert progs["extraction"].tolist() == ["ok", "ok"]
    assert progs.iloc[0]["program"].strip() == "def add(a, b):\n    return a + b"
    _, proxy_report = filtering.filter_tests(usable, progs["program"], engine, oracle="proxy")
    _, ref_report = filtering.filter_tests(usable, filtering.reference_programs(usable), engine, oracle="reference")
    both = filtering.compare_oracles(pd.concat([proxy_report, ref_report]))
    first, second = both.iloc[0], both.iloc[1]
    assert (first["proxy_passed"], first["reference_passed"], first["both_passed"]) == (6, 6, 6)
    # a*b agrees with a+b only on add(0, 0) and add(2, 2) -> only one of the synthesized tests, so it is skipped
    assert second["proxy_passed"] == 1 and not second["proxy_kept"] and second["reference_only"] == 3
    table = filtering.filter_yield(pd.concat([proxy_report, ref_report]))
    assert set(table["oracle"]) == {"proxy", "reference"} and int(table["questions"].sum()) == 4


def test_table1_and_the_stable_split():
    before = pd.DataFrame({"question_id": ["a", "b", "c"], "source": ["x", "x", "y"],
                           "tests": [["t"] * 10, ["t"] * 20, ["t"] * 5]})
    after = pd.DataFrame({"question_id": ["a"], "source": ["x"], "tests": [["t"] * 8]})
    t = analysis.table1(before, after).set_index("source")
    assert t.loc["x", "questions_before"] == 2 and t.loc["x", "avg_tests_before"] == 15.0
    assert t.loc["x", "questions_after"] == 1 and t.loc["x", "avg_tests_after"] == 8.0
    assert t.loc["y", "questions_after"] == 0 and pd.isna(t.loc["y", "avg_tests_after"])
    assert t.loc["total", "questions_before"] == 3 and t.loc["total", "tests_after"] == 8
    ids = [f"q{i}" for i in range(2000)]
    split = splits.assign_split(ids, 0.1)
    assert split == splits.assign_split(ids, 0.1)  # stable across calls (and runs: sha256, not hash())
    assert 150 < split.count("heldout") < 250
    with pytest.raises(ValueError):
        splits.assign_split(ids, 1.0)


def test_every_dropped_question_says_why(engine, questions):
    usable = analysis.usable_questions(questions)
    _, report = filtering.filter_tests(usable, filtering.reference_programs(usable), engine, oracle="reference")
    why = dict(zip(report["question_id"], zip(report["reason"], report["first_error"])))
    assert why["s1:llm"] == ("", "")  # kept, even though it failed two (hallucinated) tests
    assert why["s2:llm"] == ("AssertionError", "fail: AssertionError (in: assert add(1, 1) == 3)")
    assert why["s3:llm"][0] == "AssertionError"
    assert why["s4:llm"] == ("no_program", "no_program: the oracle produced no program")
    _, broken = filtering.filter_tests(usable.head(3), ["def add(a, b) return", "import sys\nsys.exit(3)\n",
                                                        "import acecoder_no_such_module\n"], engine, oracle="proxy")
    assert broken["reason"].tolist() == ["SyntaxError", "SystemExit", "ModuleNotFoundError"]
    assert broken["first_error"].tolist()[1] == "crash: while loading the program: SystemExit: 3"


def test_the_oracle_s_cpu_time_is_recorded_for_each_kept_test(engine, questions):
    usable = analysis.usable_questions(questions)
    # long enough to span several ticks of the kernel's CPU clock (4 ms at 250 Hz: 300,000 iterations measured
    # 3.4-8.0 ms on a fast CI machine, i.e. one or two ticks)
    slow_ref = ("def main_solution(a, b):\n    s = 0\n    for i in range(2_000_000):\n        s += i\n"
                "    return a + b\n")
    programs = filtering.reference_programs(usable)
    programs[0] = filtering.reference_programs(usable.assign(reference=slow_ref))[0]
    kept, _, times = filtering.filter_tests(usable, programs, engine, oracle="reference", return_times=True)
    assert times.columns.tolist() == schemas.TEST_TIMES.column_names
    assert times["question_id"].tolist() == kept["question_id"].tolist() == ["s1:llm"]
    [cpu] = times["cpu_seconds"].tolist()
    assert len(cpu) == len(kept.iloc[0]["tests"]) == 6  # the two failed tests are not timed: they are dropped
    assert all(0.012 < c < 1.0 for c in cpu), cpu  # ~30-150 ms of loop per call, far above the other programs


def test_released_acecode_rows_pass_through_with_their_tests():
    """AceCode-87K as released (schema of the Hub rows, a local fixture): phase 02's released method makes one row
    per question with the best released sample as reference; phase 03's released oracle keeps every test and times
    them on that reference where it passes them all."""
    from acecoder_lib.core import datasets, paths
    from acecoder_lib.execution import ExecutionEngine
    from acecoder_lib.phases import p02_synthesize_tests as p02

    file = paths.REPO_ROOT / "tests" / "fixtures" / "data" / "acecode_chain.jsonl"
    acecode = datasets.load_acecode(path=file, with_inferences=True)
    rows = p02.released_questions(acecode)
    assert len(rows) == 16 and set(rows["method"]) == {"released"} and (rows["status"] == "ok").all()
    first = rows.iloc[0]
    assert first["entry_point"] == "add_two" and first["reference"].startswith("def add_two")
    broken = rows.copy()
    broken.loc[1, "reference"] = "def square(n):\n    return n\n"  # fails some tests: kept, but no times
    with ExecutionEngine(workers=2) as engine:
        kept, report, times = filtering.released_tests(broken, engine)
    assert kept["tests"].tolist() == rows["tests"].tolist() and set(kept["oracle"]) == {"released"}
    assert (report["status"] == "kept").all()
    lengths = times["cpu_seconds"].map(len).tolist()
    assert lengths[1] == 0 and all(n == 6 for i, n in enumerate(lengths) if i != 1)
    with pytest.raises(datasets.DataError, match="AceCode-87K"):
        datasets.load_acecode(path=file.with_name("missing.jsonl"))

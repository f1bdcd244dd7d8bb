"""Best-of-N (phase 07): strategies on hand-made tables, generated-test parsing, block sampling reuse, assembly."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acecoder_lib import analysis, solutions
from acecoder_lib.code import testgen
from acecoder_lib.core import schemas
from acecoder_lib.core.cache import CompletionCache
from acecoder_lib.llm import prompts
from acecoder_lib.phases import p07_best_of_n as bestofn


def _table(correct, scores, gen, greedy=None, qid="q", bench="b"):
    rows = [{"question_id": qid, "benchmark": bench, "kind": "sample", "sample": i, "correct": bool(c),
             "rm_score": s, "generated_passed": g} for i, (c, s, g) in enumerate(zip(correct, scores, gen))]
    if greedy is not None:
        rows.append({"question_id": qid, "benchmark": bench, "kind": "greedy", "sample": 0, "correct": greedy,
                     "rm_score": np.nan, "generated_passed": []})
    return pd.DataFrame(rows)


def test_strategies_at_full_n_pick_what_they_should():
    # sample 2 is the only correct one; the RM likes it; the generated tests favour sample 1 (wrongly)
    t = _table([0, 0, 1, 0], [0.1, 0.2, 0.9, 0.3], [[1, 0], [1, 1], [0, 1], [0, 0]], greedy=False)
    got = bestofn.per_question(t, ns=[4]).set_index("strategy")["accuracy"]
    assert got["oracle"] == 1.0 and got["average"] == 0.25 and got["reward_model"] == 1.0
    assert got["test_majority"] == 0.0 and got["greedy"] == 0.0 and got["random"] in (0.0, 1.0)


def test_smaller_n_averages_over_subsets_and_matches_the_exact_expectation():
    t = _table([1, 0, 0, 0], [0.0] * 4, [[]] * 4)
    got = bestofn.per_question(t, ns=[1, 2], subsets=4000, seed=1).set_index(["strategy", "n"])["accuracy"]
    assert got[("oracle", 2)] == pytest.approx(0.5, abs=0.03)     # P(the correct one is among 2 of 4) = 1/2
    assert got[("average", 1)] == pytest.approx(0.25, abs=0.03)
    assert ("test_majority", 1) not in got.index                   # no generated tests: the strategy is absent


def test_rank_by_tests_breaks_ties_by_cluster_size():
    order = testgen.rank_by_tests([[1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    assert order[0] == 3 and order[1:3] == [1, 2] and order[-1] == 4


def test_evaluate_gives_a_ci_over_questions_and_table2_shape():
    t = pd.concat([_table([1, 1], [1.0, 0.0], [[1], [1]], greedy=True, qid="a"),
                   _table([0, 1], [1.0, 0.0], [[1], [0]], greedy=False, qid="b")], ignore_index=True)
    res = bestofn.evaluate(t, ns=[1, 2], subsets=10)
    row = res[(res["strategy"] == "oracle") & (res["n"] == 2)].iloc[0]
    assert row["accuracy"] == 1.0 and row["questions"] == 2
    rm = res[(res["strategy"] == "reward_model") & (res["n"] == 2)].iloc[0]
    assert rm["accuracy"] == 0.5 and rm["ci_low"] <= 0.5 <= rm["ci_high"]
    wide = analysis.table2(res)
    assert "greedy" in wide.index and "oracle@2" in wide.index and wide.loc["greedy", "b"] == 50.0


def test_parse_tests_accepts_asserts_and_unittest_and_drops_the_rest():
    text = (prompts.TEST_PREFILL + "assert add(1, 2) == 3\nassert add(1, 2) == 3\nassert 1 == 1\nx = 5\n"
            "assert add(0, 0) == 0\nassert add(2,")
    got = testgen.parse_tests(text, "add")
    assert got.tests == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert got.dropped == {"duplicate": 1, "does_not_call_entry_point": 1, "not_an_assert": 1}
    ut = ("```python\nimport unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
          "        self.assertEqual(add(1, 2), 3)\n    def test_b(self):\n        self.assertEqual(add(0, 1), 1)\n```")
    parsed = testgen.parse_tests(ut, "add")
    assert len(parsed.tests) == 2 and all("unittest" in t for t in parsed.tests)
    assert testgen.parse_tests("no code at all (", "add").tests == []
    assert testgen.parse_tests(text, "add", max_tests=1).tests == ["assert add(1, 2) == 3"]


def test_generated_unittest_snippets_run_in_the_engine():
    from acecoder_lib.execution import run_programs

    ut = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
          "        self.assertEqual(add(1, 2), 3)\n"
          "    def test_b(self):\n        self.assertEqual(add(0, 1), 2)\n")
    tests = testgen.parse_tests(ut, "add").tests
    res = run_programs(["def add(a, b):\n    return a + b\n"], [tests], workers=1)[0]
    assert res.verdicts == ["pass", "fail"]


def test_problems_from_humaneval_and_heldout():
    from acecoder_lib.core import datasets as data

    he = bestofn.humaneval_problems(data.load_eval_set("humaneval"), limit=3)
    assert len(he) == 3 and all(len(t) >= 1 for t in he["tests"]) and set(he["prompt_style"]) == {"eval"}
    msgs = solutions.messages_for(he)
    assert "def has_close_elements" in msgs[0][0]["content"] and msgs[0][1]["content"] == prompts.SOLVE_PREFILL
    q = pd.DataFrame({"question_id": ["x", "y"], "question": ["Q1", "Q2"], "tests": [["assert f(1) == 1"] * 3] * 2,
                      "entry_point": ["f", "f"], "split": ["heldout", "train"], "reference": ["a", "b"]})
    ho = bestofn.heldout_problems(q)
    assert ho["question_id"].tolist() == ["x"] and ho["shown_tests"].iloc[0] == ["assert f(1) == 1"] * 2


def test_sample_blocks_reuse_earlier_blocks(tiny_backend, tmp_path):
    problems = pd.DataFrame({"question_id": ["p"], "benchmark": ["b"], "question": ["Write f."],
                             "tests": [["assert f() == 1"]], "entry_point": ["f"], "prompt_style": ["eval"],
                             "shown_tests": [[]]})
    cache = CompletionCache(tmp_path / "c.jsonl")
    four = bestofn.sample_blocks(problems, tiny_backend, cache, n=4, block=2, max_new_tokens=8)
    assert len(cache) == 2 and four["sample"].tolist() == [0, 1, 2, 3]
    six = bestofn.sample_blocks(problems, tiny_backend, cache, n=6, block=2, max_new_tokens=8)
    assert len(cache) == 3  # one new block
    assert six["completion"].head(4).tolist() == four["completion"].tolist()


class _LengthRM:
    """A stand-in reward model: longer programs score higher (only the interface matters here)."""

    def score_many(self, questions, programs, batch_size=8):
        return [float(len(p)) for p in programs]


def test_assemble_executes_scores_and_runs_generated_tests():
    from acecoder_lib.execution import ExecutionEngine

    problems = pd.DataFrame({"question_id": ["p"], "benchmark": ["b"], "question": ["Add."],
                             "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 0"]], "entry_point": ["add"],
                             "prompt_style": ["eval"], "shown_tests": [[]]})
    samples = pd.DataFrame({"question_id": ["p"] * 3, "sample": [0, 1, 2], "completion": ["", "", ""],
                            "program": ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n", ""],
                            "extraction": ["ok", "ok", "no_code"]})
    generated = pd.DataFrame({"question_id": ["p"], "benchmark": ["b"], "tests": [["assert add(2, 2) == 4"]],
                              "dropped": ["{}"]})
    with ExecutionEngine(workers=1) as engine:
        table = bestofn.assemble(problems, samples, samples.head(1), engine, rm=_LengthRM(), generated=generated)
    s = table[table["kind"] == "sample"]
    assert s["correct"].tolist() == [True, False, False]
    assert s["rm_score"].iloc[2] == -np.inf and s["rm_score"].iloc[0] == len(samples["program"].iloc[0])
    assert s["generated_passed"].tolist() == [[1], [0], [0]]
    assert table[table["kind"] == "greedy"]["correct"].tolist() == [True]
    assert list(table.columns) == schemas.BON_SAMPLES.column_names


@pytest.fixture(scope="module")
def engine():
    from acecoder_lib.execution import ExecutionEngine

    with ExecutionEngine(workers=2) as eng:
        yield eng


# ~15 ms of CPU per call here (the reference) and ~3x that (a correct but slower program): within factor 10
_REF = "def add(a, b):\n    s = 0\n    for i in range(250_000):\n        s += i\n    return a + b\n"
_SLOW = "def add(a, b):\n    s = 0\n    for i in range(750_000):\n        s += i\n    return a + b\n"
_LOOP = "def add(a, b):\n    while True:\n        pass\n"


def test_reference_limits_calibrate_only_the_tests_the_reference_passes(engine):
    tests = [["assert add(1, 2) == 3", "assert add(1, 2) == 4"], ["assert add(0, 0) == 0"], []]
    limits, calibrated = solutions.reference_limits([_REF, "", _REF], tests, engine, floor_s=0.001, factor=10.0,
                                                    fixed_s=0.7)
    assert calibrated == 1 and limits[1] == [0.7] and limits[2] == []
    assert 0.001 < limits[0][0] < 0.7 and limits[0][1] == 0.7  # the failed test keeps the fixed limit
    assert solutions.reference_limits([_REF], tests[:1], engine, "fixed", fixed_s=0.3) == ([[0.3, 0.3]], 0)
    with pytest.raises(ValueError, match="pair up"):
        solutions.reference_limits([_REF], tests, engine)
    with pytest.raises(ValueError, match="time-limit mode"):
        solutions.reference_limits([_REF], tests[:1], engine, "evalplus")


def test_phase_07_limits_never_time_out_a_correct_program_within_the_factor(engine):
    problems = pd.DataFrame({"question_id": ["p"], "benchmark": ["heldout"], "question": ["Add."],
                             "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 0"]], "entry_point": ["add"],
                             "prompt_style": ["solve"], "shown_tests": [[]], "reference": [_REF]})
    timed, calibrated = bestofn.with_time_limits(problems, engine, floor_s=0.005, factor=10.0, fixed_s=2.0)
    assert calibrated == 2 and list(timed.columns) == schemas.BON_PROBLEMS.column_names
    assert all(0.005 <= x < 2.0 for x in timed["time_limits"].iloc[0])
    samples = pd.DataFrame({"question_id": ["p"] * 3, "sample": [0, 1, 2], "completion": [""] * 3,
                            "program": [_REF, _SLOW, _LOOP], "extraction": ["ok"] * 3})
    generated = pd.DataFrame({"question_id": ["p"], "benchmark": ["heldout"], "tests": [["assert add(2, 2) == 4"]],
                              "dropped": ["{}"]})
    table = bestofn.assemble(timed, samples, None, engine, generated=generated, floor_s=0.005, factor=10.0,
                             fixed_s=2.0)
    assert table["correct"].tolist() == [True, True, False]  # the slower program passes every hidden test
    assert table["generated_passed"].tolist() == [[1], [1], [0]]
    fixed, _ = bestofn.with_time_limits(problems, engine, "fixed", fixed_s=2.0)
    assert fixed["time_limits"].iloc[0] == [2.0, 2.0]
    floor_only = timed.assign(time_limits=[[0.005, 0.005]])  # without the calibration the slow program times out
    slow_only = bestofn.assemble(floor_only, samples.iloc[[1]], None, engine)
    assert slow_only["correct"].tolist() == [False]


def test_verdicts_compare_the_selectors_with_the_average_pick_at_the_largest_n():
    rows = [("heldout", "average", 8, 0.05, 0.0, 0.1), ("heldout", "reward_model", 8, 0.30, 0.15, 0.45),
            ("heldout", "test_majority", 8, 0.08, 0.0, 0.2), ("heldout", "reward_model", 4, 0.9, 0.8, 1.0)]
    results = pd.DataFrame(rows, columns=["benchmark", "strategy", "n", "accuracy", "ci_low", "ci_high"])
    results["questions"] = 20
    assert bestofn.verdicts(results) == [
        "heldout (20 questions), reward_model Best-of-8 30.0% [15.0%, 45.0%]: above the average pick (5.0%)",
        "heldout (20 questions), test_majority Best-of-8 8.0% [0.0%, 20.0%]: not distinguishable from the average "
        "pick (5.0%)"]
    assert bestofn.verdicts(results.head(0)) == ["no Best-of-N results"]


def test_paired_differences_pair_each_question_with_itself():
    # 12 questions: on 4 the RM picks the one correct sample of 4, on 8 nobody could (no correct sample). Marginally
    # the RM (1/3) and the average (1/12) have overlapping CIs; paired, the difference is 0.75 on every informative
    # question and 0 elsewhere, so its CI stays above zero.
    frames = [_table([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [[1], [0], [0], [0]], qid=f"s{i}") for i in range(4)]
    frames += [_table([0, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [[]] * 4, qid=f"h{i}") for i in range(8)]
    t = pd.concat(frames, ignore_index=True)
    res = bestofn.evaluate(t, ns=[4], subsets=10).set_index("strategy")
    assert res.loc["reward_model", "ci_low"] <= res.loc["average", "ci_high"]  # the marginal CIs overlap
    d = bestofn.paired_differences(t, ns=[4], subsets=10).set_index("strategy")
    assert list(bestofn.paired_differences(t, ns=[4]).columns) == schemas.BON_DIFFERENCES.column_names
    assert d.loc["reward_model", "questions"] == 12 and d.loc["reward_model", "difference"] == pytest.approx(0.25)
    assert d.loc["reward_model", "ci_low"] > 0
    # test_majority has a pick only where some sample passes a generated test: the 4 informative questions
    assert d.loc["test_majority", "questions"] == 4 and d.loc["test_majority", "difference"] == pytest.approx(0.75)
    # a selector no better than the average: its paired CI holds zero
    worse = pd.concat([_table([1, 0], [0.0, 1.0], [[]] * 2, qid="a"), _table([0, 1], [0.0, 1.0], [[]] * 2, qid="b")])
    w = bestofn.paired_differences(worse, ns=[2]).set_index("strategy").loc["reward_model"]
    assert w["difference"] == 0.0 and w["ci_low"] <= 0.0 <= w["ci_high"]
    lines = bestofn.verdicts(bestofn.evaluate(t, ns=[4], subsets=10), differences=bestofn.paired_differences(t, [4]))
    assert any(line.startswith("  paired, reward_model minus the average pick (12 questions) 25.0% [")
               and line.endswith(": above zero (0.0%)") for line in lines), lines


def test_plus_benchmarks_report_base_and_plus_apart(engine):
    """HumanEval+ from an evalplus-format file: tests from the canonical solution's outputs (base inputs first), a
    program passing base but not plus counts for '<name> (base)' only, and the problems carry the harness."""
    from acecoder_lib.core import paths

    fixtures = paths.REPO_ROOT / "tests" / "fixtures" / "data"
    files = {"humaneval+": fixtures / "HumanEvalPlus_small.jsonl", "mbpp+": fixtures / "MbppPlus_small.jsonl"}
    dropped = {}
    problems, skipped = bestofn.eval_problems(["humaneval+", "mbpp+"], None, engine=engine, files=files,
                                              dropped=dropped)
    assert skipped == {} and dropped["humaneval+"]["inputs"] == 0
    add = problems.set_index("question_id").loc["HumanEval/0"]
    assert add["n_base_tests"] == 2 and len(add["tests"]) == 4 and "_acecoder_plus" in add["harness"]
    problems, _ = bestofn.with_time_limits(problems, engine)
    assert list(problems.columns) == schemas.BON_PROBLEMS.column_names
    progs = {"HumanEval/0": ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return abs(a) + b\n"],
             "HumanEval/1": ["def half(x):\n    return x / 2\n"] * 2,
             "Mbpp/2": ["def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"] * 2,
             "Mbpp/3": ["def is_not_prime(n):\n    return n > 2 and n % 2 == 0\n"] * 2}
    samples = pd.DataFrame([{"question_id": q, "sample": i, "completion": "", "program": p, "extraction": "ok"}
                            for q, ps in progs.items() for i, p in enumerate(ps)])
    table = bestofn.assemble(problems, samples, None, engine)
    got = table.set_index(["question_id", "sample"])[["correct_base", "correct"]]
    assert got.loc[("HumanEval/0", 1)].tolist() == [True, False]  # base passes, plus fails
    assert got.loc[("HumanEval/0", 0)].tolist() == [True, True]
    assert got.loc[("Mbpp/3", 0)].tolist() == [True, False]
    results = bestofn.evaluate(table, ns=[1, 2], subsets=5).set_index(["benchmark", "strategy", "n"])
    assert results.loc[("humaneval+", "average", 2), "accuracy"] == pytest.approx(0.75)  # (1/2 + 1) / 2
    assert results.loc[("humaneval+ (base)", "average", 2), "accuracy"] == pytest.approx(1.0)
    assert results.loc[("mbpp+", "average", 2), "accuracy"] == pytest.approx(0.5)
    assert results.loc[("mbpp+ (base)", "average", 2), "accuracy"] == pytest.approx(1.0)
    acc = results["accuracy"]
    for bench in ("humaneval+", "mbpp+"):  # the same subsets judge base and plus: base is never below plus
        assert (acc.loc[bench + bestofn.BASE] >= acc.loc[bench] - 1e-12).all()
    both, _ = bestofn.eval_problems(["mbpp", "mbpp+"], None, engine=engine, files={"mbpp": files["mbpp+"],
                                                                                  "mbpp+": files["mbpp+"]})
    assert both["question_id"].tolist() == ["Mbpp/2", "Mbpp/3", "mbpp+:Mbpp/2", "mbpp+:Mbpp/3"]
    with pytest.raises(ValueError, match="pass engine="):
        bestofn.eval_problems(["humaneval+"], None, files=files)
    # a HumanEval file whose rows have no test snippet, asked for as plain humaneval: skipped with the reason
    from acecoder_lib.core import datasets

    def load(name, path=None):
        return datasets.load_eval_set("humaneval+", files["humaneval+"]).assign(benchmark=name, test="")

    q = pd.DataFrame({"question_id": ["x"], "question": ["Q1"], "tests": [["assert f(1) == 1"]], "entry_point": ["f"],
                      "split": ["heldout"], "reference": ["def f(x):\n    return x\n"]})
    _, skipped = bestofn.eval_problems(["humaneval", "heldout"], q, engine=engine, load=load)
    assert "no test snippet" in skipped["humaneval"]


def test_bigcodebench_tasks_evaluate_and_missing_libraries_are_reported(engine):
    """BigCodeBench Complete from a local file in the released schema: each unittest method is a test, the canonical
    solutions pass them, a task needing an uninstalled library (tensorflow here) is left out and named."""
    from acecoder_lib.core import paths

    file = paths.REPO_ROOT / "tests" / "fixtures" / "data" / "BigCodeBench_small.jsonl"
    dropped = {}
    problems, skipped = bestofn.eval_problems(["bigcodebench-complete", "bigcodebench-instruct-hard"], None,
                                              engine=engine, dropped=dropped,
                                              files={"bigcodebench-complete": file,
                                                     "bigcodebench-instruct-hard": file})
    assert skipped == {}
    lost = dropped["bigcodebench-complete"]
    assert lost["tasks"] == 1 and "tensorflow" in lost["example"] and lost["missing"] == {"tensorflow": 1}
    complete = problems[problems["benchmark"] == "bigcodebench-complete"].set_index("question_id")
    assert complete.loc["BigCodeBench/0", "tests"] and len(complete.loc["BigCodeBench/0", "tests"]) == 4
    assert "Requirements" in complete.loc["BigCodeBench/0", "question"]  # Complete: signature + docstring
    instruct = problems[problems["benchmark"] == "bigcodebench-instruct-hard"]
    assert instruct["question"].str.contains("You should write self-contained code").all()
    res = engine.run(problems["reference"].tolist(), problems["tests"].tolist())
    assert all(r.all_passed for r in res), [r.errors for r in res if not r.all_passed]
    wrong = "import numpy as np\ndef task_func(values):\n    return (0.0, 0.0)\n"
    [bad] = engine.run([wrong], [complete.loc["BigCodeBench/1", "tests"]])
    assert bad.verdicts == ["fail", "fail"]


def test_livecodebench_functional_and_stdin_problems_are_judged_like_its_runner(engine):
    """LiveCodeBench from a local file in code_generation_lite's schema (private tests compressed as released): a
    LeetCode problem calls Solution().<func_name> on JSON arguments, an AtCoder one runs the program on stdin; the
    contest-date window keeps only the problems inside it."""
    from acecoder_lib.core import paths

    file = paths.REPO_ROOT / "tests" / "fixtures" / "data" / "livecodebench_small.jsonl"
    problems, skipped = bestofn.eval_problems(["livecodebench"], None, engine=engine,
                                              files={"livecodebench": file})
    assert skipped == {} and problems["question_id"].tolist() == ["3001", "abc300_a"]
    leet, atcoder = problems.iloc[0], problems.iloc[1]
    assert len(leet["tests"]) == 3 and "class Solution" in leet["question"]  # the starter code is in the prompt
    assert len(atcoder["tests"]) == 2 and atcoder["harness"].startswith("#acecoder:wrap")
    programs = {
        "leet_ok": "from typing import List\nclass Solution:\n    def sumOfSquares(self, nums: List[int]) -> int:\n"
                   "        return sum(x * x for x in nums)\n",
        "leet_bad": "class Solution:\n    def sumOfSquares(self, nums):\n        return sum(nums)\n",
        "stdin_ok": "import sys\na, b = map(int, input().split())\nprint(a + b)\nprint(a * b)\nsys.exit(0)\n",
        "stdin_bad": "a, b = map(int, input().split())\nprint(a - b)\nprint(a * b)\n",
    }
    samples = pd.DataFrame([{"question_id": q, "sample": i, "completion": "", "program": programs[k],
                             "extraction": "ok"}
                            for i, (q, k) in enumerate([("3001", "leet_ok"), ("3001", "leet_bad"),
                                                        ("abc300_a", "stdin_ok"), ("abc300_a", "stdin_bad")])])
    problems, _ = bestofn.with_time_limits(problems, engine)
    table = bestofn.assemble(problems, samples, None, engine).set_index("sample")
    assert table["correct"].tolist() == [True, False, True, False]  # "6" matches "6.0" as a decimal, as in LCB
    assert table.loc[1, "n_passed"] == 1  # sum([]) == 0 passes by chance; [1, 2, 3] and [-4] do not
    window, _ = bestofn.eval_problems(["livecodebench"], None, engine=engine, files={"livecodebench": file},
                                     lcb_dates=["2023-05-01", "2024-12-31"])
    assert window["question_id"].tolist() == ["3001"]


def test_livecodebench_private_tests_unpickle_text_only():
    import base64
    import pickle
    import zlib

    from acecoder_lib.core import datasets

    ok = base64.b64encode(zlib.compress(pickle.dumps('[{"input": "1", "output": "2"}]'))).decode()
    assert datasets.lcb_test_cases(ok, "x") == [{"input": "1", "output": "2", "testtype": "stdin"}]
    hostile = base64.b64encode(zlib.compress(pickle.dumps(pd.Timestamp(0)))).decode()  # needs a class lookup
    with pytest.raises(datasets.DataError, match="refusing to load"):
        datasets.lcb_test_cases(hostile, "x")

"""LLM synthesis (phase 02, paper's way): one row per seed, unusable answers become `assert False`, cached once."""
from __future__ import annotations

import json

import pandas as pd

from acecoder_lib.core.cache import CompletionCache
from acecoder_lib.core.schemas import QUESTIONS
from acecoder_lib.core.splits import is_usable
from acecoder_lib.phases.p02_synthesize_tests import llm_synthesize, synthesis_yield

GOOD = ('```json\n{"question": "Return the sum of a and b.", "tests": ["assert add(1, 2) == 3", '
        '"assert add(0, 0) == 0", "print(add(1, 1))", "assert add(-1, 1) == 0"]}\n```')


class CannedBackend:
    """Answers by seed: a scripted stand-in for an LLM (the parsing, not the model, is under test here)."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.calls = answers, 0

    def generate(self, prompts, n=1, **kw):
        self.calls += len(prompts)
        out = []
        for messages in prompts:
            text = messages[-1]["content"]
            out.append([next((a for key, a in self.answers.items() if key in text), "")] * n)
        return out


def _seeds():
    return pd.DataFrame({"seed_id": ["s1", "s2", "s3"], "source": ["codeio"] * 3,
                         "code": ["def add(a, b):\n    return a + b", "def sub(a, b):\n    return a - b",
                                  "def mul(a, b):\n    return a * b"],
                         "instruction": ["Add two numbers.", "", "Multiply."]})


def test_every_seed_gives_one_row_and_bad_answers_are_counted(tmp_path):
    backend = CannedBackend({"return a + b": GOOD, "return a - b": "Sorry, I cannot help.", "return a * b": ""})
    cache = CompletionCache(tmp_path / "cache.jsonl")
    rows = llm_synthesize(_seeds(), backend, cache, namespace="canned:test")
    assert list(rows.columns) == QUESTIONS.column_names
    assert rows["question_id"].tolist() == ["s1:llm", "s2:llm", "s3:llm"]
    good = rows.iloc[0]
    assert good["tests"] == ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]
    assert good["entry_point"] == "add" and good["status"] in ("ok", "repaired")
    assert json.loads(good["detail"])["dropped_tests"] == 1  # the print(...) line is not an assert
    for i in (1, 2):  # unusable answers: the paper's `assert False`, never dropped
        assert rows.iloc[i]["tests"] == ["assert False"]
        assert rows.iloc[i]["status"] not in ("ok", "repaired")
    table = synthesis_yield(rows)
    assert int(table["questions"].sum()) == 3 and int(table["usable"].sum()) == 1
    assert int(table["tests"].sum()) == 3


def test_rerun_is_served_from_the_cache(tmp_path):
    backend = CannedBackend({"return a + b": GOOD})
    path = tmp_path / "cache.jsonl"
    first = llm_synthesize(_seeds(), backend, CompletionCache(path), namespace="canned:test")
    assert backend.calls == 3
    again = llm_synthesize(_seeds(), backend, CompletionCache(path), namespace="canned:test")
    assert backend.calls == 3  # nothing generated twice
    assert again["tests"].tolist() == first["tests"].tolist()


def test_code_only_variant_for_seeds_without_instruction(tmp_path):
    seen = []

    class Recorder(CannedBackend):
        def generate(self, prompts, n=1, **kw):
            seen.extend(p[-1]["content"] for p in prompts)
            return super().generate(prompts, n=n, **kw)

    llm_synthesize(_seeds(), Recorder({}), CompletionCache(tmp_path / "c.jsonl"), namespace="canned:test")
    assert "Here is the original question:\nAdd two numbers." in seen[0]
    assert "Here is the original question" not in seen[1] and "Here is the reference program:" in seen[1]


class FlakyBackend(CannedBackend):
    """Times out on the first call only, like a hosted API under load."""

    def generate(self, prompts, n=1, **kw):
        if self.calls == 0:
            self.calls += 1
            raise TimeoutError("read timed out")
        return super().generate(prompts, n=n, **kw)


def test_a_backend_failure_is_counted_not_cached_and_retried(tmp_path):
    path = tmp_path / "cache.jsonl"
    backend = FlakyBackend({"return a + b": GOOD})
    rows = llm_synthesize(_seeds(), backend, CompletionCache(path), namespace="canned:test", batch_size=1)
    assert rows["status"].tolist()[0] == "backend_error" and rows.iloc[0]["tests"] == ["assert False"]
    assert "TimeoutError" in json.loads(rows.iloc[0]["detail"])["backend_error"]
    assert len(CompletionCache(path)) == 2  # the failed prompt was not cached
    again = llm_synthesize(_seeds(), backend, CompletionCache(path), namespace="canned:test", batch_size=1)
    assert again.iloc[0]["status"] in ("ok", "repaired")  # the rerun asked again, and only for that prompt
    assert backend.calls == 1 + 2 + 1


def test_usable_means_a_good_status_and_real_tests():
    rows = pd.DataFrame({"status": ["ok", "repaired", "too_few_tests", "ok", "unparseable"],
                         "tests": [["assert f(1) == 1"], ["assert f(2) == 2"], ["assert f(3) == 3"], ["assert False"],
                                   ["assert False"]]})
    assert is_usable(rows).tolist() == [True, True, False, False, False]


def test_every_unusable_llm_row_says_why(tmp_path):
    backend = CannedBackend({"return a + b": GOOD, "return a - b": "Sorry, I cannot help.",
                             "return a * b": '{"question": "Multiply.", "tests": ["print(mul(2, 3))"]}'})
    rows = llm_synthesize(_seeds(), backend, CompletionCache(tmp_path / "c.jsonl"), namespace="canned:test")
    assert rows["reason"].tolist() == ["", "unparseable", "not_an_assert"]
    assert rows["first_error"].tolist()[0] == ""
    assert rows.iloc[1]["first_error"] == "unparseable: the answer begins 'Sorry, I cannot help.'"
    assert rows.iloc[2]["first_error"] == "no_tests: 1 test(s) dropped {'not_an_assert': 1}"
    flaky = llm_synthesize(_seeds(), FlakyBackend({"return a + b": GOOD}), CompletionCache(tmp_path / "f.jsonl"),
                           namespace="canned:test", batch_size=1)
    assert (flaky.iloc[0]["status"], flaky.iloc[0]["reason"]) == ("backend_error", "TimeoutError")
    assert flaky.iloc[0]["first_error"] == "backend_error: TimeoutError: read timed out"

"""parse_synthesis on the shapes LLM answers really take."""
from __future__ import annotations

import pytest

from acecoder_lib.code.llm_json import FALLBACK_TESTS, check_assert, parse_synthesis

GOOD = '{"question": "Add two numbers.", "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]}'


@pytest.mark.parametrize("text,status,tests", [
    (GOOD, "ok", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]),
    ("Sure! Here it is:\n```json\n" + GOOD + "\n```\nHope this helps.", "ok",
     ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]),
    ("Here you go: " + GOOD + " Let me know!", "ok", ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]),
    ("{'question': 'Add.', 'tests': ['assert add(1, 1) == 2']}", "ok", ["assert add(1, 1) == 2"]),
    # cut off by the token limit inside the third test: the unfinished assert is dropped
    ('{"question": "Add.", "tests": ["assert add(1, 1) == 2", "assert add(2, 2) == 4", "assert add(3, ', "repaired",
     ["assert add(1, 1) == 2", "assert add(2, 2) == 4"]),
    # cut off right after a comma
    ('```json\n{"question": "Add.", "tests": ["assert add(1, 1) == 2",', "repaired", ["assert add(1, 1) == 2"]),
])
def test_parses_real_answer_shapes(text, status, tests):
    parsed = parse_synthesis(text)
    assert parsed.status == status
    assert parsed.tests == tests


def test_invalid_tests_are_dropped_and_counted():
    text = ('{"question": "Q", "tests": ["assert f(1) == 1", "print(f(1))", "assert f(2) ==", 3, '
            '"assert f(1) == 1", "x = 1\\nassert x"]}')
    parsed = parse_synthesis(text)
    assert parsed.tests == ["assert f(1) == 1"]
    assert parsed.drop_reasons == {"not_an_assert": 2, "syntax_error": 1, "not_a_string": 1}


@pytest.mark.parametrize("text,status", [
    ("", "empty"), (None, "empty"), ("I cannot help with that.", "unparseable"),
    ('{"tests": ["assert True"]}', "unparseable"), ('{"question": "Q", "tests": []}', "no_tests"),
    ('{"question": "Q", "tests": ["print(1)"]}', "no_tests"),
])
def test_unusable_answers_become_the_papers_assert_false(text, status):
    parsed = parse_synthesis(text)
    assert parsed.status == status and parsed.tests == FALLBACK_TESTS


def test_check_assert():
    assert check_assert("assert f(1) == [1, 2]") is None
    assert check_assert("assert f(1) == 1, 'message'") is None
    assert check_assert("import os") == "not_an_assert"
    assert check_assert("assert (") == "syntax_error"

"""The papers' prompts, in one place (shared/PAPER_FACTS.md sections 2-4; wording as in ACECODER's public code).

- ``synthesis_messages``: phase 02, rewrite seed code into a LeetCode-style question with ~20 asserts
  (GPT-4o-mini in the paper, temperature 0.7, JSON output). Two variants: with the seed's instruction, or from
  the code alone (Stack functions have no instruction).
- ``solve_messages``: phase 03's proxy solver and phase 04's policy sampling: the question and its first tests in a
  docstring, and the assistant turn prefilled with the paper's sentence, so the model continues inside a
  ```python block.
- ``eval_messages``: phases 07-08 on HumanEval-style prompts (a signature and docstring): evalplus's instruct
  prompt, the same wording and prefill as ``solve_messages`` with the prompt as is (it has its own docstring).
- ``test_messages``: phases 07 and 09: ask the policy for unit tests of a question (CodeT / CodeRM style).
"""
from __future__ import annotations

SYSTEM = "You are an AI assistant that helps people with python coding tasks."

# the paper's wording, verbatim: a line ending in a backslash continues on the next (no newline), \x20 is a
# trailing space
_TASK = """1. Come up with a leetcode style question which consists of a well-defined problem. The generated question \
should meet the following criteria:
    a. The question is clear and understandable, with enough details to describe what the input and output are.
    b. The question should be solvable by only implementing 1 function instead of multiple functions or a class. \
Therefore, please avoid questions which require complicated pipelines.
    c. The question itself should not require any access to external resource or database.
    d. Feel free to use part of the original question if necessary. Moreover, please do not ask for runtime and space \
complexity analysis or any test cases in your response.\x20
2. Based on the modified question that you generated in part 1, you need to create around 20 test cases for this \
modified question. Each test case should be independent assert clauses. The parameters and expected output of each \
test case should all be constants, **without accessing any external resources**.
"""

_ANSWER_FORMAT = """Now give your modified question and generated test cases in the following json format:\x20
{"question": ..., "tests":["assert ...", "assert ..."]}.
"""

SYNTHESIS_WITH_INSTRUCTION = (
    "You are the latest and best bot aimed at transforming some code snippet into a leetcode style question. "
    "You will be provided with a prompt for writing code, along with a reference program that answers the question. "
    "Please complete the following for me:\n" + _TASK +
    "\nHere is the original question:\n{instruction}\n\n"
    "Here is the reference program that answers the question:\n```python\n{program}\n```\n\n" + _ANSWER_FORMAT
)

SYNTHESIS_CODE_ONLY = (
    "You are the latest and best bot aimed at transforming some code snippet into a leetcode style question. "
    "You will be provided with a reference program. Please complete the following for me:\n" + _TASK +
    "\nHere is the reference program:\n```python\n{program}\n```\n\n" + _ANSWER_FORMAT
)

# The answer format above as a JSON schema, for backends that can hold decoding to one (``json_schema=``; beyond the
# paper, whose GPT-4o-mini follows the format unaided). Measured on the 24 shortest default seeds, 1,024 tokens,
# T 0.7: Qwen2.5-Coder-0.5B gave 8 usable answers without it (12 wrote tests as {"input": ..., "expected": ...}
# objects, 4 were not valid JSON), 17 with it; Qwen2.5-Coder-1.5B 1 without. At least 5 items (the filter drops a
# question with fewer) and at most 25 (small models write runaway lists: one answer held 49); the paper asks for
# "around 20".
SYNTHESIS_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"},
                   "tests": {"type": "array", "items": {"type": "string", "pattern": "^assert .+"},
                             "minItems": 5, "maxItems": 25}},
    "required": ["question", "tests"],
    "additionalProperties": False,
}

# The proxy solver's (and the policy's) assistant prefill (PAPER_FACTS section 3).
SOLVE_PREFILL = ("Below is a Python script with a self-contained function that solves the problem and passes "
                 "corresponding tests:\n```python")


def synthesis_messages(program: str, instruction: str = "") -> list[dict]:
    """Chat messages asking for {"question", "tests"} from seed code (the code-only variant when no instruction)."""
    if instruction.strip():
        # str.replace, not format: seed code is full of braces
        user = SYNTHESIS_WITH_INSTRUCTION.replace("{instruction}", instruction).replace("{program}", program)
    else:
        user = SYNTHESIS_CODE_ONLY.replace("{program}", program)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _solve_chat(problem: str, prefill: bool) -> list[dict]:
    """The solve request around ``problem`` (shown in a code block), the answer optionally prefilled."""
    user = ("Please provide a self-contained Python script that solves the following problem in a markdown code "
            f"block:\n```\n{problem}\n```\n")
    messages = [{"role": "user", "content": user}]
    if prefill:
        messages.append({"role": "assistant", "content": SOLVE_PREFILL})
    return messages


def solve_messages(question: str, tests: list[str], n_tests_shown: int = 2, prefill: bool = True) -> list[dict]:
    """Chat messages asking for a solution: the question plus its first ``n_tests_shown`` tests, prefilled answer."""
    shown = "\n".join(tests[:n_tests_shown]) if n_tests_shown > 0 else ""
    return _solve_chat(f'"""\n{question}\n{shown}\n"""', prefill)


def eval_messages(prompt: str, prefill: bool = True) -> list[dict]:
    """evalplus's instruct prompt for a HumanEval-style ``prompt`` (signature + docstring), prefilled answer."""
    return _solve_chat(prompt.strip(), prefill)


TEST_PREFILL = "```python\n"


def test_messages(question: str, entry_point: str, n_tests: int = 5, style: str = "assert",
                  program: str | None = None) -> list[dict]:
    """Ask for ``n_tests`` unit tests of ``entry_point``: one ``assert`` per line (``style="assert"``) or a
    ``unittest.TestCase`` class (``style="unittest"``, CodeRM's format); with ``program``, it is shown too (CodeRM
    conditions test generation on a candidate solution optionally). The answer is prefilled into a code block (and,
    for asserts, with the start of the first call: a small model left to itself often asserts constants)."""
    if style not in ("assert", "unittest"):
        raise ValueError(f"style must be 'assert' or 'unittest', got {style!r}")
    form = (f"one `assert` statement per line, each calling `{entry_point}` with concrete arguments and comparing "
            f"the result with the expected value" if style == "assert" else
            f"a `unittest.TestCase` class with {n_tests} test methods, each calling `{entry_point}` with concrete "
            f"arguments and checking the result with `self.assertEqual`")
    user = (f"Write {n_tests} unit tests for the following problem: {form}. Cover normal cases and edge cases. "
            f"Do not write the solution.\n\n{question.strip()}\n")
    if program:
        user += f"\nA candidate solution (it may be wrong):\n```python\n{program.strip()}\n```\n"
    return [{"role": "user", "content": user},
            {"role": "assistant", "content": TEST_PREFILL + ("import unittest\n" if style == "unittest" else
                                                              f"assert {entry_point}(")}]

"""extract_code on the shapes model answers really take (chatty, several blocks, thinking, truncated, unfenced)."""
from __future__ import annotations

import ast

import pytest

from acecoder_lib.code.extract import TYPING_PRELUDE, build_program, extract_code, infer_entry_point, strip_thinking

ADD = "def add(a, b):\n    return a + b"

# (name, text, entry_point, expected status, expected code (exact) or None to skip, expected defined_functions)
CORPUS = [
    ("plain_fence",
     f"```python\n{ADD}\n```", "add", "ok", ADD, ["add"]),
    ("chatty_before_after",
     f"Sure! Here is a function that adds two numbers:\n\n```python\n{ADD}\n```\n\nThis runs in O(1) time. "
     "Let me know if you have questions!", "add", "ok", ADD, ["add"]),
    ("py_tag_and_tilde_fence",
     f"~~~py\n{ADD}\n~~~", "add", "ok", ADD, ["add"]),
    ("bare_fence_with_example_output",
     f"```\n{ADD}\n```\nOutput:\n```text\n3\n```", "add", "ok", ADD, ["add"]),
    ("example_usage_block_after_solution",
     f"```python\n{ADD}\n```\n\nExample usage:\n\n```python\nprint(add(1, 2))  # 3\n```", "add", "ok", ADD, ["add"]),
    ("revised_answer_last_block_wins",
     "First attempt:\n```python\ndef add(a, b):\n    return a - b\n```\nOops, that subtracts. Fixed:\n"
     f"```python\n{ADD}\n```", "add", "ok", ADD, ["add"]),
    ("helper_in_earlier_block_is_pulled_in",
     "A helper first:\n```python\nimport math\n\ndef _sq(x):\n    return x * x\n\nprint(_sq(3))\n```\n"
     "Then the solution:\n```python\ndef hyp(a, b):\n    return math.sqrt(_sq(a) + _sq(b))\n```",
     "hyp", "ok", "import math\n\ndef _sq(x):\n    return x * x\n\n\n"
     "def hyp(a, b):\n    return math.sqrt(_sq(a) + _sq(b))",
     ["_sq", "hyp"]),
    ("closed_think_section",
     "<think>\nThe user wants addition. Maybe ```python\ndef add(a, b): return 0\n``` no.\n</think>\n"
     f"```python\n{ADD}\n```", "add", "ok", ADD, ["add"]),
    ("think_opened_in_prompt_only_close_tag",
     f"Okay, so I need to add... def add(a, b) maybe.\n</think>\n\n```python\n{ADD}\n```", "add", "ok", ADD, ["add"]),
    ("unclosed_think_truncated_while_thinking",
     "<think>\nLet me think about adding numbers.\n```python\ndef add(a, b):\n    return a + b\n```\nHmm, wait",
     "add", "no_code", "", []),
    ("truncated_last_block_trailing_example",
     f"```python\n{ADD}\n\n\nif __name__ == '__main__':\n    print(add(1,", "add", "ok", ADD, ["add"]),
    ("no_fence_whole_text_is_code",
     f"{ADD}\n", "add", "ok", ADD, ["add"]),
    ("no_fence_prose_around",
     f"Here is my solution:\n{ADD}\nThis function simply returns the sum.", "add", "ok", ADD, ["add"]),
    ("windows_newlines",
     "Answer:\r\n```python\r\ndef add(a, b):\r\n    return a + b\r\n```\r\n", "add", "ok", ADD, ["add"]),
    ("mixed_tabs_and_spaces",
     "```python\ndef add(a, b):\n    s = a + b\n\treturn s\n```", "add", "ok",
     "def add(a, b):\n    s = a + b\n    return s", ["add"]),
    ("wrong_function_name",
     "```python\ndef sum_two(a, b):\n    return a + b\n```", "add", "entry_point_mismatch",
     "def sum_two(a, b):\n    return a + b", ["sum_two"]),
    ("main_guard_and_input_stripped",
     f"```python\nimport sys\nsys.setrecursionlimit(10000)\n\n{ADD}\n\nn = int(input())\nprint(add(n, 1))\n"
     "assert add(1, 1) == 3\n\nif __name__ == \"__main__\":\n"
     "    a, b = map(int, input().split())\n    print(add(a, b))\n```",
     "add", "ok", f"import sys\nsys.setrecursionlimit(10000)\n\n{ADD}", ["add"]),
    ("only_prose",
     "I'm sorry, but I can't help with that request.", "add", "no_code", "", []),
    ("only_other_language",
     "```java\npublic int add(int a, int b) { return a + b; }\n```", "add", "no_code", "", []),
    ("broken_code",
     "```python\ndef add(a, b)\n    return a + b\n```", "add", "syntax_error", "def add(a, b)\n    return a + b", []),
    ("code_llama_tags",
     f"[PYTHON]\n{ADD}\n[/PYTHON]", "add", "ok", ADD, ["add"]),
    ("indented_fence_in_list",
     f"1. Define the function:\n\n    ```python\n    {ADD.replace(chr(10), chr(10) + '    ')}\n    ```\n", "add", "ok",
     ADD, ["add"]),
    ("leetcode_class",
     "```python\nfrom typing import List\n\nclass Solution:\n"
     "    def twoSum(self, nums: List[int], t: int) -> List[int]:\n"
     "        return [0, 1]\n```", "Solution", "ok",
     "from typing import List\n\nclass Solution:\n    def twoSum(self, nums: List[int], t: int) -> List[int]:\n"
     "        return [0, 1]", []),
    ("fence_glued_to_last_line",
     "```python\ndef add(a, b):\n    return a + b```", "add", "ok", ADD, ["add"]),
]


@pytest.mark.parametrize("name,text,entry_point,status,code,funcs", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name, text, entry_point, status, code, funcs):
    ex = extract_code(text, entry_point)
    assert ex.status == status, ex.detail
    if code is not None:
        assert ex.code == code
    assert ex.defined_functions == funcs
    if ex.runnable:
        ast.parse(ex.code)


def test_block_counts_and_flags():
    ex = extract_code(CORPUS[4][1], "add")  # solution + example-usage block
    assert (ex.n_blocks, ex.truncated, ex.removed) == (2, False, [])
    ex = extract_code(f"```python\n{ADD}\n\n\nif __name__ == '__main__':\n    print(add(1,", "add")
    assert ex.truncated and ex.n_blocks == 1
    ex = extract_code(dict(x[:2] for x in CORPUS)["main_guard_and_input_stripped"], "add")
    assert [r.split(":")[0] for r in ex.removed] == ["line 7", "line 8", "line 9", "line 11"]
    ex = extract_code(dict(x[:2] for x in CORPUS)["helper_in_earlier_block_is_pulled_in"], "hyp")
    assert ex.helpers_from == [0] and ex.n_blocks == 2


def test_mismatch_detail_and_rename():
    text = "```python\ndef sum_two(a, b):\n    return a + b\n```"
    ex = extract_code(text, "add")
    assert "sum_two" in ex.detail and ex.renamed_from is None and ex.runnable
    ex = extract_code(text, "add", rename=True)
    assert ex.status == "renamed" and ex.renamed_from == "sum_two"
    ns: dict = {}
    exec(compile(ex.code, "<extracted>", "exec"), ns)  # the test itself runs the alias, the library never executes
    assert ns["add"](2, 3) == 5
    # two candidate functions: ambiguous, never renamed
    two = "```python\ndef f(a):\n    return a\n\ndef g(a):\n    return a\n```"
    ex = extract_code(two, "add", rename=True)
    assert ex.status == "entry_point_mismatch" and ex.defined_functions == ["f", "g"]


def test_entry_point_bound_by_assignment_or_import_counts():
    assert extract_code("```python\nadd = lambda a, b: a + b\n```", "add").status == "ok"
    assert extract_code("```python\nfrom operator import add\n```", "add").status == "ok"


def test_without_entry_point_prefers_longest_defining_block():
    text = ("```python\ndef helper():\n    return 1\n```\n```python\ndef solve(xs):\n    total = 0\n    for x in xs:\n"
            "        total += x\n    return total\n```\n```python\nprint(solve([1, 2]))\n```")
    ex = extract_code(text)
    assert ex.defined_functions == ["solve"] and ex.status == "ok"


def test_top_level_stripping_is_optional():
    text = f"```python\n{ADD}\nprint(add(1, 2))\n```"
    assert extract_code(text, "add").code == ADD
    assert extract_code(text, "add", strip_top_level=False).code == f"{ADD}\nprint(add(1, 2))"


def test_truncation_repair_is_optional():
    text = f"```python\n{ADD}\n\ndef sub(a, b):\n    return (a -"
    assert extract_code(text, "add").code == ADD
    assert extract_code(text, "add", repair_truncated=False).status == "syntax_error"


def test_empty_and_non_string_inputs():
    for text in ("", "   \n", None, 42):
        ex = extract_code(text)
        assert (ex.status, ex.code, ex.n_blocks) == ("no_code", "", 0)
    assert extract_code("```python\n```").status == "no_code"
    assert extract_code("```python\nprint('hello')\n```").status == "no_code"


def test_strip_thinking():
    assert strip_thinking("<think>a</think>b<think>c</think>d") == "bd"
    assert strip_thinking("reasoning</think>answer") == "answer"
    assert strip_thinking("answer<think>cut off") == "answer"
    assert strip_thinking("<THINKING>x</THINKING>y") == "y"


def test_infer_entry_point():
    tests = ["assert add(1, 2) == 3", "assert add(len([1]), 0) == 1", "assert isinstance(add(1, 1), int)"]
    assert infer_entry_point(tests) == "add"
    assert infer_entry_point(["assert Solution().twoSum([1], 1) == [0]"]) == "Solution"
    assert infer_entry_point(["assert True", "not python ("]) is None


def test_build_program():
    assert build_program(ADD) == ADD
    prog = build_program("from __future__ import annotations\ndef f(x: List[int]) -> int:\n    return 1",
                         TYPING_PRELUDE)
    assert prog.split("\n")[:2] == ["from __future__ import annotations", "from typing import *"]
    ns: dict = {}
    exec(compile(prog, "<p>", "exec"), ns)
    assert ns["f"]([1]) == 1


def test_long_unparseable_text_is_fast():
    import time
    text = "```python\n" + "\n".join(f"x{i} = (" for i in range(400))  # 400 broken lines, unterminated
    t0 = time.perf_counter()
    ex = extract_code(text)
    assert ex.status == "syntax_error" and time.perf_counter() - t0 < 2.0


def test_unclosed_block_followed_by_a_new_fence():
    text = f"```python\ndef sub(a, b):\n    return a - b\n\n```python\n{ADD}\n```"
    ex = extract_code(text, "add")
    assert (ex.status, ex.code, ex.n_blocks) == ("ok", ADD, 2)


def test_nested_fence_inside_longer_fence_is_content():
    text = "````python\nDOC = '''\n```python\nx = 1\n```\n'''\n\ndef f():\n    return DOC\n````"
    ex = extract_code(text, "f")
    assert ex.status == "ok" and ex.n_blocks == 1 and ex.code.startswith("DOC = '''\n```python")

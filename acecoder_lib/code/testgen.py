"""Unit tests written by a model for a question (CodeT-style selection in phase 07; CodeRM test scaling in 09).

    msgs = [prompts.test_messages(q, entry, n_tests=5) for q, entry in ...]
    outs = cached_generate(backend, msgs, cache, namespace=..., n=1, temperature=0.0, max_new_tokens=256)
    tests = testgen.parse_tests(prompts.TEST_PREFILL + "assert " + outs[i][0], entry)   # independent asserts

The answer may hold plain ``assert`` lines or a ``unittest.TestCase`` class (CodeRM's format); either becomes a
list of independent test snippets the execution engine runs one by one. Validation as in phase 02: a snippet must
parse, must call the function under test, and must not repeat; anything else is dropped and counted. Nothing is
executed here; the tests are as untrusted as the programs and run only through the engine.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..core.text import fenced_blocks
from ..execution import split_test_code


@dataclass
class ParsedTests:
    tests: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)   # reason -> count

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def _code_of(text: str) -> str:
    blocks = [f.body for f in fenced_blocks(text) if f.tag in ("python", "py", "")]
    return "\n".join(blocks) if blocks else (text or "")


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(node))


def _parsable_prefix(code: str) -> ast.Module | None:
    """The longest line prefix of ``code`` that parses (a generation cut off mid-line loses only that line)."""
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
    return None


def parse_tests(text: str, entry_point: str, max_tests: int | None = None) -> ParsedTests:
    """Independent test snippets from a model's answer (see the module docstring)."""
    out = ParsedTests()
    code = _code_of(text)
    tree = _parsable_prefix(code)
    if tree is None:
        out._drop("unparsable")
        return out
    source = ast.unparse(tree)
    snippets: list[str] = []
    has_testcase = any(isinstance(n, ast.ClassDef) for n in tree.body)
    if has_testcase:
        try:
            snippets = split_test_code(source, entry_point)
        except (SyntaxError, ValueError):
            out._drop("unparsable")
    else:
        for node in tree.body:
            if isinstance(node, ast.Assert):
                snippets.append(ast.unparse(node))
            elif not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
                out._drop("not_an_assert")
    seen = set()
    for snippet in snippets:
        try:
            parsed = ast.parse(snippet)
        except SyntaxError:
            out._drop("unparsable")
            continue
        if not _calls(parsed, entry_point):
            out._drop("does_not_call_entry_point")
            continue
        if snippet in seen:
            out._drop("duplicate")
            continue
        if max_tests is not None and len(out.tests) >= max_tests:
            out._drop("over_limit")
            continue
        seen.add(snippet)
        out.tests.append(snippet)
    return out


def rank_by_tests(verdicts: list[list[bool]]) -> list[int]:
    """Indexes of programs, best first, by CodeRM's / CodeT-style rule: most generated tests passed; ties broken
    by the size of the cluster of programs passing exactly the same tests (agreement), then by index.

    ``verdicts[i][t]`` is whether program i passed generated test t. A simplification of CodeT's dual agreement:
    behaviour is compared through the pass/fail pattern on the generated tests, not through raw outputs."""
    patterns = [tuple(v) for v in verdicts]
    sizes: dict[tuple, int] = {}
    for p in patterns:
        sizes[p] = sizes.get(p, 0) + 1
    return sorted(range(len(patterns)), key=lambda i: (-sum(patterns[i]), -sizes[patterns[i]], i))


def assert_call(test: str) -> str | None:
    """The input side of a test ``assert <expression> == <expected>``: the source of ``<expression>`` when it calls
    something (what the program is asked to compute), else None (another shape of test, or not Python). The expected
    value is not looked at."""
    try:
        body = ast.parse(test).body
    except SyntaxError:
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return None
    node = body[0].test
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return None
    if not any(isinstance(n, ast.Call) for n in ast.walk(node.left)):
        return None
    return ast.get_source_segment(test, node.left)

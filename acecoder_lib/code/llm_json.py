"""Parse the synthesis LLM's ``{"question": ..., "tests": [...]}`` answer, however it arrives.

Models wrap JSON in fences, add prose before or after it, stop mid-string at the token limit, or write Python
dict syntax with single quotes. ``parse_synthesis`` tries, in order: strict JSON of the outermost ``{...}``;
Python literal syntax; a repair of truncated JSON (close the open string, drop the incomplete last element, close
brackets). Every test must then parse as Python and be one ``assert`` statement; the others are dropped and
counted. Output nothing usable and the result is the paper's ``assert False`` question (PAPER_FACTS section 2), so
it is filtered out later but still counted.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field

from ..core.text import fenced_blocks

FALLBACK_TESTS = ["assert False"]  # the paper's marker for unparseable output


@dataclass
class SynthesisParse:
    question: str
    tests: list[str]
    status: str  # "ok" | "repaired" | "no_tests" | "unparseable" | "empty"
    dropped_tests: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)


def _candidates(text: str) -> list[str]:
    """Substrings that may hold the JSON object: fenced blocks first, then from the first '{'."""
    out = [f.body for f in fenced_blocks(text) if f.tag in ("json", "python", "")]
    start = text.find("{")
    if start >= 0:
        end = text.rfind("}")
        out.append(text[start:end + 1] if end > start else text[start:])
        out.append(text[start:])
    return out


def _repair_truncated(s: str) -> str | None:
    """Close a JSON object cut off mid-way: finish the open string, drop a dangling element, close brackets."""
    stack, in_str, escaped, last_complete = [], False, False, None
    for i, ch in enumerate(s):
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
                if stack and stack[-1] == "[":
                    last_complete = i  # a finished list element
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
    if not stack:
        return None
    if in_str:
        # inside the tests list, an unfinished assert is useless: cut back to the last complete element
        if stack[-1] == "[" and last_complete is not None:
            s = s[:last_complete + 1]
        else:
            s = s + '"'
    s = s.rstrip().rstrip(",")
    closing = "".join("]" if c == "[" else "}" for c in reversed(stack))
    return s + closing


def _load(candidate: str) -> tuple[dict | None, bool]:
    """(object, repaired?) from one candidate string."""
    candidate = candidate.strip()
    for loader in (json.loads, ast.literal_eval):
        try:
            obj = loader(candidate)
            if isinstance(obj, dict):
                return obj, False
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    repaired = _repair_truncated(candidate)
    if repaired:
        try:
            obj = json.loads(repaired)
            if isinstance(obj, dict):
                return obj, True
        except ValueError:
            pass
    return None, False


def check_assert(test: object) -> str | None:
    """None when ``test`` is a single parseable assert statement, else the reason."""
    if not isinstance(test, str):
        return "not_a_string"
    try:
        tree = ast.parse(test.strip())
    except (SyntaxError, ValueError):
        return "syntax_error"
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return "not_an_assert"
    return None


def parse_synthesis(text: str | None) -> SynthesisParse:
    """Question and valid assert tests from an LLM answer (see module docstring)."""
    if not text or not text.strip():
        return SynthesisParse("", list(FALLBACK_TESTS), "empty")
    obj, repaired = None, False
    for candidate in _candidates(text):
        obj, repaired = _load(candidate)
        if obj is not None:
            break
    if obj is None or not isinstance(obj.get("question"), str):
        return SynthesisParse("", list(FALLBACK_TESTS), "unparseable")
    raw_tests = obj.get("tests")
    if isinstance(raw_tests, str):
        raw_tests = [raw_tests]
    if not isinstance(raw_tests, list):
        raw_tests = []
    tests, reasons = [], {}
    for t in raw_tests:
        reason = check_assert(t)
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
        else:
            tests.append(t.strip())
    tests = list(dict.fromkeys(tests))  # exact duplicates add nothing
    if not tests:
        return SynthesisParse(obj["question"].strip(), list(FALLBACK_TESTS), "no_tests", len(raw_tests), reasons)
    return SynthesisParse(obj["question"].strip(), tests, "repaired" if repaired else "ok",
                          sum(reasons.values()), reasons)

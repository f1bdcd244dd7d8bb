"""The one parser of markdown code fences, shared by code extraction, JSON answers, test parsing and seed loading.

A fence opens with ``` or ~~~ (three or more, optionally indented, optionally tagged: ```python, ~~~{.py}) on a
line of its own and closes with a line of the same character repeated at least as often. Also handled, because
models write them: a fence glued to the last code line (``return x```), a block never closed (it runs to the end),
and a tagged ```python opening inside an untagged ``` block (the model forgot to close the previous one; inside a
longer ```` fence it is legitimate nested content).
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*\{?\.?([\w+#.-]*)[^\n`]*$")


@dataclass(frozen=True)
class Fence:
    tag: str  # lower-cased language tag, '' when untagged
    body: str  # dedented, without leading and trailing blank lines
    closed: bool
    raw: str = ""  # the lines between the fences exactly as written (a newline after the last one when closed)


def fenced_blocks(text: str) -> list[Fence]:
    """Every fenced block of `text`, in order."""
    blocks = []
    lines = (text or "").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, tag = m.group(1), m.group(2).lower()
        body, closed, glued, i = [], False, False, i + 1
        while i < len(lines):
            s = lines[i].strip()
            if s and set(s) == {fence[0]} and len(s) >= len(fence):
                closed = True
                break
            reopen = _FENCE_OPEN.match(lines[i])
            if reopen and reopen.group(2) and reopen.group(1) == fence:
                closed = True
                i -= 1
                break
            if fence[0] == "`" and s.endswith("```") and s.strip("`"):
                body.append(lines[i].rstrip()[:-3])
                closed = glued = True
                break
            body.append(lines[i])
            i += 1
        i += 1
        raw = "\n".join(body) + ("\n" if closed and not glued and body else "")
        blocks.append(Fence(tag, textwrap.dedent("\n".join(body)).strip("\n"), closed, raw))
    return blocks

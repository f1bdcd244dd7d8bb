"""Why a row was dropped or marked failed: a short ``reason`` and the ``first_error`` seen, in phases 02-04.

Every artifact whose rows can fail (``02_questions``, ``03_filter_report``, ``04_programs``) carries two columns
next to its status, declared once in ``core.schemas`` (``REASON_COLUMNS``):

- ``reason``: a short category the funnel tables group by: the exception type the code raised
  (``ModuleNotFoundError``, ``ValueError``, ``AssertionError`` for a failed assert), ``timeout`` or ``memory``
  for a resource limit, or a phase's own word where nothing ran (``no_generator``, ``no_code``, ``backend_error``).
- ``first_error``: the first error seen, ``"<verdict or status>: <exception type>: <message>"``, whitespace
  collapsed and cut to ``MAX_ERROR_CHARS``.

Both are '' on a row that was kept. So a funnel that moves between two runs can be explained from the artifacts:

    reason, error = reasons.from_result(result)                # an engine ProgramResult (its first failing test)
    reason, error = reasons.from_error_text("TimeoutError: read timed out", "backend_error")  # a recorded exception
    reasons.funnel_by_reason(questions, by=["method", "status"])   # failed rows per status and reason, top first
"""
from __future__ import annotations

import re

import pandas as pd

from .schemas import FIRST_ERROR, MAX_ERROR_CHARS, REASON

LOADING = "while loading the program: "  # how the engine prefixes an error of the program's top level
_TYPE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")
_RESOURCE_VERDICTS = ("timeout", "memory")  # the harness names these itself (TestTimeout, MemoryError)



def clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters with '...'."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_type(text: str | None) -> str | None:
    """The exception type an error text starts with (``"ValueError: bad"`` -> ``"ValueError"``), else None."""
    m = _TYPE_RE.match((text or "").strip().removeprefix(LOADING))
    return m.group(1).rsplit(".", 1)[-1] if m else None


def from_error_text(text: str | None, verdict: str) -> tuple[str, str]:
    """(reason, first_error) for an error text seen with ``verdict`` (a test verdict, a status or a phase's word)."""
    text = (text or "").strip().removesuffix(":")  # "AssertionError: " (an assert without a message)
    reason = verdict if verdict in _RESOURCE_VERDICTS else (error_type(text) or verdict)
    return reason, clip(f"{verdict}: {text}" if text else verdict)


def from_result(result, snippets=None, accept=None) -> tuple[str, str]:
    """(reason, first_error) of an engine ``ProgramResult``: why the program did not load, else its first test (or
    expression) that did not pass, named with ``snippets[k]`` when given; ('', '') when everything passed.

    In values mode, ``accept(value_repr)`` may also reject a value that came back (it returns the reason, e.g.
    ``"not_a_literal"``, or None to accept it)."""
    if result.status != "ok":
        text = result.detail or next((e for e in result.errors if e), "")
        return from_error_text(text, result.status)
    values = result.values or [None] * len(result.verdicts)
    for k, (verdict, err, value) in enumerate(zip(result.verdicts, result.errors, values)):
        reason, error = "", ""
        if verdict != "pass":
            reason, error = from_error_text(err, verdict)
        elif accept is not None:
            reason = accept(value) or ""
            error = f"pass: {reason}: {(value or '')[:120]}" if reason else ""
        if reason:
            where = f" (in: {clip(snippets[k], 100)})" if snippets is not None and k < len(snippets) else ""
            return reason, clip(error, MAX_ERROR_CHARS - len(where)) + where
    return "", ""


def first_of(*records: tuple[str, str]) -> tuple[str, str]:
    """The first (reason, first_error) with a reason, else ('', '')."""
    return next((r for r in records if r and r[0]), ("", ""))


def funnel_by_reason(rows: pd.DataFrame, by=("status",), top: int | None = None) -> pd.DataFrame:
    """Rows with a reason, counted per ``by`` columns and reason (most frequent first), with one example error."""
    by = list(by)
    columns = by + [REASON, "rows", "example"]
    failed = rows[rows[REASON].fillna("").astype(str) != ""] if REASON in rows.columns else rows.head(0)
    if failed.empty:
        return pd.DataFrame(columns=columns)
    table = (failed.groupby(by + [REASON], as_index=False, sort=False)
             .agg(rows=(REASON, "size"), example=(FIRST_ERROR, "first")))
    table = table.sort_values("rows", ascending=False, kind="stable").reset_index(drop=True)
    return (table.head(top) if top else table)[columns]

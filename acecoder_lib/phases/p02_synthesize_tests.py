"""Phase 02, the paper's way: an LLM rewrites seed code into a question with ~20 asserts (PAPER_FACTS section 2).

    rows = llm_synthesize(seeds, backend, cache, namespace="openai:gpt-4o-mini")   # the paper's setting
    rows = llm_synthesize(seeds, backend, cache, namespace="transformers:smollm2-135m-instruct")  # default sample

Every seed gives exactly one row: the parsed question and tests, or the paper's ``assert False`` question when the
answer is unusable, with the parse status and the reason counted, never silently dropped. Requests go through
``cache.cached_generate``, so a crash or a rerun never pays twice. Execution-grounded synthesis (beyond the paper)
lives in ``grounded``.
"""
from __future__ import annotations

import json

import pandas as pd

from ..llm import prompts
from ..core import reasons
from ..core.cache import CompletionCache, cached_generate
from ..code.extract import infer_entry_point
from ..code.llm_json import parse_synthesis
from ..core.schemas import Column, Schema, register

# Paper: GPT-4o-mini at temperature 0.7, JSON output (PAPER_FACTS section 2).
PAPER_TEMPERATURE = 0.7

QUESTIONS = register(Schema(
    name="02_questions",
    version=2,  # v2: reason, first_error
    doc="Synthesized questions with their tests, before filtering: one row per (seed, method).",
    columns=(
        Column("question_id", "str"),
        Column("seed_id", "str"),
        Column("source", "str"),
        Column("method", "str", doc="llm | grounded | hybrid"),
        Column("question", "str"),
        Column("tests", "list[str]"),
        Column("entry_point", "str", doc="the function the tests call ('' when unknown)"),
        Column("reference", "str", doc="the seed's reference program ('' when none); not shown to policies"),
        Column("status", "str", doc="ok | repaired | no_tests | unparseable | empty | ... (why a row is unusable)"),
        Column("detail", "str", doc="JSON with per-reason counts and method-specific facts"),
        *reasons.COLUMNS,
    ),
))


def llm_synthesize(seeds: pd.DataFrame, backend, cache: CompletionCache, namespace: str,
                   temperature: float = PAPER_TEMPERATURE, max_new_tokens: int = 2048, batch_size: int = 8,
                   seed: int = 0, progress=None, return_answers: bool = False):
    """One ``02_questions`` row per seed from the LLM's JSON answers (see module docstring); with
    ``return_answers``, also the raw answer texts, in seed order (for display; they are in the cache too)."""
    messages = [prompts.synthesis_messages(row.code, row.instruction or "") for row in seeds.itertuples()]
    failures: dict[int, str] = {}
    answers = cached_generate(backend, messages, cache, namespace=namespace, batch_size=batch_size,
                              progress=progress, failures=failures, n=1, temperature=temperature,
                              max_new_tokens=max_new_tokens, seed=seed)
    rows = []
    for i, (row, [answer]) in enumerate(zip(seeds.itertuples(), answers)):
        parsed = parse_synthesis(answer)
        if i in failures:  # the backend failed (timeout, server error): counted, retried by the next run
            parsed.status = "backend_error"
        reason, first_error = _llm_reason(parsed, answer, failures.get(i, ""))
        rows.append({
            "question_id": f"{row.seed_id}:llm", "seed_id": row.seed_id, "source": row.source, "method": "llm",
            "question": parsed.question, "tests": parsed.tests, "entry_point": infer_entry_point(parsed.tests) or "",
            "reference": row.code, "status": parsed.status,
            "detail": json.dumps({"dropped_tests": parsed.dropped_tests, "drop_reasons": parsed.drop_reasons,
                                  "answer_chars": len(answer or ""), "backend_error": failures.get(i, "")}),
            "reason": reason, "first_error": first_error,
        })
    table = pd.DataFrame(rows, columns=QUESTIONS.column_names)
    return (table, [a for [a] in answers]) if return_answers else table


def _llm_reason(parsed, answer: str | None, backend_error: str) -> tuple[str, str]:
    """(reason, first_error) of one LLM answer: the backend's exception type, the parse status, or for an answer
    whose every test was dropped the commonest drop reason; ('', '') for an ok or repaired answer."""
    if parsed.status == "backend_error":
        return reasons.from_error_text(backend_error, "backend_error")
    if parsed.status in ("ok", "repaired"):
        return "", ""
    if parsed.status == "no_tests" and parsed.drop_reasons:
        top = max(parsed.drop_reasons, key=parsed.drop_reasons.get)
        return top, reasons.clip(f"no_tests: {parsed.dropped_tests} test(s) dropped {parsed.drop_reasons}")
    return parsed.status, reasons.clip(f"{parsed.status}: the answer begins {(answer or '')[:200]!r}")


def is_usable(questions: pd.DataFrame) -> pd.Series:
    """True for rows worth filtering: status ok/repaired and real tests (not the paper's `assert False`)."""
    return questions["status"].isin(["ok", "repaired"]) & questions["tests"].map(lambda t: list(t) != ["assert False"])


def synthesis_yield(questions: pd.DataFrame) -> pd.DataFrame:
    """Per method and status: questions, usable questions (``is_usable``), their tests, mean tests per usable one."""
    usable = is_usable(questions)
    table = (questions.assign(n_tests=questions["tests"].map(len).where(usable, 0), usable=usable)
             .groupby(["method", "status"], as_index=False)
             .agg(questions=("question_id", "size"), usable=("usable", "sum"), tests=("n_tests", "sum")))
    table["tests_per_usable_question"] = (table["tests"] / table["usable"].where(table["usable"] > 0)).round(2)
    return table


def shortest_first(rows: pd.DataFrame, n: int, column: str = "code") -> pd.DataFrame:
    """The ``n`` rows with the shortest ``column`` (0 = all). For the small default model's samples: short seeds
    (or references) give it its best chance and the shortest prompts; the paper sends everything."""
    if n <= 0 or n >= len(rows):
        return rows.reset_index(drop=True)
    order = rows[column].str.len().sort_values(kind="stable").index[:n]
    return rows.loc[order].reset_index(drop=True)


def plot_tests_per_question(questions: pd.DataFrame):
    """Histogram of usable tests per question, one colour per synthesis method."""
    import plotly.express as px

    usable = questions[is_usable(questions)]
    fig = px.histogram(usable.assign(n_tests=usable["tests"].map(len)), x="n_tests", color="method",
                       barmode="group", title="Synthesized tests per usable question, by method",
                       labels={"n_tests": "tests per question (count)", "method": "method"})
    fig.update_yaxes(title_text="questions (count)")
    return fig

"""Column names and artifact schemas, defined once for every phase.

Phases talk only through files under ``runs/<RUN_NAME>/``; each file's columns are declared here and checked by
``acecoder_lib.io`` on write and on read. Preference data uses TRL's names (``prompt``, ``chosen``,
``rejected``) so ``RewardTrainer`` takes it as is.

dtypes understood by the validator:
    "str", "int", "float", "bool", "list[str]", "list[float]", "list[int]", "json" (a JSON-encoded str)
"""
from __future__ import annotations

from dataclasses import dataclass

# Shared column names (one definition; notebooks and library import these).
QUESTION_ID = "question_id"
SOURCE = "source"
QUESTION = "question"
TESTS = "tests"
ENTRY_POINT = "entry_point"
PROGRAM = "program"
PASS_RATE = "pass_rate"
SPLIT = "split"
PROMPT, CHOSEN, REJECTED = "prompt", "chosen", "rejected"  # TRL's preference format
REASON, FIRST_ERROR = "reason", "first_error"  # why a row was dropped or failed (acecoder_lib.reasons)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Schema:
    """An artifact's columns; ``version`` is bumped whenever a column changes meaning or type."""

    name: str
    version: int
    columns: tuple[Column, ...]
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


ENVIRONMENT = Schema(
    name="00_environment",
    version=1,
    doc="What 00_setup found: one row per component (package, model, data set, backend, isolation layer).",
    columns=(
        Column("category", "str", doc="package | model | data | backend | isolation"),
        Column("component", "str"),
        Column("available", "bool"),
        Column("detail", "str", doc="version, size or what was checked"),
        Column("why_not", "str", doc="why it is unavailable and what to do ('' when available)"),
    ),
)

SCHEMAS: dict[str, Schema] = {s.name: s for s in (ENVIRONMENT,)}


def register(schema: Schema) -> Schema:
    """Add a phase's schema to the registry (phase modules call this at import)."""
    existing = SCHEMAS.get(schema.name)
    if existing is not None and existing != schema:
        raise ValueError(f"schema {schema.name!r} is registered twice with different columns")
    SCHEMAS[schema.name] = schema
    return schema

"""Sandboxed execution of untrusted (model-written) Python programs against test snippets.

    from acecoder_lib.execution import ExecutionEngine, ExecConfig, run_programs, split_test_code
    results = run_programs(programs, tests)          # one ProgramResult per program, a verdict per test

See engine.py (pool), worker.py (pre-warmed worker/zygote), harness.py (code inside the sandboxed child),
isolation.py (namespaces, mounts, rlimits), ray_backend.py,
splitting.py, and docs/execution.md for the guarantees.
"""
from .engine import (
    STATUSES,
    VERDICTS,
    ExecConfig,
    ExecutionEngine,
    ProgramResult,
    calibrated_limits,
    isolation_report,
    run_programs,
    validate_row,
)
from .splitting import split_test_code

__all__ = ["VERDICTS", "STATUSES", "ExecConfig", "ExecutionEngine", "ProgramResult", "run_programs",
           "split_test_code", "isolation_report", "validate_row", "calibrated_limits"]

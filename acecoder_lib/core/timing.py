"""Where a notebook's time goes: the library's own work, timed by category, for the batch runner's time profile.

    with timing.span("generation"):
        rows = backend.generate(prompts)

    timing.totals()            # {"generation": 12.3, "execution": 4.5, ...}: this process so far (seconds)

Categories (``CATEGORIES``): ``model_load`` (building a generation backend or loading a reward model),
``generation`` (sampling from a policy or a teacher), ``execution`` (programs and tests in the sandbox),
``training`` (reward-model and RL optimisation, what the trainer runs inside it excepted), ``scoring`` (reward-model
forward passes), ``plotting`` (figures saved to files), ``io`` (artifacts read and written). Times are exclusive: a
span inside another (the rule reward's execution inside an RL step) counts for its own category and is taken out of
the outer one, so the categories of a notebook add up to at most its wall time; the batch runner reports the rest as
``other`` (kernel start-up, the notebook's own pandas and display code, widgets).

When ``ACECODER_TIMING_FILE`` is set (the batch runner sets it for each notebook's kernel), the totals are written
there as JSON after every outermost span; otherwise they only accumulate in memory. Nothing here changes what the
timed code does; a failure to write the file is ignored (the profile is a measurement, never a reason to fail).
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

CATEGORIES = ("model_load", "generation", "execution", "training", "scoring", "plotting", "io")
ENV = "ACECODER_TIMING_FILE"

_lock = threading.Lock()
_local = threading.local()
_totals: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
_calls: dict[str, int] = dict.fromkeys(CATEGORIES, 0)


@contextmanager
def span(category: str):
    """Time the block under ``category`` (exclusive of spans nested in it)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown timing category {category!r}; one of {CATEGORIES}")
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(0.0)  # time spent in spans nested in this one
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        nested = stack.pop()
        with _lock:
            _totals[category] += max(elapsed - nested, 0.0)
            _calls[category] += 1
        if stack:
            stack[-1] += elapsed
        else:
            _flush()


def timed(category: str):
    """Decorator form of ``span``."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with span(category):
                return fn(*args, **kwargs)
        return inner
    return wrap


def totals() -> dict[str, float]:
    """Seconds per category spent in this process so far."""
    with _lock:
        return dict(_totals)


def reset() -> None:
    """Zero the totals (tests; a kernel that runs two notebooks)."""
    with _lock:
        for c in CATEGORIES:
            _totals[c], _calls[c] = 0.0, 0


def _flush() -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    with _lock:
        data = {"seconds": {c: round(v, 3) for c, v in _totals.items()}, "calls": dict(_calls), "pid": os.getpid()}
    try:
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, target)
    except OSError:
        pass


def read_profile(path: str | Path) -> dict[str, float]:
    """Seconds per category from a file written through ``ACECODER_TIMING_FILE`` ({} when absent or unreadable)."""
    try:
        data = json.loads(Path(path).read_text())
        return {c: float(data["seconds"].get(c, 0.0)) for c in CATEGORIES}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def step_clock():
    """A transformers ``TrainerCallback`` that records each optimisation step's wall time in its ``seconds`` list
    (the first step carries the warm-up: CUDA kernels, allocator growth), for a trainer's marker file."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.seconds.append(time.perf_counter() - self._start)

    return StepClock()


def step_summary(seconds: list[float]) -> dict:
    """``first_step_seconds`` and ``median_step_seconds`` (the median of the steps after the first; of all when there
    is one) of a ``step_clock``'s record, rounded to ms; None where no step ran."""
    import statistics

    if not seconds:
        return {"first_step_seconds": None, "median_step_seconds": None}
    rest = seconds[1:] or seconds
    return {"first_step_seconds": round(seconds[0], 3), "median_step_seconds": round(statistics.median(rest), 3)}

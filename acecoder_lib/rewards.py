"""Reward functions for trl's GRPOTrainer: the paper's rule reward (PAPER_FACTS section 7: 1.0 when ALL tests
pass, else 0) computed by the sandboxed execution engine.

trl (1.16, ``GRPOTrainer._calculate_rewards``) calls a reward function as
``f(prompts=..., completions=..., completion_ids=..., **columns, trainer_state=..., log_extra=..., log_metric=...)``
where each dataset column except ``prompt``/``completion``/``completion_ids`` arrives as a list with one value per
completion, and completions are strings or (conversational datasets) lists of message dicts. It names the function
in its logs (``rewards/<name>/mean``) after ``__name__`` (``trl.trainer.utils.get_callable_name``); a ``None``
reward becomes NaN and is left out of the group baseline.

    reward = make_rule_reward()                      # columns "tests" and "entry_point"
    trainer = GRPOTrainer(..., reward_funcs=[reward])
    reward.last_stats                                # seconds, no_code_frac, mean_pass_rate ... of the last call

Per completion: ``extract_code`` (``acecoder_lib.code.extract``); no runnable code -> 0.0 without running anything;
otherwise the program (``prelude`` + code) runs against that row's tests. Identical (program, tests) pairs in a batch
- frequent among the G samples of one prompt - run once. A row with no tests gets ``no_tests_reward`` (default
None: unscorable, rather than a vacuous 1.0). An empty entry point (AceCode-87K has none) is inferred from the tests.
A ``time_limits`` column (CPU seconds per test, e.g. calibrated on the reference: ``solutions.test_limits``), when
the dataset has one, replaces the engine's fixed per-test limit row by row.
Inside a trainer the stats also go to trl's metrics (``log_metric``: ``<name>/seconds``, ``<name>/no_code_frac``,
``<name>/mean_pass_rate`` ...) and the extraction status to the completions table (``log_extra``).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, deque
from typing import Any, Sequence

import numpy as np

from .code.extract import build_program, extract_code, infer_entry_point
from .core.schemas import ENTRY_POINT, QUESTION, TESTS
from .llm import prompts

MODES = ("all_pass", "pass_rate")


def completion_text(completion: Any) -> str:
    """The answer text of a completion: a string, a message dict, or a list of messages (assistant contents)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        parts = []
        for msg in completion:
            if not isinstance(msg, dict) or msg.get("role", "assistant") != "assistant":
                continue
            content = msg.get("content")
            if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}]
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if isinstance(content, str):
                parts.append(content)
        return "\n".join(parts)
    return ""


def as_tests(value: Any, entry_point: str | None = None) -> list[str]:
    """A row's tests as a list of snippets: a list/array of strings, a JSON list, or a whole test suite string."""
    if value is None:
        return []
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                loaded = json.loads(s)
                if isinstance(loaded, list):
                    return [t for t in loaded if isinstance(t, str)]
            except json.JSONDecodeError:
                pass
        from .execution import split_test_code  # a human-eval check(candidate) or unittest suite
        return list(split_test_code(value, entry_point))
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(t) for t in value]
    raise TypeError(f"tests must be a list of strings or a test-suite string, got {type(value).__name__}")


class RuleReward:
    """Callable reward for trl; see the module docstring. Build it with ``make_rule_reward``."""

    def __init__(self, tests_column: str = TESTS, mode: str = "all_pass", entry_point_column: str | None = ENTRY_POINT,
                 engine=None, config=None, *, name: str | None = None, prelude: str = "", rename: bool = False,
                 no_tests_reward: float | None = None, log_to_trainer: bool = True, history: int = 10_000,
                 prefix: str = "", limits_column: str | None = "time_limits"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.tests_column, self.mode, self.entry_point_column = tests_column, mode, entry_point_column
        self.engine, self.config, self.prelude, self.rename = engine, config, prelude, rename
        self.no_tests_reward, self.log_to_trainer = no_tests_reward, log_to_trainer
        self.prefix = prefix  # what the prompt prefilled (e.g. prompts.SOLVE_PREFILL), put back before extraction
        self.limits_column = limits_column  # a dataset column of CPU seconds per test (calibrated limits), if any
        self.__name__ = name or f"rule_{mode}"
        self.last_stats: dict[str, Any] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=history)  # last_stats of every call, oldest first
        self.last_extractions: list = []

    def __getstate__(self):  # picklable for trl / multiprocessing: an engine (worker processes) is not carried
        state = self.__dict__.copy()
        state["engine"] = None
        return state

    def _run(self, programs: list[str], tests: list[list[str]], time_limits=None):
        extra = {} if time_limits is None else {"time_limits": time_limits}  # an engine stand-in may not take it
        if self.engine is not None:
            return self.engine.run(programs, tests, config=self.config, **extra)
        from .execution import run_programs
        return run_programs(programs, tests, config=self.config, **extra)

    def score(self, completions: Sequence[Any], tests: Sequence[Any],
              entry_points: Sequence[str | None] | None = None,
              time_limits: Sequence[Sequence[float]] | None = None) -> list[float | None]:
        """Rewards for completions[i] against tests[i] (entry_points[i] optional, inferred from the tests if empty;
        time_limits[i] optional, the CPU seconds of each test of row i instead of the engine's fixed limit)."""
        t0 = time.perf_counter()
        n = len(completions)
        if len(tests) != n or (entry_points is not None and len(entry_points) != n) \
                or (time_limits is not None and len(time_limits) != n):
            raise ValueError(f"{n} completions but {len(tests)} test rows"
                             + ("" if entry_points is None else f", {len(entry_points)} entry points")
                             + ("" if time_limits is None else f", {len(time_limits)} rows of time limits"))
        rewards: list[float | None] = [0.0] * n
        extractions, jobs, unique = [], {}, {}  # jobs: completion index -> unique key; unique: key -> job number
        n_no_tests, inferred = 0, {}
        for i, (comp, raw_tests) in enumerate(zip(completions, tests)):
            ep = (entry_points[i] if entry_points is not None else None) or None
            row_tests = as_tests(raw_tests, ep)
            if not ep:
                key = tuple(row_tests)
                ep = inferred[key] if key in inferred else inferred.setdefault(key, infer_entry_point(row_tests))
            ex = extract_code(self.prefix + completion_text(comp), ep, rename=self.rename)
            extractions.append(ex)
            if not row_tests:
                rewards[i] = self.no_tests_reward
                n_no_tests += 1
            elif ex.runnable:
                limits = tuple(float(x) for x in time_limits[i]) if time_limits is not None else None
                if limits is not None and len(limits) != len(row_tests):
                    raise ValueError(f"row {i}: {len(limits)} time limits for {len(row_tests)} tests")
                key = (build_program(ex.code, self.prelude), tuple(row_tests), limits)
                jobs[i] = unique.setdefault(key, len(unique))
        t1 = time.perf_counter()
        limits = [list(k[2]) for k in unique] if time_limits is not None else None
        results = self._run([k[0] for k in unique], [list(k[1]) for k in unique], limits) if unique else []
        t2 = time.perf_counter()
        pass_rates = [0.0] * n
        for i, job in jobs.items():
            r = results[job]
            rate = r.pass_rate if r.status == "ok" else 0.0
            pass_rates[i] = rate
            rewards[i] = float(r.status == "ok" and r.all_passed) if self.mode == "all_pass" else float(rate)
        scored = [i for i in range(n) if rewards[i] is not None]
        statuses = Counter(ex.status for ex in extractions)
        verdicts = Counter(v for r in results for v in r.verdicts)
        self.last_extractions = extractions
        self.last_stats = {
            "n": n, "n_executed": len(unique), "n_no_tests": n_no_tests,
            "no_code_frac": statuses["no_code"] / n if n else 0.0,
            "syntax_error_frac": statuses["syntax_error"] / n if n else 0.0,
            "entry_point_mismatch_frac": statuses["entry_point_mismatch"] / n if n else 0.0,
            "mean_reward": float(np.mean([rewards[i] for i in scored])) if scored else float("nan"),
            "mean_pass_rate": float(np.mean([pass_rates[i] for i in scored])) if scored else float("nan"),
            "all_pass_frac": float(np.mean([pass_rates[i] == 1.0 for i in scored])) if scored else float("nan"),
            "extract_seconds": t1 - t0, "exec_seconds": t2 - t1, "seconds": time.perf_counter() - t0,
            "extract_status": dict(statuses), "program_status": dict(Counter(r.status for r in results)),
            "test_verdicts": dict(verdicts),
        }
        self.history.append(self.last_stats)
        return rewards

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        if completions is None:
            raise TypeError("a reward function is called with completions=...")
        if self.tests_column not in kwargs:
            raise KeyError(f"reward {self.__name__!r} needs the dataset column {self.tests_column!r}; "
                           f"got columns {sorted(k for k in kwargs if k not in ('log_extra', 'log_metric'))}")
        eps = kwargs.get(self.entry_point_column) if self.entry_point_column else None
        limits = kwargs.get(self.limits_column) if self.limits_column else None
        rewards = self.score(completions, kwargs[self.tests_column], eps, limits)
        log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
        if self.log_to_trainer and callable(log_metric):
            for key in ("seconds", "exec_seconds", "no_code_frac", "syntax_error_frac", "mean_pass_rate"):
                value = self.last_stats[key]
                if value == value:  # not NaN
                    log_metric(f"{self.__name__}/{key}", float(value))
        if self.log_to_trainer and callable(log_extra):
            log_extra(f"{self.__name__}_extract", [ex.status for ex in self.last_extractions])
        return rewards

    def __repr__(self) -> str:
        return (f"RuleReward(name={self.__name__!r}, mode={self.mode!r}, tests_column={self.tests_column!r}, "
                f"entry_point_column={self.entry_point_column!r})")


def make_rule_reward(tests_column: str = TESTS, mode: str = "all_pass", entry_point_column: str | None = ENTRY_POINT,
                     engine=None, config=None, **kwargs) -> RuleReward:
    """The paper's rule reward (``all_pass``) or the per-test pass rate (``pass_rate``) as a trl reward function."""
    return RuleReward(tests_column, mode, entry_point_column, engine, config, **kwargs)


class RMReward:
    """trl reward function: the reward model's score of (question, program extracted from prefill + completion)."""

    __name__ = "reward_model"

    def __init__(self, rm, prefix: str = prompts.SOLVE_PREFILL, batch_size: int = 8):
        self.rm, self.prefix, self.batch_size = rm, prefix, batch_size
        self.seconds: list[float] = []

    @property
    def fingerprint(self) -> str:
        """What identifies this reward: the reward model's folder and its training record (a retrained RM differs)."""
        folder = getattr(self.rm, "folder", None)
        marker = folder / "acecoder_rm.json" if folder is not None else None
        record = marker.read_text() if marker is not None and marker.is_file() else ""
        return f"reward_model:{folder}:{hashlib.sha256(record.encode()).hexdigest()[:12]}"

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float]:
        t0 = time.perf_counter()
        questions, eps = kwargs[QUESTION], kwargs.get(ENTRY_POINT) or [None] * len(completions)
        programs = []
        for comp, ep in zip(completions, eps):
            ex = extract_code(self.prefix + completion_text(comp), ep or None)
            programs.append(build_program(ex.code) if ex.runnable else "")
        idx = [i for i, p in enumerate(programs) if p.strip()]
        scores = (self.rm.score_many([questions[i] for i in idx], [programs[i] for i in idx], self.batch_size)
                  if idx else [])
        floor = (min(scores) - 1.0) if scores else 0.0
        out = [floor] * len(programs)
        for i, s in zip(idx, scores):
            out[i] = float(s)
        self.seconds.append(time.perf_counter() - t0)
        return out

"""Ray scale-out: batches of programs go to Ray tasks, each running a local ExecutionEngine in its Ray worker.

Used through ``ExecutionEngine(backend="ray")`` (``ray_address=`` joins an existing cluster; otherwise a running
``ray.init`` is reused, else a local instance is started and shut down again by ``close()``). Each Ray worker process
keeps one single-worker engine alive between tasks, so the sandbox start-up is paid once per Ray worker, not per batch.
"""
from __future__ import annotations

import dataclasses
import os

from .engine import ExecConfig, ExecutionEngine, ProgramResult

_TASK_ENGINE: ExecutionEngine | None = None  # one per Ray worker process
_TASK_KEY = None


def _run_batch(programs: list, tests: list, cfg: dict, isolation: bool, limits: list | None = None) -> list[dict]:
    """Inside a Ray task: run one batch on this Ray worker's (cached) local engine."""
    global _TASK_ENGINE, _TASK_KEY
    config = ExecConfig(**cfg)
    key = (config.network, isolation, config.workdir_mb)
    if _TASK_ENGINE is None or _TASK_KEY != key or _TASK_ENGINE._closed:
        if _TASK_ENGINE is not None:
            _TASK_ENGINE.close()
        # one sandbox worker per Ray CPU; no pinning (several Ray workers share the node's cores)
        _TASK_ENGINE = ExecutionEngine(workers=1, config=config, isolation=isolation, pin_cpus=False)
        _TASK_KEY = key
    return [r.to_dict() for r in _TASK_ENGINE.run(programs, tests, config=config, time_limits=limits)]


class RayBackend:
    """Driver side: split, submit, gather in order."""

    def __init__(self, config: ExecConfig, address: str | None = None, batch_size: int = 64, isolation: bool = True):
        import ray

        if batch_size < 1:
            raise ValueError(f"ray_batch_size must be >= 1, got {batch_size}")
        self.ray, self.config, self.batch_size, self.isolation = ray, config, batch_size, isolation
        self._started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address)
            else:
                ray.init(include_dashboard=False, num_cpus=os.cpu_count(), log_to_driver=False)
            self._started = True
        self._remote = ray.remote(num_cpus=1, max_retries=1)(_run_batch)

    def run(self, programs: list, tests: list, cfg: ExecConfig, progress: bool = False,
            time_limits: list | None = None) -> list[ProgramResult]:
        """Run all rows through Ray tasks; results come back in input order with global indexes."""
        cfgd = dataclasses.asdict(cfg)
        B = self.batch_size
        starts = list(range(0, len(programs), B))
        refs = [self._remote.remote(programs[s:s + B], tests[s:s + B], cfgd, self.isolation,
                                    time_limits[s:s + B] if time_limits is not None else None) for s in starts]
        out: list[ProgramResult] = []
        for done, (s, ref) in enumerate(zip(starts, refs), 1):
            for d in self.ray.get(ref):
                d["index"] += s
                out.append(ProgramResult(**d))
            if progress:
                print(f"\rray batches {done}/{len(refs)}", end="", flush=True)
        if progress and refs:
            print()
        return out

    def close(self) -> None:
        """Shut Ray down if this backend started it (its workers, and so their sandboxes, go with it)."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

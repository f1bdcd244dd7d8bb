"""Training steps in processes of their own, launched the ecosystem's way: ``accelerate launch`` (issue 17 item 2).

A phase whose training must scale past one device (06's reward model, 08's policy) has a module with a CLI
(``python -m <module> --config <spec.json>``). ``launch`` checks the request (accelerate installed, no more
processes than GPUs, no DeepSpeed without a GPU) before anything runs, writes the spec, runs
``accelerate launch`` on the module with ``PYTHONPATH`` set to this checkout (the processes run the code the notebook
imported), streams the processes' log lines to the caller (the notebook cell) and into ``launch.log``, and raises
``LaunchError`` with the log's tail when a process fails.

On CPU, ``num_processes=2`` trains data-parallel on two processes joined by gloo, which is what the tests do
(accelerate's ``--cpu`` flag starts a single process whatever ``--num_processes`` says, so the launch goes through
its torchrun path with ``ACCELERATE_USE_CPU`` set). On GPUs the processes default to one per GPU; an
accelerate config file (``configs/accelerate/``) chooses DDP or DeepSpeed ZeRO-3.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

from . import paths
from .lab import free_port

ACCELERATE_CONFIGS = paths.REPO_ROOT / "configs" / "accelerate"


class LaunchError(RuntimeError):
    """A launch refused before it started, or a launched process that failed."""


def resolve_config(config_file: str | os.PathLike | None) -> Path | None:
    """An accelerate config file: a path, or a name under ``configs/accelerate/`` (with or without ``.yaml``)."""
    if not config_file:
        return None
    path = Path(config_file)
    for candidate in (path, paths.REPO_ROOT / path, ACCELERATE_CONFIGS / path, ACCELERATE_CONFIGS / f"{path}.yaml"):
        if candidate.is_file():
            return candidate.resolve()
    shipped = sorted(p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml"))
    raise LaunchError(f"no accelerate config {str(config_file)!r}; give a file or one of {shipped}")


def _uses_deepspeed(config: Path) -> bool:
    import yaml

    data = yaml.safe_load(config.read_text()) or {}
    return str(data.get("distributed_type", "")).upper() == "DEEPSPEED" or "deepspeed_config" in data


def check(num_processes: int, config_file: str | os.PathLike | None = None, gpus: int | None = None) -> Path | None:
    """Refuse, with one clear message, what cannot start: a missing accelerate, fewer than one process, more
    processes than GPUs (than cores, without a GPU), DeepSpeed on a machine without one. ``gpus`` defaults to
    what torch sees. Returns the resolved config file (or None)."""
    if importlib.util.find_spec("accelerate") is None:
        raise LaunchError("accelerate is not installed, and multi-process training is launched with it: "
                          "pip install accelerate (scripts/setup.sh installs it)")
    if num_processes < 1:
        raise LaunchError(f"num_processes must be at least 1, got {num_processes}")
    config = resolve_config(config_file)
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    if gpus and num_processes > gpus:
        raise LaunchError(f"{num_processes} processes asked for, but this machine has {gpus} GPU(s): one process "
                          f"per GPU at most (NUM_PROCESSES)")
    if not gpus and num_processes > (os.cpu_count() or 1):
        raise LaunchError(f"{num_processes} processes asked for on a CPU-only machine with {os.cpu_count()} cores "
                          f"(NUM_PROCESSES)")
    if config is not None and _uses_deepspeed(config) and not gpus:
        raise LaunchError(f"{config.name} uses DeepSpeed, which needs CUDA GPUs; this machine has none "
                          f"(leave ACCELERATE_CONFIG empty to train on CPU)")
    return config


def command(module: str, spec_path: Path, num_processes: int, config: Path | None = None,
            gpus: int = 0) -> list[str]:
    """The ``accelerate launch`` command line for ``python -m module --config spec_path``."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    if config is not None:
        cmd += ["--config_file", str(config)]
    if not gpus and num_processes == 1:
        cmd += ["--cpu"]
    if config is None:  # the Trainer's own bf16 flag decides the precision; a config file decides for itself
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        if num_processes > 1:
            # accelerate's --cpu runs one process whatever --num_processes says; its torchrun path (--multi_gpu)
            # starts them all, and with ACCELERATE_USE_CPU (set by ``launch``) they join a gloo group
            cmd += ["--multi_gpu"]
    if num_processes > 1:
        cmd += ["--main_process_port", str(free_port())]
    return cmd + ["-m", module, "--config", str(spec_path)]


def launch(module: str, spec: dict, workdir: str | os.PathLike, num_processes: int = 1,
           config_file: str | os.PathLike | None = None, log: Callable[[str], None] | None = print,
           gpus: int | None = None) -> None:
    """Run ``module``'s CLI on ``spec`` (written to ``workdir/launch.json``) in ``num_processes`` processes.
    Every output line goes to ``log`` (None: quiet) and to ``workdir/launch.log``; the launcher's pid is in
    ``workdir/launch.pid`` while it runs (``stop`` ends it and its ranks). Raises ``LaunchError`` with the
    last 40 lines when it fails."""
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    config = check(num_processes, config_file, gpus)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "launch.json"
    spec_path.write_text(json.dumps(spec, indent=1, default=str))
    cmd = command(module, spec_path, num_processes, config, gpus)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **({} if gpus else {"ACCELERATE_USE_CPU": "true"}),
               PYTHONPATH=os.pathsep.join([str(paths.REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    tail: deque[str] = deque(maxlen=40)
    with open(workdir / "launch.log", "w") as logfile:
        logfile.write(" ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True, bufsize=1)
        (workdir / "launch.pid").write_text(str(proc.pid))
        try:
            for line in proc.stdout:
                logfile.write(line)
                tail.append(line.rstrip())
                if log is not None:
                    log(line.rstrip())
            rc = proc.wait()
        except BaseException:  # Ctrl-C in the notebook: stop every rank (torchrun gives each a session of its own)
            stop(proc.pid)
            proc.wait()
            raise
        finally:
            (workdir / "launch.pid").unlink(missing_ok=True)
    if rc != 0:
        raise LaunchError(f"`{' '.join(cmd[2:])}` exited with {rc}; last lines of {workdir / 'launch.log'}:\n"
                          + "\n".join(tail))


def stop(pid: int, timeout_s: float = 10.0) -> None:
    """Terminate a launcher and every process under it (SIGTERM, then SIGKILL after ``timeout_s``)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [*root.children(recursive=True), root]
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def weights_digest(model) -> str:
    """sha256 over every parameter's name, shape and bytes (fp32), in the model's order: what each rank of a
    data-parallel run writes at the end, so a run can show that the ranks agree."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for name, param in model.state_dict().items():
        data = param.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}{tuple(data.shape)}".encode())
        h.update(data.numpy().tobytes())
    return h.hexdigest()


def save_on_every_rank(trainer, model_dir: str | os.PathLike, ranks_dir: str | os.PathLike) -> bool:
    """Save a transformers/trl ``trainer``'s model to ``model_dir`` from every rank of a launch (ZeRO-3 gathers its
    shards; the main process writes). With more than one process, not under DeepSpeed (where each rank holds a
    shard), each rank first writes the sha256 of its weights to ``ranks_dir/rank<k>.sha256`` so a run can show that
    the ranks agree. Returns whether this is the main process (the one that writes the rest)."""
    if trainer.args.world_size > 1 and not trainer.is_deepspeed_enabled:
        ranks = Path(ranks_dir)
        ranks.mkdir(exist_ok=True)
        (ranks / f"rank{trainer.args.process_index}.sha256").write_text(weights_digest(trainer.model))
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(model_dir))
    return trainer.is_world_process_zero()


def peak_memory() -> dict:
    """This process's peak memory so far: ``peak_gpu_memory_gib`` (torch's allocator on the current CUDA device; None
    without one) and ``peak_rss_gib`` (the resident set, from getrusage), for a trainer's marker file."""
    import resource

    import torch

    gpu = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"peak_gpu_memory_gib": None if gpu is None else round(gpu, 2), "peak_rss_gib": round(rss, 2)}

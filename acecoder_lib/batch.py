"""Batch runner: execute the numbered notebooks in order with papermill, resumably.

    python -m acecoder_lib.batch run --profile default --run-name default
    python -m acecoder_lib.batch run --profile smoke --run-name ci --only 00,01 -p N_SEEDS=20
    python -m acecoder_lib.batch status --run-name default

Each notebook runs with the parameters of its profile (``notebooks/params/<profile>.yaml``) plus RUN_NAME and
PROFILE; the executed copy, outputs included, is saved as ``runs/<RUN_NAME>/notebooks/NN_name.ipynb``.
``runs/<RUN_NAME>/batch_state.json`` records for each finished notebook a fingerprint (its source, its parameters
and the fingerprint of the notebook before it) and the files it wrote. Re-running the same command resumes at the
first notebook that is not finished, whose fingerprint changed, or whose outputs are missing or changed on disk,
and runs everything after it; ``--force`` runs all. A notebook that fails stops the run with its failing cell shown.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import io, paths, profiles

STATE_FILE = "batch_state.json"
EXECUTED_DIR = "notebooks"


class BatchError(RuntimeError):
    """The batch run cannot start or a notebook failed."""


@dataclass
class NotebookRun:
    stem: str
    status: str  # "skipped" | "ran" | "failed"
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


def _source_hash(notebook: Path) -> str:
    """Hash of the notebook's cell sources (outputs and metadata do not count)."""
    cells = json.loads(notebook.read_text())["cells"]
    text = json.dumps([(c["cell_type"], "".join(c["source"])) for c in cells])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint(previous: str, notebook: Path, params: dict) -> str:
    blob = json.dumps([previous, _source_hash(notebook), params], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _snapshot(run_path: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every run file, except the runner's own."""
    files = {}
    for p in run_path.rglob("*"):
        rel = p.relative_to(run_path).as_posix()
        if p.is_file() and not rel.startswith(EXECUTED_DIR + "/") and rel != STATE_FILE and not p.name.startswith("."):
            st = p.stat()
            files[rel] = (st.st_size, st.st_mtime_ns)
    return files


def _outputs_intact(run_path: Path, recorded: dict) -> bool:
    now = _snapshot(run_path)
    return all(tuple(now.get(rel, ())) == tuple(sig) for rel, sig in recorded.items())


def load_state(run_path: Path) -> dict:
    """The batch state of a run ({} when none)."""
    path = run_path / STATE_FILE
    return io.read_json(path) if path.exists() else {}


def plan(run_name: str, profile_name: str, notebooks_dir: Path | None = None, overrides: dict | None = None,
         only: list[str] | None = None, force: bool = False) -> list[tuple[Path, dict, str, bool]]:
    """[(notebook, parameters, fingerprint, up_to_date)] in run order; checks the profile before anything runs."""
    # a custom notebooks folder (tests, course variants) brings its own params/ folder
    profile = profiles.load_profile(profile_name, Path(notebooks_dir) / "params" if notebooks_dir else None)
    profiles.check_profile(profile, notebooks_dir)
    notebooks = profiles.notebook_paths(notebooks_dir)
    if not notebooks:
        raise BatchError(f"no numbered notebooks (NN_*.ipynb) in {notebooks_dir or paths.NOTEBOOKS_DIR}")
    if only:
        wanted = {o.split("_")[0] for o in only}
        notebooks = [nb for nb in notebooks if nb.stem.split("_")[0] in wanted]
        if not notebooks:
            raise BatchError(f"--only {only} matches no notebook")
    overrides = overrides or {}
    unknown = [k for k in overrides if not any(k in profiles.notebook_parameters(nb) for nb in notebooks)]
    if unknown:
        raise BatchError(f"-p {unknown}: no notebook in this run declares such a parameter")
    run_path = paths.run_dir(run_name)
    state = {} if force else load_state(run_path)
    result, previous, stale = [], "", False
    for nb in notebooks:
        params = profiles.parameters_for(profile, nb, run_name, profile_name, overrides)
        fp = _fingerprint(previous, nb, params)
        entry = state.get(nb.stem)
        fresh = (not stale and entry is not None and entry.get("fingerprint") == fp
                 and _outputs_intact(run_path, entry.get("outputs", {})))
        stale = stale or not fresh  # everything after a stale notebook reruns: its inputs may have changed
        result.append((nb, params, fp, fresh))
        previous = fp
    return result


def _report_failure(stem: str, exc: Exception, executed: Path) -> str:
    lines = [f"notebook {stem} failed."]
    source = getattr(exc, "source", None)
    if source is not None:
        lines += [f"failing cell (execution count {getattr(exc, 'exec_count', '?')}):", "-" * 60, source.rstrip(),
                  "-" * 60, f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"]
    else:
        lines.append(f"{type(exc).__name__}: {exc}")
    lines += [f"executed copy with every output: {executed}",
              "fix the cause and rerun the same command: finished notebooks are skipped."]
    return "\n".join(lines)


def run(run_name: str, profile_name: str = "smoke", notebooks_dir: Path | None = None, overrides: dict | None = None,
        only: list[str] | None = None, force: bool = False, kernel_name: str = "python3",
        log=print) -> list[NotebookRun]:
    """Run (or resume) the notebook chain; returns what happened to each notebook; raises BatchError on failure."""
    import papermill
    from tqdm.auto import tqdm

    steps = plan(run_name, profile_name, notebooks_dir, overrides, only, force)
    run_path = paths.run_dir(run_name)
    (run_path / EXECUTED_DIR).mkdir(exist_ok=True)
    lock = open(run_path / ".batch.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchError(f"another batch run is using {run_path}; wait for it or pick another --run-name") from None
    results: list[NotebookRun] = []
    try:
        state = load_state(run_path) if not force else {}
        bar = tqdm(steps, desc=f"run {run_name} ({profile_name})", unit="notebook", file=sys.stdout)
        for nb, params, fp, fresh in bar:
            bar.set_postfix_str(nb.stem)
            if fresh:
                results.append(NotebookRun(nb.stem, "skipped"))
                log(f"[skip] {nb.stem}: finished earlier with the same source and parameters")
                continue
            state.pop(nb.stem, None)
            io.write_json(run_path / STATE_FILE, state)
            executed = run_path / EXECUTED_DIR / nb.name
            before = _snapshot(run_path)
            log(f"[run ] {nb.stem} {json.dumps(params, default=str)}")
            t0 = time.perf_counter()
            try:
                papermill.execute_notebook(str(nb), str(executed), parameters=params, kernel_name=kernel_name,
                                           cwd=str(nb.parent), progress_bar=sys.stdout.isatty(), log_output=False)
            except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
                seconds = time.perf_counter() - t0
                results.append(NotebookRun(nb.stem, "failed", seconds))
                raise BatchError(_report_failure(nb.stem, exc, executed)) from exc
            seconds = time.perf_counter() - t0
            after = _snapshot(run_path)
            outputs = {rel: sig for rel, sig in after.items() if before.get(rel) != sig}
            state[nb.stem] = {"fingerprint": fp, "params": params, "seconds": round(seconds, 2),
                              "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "outputs": outputs}
            io.write_json(run_path / STATE_FILE, state)
            results.append(NotebookRun(nb.stem, "ran", seconds, sorted(outputs)))
            log(f"[done] {nb.stem} in {seconds:.1f} s, wrote {len(outputs)} file(s)")
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    return results


def format_timings(results: list[NotebookRun]) -> str:
    """A small table of what ran and how long it took."""
    rows = [f"{'notebook':<32} {'status':<8} {'seconds':>8}"]
    rows += [f"{r.stem:<32} {r.status:<8} {r.seconds:>8.1f}" for r in results]
    rows.append(f"{'total':<32} {'':<8} {sum(r.seconds for r in results):>8.1f}")
    return "\n".join(rows)


def _parse_overrides(pairs: list[str]) -> dict:
    """-p KEY=VALUE pairs; values are parsed as YAML scalars (20 -> int, true -> bool, 0.7 -> float)."""
    import yaml

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise BatchError(f"-p {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acecoder_lib.batch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run or resume the notebook chain")
    p_run.add_argument("--profile", default="smoke", help=f"one of {profiles.PROFILES} (notebooks/params/*.yaml)")
    p_run.add_argument("--run-name", required=True, help="results go to runs/<RUN_NAME>/")
    p_run.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 00,01")
    p_run.add_argument("--force", action="store_true", help="rerun every notebook, ignoring earlier results")
    p_run.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p_run.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a parameter in every notebook that declares it")
    p_status = sub.add_parser("status", help="show which notebooks of a run are finished")
    p_status.add_argument("--run-name", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            run_path = paths.run_dir(args.run_name, create=False)
            state = load_state(run_path) if run_path.exists() else {}
            for stem in [p.stem for p in profiles.notebook_paths()]:
                entry = state.get(stem)
                print(f"{stem:<32} " + (f"done in {entry['seconds']:.1f} s at {entry['finished_at']}" if entry
                                        else "not finished"))
            return 0
        only = [o.strip() for o in args.only.split(",") if o.strip()]
        t0 = time.perf_counter()
        results = run(args.run_name, args.profile, args.notebooks_dir, _parse_overrides(args.overrides), only,
                      args.force)
        print(format_timings(results))
        print(f"finished in {time.perf_counter() - t0:.0f} s; results in {paths.run_dir(args.run_name)}")
        return 0
    except (BatchError, profiles.ProfileError, ValueError) as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Batch runner: execute the numbered notebooks in order with papermill, resumably.

    python -m acecoder_lib.core.batch run --profile default --run-name default
    python -m acecoder_lib.core.batch run --profile smoke --run-name ci --only 00,01 -p N_SEEDS=20
    python -m acecoder_lib.core.batch status --run-name default

Each notebook runs with the parameters of its profile (``notebooks/params/<profile>.yaml``) plus RUN_NAME and
PROFILE; the executed copy, outputs included, is saved as ``runs/<RUN_NAME>/notebooks/NN_name.ipynb``.
``runs/<RUN_NAME>/batch_state.json`` records for each finished notebook a fingerprint (its source, its parameters,
the library code it imports, directly or through other library modules, and the fingerprint of the notebook before
it) and the files it wrote. Re-running the same command resumes at the first notebook that is not finished, whose
fingerprint changed, or whose outputs are missing or changed on disk, and runs everything after it; ``--force``
runs all (or all of ``--only``); ``--ignore-library`` leaves library changes out of the fingerprint. The state is
merged, never dropped: a run of some notebooks keeps the others' entries. ``status`` says why a notebook would rerun.

Time profile: each notebook's kernel gets ``ACECODER_TIMING_FILE`` (``core/timing.py``), so the library's spans
(model loading, generation, execution, training, scoring, plotting, artifact I/O) are summed per notebook; the rest of
its wall time is ``other``. The runner keeps them in the state and writes ``runs/<RUN_NAME>/time_profile.json``;
``status`` and the end of ``run`` print the table.
"""
from __future__ import annotations

import argparse
import ast
import datetime as _dt
import fcntl
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import io, paths, profiles, timing

STATE_FILE = "batch_state.json"
PROFILE_FILE = "time_profile.json"  # per notebook: wall seconds and where they went (core/timing.py categories)
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


LIBRARY = "acecoder_lib"  # the package whose code a notebook's fingerprint covers


def _imported_modules(source: str, package: str, current: str | None = None) -> set[str]:
    """Dotted names of `package` modules that `source` imports (relative imports resolved against `current`)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                base = current.split(".")[: len(current.split(".")) - node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != package:
                continue
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import module` imports a module
    return found


def _module_file(name: str, root: Path) -> Path | None:
    """The file of dotted module `name` whose top package lives in `root` (None when it is not a module)."""
    rel = Path(*name.split(".")[1:])
    for cand in (root / rel.with_suffix(".py"), root / rel / "__init__.py") if rel.parts else (root / "__init__.py",):
        if cand.is_file():
            return cand
    return None


def library_files(notebook: Path, package: str = LIBRARY, root: Path | None = None) -> dict[str, str]:
    """{path relative to the package's parent: sha256} of every library file the notebook imports, transitively."""
    root = Path(root) if root else paths.REPO_ROOT / package
    cells = json.loads(notebook.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    todo, seen, files = list(_imported_modules(source, package)), set(), {}
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            sub = ".".join(parts[:i])
            if sub in seen:
                continue
            seen.add(sub)
            f = _module_file(sub, root)
            if f is None:
                continue
            files[f.relative_to(root.parent).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
            is_pkg = f.name == "__init__.py"
            todo += _imported_modules(f.read_text(), package, sub if is_pkg else ".".join(sub.split(".")[:-1]) + ".x")
    return dict(sorted(files.items()))


def _fingerprint(previous: str, notebook: Path, params: dict, library: dict | None) -> str:
    blob = json.dumps([previous, _source_hash(notebook), params, library or {}], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _snapshot(run_path: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every run file, except the runner's own."""
    files = {}
    for p in run_path.rglob("*"):
        rel = p.relative_to(run_path).as_posix()
        if (p.is_file() and not rel.startswith(EXECUTED_DIR + "/") and rel not in (STATE_FILE, PROFILE_FILE)
                and not p.name.startswith(".")):
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


@dataclass
class Step:
    """One notebook of a planned run: what it gets, whether it is up to date, and if not, why."""
    notebook: Path
    params: dict
    fingerprint: str
    fresh: bool
    why: str = ""
    library: dict = field(default_factory=dict)
    selected: bool = True
    previous: str = ""  # the fingerprint of the notebook before it, which its own fingerprint chains on

    def __iter__(self):  # (notebook, params, fingerprint, fresh), as plan() returned before
        return iter((self.notebook, self.params, self.fingerprint, self.fresh))


def _why_stale(entry: dict | None, nb: Path, params: dict, library: dict, previous: str, run_path: Path) -> str:
    """Why a notebook is not up to date ("" when it is), from its state entry."""
    if entry is None:
        return "not finished"
    if entry.get("source") not in (None, _source_hash(nb)):
        return "its source changed"
    if entry.get("params") is not None and entry["params"] != json.loads(json.dumps(params, default=str)):
        changed = sorted(k for k in set(entry["params"]) | set(params) if entry["params"].get(k) != params.get(k))
        return "parameters changed: " + ", ".join(changed)
    old_lib = entry.get("library")
    if old_lib is not None and old_lib != library:
        changed = sorted(k for k in set(old_lib) | set(library) if old_lib.get(k) != library.get(k))
        return "library code changed: " + ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
    if entry.get("previous") not in (None, previous):
        return "an earlier notebook changed or reran"
    if entry.get("fingerprint") != _fingerprint(previous, nb, params, library):
        return "its fingerprint changed"
    if not _outputs_intact(run_path, entry.get("outputs", {})):
        return "a file it wrote is missing or changed"
    return ""


def plan(run_name: str, profile_name: str, notebooks_dir: Path | None = None, overrides: dict | None = None,
         only: list[str] | None = None, force: bool = False, ignore_library: bool = False) -> list[Step]:
    """The selected notebooks in run order, each a Step; checks the profile before anything runs.

    Fingerprints chain over the whole notebook list (a notebook's includes the one before it), so running a subset
    with ``only`` gives the same fingerprints as a full run and leaves the other notebooks' state valid."""
    # a custom notebooks folder (tests, course variants) brings its own params/ folder
    profile = profiles.load_profile(profile_name, Path(notebooks_dir) / "params" if notebooks_dir else None)
    profiles.check_profile(profile, notebooks_dir)
    notebooks = profiles.notebook_paths(notebooks_dir)
    if not notebooks:
        raise BatchError(f"no numbered notebooks (NN_*.ipynb) in {notebooks_dir or paths.NOTEBOOKS_DIR}")
    wanted = {o.split("_")[0] for o in only} if only else None
    if wanted is not None and not any(nb.stem.split("_")[0] in wanted for nb in notebooks):
        raise BatchError(f"--only {only} matches no notebook")
    selected = [nb for nb in notebooks if wanted is None or nb.stem.split("_")[0] in wanted]
    overrides = overrides or {}
    unknown = [k for k in overrides if not any(k in profiles.notebook_parameters(nb) for nb in selected)]
    if unknown:
        raise BatchError(f"-p {unknown}: no notebook in this run declares such a parameter")
    run_path = paths.run_dir(run_name)
    state = load_state(run_path)
    result, previous, stale = [], "", False
    for nb in notebooks:
        params = profiles.parameters_for(profile, nb, run_name, profile_name, overrides)
        library = {} if ignore_library else library_files(nb)
        fp = _fingerprint(previous, nb, params, library)
        entry = state.get(nb.stem)
        is_selected = nb in selected
        why = _why_stale(entry, nb, params, library, previous, run_path)
        if force and is_selected:
            why = "--force"
        elif not why and stale:
            why = "an earlier notebook reruns"
        if is_selected:
            stale = stale or bool(why)  # everything after a rerun notebook reruns: its inputs may have changed
        result.append(Step(nb, params, fp, not why, why, library, is_selected, previous))
        previous = fp
    return [s for s in result if s.selected]


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
        log=print, ignore_library: bool = False) -> list[NotebookRun]:
    """Run (or resume) the notebook chain; returns what happened to each notebook; raises BatchError on failure."""
    import papermill
    from tqdm.auto import tqdm

    steps = plan(run_name, profile_name, notebooks_dir, overrides, only, force, ignore_library)
    run_path = paths.run_dir(run_name)
    (run_path / EXECUTED_DIR).mkdir(exist_ok=True)
    lock = open(run_path / ".batch.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchError(f"another batch run is using {run_path}; wait for it or pick another --run-name") from None
    results: list[NotebookRun] = []
    try:
        state = load_state(run_path)  # merged: notebooks outside this run keep their entries
        bar = tqdm(steps, desc=f"run {run_name} ({profile_name})", unit="notebook", file=sys.stdout)
        for step in bar:
            nb, params, fp, fresh = step
            bar.set_postfix_str(nb.stem)
            if fresh:
                results.append(NotebookRun(nb.stem, "skipped"))
                log(f"[skip] {nb.stem}: finished earlier with the same source, parameters and library code")
                continue
            log(f"[why ] {nb.stem}: {step.why}")
            state.pop(nb.stem, None)
            io.write_json(run_path / STATE_FILE, state)
            executed = run_path / EXECUTED_DIR / nb.name
            before = _snapshot(run_path)
            log(f"[run ] {nb.stem} {json.dumps(params, default=str)}")
            timing_file = run_path / EXECUTED_DIR / f"{nb.stem}.timing.json"
            timing_file.unlink(missing_ok=True)
            saved_env = os.environ.get(timing.ENV)
            os.environ[timing.ENV] = str(timing_file)  # the kernel inherits it: the library's spans land there
            t0 = time.perf_counter()
            try:
                papermill.execute_notebook(str(nb), str(executed), parameters=params, kernel_name=kernel_name,
                                           cwd=str(nb.parent), progress_bar=sys.stdout.isatty(), log_output=False)
            except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
                seconds = time.perf_counter() - t0
                results.append(NotebookRun(nb.stem, "failed", seconds))
                raise BatchError(_report_failure(nb.stem, exc, executed)) from exc
            finally:
                if saved_env is None:
                    os.environ.pop(timing.ENV, None)
                else:
                    os.environ[timing.ENV] = saved_env
            seconds = time.perf_counter() - t0
            after = _snapshot(run_path)
            outputs = {rel: sig for rel, sig in after.items() if before.get(rel) != sig}
            state = {**load_state(run_path), **state}  # keep what another writer added meanwhile
            state[nb.stem] = {"fingerprint": fp, "params": params, "source": _source_hash(nb),
                              "previous": step.previous, "library": step.library,
                              "seconds": round(seconds, 2),
                              "profile": notebook_profile(seconds, timing.read_profile(timing_file)),
                              "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "outputs": outputs}
            io.write_json(run_path / STATE_FILE, state)
            io.write_json(run_path / PROFILE_FILE, time_profile(state))
            results.append(NotebookRun(nb.stem, "ran", seconds, sorted(outputs)))
            log(f"[done] {nb.stem} in {seconds:.1f} s, wrote {len(outputs)} file(s)")
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    return results


def notebook_profile(seconds: float, spans: dict[str, float]) -> dict[str, float]:
    """Seconds per timing category of one notebook, plus ``other`` (its wall time less the library's spans: kernel
    start-up, the notebook's own code). Empty spans (a notebook that times nothing) leave it all in ``other``."""
    out = {c: round(spans.get(c, 0.0), 2) for c in timing.CATEGORIES}
    out["other"] = round(max(seconds - sum(out.values()), 0.0), 2)
    return out


PROFILE_COLUMNS = (*timing.CATEGORIES, "other")


def time_profile(state: dict) -> dict:
    """The run's time profile from its batch state: per finished notebook its wall seconds and categories, and the
    totals (what ``time_profile.json`` holds and ``status`` shows)."""
    notebooks = {stem: {"seconds": e.get("seconds", 0.0), **{c: e.get("profile", {}).get(c) for c in PROFILE_COLUMNS}}
                 for stem, e in sorted(state.items()) if isinstance(e, dict) and "seconds" in e}
    total = {"seconds": round(sum(n["seconds"] for n in notebooks.values()), 2)}
    total.update({c: round(sum(n[c] or 0.0 for n in notebooks.values()), 2) for c in PROFILE_COLUMNS})
    return {"notebooks": notebooks, "total": total, "categories": list(PROFILE_COLUMNS),
            "doc": "seconds of wall time per notebook and where they went (acecoder_lib/core/timing.py)"}


def format_profile(profile: dict) -> str:
    """The time profile as a table (seconds; '-' for a notebook run before the profile existed)."""
    cols = ["seconds", *PROFILE_COLUMNS]
    short = {"seconds": "total", "model_load": "load", "generation": "generate", "execution": "execute",
             "training": "train", "scoring": "score", "plotting": "plot"}
    lines = [f"{'time profile (s)':<26}" + "".join(f"{short.get(c, c):>9}" for c in cols)]
    for stem, row in [*profile["notebooks"].items(), ("total", profile["total"])]:
        cells = "".join(f"{row[c]:>9.1f}" if row.get(c) is not None else f"{'-':>9}" for c in cols)
        lines.append(f"{stem:<26}{cells}")
    return "\n".join(lines)


def status(run_name: str, profile_name: str | None = None, ignore_library: bool = False,
           notebooks_dir: Path | None = None) -> str:
    """A line per notebook: done (when, how long) and up to date, or why the next run would rerun it."""
    run_path = paths.run_dir(run_name, create=False)
    state = load_state(run_path) if run_path.exists() else {}
    if profile_name is None:  # the profile the run was made with, as its notebooks recorded it
        profile_name = next((e["params"].get("PROFILE") for e in state.values() if e.get("params", {}).get("PROFILE")),
                            "default")
    lines = [f"run {run_name} (profile {profile_name})"]
    if not run_path.exists():
        return lines[0] + ": nothing run yet"
    for step in plan(run_name, profile_name, notebooks_dir, ignore_library=ignore_library):
        entry = state.get(step.notebook.stem)
        done = f"done in {entry['seconds']:.1f} s at {entry['finished_at']}" if entry else "not finished"
        lines.append(f"{step.notebook.stem:<32} {done}" + ("" if step.fresh else f"; would rerun: {step.why}"))
    profile = time_profile(state)
    if profile["notebooks"]:
        lines += ["", format_profile(profile), f"(also in {run_path / PROFILE_FILE})"]
    return "\n".join(lines)


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
    parser = argparse.ArgumentParser(prog="python -m acecoder_lib.core.batch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run or resume the notebook chain")
    p_run.add_argument("--profile", default="smoke", help=f"one of {profiles.PROFILES} (notebooks/params/*.yaml)")
    p_run.add_argument("--run-name", required=True, help="results go to runs/<RUN_NAME>/")
    p_run.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 00,01")
    p_run.add_argument("--force", action="store_true", help="rerun every notebook, ignoring earlier results")
    p_run.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p_run.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a parameter in every notebook that declares it")
    p_run.add_argument("--ignore-library", action="store_true",
                       help="leave library code out of the fingerprints (a library change reruns nothing)")
    p_status = sub.add_parser("status", help="show which notebooks of a run are finished, and why others would rerun")
    p_status.add_argument("--run-name", required=True)
    p_status.add_argument("--profile", default=None, help="the profile to check against (default: the run's own)")
    p_status.add_argument("--ignore-library", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            print(status(args.run_name, args.profile, args.ignore_library))
            return 0
        only = [o.strip() for o in args.only.split(",") if o.strip()]
        t0 = time.perf_counter()
        results = run(args.run_name, args.profile, args.notebooks_dir, _parse_overrides(args.overrides), only,
                      args.force, ignore_library=args.ignore_library)
        print(format_timings(results))
        print(format_profile(time_profile(load_state(paths.run_dir(args.run_name)))))
        print(f"finished in {time.perf_counter() - t0:.0f} s; results in {paths.run_dir(args.run_name)}")
        return 0
    except (BatchError, profiles.ProfileError, ValueError) as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Run profiles: ``notebooks/params/<profile>.yaml`` holds papermill overrides per notebook.

Three profiles, named the same everywhere:
    smoke    the notebooks' own defaults: the smallest run that exercises every code path (nbval and CI)
    default  the README's main job on CPU with the embedded model
    paper    the papers' settings for a GPU cluster (documented, not run in CI)

File format::

    description: one line shown by the batch runner
    notebooks:
      04_sample_programs:
        N_SAMPLES: 8        # every key must be a parameter of that notebook (checked before anything runs)

papermill only warns about an unknown parameter, so ``check_profile`` refuses one up front.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ..core import paths

PROFILES = ("smoke", "default", "paper")
# Injected by the batch runner into every notebook that declares them; profiles must not set them.
RUNNER_PARAMETERS = ("RUN_NAME", "PROFILE")


class ProfileError(ValueError):
    """A profile file or one of its keys is wrong."""


def notebook_paths(notebooks_dir: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in run order."""
    folder = Path(notebooks_dir or paths.NOTEBOOKS_DIR)
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())


@lru_cache(maxsize=64)
def _parameters_cached(path: str, mtime_ns: int) -> dict:
    import papermill

    return dict(papermill.inspect_notebook(path))


def notebook_parameters(path: Path) -> dict:
    """The parameters cell of a notebook, as papermill sees it: name -> {inferred_type_name, default, help}."""
    path = Path(path)
    return _parameters_cached(str(path), path.stat().st_mtime_ns)


def load_profile(name: str, params_dir: Path | None = None) -> dict:
    """Read ``<params_dir>/<name>.yaml`` -> {"description": str, "notebooks": {stem: {KEY: value}}}."""
    folder = Path(params_dir or paths.PARAMS_DIR)
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ProfileError(f"unknown profile {name!r}: no file {path}. Known profiles: {known}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("notebooks", {}) or {}, dict):
        raise ProfileError(f"{path}: expected a mapping with a 'notebooks:' mapping of notebook name -> parameters")
    notebooks = data.get("notebooks") or {}
    for stem, overrides in notebooks.items():
        if overrides is not None and not isinstance(overrides, dict):
            raise ProfileError(f"{path}: notebooks.{stem} must be a mapping of PARAMETER: value")
    return {"description": str(data.get("description", "")),
            "notebooks": {k: dict(v or {}) for k, v in notebooks.items()}, "path": str(path)}


def check_profile(profile: dict, notebooks_dir: Path | None = None) -> None:
    """Raise ProfileError if a profile names a notebook that does not exist or a key that is not its parameter."""
    stems = {p.stem: p for p in notebook_paths(notebooks_dir)}
    problems = []
    for stem, overrides in profile["notebooks"].items():
        if stem not in stems:
            problems.append(f"notebook {stem!r} does not exist (have: {sorted(stems)})")
            continue
        declared = notebook_parameters(stems[stem])
        for key in overrides:
            if key in RUNNER_PARAMETERS:
                problems.append(f"{stem}.{key} is set by the batch runner (--run-name / --profile), not by a profile")
            elif key not in declared:
                problems.append(f"{stem}.{key} is not a parameter of notebooks/{stem}.ipynb "
                                f"(its parameters: {sorted(declared)})")
    if problems:
        raise ProfileError(f"profile {profile.get('path', '?')} has unknown keys:\n  - " + "\n  - ".join(problems))


def parameters_for(profile: dict, notebook: Path, run_name: str, profile_name: str,
                   overrides: dict | None = None) -> dict:
    """The papermill parameters for one notebook: profile values, then CLI overrides, then RUN_NAME/PROFILE."""
    declared = notebook_parameters(notebook)
    params = dict(profile["notebooks"].get(notebook.stem, {}))
    for key, value in (overrides or {}).items():
        if key in declared:
            params[key] = value
    runner = {"RUN_NAME": run_name, "PROFILE": profile_name}
    params.update({k: v for k, v in runner.items() if k in declared})
    return params


def parameter_values(namespace: dict) -> dict:
    """A notebook's parameter values from its ``globals()``: upper-case names bound to literals (str, int, float,
    bool, list, dict), RUN_NAME left out; what an artifact's meta records as its parameters."""
    literal = (str, int, float, bool, list, dict)
    return {k: v for k, v in namespace.items()
            if k.isupper() and k != "RUN_NAME" and isinstance(v, literal)}

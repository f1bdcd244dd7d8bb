"""Compare a finished run's funnel with the numbers the README publishes for the `default` run.

    .venv/bin/python scripts/check_funnel.py default            # runs/default (or $ACECODER_RUNS_DIR/default)
    .venv/bin/python scripts/check_funnel.py default --readme README.md --all

The published numbers are the `key: value` lines between `<!-- funnel:begin -->` and `<!-- funnel:end -->` in the
README; the run's come from `acecoder_lib.funnel.run_funnel` (the same function the end-to-end test asserts on the
smoke profile). Prints one line per published number that differs or is missing, then "N of M published numbers
match"; exit code 1 if any differs. `--all` also prints every count of the run, published or not. Why a count
moved is in the run's artifacts: the `reason` and `first_error` columns of 02_questions, 03_filter_report and
04_programs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from acecoder_lib import funnel
from acecoder_lib.core import io, paths

README = paths.REPO_ROOT / "README.md"


def _profile(run: Path) -> str | None:
    """The profile the run's phase 01 recorded (None when unknown)."""
    try:
        return io.read_meta(run, "01_seeds").get("params", {}).get("PROFILE")
    except io.ArtifactError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_name", help="the run folder under runs/ (ACECODER_RUNS_DIR), e.g. default")
    parser.add_argument("--readme", type=Path, default=README, help="the file holding the published funnel block")
    parser.add_argument("--all", action="store_true", help="also print every count of the run")
    args = parser.parse_args(argv)
    run = paths.run_dir(paths.check_run_name(args.run_name), create=False)
    if not run.is_dir():
        print(f"no run folder {run}: run the chain first (python -m acecoder_lib.core.batch run --profile default "
              f"--run-name {args.run_name})", file=sys.stderr)
        return 2
    published = funnel.published_funnel(args.readme.read_text())
    counts = funnel.run_funnel(run)
    profile = _profile(run)
    if profile not in (None, "default"):
        print(f"note: {run.name} ran the {profile!r} profile; the README publishes the 'default' run's numbers",
              file=sys.stderr)
    if args.all:
        for key, value in counts.items():
            print(f"{key}: {value}")
    differences = funnel.compare(published, counts)
    for line in differences:
        print(line)
    print(f"{len(published) - len(differences)} of {len(published)} published numbers match ({run})")
    return 1 if differences else 0


if __name__ == "__main__":
    # Exit without the interpreter's teardown: pyarrow's parquet reader can abort there at random ("terminate called
    # without an active exception", SIGABRT; apache/arrow#34314), after all the work and output are done.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Do two runs hold the same artifacts? (the reproducibility check of issue 12: one clone under /tmp, one elsewhere)

    .venv/bin/python scripts/compare_runs.py /tmp/clone/runs/default runs/default
    .venv/bin/python scripts/compare_runs.py RUN_A RUN_B --phases 02,03,04,05

Prints, per artifact of the given phases, the row counts and sha256 (first 12 hex digits) of the parquet file in each
run, and for a mismatch how many rows differ and the first keys that do; then both funnels side by side
(``acecoder_lib.funnel.run_funnel``), the differing lines marked ``*``. Exit code 1 if any artifact differs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from acecoder_lib import funnel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path, help="a run folder, e.g. /tmp/clone/runs/default")
    parser.add_argument("run_b", type=Path, help="the other run folder")
    parser.add_argument("--phases", default="02,03,04,05", help="comma-separated notebook numbers")
    args = parser.parse_args(argv)
    for run in (args.run_a, args.run_b):
        if not run.is_dir():
            print(f"no run folder {run}", file=sys.stderr)
            return 2
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    table = funnel.compare_artifacts(args.run_a, args.run_b, phases)
    with __import__("pandas").option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    counts = [funnel.run_funnel(r) for r in (args.run_a, args.run_b)]
    print(f"\n  {'funnel':<48} {'A':>8} {'B':>8}")
    for key in sorted(set(counts[0]) | set(counts[1])):
        a, b = counts[0].get(key), counts[1].get(key)
        print(f"{'*' if a != b else ' '} {key:<48} {a if a is not None else '-':>8} {b if b is not None else '-':>8}")
    same = bool(len(table)) and bool(table["same"].all())
    print(f"\n{int(table['same'].sum())} of {len(table)} artifacts identical (A = {args.run_a}, B = {args.run_b})")
    return 0 if same else 1


if __name__ == "__main__":
    # Exit without the interpreter's teardown: pyarrow's parquet reader can abort there at random ("terminate called
    # without an active exception", SIGABRT; apache/arrow#34314), after all the work and output are done.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Fixed vs calibrated per-test limits on a finished run's own programs (prints figures; not a test).

    .venv/bin/python benchmarks/bench_limits.py default                  # runs/default: 03_questions + 04_programs
    .venv/bin/python benchmarks/bench_limits.py /path/to/runs/default --floor 0.1 --factor 10
    .venv/bin/python benchmarks/bench_limits.py default --phase 07      # 07_problems + 07_programs (hidden tests)

Re-executes every program of the run's ``04_programs`` twice through the engine, once with the fixed limit
(``--fixed``, default 1 s of CPU per test) and once with calibrated limits, ``max(floor, factor x the oracle's CPU
time on the test)``. The oracle times are the run's ``03_test_times`` where it has them, else measured here by
running each question's reference on its tests (what phase 03 does). Prints the time of each pass and every verdict
that differs between the two, as a transition table: with calibrated limits only timeouts should appear or vanish.
With ``--phase 07`` the programs are phase 07's (greedy and sampled, HumanEval and held-out) on their hidden tests,
and the calibrated limits are the reference times recomputed here (``p07.with_time_limits``).
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from acecoder_lib import solutions  # noqa: E402
from acecoder_lib.core import io, schemas  # noqa: E402
from acecoder_lib.execution import ExecConfig, ExecutionEngine  # noqa: E402
from acecoder_lib.execution.engine import CALIBRATED_FACTOR, CALIBRATED_FLOOR_S  # noqa: E402
from acecoder_lib.phases import p03_filter_tests as filtering  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run name under runs/ or a run folder")
    ap.add_argument("--floor", type=float, default=CALIBRATED_FLOOR_S)
    ap.add_argument("--factor", type=float, default=CALIBRATED_FACTOR)
    ap.add_argument("--fixed", type=float, default=1.0, help="CPU seconds per test of the fixed limit")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--phase", choices=("04", "07"), default="04", help="whose programs to re-execute")
    args = ap.parse_args()
    run = Path(args.run) if os.sep in args.run else args.run
    if args.phase == "07":
        return compare_07(run, args)
    questions = io.read_artifact(run, schemas.FILTERED)
    programs = io.read_artifact(run, schemas.PROGRAMS)
    questions = questions[questions["question_id"].isin(set(programs["question_id"]))].reset_index(drop=True)
    print(f"machine: {os.cpu_count()} CPUs, workers={args.workers}; load average {os.getloadavg()[0]:.2f}")
    print(f"{len(programs)} programs of {len(questions)} questions, {programs['n_tests'].sum()} test runs per pass")
    with ExecutionEngine(workers=args.workers, config=ExecConfig(test_timeout_s=args.fixed)) as eng:
        if io.artifact_exists(run, schemas.TEST_TIMES):
            times, where = io.read_artifact(run, schemas.TEST_TIMES), "the run's 03_test_times"
        else:
            t0 = time.perf_counter()
            _, _, times = filtering.filter_tests(questions, filtering.reference_programs(questions), eng,
                                                 oracle="reference", min_passed=0, min_tests=0, return_times=True)
            where = f"measured here from the references in {time.perf_counter() - t0:.1f} s"
        limits, n_cal = solutions.test_limits(questions, times, "calibrated", args.floor, args.factor, args.fixed)
        flat = sorted(x for q in limits.values() for x in q)
        print(f"oracle times: {where}; {n_cal} of {len(questions)} questions calibrated; limits median "
              f"{flat[len(flat) // 2]:.3f} s, max {flat[-1]:.3f} s (max({args.floor} s, {args.factor:g} x oracle))")
        solutions.execute_samples(programs.head(8), questions, eng)  # warm the pool
        out = {}
        for label, lim in (("fixed", None), ("calibrated", limits)):
            t0 = time.perf_counter()
            out[label] = solutions.execute_samples(programs, questions, eng, time_limits=lim)
            dt = time.perf_counter() - t0
            print(f"{label:>10}: {dt:7.1f} s = {len(programs) / dt:6.1f} programs/s")
    stored = sum(va != vb for a, b in zip(programs["verdicts"], out["fixed"]["verdicts"]) for va, vb in zip(a, b))
    print(f"the fixed pass vs the run's own 04_programs: {stored} verdicts differ")
    return report(out, int(programs["n_tests"].sum()), len(programs))


def compare_07(run, args) -> int:
    """Phase 07's programs on their hidden tests: fixed limit vs limits calibrated on each problem's reference."""
    from acecoder_lib.phases import p07_best_of_n as bestofn

    problems = io.read_artifact(run, schemas.BON_PROBLEMS)
    table = io.read_artifact(run, schemas.BON_SAMPLES)
    samples = table[["question_id", "sample", "program", "extraction"]].assign(completion="")
    print(f"machine: {os.cpu_count()} CPUs, workers={args.workers}; load average {os.getloadavg()[0]:.2f}")
    print(f"{len(samples)} programs of {len(problems)} problems ({', '.join(sorted(set(problems['benchmark'])))}), "
          f"{int(table['n_tests'].sum())} test runs per pass")
    with ExecutionEngine(workers=args.workers, config=ExecConfig(test_timeout_s=args.fixed)) as eng:
        t0 = time.perf_counter()
        timed, n_cal = bestofn.with_time_limits(problems, eng, "calibrated", args.floor, args.factor, args.fixed)
        flat = sorted(x for q in timed["time_limits"] for x in q)
        print(f"references timed in {time.perf_counter() - t0:.1f} s: {n_cal} of {len(flat)} hidden tests "
              f"calibrated; limits median {flat[len(flat) // 2]:.3f} s, max {flat[-1]:.3f} s")
        solutions.execute_samples(samples.head(8), problems, eng)  # warm the pool
        out = {}
        for label, lim in (("fixed", None), ("calibrated", dict(zip(timed["question_id"], timed["time_limits"])))):
            t0 = time.perf_counter()
            out[label] = solutions.execute_samples(samples, problems, eng, time_limits=lim)
            dt = time.perf_counter() - t0
            print(f"{label:>10}: {dt:7.1f} s = {len(samples) / dt:6.1f} programs/s")
    stored = int((out["calibrated"]["n_passed"].to_numpy() != table["n_passed"].to_numpy()).sum())
    print(f"the calibrated pass vs the run's own 07_programs: {stored} programs differ in tests passed")
    return report(out, int(table["n_tests"].sum()), len(samples))


def report(out: dict, total: int, n_programs: int) -> int:
    """The transition table fixed -> calibrated; exit status 1 when a verdict other than a timeout moved."""
    changes = collections.Counter()
    moved = collections.Counter()
    for a, b in zip(out["fixed"]["verdicts"], out["calibrated"]["verdicts"]):
        for va, vb in zip(a, b):
            if va != vb:
                changes[(va, vb)] += 1
    for a, b in zip(out["fixed"]["pass_rate"], out["calibrated"]["pass_rate"]):
        moved["programs whose pass rate moved"] += a != b
    print(f"verdicts that differ (fixed -> calibrated), of {total} test runs:" + ("" if changes else " none"))
    for (va, vb), n in changes.most_common():
        print(f"   {va:>12} -> {vb:<12} {n}")
    print(f"{moved['programs whose pass rate moved']} of {n_programs} programs changed pass rate")
    other = sum(n for (va, vb), n in changes.items() if "timeout" not in (va, vb))
    print("only timeouts moved" if other == 0 else f"{other} verdict changes not involving a timeout")
    return 0 if other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

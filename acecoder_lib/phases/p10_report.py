"""Phase 10 logic: gather every phase's artifacts of a run into one reproduction report, next to the papers' numbers.

    sections = report.gather(RUN_NAME)           # one Section per phase: tables, figures, the setting difference
    report.write_html(sections, path, title)     # one self-contained HTML file (plotly.js inlined once)

A section whose artifacts are missing says so (the phase was not run) instead of failing: a report of a partial
run is still a report. The papers' numbers come from ``shared/PAPER_FACTS.md`` and are typed in ``PAPER`` below
with their section; every comparison row states what differs between the paper's setting and this run's.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core import io
from ..core.schemas import REPORT

# PAPER_FACTS.md, by section. Percentages.
RL_DETECT_SLOPE = 0.01  # the hypothesised training-reward rise per step metrics.json extrapolates for (notebook 08)

PAPER = {
    "table1": {"before_questions": 124_006, "before_tests": 18.27, "after_questions": 89_422, "after_tests": 15.56},
    "pairs": {"pairs": 307_509, "questions_with_pairs": 46_618, "fraction_with_pairs": 0.3734},
    "table1_sources": pd.DataFrame([  # S3: per source after filtering (questions, mean tests)
        {"source": "evol", "questions after": 27_853, "tests/question after": 14.77},
        {"source": "oss", "questions after": 26_346, "tests/question after": 16.11},
        {"source": "stack", "questions after": 35_223, "tests/question after": 15.79},
        {"source": "total", "questions after": 89_422, "tests/question after": 15.56},
    ]),
    "table2": pd.DataFrame([  # S6, every row PAPER_FACTS gives: HumanEval / HumanEval+ / MBPP / MBPP+, average
        # over all the paper's benchmarks (with BigCodeBench and LiveCodeBench); None where S6 gives no figure
        {"policy": "Llama-3.1-8B-Instruct", "strategy": "greedy", "humaneval": 68.9, "humaneval+": 62.2,
         "mbpp": 67.2, "mbpp+": 54.8, "average": 40.9},
        {"policy": "Llama-3.1-8B-Instruct", "strategy": "oracle@64", "average": 72.3},
        {"policy": "Llama-3.1-8B-Instruct", "strategy": "reward_model@16 (AceCodeRM-7B)", "humaneval": 77.4,
         "humaneval+": 70.7, "mbpp": 76.5, "mbpp+": 64.3, "average": 47.7},
        {"policy": "Llama-3.1-8B-Instruct", "strategy": "reward_model@32 (AceCodeRM-7B)", "average": 48.9},
        {"policy": "Qwen2.5-Coder-7B-Instruct", "strategy": "greedy", "humaneval": 91.5, "humaneval+": 86.0,
         "mbpp": 82.8, "mbpp+": 71.4, "average": 55.2},
        {"policy": "Qwen2.5-Coder-7B-Instruct", "strategy": "oracle@64", "average": 78.9},
        {"policy": "Qwen2.5-Coder-7B-Instruct", "strategy": "reward_model@16 (AceCodeRM-7B)", "humaneval": 90.2,
         "humaneval+": 82.9, "mbpp": 88.6, "mbpp+": 74.9, "average": 57.6},
        {"policy": "Mistral-7B-Instruct", "strategy": "greedy", "average": 24.8},
        {"policy": "Mistral-7B-Instruct", "strategy": "reward_model@64 (AceCodeRM-7B)", "humaneval": 71.3,
         "humaneval+": 61.6, "mbpp": 59.8, "mbpp+": 51.6, "average": 38.6},
    ], columns=["policy", "strategy", "humaneval", "humaneval+", "mbpp", "mbpp+", "average"]),
    "table3": pd.DataFrame([  # S7, every row PAPER_FACTS gives
        {"policy": "Qwen2.5-Coder-7B (base)", "stage": "before", "humaneval": 61.6, "humaneval+": 53.0,
         "mbpp": 76.9, "mbpp+": 62.9, "average": 44.4},
        {"policy": "Qwen2.5-Coder-7B (base)", "stage": "+RL, rule reward", "humaneval": 84.1, "humaneval+": 78.0,
         "mbpp": 82.3, "mbpp+": 69.3, "average": 52.3},
        {"policy": "Qwen2.5-Coder-7B (base)", "stage": "+RL, AceCodeRM-7B reward", "average": 49.1},
        {"policy": "Qwen2.5-7B-Instruct", "stage": "before", "average": 49.6},
        {"policy": "Qwen2.5-7B-Instruct", "stage": "+RL, AceCodeRM-7B reward", "average": 51.5},
        {"policy": "Qwen2.5-7B-Instruct", "stage": "+RL, rule reward", "average": 50.9},
    ], columns=["policy", "stage", "humaneval", "humaneval+", "mbpp", "mbpp+", "average"]),
    "coderm": pd.DataFrame([  # S8: best-of-100 with 100 tests, vanilla -> with CodeRM-8B tests
        {"policy": "Llama3-8B", "benchmark": "HumanEval+", "vanilla": 53.58, "with CodeRM-8B tests": 72.01},
        {"policy": "GPT-4o-mini", "benchmark": "HumanEval+", "vanilla": 82.96, "with CodeRM-8B tests": 86.38},
        {"policy": "Llama3-8B", "benchmark": "MBPP+", "vanilla": 49.20, "with CodeRM-8B tests": 66.71},
    ]),
}


@dataclass
class Section:
    title: str
    available: bool
    note: str = ""                                   # what the numbers mean and how the setting differs
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, object]] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)      # headline figures (also written to 10_report.json)


def _read(run: str, name: str) -> pd.DataFrame | None:
    return io.read_artifact(run, name) if io.artifact_exists(run, name) else None


def run_settings(run: str) -> dict:
    """What this run was: the parameters each phase recorded in its artifacts' meta (models, sizes, methods,
    benchmarks) and the device phase 00 found, for notes that describe the run as it was (a paper run as a paper run,
    a CPU smoke run as that). A phase that has not run leaves its keys out."""
    where = {"01_seeds": ("SOURCES",), "02_questions": ("METHODS", "LLM_MODEL"),
             "03_questions": ("ORACLE", "PROXY_MODEL"), "04_programs": ("POLICY_MODEL", "N_SAMPLES", "TEMPERATURE"),
             "05_pairs": ("RULE", "MARGIN"), "06_rm_pair_scores": ("BASE_MODEL", "REWARD_MODEL", "PAIRS_SOURCE"),
             "07_results": ("POLICY_MODEL", "N_MAX", "BENCHMARKS", "REWARD_MODEL"),
             "08_rl_steps": ("POLICY_MODEL", "ALGORITHM", "REWARDS", "QUESTIONS", "MAX_STEPS", "EPISODES"),
             "09_curves": ("TEST_MODEL", "SOURCES", "LLM_MAX_TESTS")}
    out: dict = {}
    for artifact, keys in where.items():
        if io.artifact_exists(run, artifact):
            params = io.read_meta(run, artifact).get("params", {})
            out[artifact[:2]] = {k: params[k] for k in keys if k in params}
    env = _read(run, "00_environment")
    cuda = env[env["component"] == "cuda"] if env is not None else None
    out["device"] = ("GPU: " + str(cuda["detail"].iloc[0]) if cuda is not None and len(cuda) and bool(
        cuda["available"].iloc[0]) else "CPU")
    for artifact, key in (("05_pairs", "pairs"), ("08_rl_steps", "rl_steps"), ("03_questions", "questions")):
        frame = _read(run, artifact)
        if frame is not None:
            out[key] = len(frame)
    return out


def _model(name) -> str:
    return str(name).split("/")[-1] if name else "?"


def _missing(title: str, *names: str) -> Section:
    return Section(title, False, f"not in this run: {', '.join(names)} missing (run the phase first)")


def funnel_section(run: str) -> Section:
    from ..analysis import plot_table1, table1, usable_questions

    before, after = _read(run, "02_questions"), _read(run, "03_questions")
    if before is None or after is None:
        return _missing("Dataset funnel (Table 1)", "02_questions", "03_questions")
    before = usable_questions(before)  # what phase 03 filtered (its Table 1 with ORACLE = reference)
    t1 = table1(before, after)
    paper = pd.DataFrame([{"source": "paper (Evol + OSS + Stack, GPT-4o-mini tests, 32B proxy filter)",
                           "questions before": PAPER["table1"]["before_questions"],
                           "tests/question before": PAPER["table1"]["before_tests"],
                           "questions after": PAPER["table1"]["after_questions"],
                           "tests/question after": PAPER["table1"]["after_tests"]}])
    total = t1.iloc[-1].to_dict()
    cfg = run_settings(run)
    s01, s02, s03 = cfg.get("01", {}), cfg.get("02", {}), cfg.get("03", {})
    oracle = s03.get("ORACLE", "?")
    filt = {"proxy": f"the proxy filter ({_model(s03.get('PROXY_MODEL'))})", "reference": "the reference filter",
            "released": "the released tests kept as they are"}.get(oracle, oracle)
    return Section("Dataset funnel (Table 1)", True,
                   f"This run ({cfg['device']}): seeds from {', '.join(map(str, s01.get('SOURCES', ['?'])))}; tests by "
                   f"{', '.join(map(str, s02.get('METHODS', ['?'])))} (LLM {_model(s02.get('LLM_MODEL'))}); "
                   f"{filt}; {cfg.get('questions', '?')} questions kept. "
                   "The paper: Magicoder/Stack seeds, GPT-4o-mini tests, a 32B proxy.",
                   tables=[("this run", t1), ("paper (PAPER_FACTS S3)", paper),
                           ("paper, per source after filtering (S3)", PAPER["table1_sources"])],
                   figures=[("10_table1", plot_table1(t1))],
                   metrics={"table1_total": {k: (v if isinstance(v, str) else float(v)) for k, v in total.items()}})


def pairs_section(run: str) -> Section:
    from ..analysis import pair_stats

    pairs_, programs = _read(run, "05_pairs"), _read(run, "04_programs")
    if pairs_ is None or programs is None:
        return _missing("Pass rates and preference pairs", "05_pairs", "04_programs")
    from ..analysis import distribution_stats

    stats, dist = pair_stats(pairs_, programs), distribution_stats(programs)
    table = pd.DataFrame([{"": "this run", **{k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}},
                          {"": "paper (S4)", "pairs": PAPER["pairs"]["pairs"], "questions": 124_006,
                           "questions_with_pairs": PAPER["pairs"]["questions_with_pairs"],
                           "fraction_with_pairs": PAPER["pairs"]["fraction_with_pairs"]}])
    s04 = run_settings(run).get("04", {})
    return Section("Pass rates and preference pairs", True,
                   f"This run: {_model(s04.get('POLICY_MODEL'))} with {s04.get('N_SAMPLES', '?')} samples per question "
                   f"at temperature {s04.get('TEMPERATURE', '?')}; the paper: Qwen2.5-Coder-7B-Instruct, 16 samples at "
                   "0.7 (S4).",
                   tables=[("pairs", table), ("pass-rate distribution (phase 04)", pd.DataFrame([dist]))],
                   metrics={"pairs": stats, "distribution": dist})


def rm_section(run: str) -> Section:
    from ..analysis import calibration, pair_accuracy, plot_accuracy

    scored, progs = _read(run, "06_rm_pair_scores"), _read(run, "06_rm_program_scores")
    if scored is None:
        return _missing("Reward model (phase 06)", "06_rm_pair_scores")
    acc = pair_accuracy(scored, by=("split", "kind"))
    tables = [("pair accuracy (chance: 50%)", acc.round(3))]
    metrics = {"pair_accuracy": acc.to_dict("records")}
    if progs is not None:
        cal = pd.DataFrame(calibration(progs)).T
        tables.append(("calibration (Spearman of score vs pass rate)", cal))
        metrics["calibration"] = cal.to_dict()
    cfg = run_settings(run)
    s06 = cfg.get("06", {})
    backbone = s06.get("REWARD_MODEL") or s06.get("BASE_MODEL")
    return Section("Reward model (phase 06)", True,
                   "The paper reports RM-Bench (AceCodeRM-7B 72.2) and Best-of-N; there is no held-out pair accuracy "
                   f"to set beside ours. This run: {_model(backbone)} on {cfg.get('pairs', '?')} sampled pairs "
                   f"(training source {s06.get('PAIRS_SOURCE', '?')}), on {cfg['device']}.",
                   tables=tables, figures=[("10_rm_accuracy", plot_accuracy(acc))], metrics=metrics)


def bestofn_section(run: str) -> Section:
    from ..analysis import plot_accuracy_vs_n, table2

    results = _read(run, "07_results")
    if results is None:
        return _missing("Best-of-N (Table 2)", "07_results")
    s07, s06 = run_settings(run).get("07", {}), run_settings(run).get("06", {})
    rm = s07.get("REWARD_MODEL") or s06.get("REWARD_MODEL") or s06.get("BASE_MODEL")
    return Section("Best-of-N (Table 2)", True,
                   "Same strategies as the paper's Table 2 (greedy, RM@N, oracle), plus random and test-majority. "
                   f"This run: {_model(s07.get('POLICY_MODEL'))}, N up to {s07.get('N_MAX', '?')}, RM from "
                   f"{_model(rm)}, on {', '.join(sorted(results['benchmark'].unique()))}; the paper: 7-8B policies "
                   "with AceCodeRM-7B, N up to 64.",
                   tables=[("this run (accuracy %)", table2(results)), ("paper (S6, %)", PAPER["table2"])],
                   figures=[("10_best_of_n", plot_accuracy_vs_n(results))],
                   metrics={"table2": table2(results).reset_index().to_dict("records")})


def rl_section(run: str) -> Section:
    from ..analysis import before_after, plot_before_after, time_split

    evals, steps = _read(run, "08_rl_eval"), _read(run, "08_rl_steps")
    if evals is None or steps is None:
        return _missing("Reinforcement learning (Table 3)", "08_rl_eval", "08_rl_steps")
    cfg = run_settings(run)
    s08 = cfg.get("08", {})
    return Section("Reinforcement learning (Table 3)", True,
                   "The paper: Reinforce++ on ~22K hard questions, 80+ steps of batch 128 on 7B models. "
                   f"This run: trl {s08.get('ALGORITHM', '?')} on {_model(s08.get('POLICY_MODEL'))} "
                   f"({s08.get('QUESTIONS', '?')} questions, rewards "
                   f"{', '.join(map(str, s08.get('REWARDS', ['?'])))}), {cfg.get('rl_steps', '?')} logged steps on "
                   f"{cfg['device']}; the before/after CIs say what is noise.",
                   tables=[("greedy pass@1 %, before and after", before_after(evals)),
                           ("paper (S7, %)", PAPER["table3"]), ("seconds per step", time_split(steps))],
                   figures=[("10_rl_before_after", plot_before_after(evals))],
                   metrics={"before_after": before_after(evals).to_dict(), "time_split": time_split(steps).to_dict()})


def scaling_section(run: str) -> Section:
    from ..analysis import curve_summary, plot_allocation, plot_curves

    curves, alloc = _read(run, "09_curves"), _read(run, "09_allocation")
    if curves is None or alloc is None:
        return _missing("Dynamic scaling of unit tests (CodeRM)", "09_curves", "09_allocation")
    summary = curve_summary(curves)
    overall = alloc[alloc["quintile"] == "all"].pivot_table(index=["source", "budget_per_question"],
                                                            columns="strategy", values="accuracy").reset_index()
    overall["gain"] = overall["dynamic"] - overall["uniform"]
    s09 = run_settings(run).get("09", {})
    return Section("Dynamic scaling of unit tests (CodeRM)", True,
                   "The paper: CodeRM-8B writes up to 100 tests for 100 programs per problem. "
                   f"This run: phase 04's programs; tests from {', '.join(map(str, s09.get('SOURCES', ['?'])))} (llm: "
                   f"{_model(s09.get('TEST_MODEL'))}, up to {s09.get('LLM_MAX_TESTS', '?')} per question; grounded: "
                   "half of each question's execution-grounded tests select, the other half judge).",
                   tables=[("accuracy vs tests", summary.round(3)), ("uniform vs dynamic", overall.round(3)),
                           ("paper (S8, best-of-100 with 100 tests, %)", PAPER["coderm"])],
                   figures=[("10_scaling", plot_curves(summary)), ("10_allocation", plot_allocation(alloc))],
                   metrics={"curves": summary.to_dict("records"), "allocation": overall.to_dict("records")})


SECTIONS = (funnel_section, pairs_section, rm_section, bestofn_section, rl_section, scaling_section)


def gather(run: str) -> list[Section]:
    """Every section of the report for ``run`` (missing phases give a section that says so)."""
    return [make(run) for make in SECTIONS]


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(classes="table", border=0, na_rep="", float_format=lambda x: f"{x:.3g}")


def write_html(sections: list[Section], path: str | Path, title: str, header: str = "") -> Path:
    """One HTML file: every table, every figure (plotly.js inlined once, so it opens offline)."""
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "margin:1em 0}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}.note{color:#444}"
             ".missing{color:#a00}</style></head><body>", f"<h1>{html.escape(title)}</h1>", header]
    first = True
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts.append(f"<p class='{'note' if s.available else 'missing'}'>{html.escape(s.note)}</p>")
        for caption, table in s.tables:
            parts.append(f"<h4>{html.escape(caption)}</h4>{_table_html(table)}")
        for _, fig in s.figures:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
            first = False
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def headline(sections: list[Section]) -> dict:
    """The metrics of every available section, JSON-ready (``10_report.json``)."""
    return json.loads(json.dumps({s.title: s.metrics for s in sections if s.available}, default=str))




def _share(mask) -> float | None:
    return float(mask.mean()) if len(mask) else None


def headline_metrics(run: str) -> dict:
    """The run's headline numbers in the fixed layout of ``figures/<RUN_NAME>/metrics.json`` (issue 15: a script
    can check them): a key whose phase did not run, or whose figure this run does not record, is None and
    ``missing`` says why. ``wall_seconds`` sums the batch runner's per-notebook seconds of the notebooks finished so
    far (called from notebook 10, all but its own ~30 s); ``wall_span_seconds`` is first start to last finish, so
    the two agree only for a run made in one sitting."""
    from datetime import datetime

    from ..analysis import pair_accuracy
    from ..core import paths
    from ..core.metrics import slope_ci, steps_to_detect, trend_residual_sd
    from ..core.splits import is_usable

    out: dict = {"run": run, "wall_seconds": None, "wall_span_seconds": None, "pairs": None,
                 "llm_synthesis_usable_share": None, "proxy_kept_share": None, "rm_heldout_sampled": None,
                 "best_of_n": [], "best_of_n_vs_average": [], "rl": None, "difficulty_spearman": None, "missing": {}}
    missing = out["missing"]
    state_file = paths.run_dir(run, create=False) / "batch_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    done = {k: v for k, v in state.items() if isinstance(v, dict) and v.get("seconds") is not None}
    if done:
        out["wall_seconds"] = int(round(sum(v["seconds"] for v in done.values())))
        ends = [(datetime.fromisoformat(v["finished_at"]), v["seconds"]) for v in done.values() if v.get("finished_at")]
        if ends:
            start = min(e.timestamp() - sec for e, sec in ends)
            out["wall_span_seconds"] = int(round(max(e.timestamp() for e, _ in ends) - start))
    else:
        missing["wall_seconds"] = "no batch_state.json: the run was not made with the batch runner"
    pairs_ = _read(run, "05_pairs")
    out["pairs"] = None if pairs_ is None else int(len(pairs_))
    questions = _read(run, "02_questions")
    if questions is not None:
        llm = questions[questions["method"] == "llm"]
        # usable: parsed, with at least the 5 asserts the filter needs to keep a question (paper S3)
        out["llm_synthesis_usable_share"] = _share(is_usable(llm) & llm["tests"].map(len).ge(5)) if len(llm) else None
        if not len(llm):
            missing["llm_synthesis_usable_share"] = "phase 02 ran no LLM synthesis"
    report = _read(run, "03_filter_report")
    if report is not None:
        proxy = report[report["oracle"] == "proxy"]
        out["proxy_kept_share"] = _share(proxy["status"] == "kept")
        if not len(proxy):
            missing["proxy_kept_share"] = "phase 03 ran no proxy filter"
    scored = _read(run, "06_rm_pair_scores")
    if scored is not None:
        held = scored[(scored["split"] == "heldout") & (scored["kind"] == "sampled")]
        if len(held):
            r = pair_accuracy(held, by=("kind",)).iloc[0]
            out["rm_heldout_sampled"] = {"n": int(r["pairs"]), "accuracy": float(r["accuracy"]),
                                         "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                                         "questions": int(r["questions"]),
                                         "ci_low_by_question": _finite(r["ci_low_by_question"]),
                                         "ci_high_by_question": _finite(r["ci_high_by_question"])}
        else:
            missing["rm_heldout_sampled"] = "no held-out sampled pairs"
    results = _read(run, "07_results")
    if results is not None:
        out["best_of_n"] = [{"benchmark": str(r.benchmark), "strategy": str(r.strategy), "n": int(r.n),
                             "accuracy": float(r.accuracy), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high)}
                            for r in results.itertuples()]
    differences = _read(run, "07_differences")
    if differences is not None:  # each selector minus the average pick, CI paired over questions
        out["best_of_n_vs_average"] = [{"benchmark": str(r.benchmark), "strategy": str(r.strategy), "n": int(r.n),
                                        "questions": int(r.questions), "difference": float(r.difference),
                                        "ci_low": _finite(float(r.ci_low)), "ci_high": _finite(float(r.ci_high))}
                                       for r in differences.itertuples()]
    steps, evals = _read(run, "08_rl_steps"), _read(run, "08_rl_eval")
    if steps is not None and evals is not None:
        first = steps["reward"].iloc[0]
        mine = steps[steps["reward"] == first]
        slope, lo, hi = slope_ci(mine["step"], mine["train_reward"])
        held = evals[evals["benchmark"] == "heldout"]
        before = held[held["policy"] == "base"]["correct"]
        after = held[held["policy"] == f"rl-{first}"]["correct"]
        share = mine["nonzero_advantage_share"] if "nonzero_advantage_share" in mine else pd.Series(dtype=float)
        share = share.dropna()
        # the extrapolation of notebook 08 (p08.detection_budget) for one hypothesised slope: how many steps of this
        # run's noise and step time a rise of 0.01 per step would need to show (95% CI above 0 in 80% of runs)
        needed = steps_to_detect(trend_residual_sd(mine["step"], mine["train_reward"]), RL_DETECT_SLOPE)
        step_s = float(mine["step_s"].mean()) if "step_s" in mine and mine["step_s"].notna().any() else None
        out["rl"] = {"reward": str(first), "steps": int(len(mine)),
                     "nonzero_advantage_share": float(share.mean()) if len(share) else None,
                     "reward_slope": slope, "reward_slope_ci_low": lo, "reward_slope_ci_high": hi,
                     "heldout_questions": int(len(before)), "heldout_before": _share(before.astype(float)),
                     "heldout_after": _share(after.astype(float)),
                     "detect_slope": RL_DETECT_SLOPE, "steps_to_detect": needed,
                     "hours_to_detect": needed * step_s / 3600 if needed and step_s else None}
        if not len(share):
            missing["rl.nonzero_advantage_share"] = "trl logged no frac_reward_zero_std for these steps"
    difficulty = _read(run, "09_difficulty")
    if difficulty is not None and len(difficulty) > 2:
        rho = difficulty["predicted_pass_rate"].corr(difficulty["true_pass_rate"], method="spearman")
        out["difficulty_spearman"] = None if rho != rho else float(rho)
        if rho != rho:
            missing["difficulty_spearman"] = "predicted or true pass rates are constant: Spearman is undefined"
    for key, phase in (("pairs", "05"), ("llm_synthesis_usable_share", "02"), ("proxy_kept_share", "03"),
                       ("rm_heldout_sampled", "06"), ("rl", "08"), ("difficulty_spearman", "09")):
        if out[key] is None:
            missing.setdefault(key, f"phase {phase} has not run (or wrote nothing to compute it from)")
    if not out["best_of_n"]:
        missing["best_of_n"] = "phase 07 has not run"
    return out


def _finite(value):
    """NaN and infinities (a CI of one pair) as None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_metrics(run: str, publish: bool = False) -> list[Path]:
    """``headline_metrics`` as ``runs/<RUN_NAME>/10_metrics.json`` and, with ``publish``, the committed copy
    ``figures/<RUN_NAME>/metrics.json`` (what the README's numbers are checked against)."""
    from ..core import paths

    text = json.dumps(_finite(headline_metrics(run)), indent=1, allow_nan=False, default=str) + "\n"
    targets = [paths.run_dir(run) / "10_metrics.json"]
    if publish:
        targets.append(paths.FIGURES_DIR / paths.check_run_name(run) / "metrics.json")
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return targets


def metrics_markdown(metrics: dict, n: int | None = None) -> str:
    """The README's results block, generated from a ``headline_metrics`` dict (``figures/default/metrics.json``):
    a headline table, and Best-of-N at the largest N (or ``n``) per benchmark. Every figure comes from the dict, so
    ``scripts/readme_metrics.py --check`` can tell when the README and the committed file disagree."""
    def pct(v):
        return "n/a" if v is None else f"{v:.1%}"

    def ci(d):
        return "n/a" if not d else f"{d['accuracy']:.1%} [{d['ci_low']:.1%}, {d['ci_high']:.1%}] (n = {d['n']})"

    rl = metrics.get("rl") or {}
    slope = rl.get("reward_slope")
    rows = [
        ("wall time of the chain, summed over notebooks", f"{metrics.get('wall_seconds')} s"),
        ("LLM synthesis: usable questions (>= 5 asserts) per seed",
         pct(metrics.get("llm_synthesis_usable_share"))),
        ("proxy filter: questions kept (paper: 72%)", pct(metrics.get("proxy_kept_share"))),
        ("preference pairs (paper rule)", str(metrics.get("pairs"))),
        ("reward model, held-out sampled pairs", ci(metrics.get("rm_heldout_sampled"))),
        *([("the same, 95% CI resampling whole questions",
            f"[{rm['ci_low_by_question']:.1%}, {rm['ci_high_by_question']:.1%}] ({rm.get('questions')} questions)")]
          if (rm := metrics.get("rm_heldout_sampled") or {}).get("ci_low_by_question") is not None else []),
        ("RL (rule reward): groups with reward variance", pct(rl.get("nonzero_advantage_share"))),
        ("RL: training-reward slope per step [95% CI]",
         "n/a" if slope is None else f"{slope:+.3f} [{rl.get('reward_slope_ci_low'):+.3f}, "
                                     f"{rl.get('reward_slope_ci_high'):+.3f}]"),
        *([(f"RL: steps a slope of {rl['detect_slope']:+.2f}/step would need to show, at this run's noise",
            f"{rl['steps_to_detect']} (~{rl['hours_to_detect']:.1f} h at its step time)"
            if rl.get("hours_to_detect") is not None else str(rl["steps_to_detect"]))]
          if rl.get("steps_to_detect") is not None else []),
        ("RL: greedy pass@1 on the held-out questions, before -> after",
         "n/a" if rl.get("heldout_before") is None else
         f"{rl['heldout_before']:.1%} -> {rl['heldout_after']:.1%} ({rl.get('heldout_questions')} questions)"),
        ("difficulty estimate: Spearman with the true pass rate",
         "n/a" if metrics.get("difficulty_spearman") is None else f"{metrics['difficulty_spearman']:.2f}"),
    ]
    out = ["| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], ""]
    bon = pd.DataFrame(metrics.get("best_of_n") or [])
    if len(bon):
        n = n or int(bon["n"].max())
        top = bon[bon["n"] == n]
        order = ["greedy", "average", "random", "reward_model", "test_majority", "oracle"]
        out += [f"Best-of-{n}, accuracy [95% CI]:", "", "| strategy | " + " | ".join(sorted(top["benchmark"].unique()))
                + " |", "|---|" + "---|" * top["benchmark"].nunique()]
        for strategy in [s for s in order if s in set(top["strategy"])]:
            cells = []
            for bench in sorted(top["benchmark"].unique()):
                r = top[(top["benchmark"] == bench) & (top["strategy"] == strategy)]
                cells.append("" if r.empty else f"{r['accuracy'].iloc[0]:.1%} [{r['ci_low'].iloc[0]:.1%}, "
                                                f"{r['ci_high'].iloc[0]:.1%}]")
            out.append(f"| {strategy} | " + " | ".join(cells) + " |")
        out.append("")
    diff = pd.DataFrame(metrics.get("best_of_n_vs_average") or [])
    if len(diff) and len(bon):
        top = diff[(diff["n"] == n) & diff["ci_low"].notna()]
        benches = sorted(top["benchmark"].unique())
        out += [f"Best-of-{n} minus the average pick, paired over questions, in points [95% CI]:", "",
                "| strategy | " + " | ".join(benches) + " |", "|---|" + "---|" * len(benches)]
        for strategy in [s for s in ("random", "reward_model", "test_majority") if s in set(top["strategy"])]:
            cells = []
            for bench in benches:
                r = top[(top["benchmark"] == bench) & (top["strategy"] == strategy)]
                if r.empty:
                    cells.append("")
                    continue
                d, lo, hi = (100 * r[k].iloc[0] for k in ("difference", "ci_low", "ci_high"))
                cells.append(f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]")
            out.append(f"| {strategy} | " + " | ".join(cells) + " |")
        out.append("")
    if metrics.get("missing"):
        out += ["Not computed: " + "; ".join(f"{k} ({v})" for k, v in metrics["missing"].items()), ""]
    return "\n".join(out)


def report_frame(sections: list[Section]) -> pd.DataFrame:
    """``10_report`` rows of ``sections``."""
    return pd.DataFrame([{"section": s.title, "available": s.available, "note": s.note,
                          "metrics": json.dumps(s.metrics, default=str)} for s in sections],
                        columns=REPORT.column_names)

"""The reproduction report (phase 10): sections from artifacts, missing phases named, one offline HTML file."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from acecoder_lib.core import io, metrics, schemas
from acecoder_lib.phases import p10_report as report


def test_a_partial_run_reports_what_it_has_and_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    results = pd.DataFrame({"benchmark": ["humaneval"] * 3, "strategy": ["greedy", "oracle", "oracle"], "n": [1, 1, 4],
                            "questions": [10, 10, 10], "accuracy": [0.1, 0.1, 0.3], "ci_low": [0.0, 0.0, 0.1],
                            "ci_high": [0.3, 0.3, 0.6]})
    io.write_artifact("r", schemas.BON_RESULTS, results)
    sections = report.gather("r")
    by = {s.title: s for s in sections}
    assert by["Best-of-N (Table 2)"].available
    assert not by["Reward model (phase 06)"].available and "06_rm_pair_scores" in by["Reward model (phase 06)"].note
    t2 = dict(by["Best-of-N (Table 2)"].tables)["this run (accuracy %)"]
    assert t2.loc["oracle@4", "humaneval"] == 30.0 and t2.loc["greedy", "humaneval"] == 10.0
    path = report.write_html(sections, tmp_path / "r" / "10_report.html", "t")
    text = path.read_text()
    assert text.count("<h2>") == len(sections) and "not in this run" in text and "plotly" in text.lower()
    frame = report.report_frame(sections)
    assert list(frame.columns) == schemas.REPORT.column_names
    assert json.loads(frame.set_index("section").loc["Best-of-N (Table 2)", "metrics"])["table2"]


def test_headline_metrics_keep_their_layout_on_a_partial_run(monkeypatch, tmp_path):
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    results = pd.DataFrame({"benchmark": ["heldout"], "strategy": ["reward_model"], "n": [8], "questions": [1],
                            "accuracy": [1.0], "ci_low": [float("nan")], "ci_high": [float("nan")]})
    io.write_artifact("r", schemas.BON_RESULTS, results)
    diffs = pd.DataFrame({"benchmark": ["heldout"], "strategy": ["reward_model"], "n": [8], "questions": [1],
                          "difference": [0.5], "ci_low": [float("nan")], "ci_high": [float("nan")]})
    io.write_artifact("r", schemas.BON_DIFFERENCES, diffs)
    scored = pd.DataFrame({"question_id": ["a", "b", "c"], "split": ["heldout", "heldout", "train"],
                           "kind": ["sampled"] * 3, "r_chosen": [1.0, 0.0, 1.0], "r_rejected": [0.0, 1.0, 0.0],
                           "chosen_pass_rate": [1.0] * 3, "rejected_pass_rate": [0.0] * 3,
                           "correct": [True, False, True]})
    io.write_artifact("r", schemas.PAIR_SCORES, scored)
    (tmp_path / "r" / "batch_state.json").write_text(json.dumps({
        "06_train_reward_model": {"seconds": 100.4, "finished_at": "2026-12-02T10:01:40+00:00"},
        "07_best_of_n": {"seconds": 50.0, "finished_at": "2026-12-02T11:00:00+00:00"}}))
    written = report.write_metrics("r")
    metrics = json.loads(written[0].read_text())  # strict JSON: the NaN CIs became null
    assert written == [tmp_path / "r" / "10_metrics.json"]
    assert {"wall_seconds", "pairs", "llm_synthesis_usable_share", "proxy_kept_share", "rm_heldout_sampled",
            "best_of_n", "rl", "difficulty_spearman"} <= set(metrics)
    assert metrics["wall_seconds"] == 150 and metrics["wall_span_seconds"] == 3600  # two sittings: 10:00 to 11:00
    assert metrics["rm_heldout_sampled"]["n"] == 2 and metrics["rm_heldout_sampled"]["accuracy"] == 0.5
    assert metrics["best_of_n"] == [{"benchmark": "heldout", "strategy": "reward_model", "n": 8, "accuracy": 1.0,
                                     "ci_low": None, "ci_high": None}]
    assert metrics["best_of_n_vs_average"] == [{"benchmark": "heldout", "strategy": "reward_model", "n": 8,
                                                "questions": 1, "difference": 0.5, "ci_low": None, "ci_high": None}]
    assert metrics["pairs"] is None and "phase 05" in metrics["missing"]["pairs"]
    assert metrics["rl"] is None and metrics["difficulty_spearman"] is None


def test_headline_rl_metrics_carry_the_trend_and_the_steps_a_slope_would_need(monkeypatch, tmp_path):
    from acecoder_lib.core.metrics import steps_to_detect, trend_residual_sd

    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    reward = [0.5, 0.375, 0.25, 0.625, 0.5, 0.375]
    steps = pd.DataFrame({c: [float("nan")] * 6 for c in schemas.RL_STEPS.column_names})
    steps = steps.assign(reward="rule", step=range(1, 7), train_reward=reward, step_s=36.0,
                         nonzero_advantage_share=[1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    io.write_artifact("r", schemas.RL_STEPS, steps)
    evals = pd.DataFrame({"policy": ["base", "base", "rl-rule", "rl-rule"], "question_id": ["a", "b"] * 2,
                          "benchmark": "heldout", "correct": [False, True, True, True], "pass_rate": [0.0, 1, 1, 1],
                          "extraction": "ok"})
    io.write_artifact("r", schemas.RL_EVAL, evals)
    rl = report.headline_metrics("r")["rl"]
    assert rl["steps"] == 6 and rl["nonzero_advantage_share"] == pytest.approx(5 / 6)
    assert rl["heldout_before"] == 0.5 and rl["heldout_after"] == 1.0 and rl["heldout_questions"] == 2
    assert rl["reward_slope_ci_low"] < rl["reward_slope"] < rl["reward_slope_ci_high"]
    needed = steps_to_detect(trend_residual_sd(range(1, 7), reward), 0.01)
    assert rl["detect_slope"] == 0.01 and rl["steps_to_detect"] == needed > 6
    assert rl["hours_to_detect"] == pytest.approx(needed * 36 / 3600)
    table = report.metrics_markdown(report.headline_metrics("r"))
    assert f"| RL: steps a slope of +0.01/step would need to show, at this run's noise | {needed} (~" in table


def test_reward_slope_ci_is_a_t_interval_and_needs_three_steps():
    slope, lo, hi = metrics.slope_ci([1, 2, 3, 4], [0.1, 0.2, 0.25, 0.4])
    assert slope == pytest.approx(0.095) and lo < slope < hi and lo > 0
    assert metrics.slope_ci([1, 2], [0.0, 1.0]) == (None, None, None)
    assert metrics.slope_ci([1, 1, 1], [0.0, 1.0, 0.5]) == (None, None, None)


def test_notes_describe_the_run_from_its_own_settings(monkeypatch, tmp_path):
    """A fake paper run (artifact metas with the paper profile's parameters, a CUDA device in 00_environment): the
    notes name its models, sizes and device, and none of the CPU run's wording."""
    monkeypatch.setenv("ACECODER_RUNS_DIR", str(tmp_path))
    env = pd.DataFrame([{"category": "backend", "component": "cuda", "available": True,
                         "detail": "torch 2.14.0, 8 x NVIDIA H100 80GB HBM3", "why_not": ""}])
    io.write_artifact("paper", schemas.ENVIRONMENT, env)
    results = pd.DataFrame({"benchmark": ["humaneval+", "humaneval+ (base)"], "strategy": ["greedy"] * 2, "n": [1, 1],
                            "questions": [164, 164], "accuracy": [0.86, 0.91], "ci_low": [0.8, 0.86],
                            "ci_high": [0.9, 0.95]})
    io.write_artifact("paper", schemas.BON_RESULTS, results,
                      params={"POLICY_MODEL": "Qwen/Qwen2.5-Coder-7B-Instruct", "N_MAX": 64,
                              "REWARD_MODEL": "TIGER-Lab/AceCodeRM-7B"})
    programs = pd.DataFrame(columns=schemas.PROGRAMS.column_names)
    io.write_artifact("paper", schemas.PROGRAMS, programs,
                      params={"POLICY_MODEL": "Qwen/Qwen2.5-Coder-7B-Instruct", "N_SAMPLES": 16, "TEMPERATURE": 0.7})
    io.write_artifact("paper", schemas.PAIRS, pd.DataFrame(columns=schemas.PAIRS.column_names))
    settings = report.run_settings("paper")
    assert settings["device"].startswith("GPU") and settings["04"]["N_SAMPLES"] == 16
    by = {s.title: s for s in report.gather("paper")}
    bon, pairs = by["Best-of-N (Table 2)"].note, by["Pass rates and preference pairs"].note
    assert "Qwen2.5-Coder-7B-Instruct, N up to 64, RM from AceCodeRM-7B" in bon
    assert "humaneval+ (base)" in bon and "135M" not in bon + pairs
    assert "Qwen2.5-Coder-7B-Instruct with 16 samples per question at temperature 0.7" in pairs


def test_the_paper_columns_carry_every_row_paper_facts_gives():
    t2, t3 = report.PAPER["table2"], report.PAPER["table3"]
    assert len(t2) == 9 and set(t2[t2["strategy"] == "oracle@64"]["average"]) == {72.3, 78.9}  # S6
    assert t2.set_index(["policy", "strategy"]).loc[("Mistral-7B-Instruct", "reward_model@64 (AceCodeRM-7B)"),
                                                    "humaneval"] == 71.3
    assert len(t3) == 6 and t3["average"].notna().all()  # S7: every row has its all-benchmark average
    assert report.PAPER["table1_sources"]["questions after"].iloc[:3].sum() == 89_422  # S3: per source sums up
    assert len(report.PAPER["coderm"]) == 3  # S8

"""The README's results block is generated from the committed headline numbers (scripts/readme_metrics.py)."""
import importlib.util

from acecoder_lib.core import paths
from acecoder_lib.phases.p10_report import metrics_markdown


def _script():
    spec = importlib.util.spec_from_file_location("readme_metrics", paths.REPO_ROOT / "scripts" / "readme_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_matches_the_committed_metrics():
    assert _script().main(["--check"]) == 0, "run .venv/bin/python scripts/readme_metrics.py"


def test_block_is_rendered_from_the_numbers(tmp_path):
    metrics = {"wall_seconds": 1234, "pairs": 7, "llm_synthesis_usable_share": 0.5, "proxy_kept_share": 0.25,
               "rm_heldout_sampled": {"n": 100, "accuracy": 0.61, "ci_low": 0.51, "ci_high": 0.7},
               "best_of_n": [{"benchmark": "heldout", "strategy": s, "n": n, "accuracy": a, "ci_low": 0.0,
                              "ci_high": 0.5} for s, n, a in (("average", 8, 0.1), ("reward_model", 8, 0.2),
                                                              ("reward_model", 4, 0.9))],
               "rl": None, "difficulty_spearman": None, "missing": {"rl": "phase 08 has not run"}}
    text = metrics_markdown(metrics)
    assert "| reward model, held-out sampled pairs | 61.0% [51.0%, 70.0%] (n = 100) |" in text
    assert "| preference pairs (paper rule) | 7 |" in text
    assert "| wall time of the chain, summed over notebooks | 1234 s |" in text
    assert "Best-of-8" in text and "| reward_model | 20.0% [0.0%, 50.0%] |" in text and "90.0%" not in text
    assert "Not computed: rl (phase 08 has not run)" in text
    assert "minus the average pick" not in text  # no paired differences in these metrics: no such table
    metrics["best_of_n_vs_average"] = [{"benchmark": "heldout", "strategy": "reward_model", "n": 8, "questions": 30,
                                        "difference": 0.084, "ci_low": 0.016, "ci_high": 0.169}]
    assert "| reward_model | +8.4 [+1.6, +16.9] |" in metrics_markdown(metrics)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- metrics:begin -->\nold\n<!-- metrics:end -->\nrest\n")
    new = _script().rendered(readme.read_text(), metrics)
    assert new.startswith("intro\n<!-- metrics:begin -->\n| measure |") and new.endswith("<!-- metrics:end -->\nrest\n")
    assert "old" not in new

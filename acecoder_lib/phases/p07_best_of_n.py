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

from ..llm import prompts
from ..execution import split_test_code
from ..core.metrics import bootstrap_ci
from ..code.testgen import rank_by_tests
from ..core.schemas import ENTRY_POINT, PASS_RATE, PROGRAM, QUESTION, QUESTION_ID, TESTS, Column, Schema, register

STRATEGIES = ("greedy", "average", "random", "oracle", "reward_model", "test_majority")
PAPER_TEMPERATURE = 1.0  # PAPER_FACTS S6: top-p sampling at temperature 1.0

PROBLEMS = register(Schema(
    name="07_problems",
    version=1,
    doc="Evaluation problems of phase 07: the prompt each strategy sees and the hidden tests that decide correctness.",
    columns=(
        Column(QUESTION_ID, "str", doc="benchmark task id or held-out question id"),
        Column("benchmark", "str", doc="humaneval | heldout | humaneval+ | mbpp+ ..."),
        Column(QUESTION, "str", doc="the text the reward model and the test generator see"),
        Column(TESTS, "list[str]", doc="hidden tests, one snippet each"),
        Column(ENTRY_POINT, "str"),
        Column("prompt_style", "str", doc="eval (evalplus's prompt with the raw signature+docstring) | solve (paper's)"),
        Column("shown_tests", "list[str]", doc="tests shown in the solve prompt (held-out questions: the first 2)"),
    ),
))
SAMPLES = register(Schema(
    name="07_programs",
    version=1,
    doc="Every program phase 07 drew (greedy and sampled), executed on the hidden tests, scored by the RM and "
        "checked against the policy's generated tests.",
    columns=(
        Column(QUESTION_ID, "str"), Column("benchmark", "str"),
        Column("kind", "str", doc="greedy | sample"),
        Column("sample", "int", doc="0..N-1 for samples, 0 for greedy"),
        Column(PROGRAM, "str"), Column("extraction", "str"), Column("status", "str"),
        Column("n_tests", "int"), Column("n_passed", "int"), Column(PASS_RATE, "float"),
        Column("correct", "bool", doc="passes every hidden test"),
        Column("rm_score", "float", nullable=True, doc="reward-model score (NaN without a reward model)"),
        Column("generated_passed", "list[int]", doc="1/0 per generated test of the question, in order"),
    ),
))
GENERATED_TESTS = register(Schema(
    name="07_generated_tests",
    version=1,
    doc="Unit tests the policy wrote for each evaluation problem (for the test_majority strategy).",
    columns=(Column(QUESTION_ID, "str"), Column("benchmark", "str"), Column(TESTS, "list[str]"),
             Column("dropped", "json", doc="reason -> count of snippets dropped by testgen.parse_tests")),
))
RESULTS = register(Schema(
    name="07_results",
    version=1,
    doc="Best-of-N accuracy per benchmark, strategy and N, with a bootstrap 95% CI over questions.",
    columns=(Column("benchmark", "str"), Column("strategy", "str"), Column("n", "int"), Column("questions", "int"),
             Column("accuracy", "float"), Column("ci_low", "float"), Column("ci_high", "float")),
))


def humaneval_problems(evalset: pd.DataFrame, limit: int = 0) -> pd.DataFrame:
    """``07_problems`` rows of an eval set (``data.load_eval_set``): each ``check`` split into one test per assert."""
    rows = evalset.head(limit) if limit else evalset
    out = pd.DataFrame({QUESTION_ID: rows["task_id"].to_numpy(), "benchmark": rows["benchmark"].to_numpy(),
                        QUESTION: rows["prompt"].to_numpy(),
                        TESTS: [split_test_code(t, e) for t, e in zip(rows["test"], rows[ENTRY_POINT])],
                        ENTRY_POINT: rows[ENTRY_POINT].to_numpy(), "prompt_style": "eval"})
    out["shown_tests"] = [[] for _ in range(len(out))]
    empty = out[out[TESTS].map(len) == 0]
    if len(empty):
        raise ValueError(f"{len(empty)} problem(s) have no test snippet, e.g. {empty[QUESTION_ID].iloc[0]}")
    return out[PROBLEMS.column_names]


def heldout_problems(questions: pd.DataFrame, limit: int = 0, n_tests_shown: int = 2) -> pd.DataFrame:
    """``07_problems`` rows of phase 03's held-out questions (shortest reference first when ``limit``)."""
    rows = questions[questions["split"] == "heldout"]
    if limit:
        rows = rows.assign(_len=rows["reference"].str.len()).sort_values("_len", kind="stable").head(limit)
    out = pd.DataFrame({QUESTION_ID: rows[QUESTION_ID].to_numpy(), "benchmark": "heldout",
                        QUESTION: rows[QUESTION].to_numpy(), TESTS: [list(t) for t in rows[TESTS]],
                        ENTRY_POINT: rows[ENTRY_POINT].to_numpy(), "prompt_style": "solve"})
    out["shown_tests"] = [list(t)[:n_tests_shown] for t in rows[TESTS]]
    return out[PROBLEMS.column_names]


def messages_for(problems: pd.DataFrame) -> list[list[dict]]:
    """The policy's chat per problem: evalplus's prompt for HumanEval-style rows, the paper's solve prompt else."""
    return [prompts.eval_messages(p.question) if p.prompt_style == "eval" else
            prompts.solve_messages(p.question, list(p.shown_tests), n_tests_shown=len(p.shown_tests))
            for p in problems.itertuples()]


def sample_blocks(problems: pd.DataFrame, backend, cache, n: int, block: int = 4, temperature: float = PAPER_TEMPERATURE,
                  top_p: float = 1.0, max_new_tokens: int = 512, seed: int = 0, batch_size: int = 4,
                  namespace: str | None = None, progress=None) -> pd.DataFrame:
    """``n`` samples per problem drawn in blocks of ``block`` (block b uses seed + b and is cached on its own), so
    asking for a larger ``n`` later reuses the blocks already drawn. Rows as ``sampling.sample_programs``."""
    from ..phases.p04_sample_programs import sample_programs

    if n < 1 or block < 1:
        raise ValueError(f"n and block must be >= 1, got n={n}, block={block}")
    messages = messages_for(problems)
    frames = []
    for b in range((n + block - 1) // block):
        part = sample_programs(problems, backend, cache, n=block, temperature=temperature, top_p=top_p,
                               max_new_tokens=max_new_tokens, seed=seed + b, batch_size=batch_size,
                               namespace=namespace, progress=progress, messages=messages)
        frames.append(part.assign(sample=part["sample"] + b * block))
    out = pd.concat(frames, ignore_index=True)
    return out[out["sample"] < n].sort_values([QUESTION_ID, "sample"], kind="stable").reset_index(drop=True)


def greedy(problems: pd.DataFrame, backend, cache, max_new_tokens: int = 512, batch_size: int = 4,
           namespace: str | None = None) -> pd.DataFrame:
    """One temperature-0 program per problem (rows as ``sampling.sample_programs``)."""
    from ..phases.p04_sample_programs import sample_programs

    return sample_programs(problems, backend, cache, n=1, temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens,
                           batch_size=batch_size, namespace=namespace, messages=messages_for(problems))


def generate_tests(problems: pd.DataFrame, backend, cache, n_tests: int = 5, max_new_tokens: int = 256,
                   batch_size: int = 4, namespace: str | None = None, style: str = "assert", n_samples: int = 1,
                   temperature: float = 0.0, max_tests: int | None = None, seed: int = 0) -> pd.DataFrame:
    """``07_generated_tests``: the policy's own unit tests per problem (cached), parsed and validated. With
    ``n_samples`` > 1 (and a temperature), the answers' tests are pooled, duplicates dropped, at most ``max_tests``."""
    import json

    from ..core.cache import cached_generate
    from ..code.testgen import parse_tests

    msgs = [prompts.test_messages(p.question, p.entry_point, n_tests=n_tests, style=style) for p in problems.itertuples()]
    failures: dict[int, str] = {}
    outs = cached_generate(backend, msgs, cache, namespace=namespace or backend.namespace, batch_size=batch_size,
                           failures=failures, n=n_samples, temperature=temperature, top_p=1.0,
                           max_new_tokens=max_new_tokens, seed=seed)
    rows = []
    for i, (p, m, answers) in enumerate(zip(problems.itertuples(), msgs, outs)):
        tests, dropped = [], {"backend_error": 1} if i in failures else {}
        for answer in answers:
            parsed = parse_tests(m[-1]["content"] + (answer or ""), p.entry_point, max_tests=n_tests)
            for reason, count in parsed.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
            for t in parsed.tests:
                if t in tests:
                    dropped["duplicate"] = dropped.get("duplicate", 0) + 1
                elif max_tests is None or len(tests) < max_tests:
                    tests.append(t)
        rows.append({QUESTION_ID: p.question_id, "benchmark": p.benchmark, TESTS: tests, "dropped": json.dumps(dropped)})
    return pd.DataFrame(rows, columns=GENERATED_TESTS.column_names)


def assemble(problems: pd.DataFrame, samples: pd.DataFrame, greedy_samples: pd.DataFrame | None, engine,
             rm=None, generated: pd.DataFrame | None = None, rm_batch_size: int = 8) -> pd.DataFrame:
    """``07_programs``: greedy and sampled programs executed on the hidden tests, scored by ``rm`` (a
    ``reward_model.RewardModel``; NaN without one; an empty program scores -inf) and run on the generated tests."""
    from ..phases.p04_sample_programs import execute_samples

    frames = [samples.assign(kind="sample")]
    if greedy_samples is not None:
        frames.append(greedy_samples.assign(kind="greedy"))
    drawn = pd.concat(frames, ignore_index=True)
    executed = execute_samples(drawn.drop(columns="kind"), problems, engine)
    executed["kind"] = drawn["kind"].to_numpy()
    executed["benchmark"] = executed[QUESTION_ID].map(dict(zip(problems[QUESTION_ID], problems["benchmark"])))
    executed["correct"] = (executed["n_passed"] == executed["n_tests"]) & (executed["n_tests"] > 0)
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
    tests = [gen.get(q, []) for q in executed[QUESTION_ID]]
    if any(tests):
        results = engine.run(executed[PROGRAM].tolist(), tests)
        executed["generated_passed"] = [[int(v == "pass") for v in r.verdicts] for r in results]
    else:
        executed["generated_passed"] = [[] for _ in range(len(executed))]
    return executed[SAMPLES.column_names].reset_index(drop=True)


def _subsets(n_drawn: int, n: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    if n >= n_drawn:
        return [rng.permutation(n_drawn)]
    return [rng.choice(n_drawn, size=n, replace=False) for _ in range(count)]


def per_question(table: pd.DataFrame, ns: list[int], subsets: int = 50, seed: int = 0) -> pd.DataFrame:
    """Accuracy of every strategy for every question and N (the mean over random subsets of the samples)."""
    rng = np.random.default_rng(seed)
    rows = []
    samples = table[table["kind"] == "sample"]
    greedy_correct = table[table["kind"] == "greedy"].set_index(QUESTION_ID)["correct"]
    for qid, g in samples.groupby(QUESTION_ID, sort=True):
        g = g.sort_values("sample")
        correct = g["correct"].to_numpy(dtype=float)
        scores = g["rm_score"].to_numpy(dtype=float)
        gen = [list(v) for v in g["generated_passed"]]
        bench = g["benchmark"].iloc[0]
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
            if qid in greedy_correct.index:
                rows.append({"benchmark": bench, QUESTION_ID: qid, "strategy": "greedy", "n": n,
                             "accuracy": float(greedy_correct.loc[qid])})
    return pd.DataFrame(rows, columns=["benchmark", QUESTION_ID, "strategy", "n", "accuracy"])


def evaluate(table: pd.DataFrame, ns: list[int], subsets: int = 50, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """``07_results``: per benchmark, strategy and N, the mean over questions and a bootstrap 95% CI."""
    perq = per_question(table, ns, subsets, seed)
    rows = []
    for (bench, strategy, n), g in perq.groupby(["benchmark", "strategy", "n"], sort=True):
        values = g["accuracy"].to_numpy()
        lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else (float("nan"), float("nan"))
        rows.append({"benchmark": bench, "strategy": strategy, "n": int(n), "questions": len(values),
                     "accuracy": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows, columns=RESULTS.column_names)


def table2(results: pd.DataFrame) -> pd.DataFrame:
    """Table-2 shape: one row per (strategy, N), one column per benchmark, accuracy in percent."""
    shown = results.assign(label=[s if s == "greedy" else f"{s}@{n}" for s, n in zip(results["strategy"], results["n"])])
    shown = shown[(shown["strategy"] != "greedy") | (shown["n"] == shown["n"].min())]
    wide = shown.pivot_table(index="label", columns="benchmark", values="accuracy", sort=False) * 100
    order = {s: i for i, s in enumerate(STRATEGIES)}
    keys = sorted(wide.index, key=lambda l: (order.get(l.split("@")[0], 99), int(l.split("@")[1]) if "@" in l else 0))
    return wide.loc[keys].round(1)


def plot_accuracy_vs_n(results: pd.DataFrame):
    """Accuracy against N per strategy (log2 x axis), one panel per benchmark, CI as error bars."""
    import plotly.express as px

    fig = px.line(results, x="n", y="accuracy", color="strategy", facet_col="benchmark", markers=True, log_x=True,
                  error_y=results["ci_high"] - results["accuracy"], error_y_minus=results["accuracy"] - results["ci_low"],
                  title="Best-of-N: accuracy against the number of samples (95% bootstrap CI over questions)")
    fig.update_yaxes(range=[0, 1.02], title="accuracy")
    return fig

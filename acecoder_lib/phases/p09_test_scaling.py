"""Phase 09 logic: dynamic scaling of unit tests (CodeRM-8B, Ma et al. 2025; PAPER_FACTS S8).

    pool = test_scaling.grounded_pool(programs, questions, pool_fraction=0.5)  # tests to select with / to judge with
    curves = test_scaling.scaling_curves(pool, subsets=50)                     # Best-of-N accuracy vs M tests
    difficulty = test_scaling.predict_difficulty(questions, programs)          # before spending the budget
    alloc = test_scaling.allocate(difficulty, budget, max_tests)              # greedy, harder questions first
    test_scaling.compare_allocations(curves, difficulty, budgets)              # uniform vs dynamic, equal budget

Per question, N programs (phase 04's samples) meet M unit tests from a source; programs are ranked by tests passed
and ties broken by the most common passed-test pattern (``testgen.rank_by_tests``, CodeRM's rule); the top program
is judged by tests it was NOT selected with. Two test sources:
- ``llm``: tests the policy writes (``testgen``), run through the sandboxed engine against every program;
- ``grounded``: a stand-in for a strong test generator: a random half of the question's execution-grounded tests
  (phase 02) selects, the other half judges. These are reference-verified, so the curve they draw is what a strong
  generator would give; the 135M model's own tests are far weaker, and the notebook reports both.

Difficulty is estimated without looking at the ground truth of the question itself: a ridge regression, trained by
k-fold on the other questions' mean pass rates (phase 04), gives a predicted pass rate; difficulty = 1 - prediction.
Its features (``features=``): ``samples`` (the default), signals of the policy's own samples that cost no test:
the share that gave extractable code, the share of distinct programs (a policy unsure of a question writes many
different programs: self-consistency), their mean log length, and the log length of the question's reference,
plus, given ``agreement_signals``, how often the samples return the same value on a few test inputs (execution
agreement; the tests' expected values are never read); ``text``, hashed words of the question; ``both``. The
allocator gives every question one test, then hands each further test to the question with the highest
difficulty / tests-so-far (harder first, diminishing returns); ``compare_allocations`` feeds it the percentile
rank of the estimated difficulty (only the order is trusted).
"""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from ..code.testgen import rank_by_tests
from ..core.schemas import ALLOCATION, QUESTION_ID, SCALING_CURVES, TEST_POOL
from ..execution.engine import CALIBRATED_FACTOR, CALIBRATED_FLOOR_S


def split_tests(n_tests: int, pool_fraction: float, key: str) -> tuple[list[int], list[int]]:
    """A stable random split of test indexes into (selection, judging), seeded by ``key`` (the question id)."""
    if not 0.0 < pool_fraction < 1.0:
        raise ValueError(f"pool_fraction must be in (0, 1), got {pool_fraction}")
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
    order = rng.permutation(n_tests).tolist()
    k = min(n_tests - 1, max(1, round(pool_fraction * n_tests)))
    return sorted(order[:k]), sorted(order[k:])


def grounded_pool(programs: pd.DataFrame, pool_fraction: float = 0.5) -> pd.DataFrame:
    """``09_test_pool`` rows (source grounded) from phase 04's per-test verdicts: no re-execution is needed."""
    rows = []
    for qid, g in programs.groupby(QUESTION_ID, sort=False):
        n = int(g["n_tests"].max())
        if n < 2:
            continue
        sel, judge = split_tests(n, pool_fraction, qid)
        for sample, verdicts in zip(g["sample"], g["verdicts"]):
            v = list(verdicts)
            rows.append({"source": "grounded", QUESTION_ID: qid, "sample": int(sample),
                         "selection_passed": [int(v[i] == "pass") for i in sel],
                         "correct": all(v[i] == "pass" for i in judge)})
    return pd.DataFrame(rows, columns=TEST_POOL.column_names)


def llm_pool(programs: pd.DataFrame, generated: pd.DataFrame, engine, references: dict[str, str] | None = None,
             time_limits: str = "calibrated", floor_s: float = CALIBRATED_FLOOR_S, factor: float = CALIBRATED_FACTOR,
             fixed_s: float = 1.0) -> pd.DataFrame:
    """``09_test_pool`` rows (source llm): every program run on its question's generated tests; correctness is the
    program passing ALL of phase 03's tests (none of which the generated tests saw). Each generated test's CPU limit
    is calibrated on the question's reference (``references``: question_id -> program; ``solutions.reference_limits``:
    max(floor, factor x its time) where the reference passes the test, ``fixed_s`` elsewhere)."""
    from ..solutions import passed_on_question_tests

    tests = dict(zip(generated[QUESTION_ID], generated["tests"].map(list)))
    rows_in = programs[programs[QUESTION_ID].map(lambda q: bool(tests.get(q)))]
    if rows_in.empty:
        return pd.DataFrame(columns=TEST_POOL.column_names)
    passed = passed_on_question_tests(rows_in[QUESTION_ID], rows_in["program"], tests, references or {}, engine,
                                      time_limits, floor_s=floor_s, factor=factor, fixed_s=fixed_s)
    return pd.DataFrame({"source": "llm", QUESTION_ID: rows_in[QUESTION_ID].to_numpy(),
                         "sample": rows_in["sample"].astype(int).to_numpy(), "selection_passed": passed,
                         "correct": (rows_in["n_passed"] == rows_in["n_tests"]).to_numpy()})[TEST_POOL.column_names]


def test_quality(pool: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """CodeRM's quality metrics of a test source (its paper's Table on unit-test quality): each program is
    *accepted* when it passes every selection test of its question, and judged against its ``correct`` (the verified
    tests). Per source: programs, accuracy (accepted == correct), precision, recall and F1 of "accepted" for "correct",
    the false-acceptance rate (wrong programs accepted / wrong programs) and the false-rejection rate (correct programs
    rejected / correct programs), with 95% bootstrap intervals over questions for accuracy, FAR and FRR (a question's
    programs are not independent draws). NaN where a rate has no program to count."""
    from ..core.metrics import bootstrap_ci

    rows = []
    for source, g in pool.groupby("source", sort=False):
        accepted = g["selection_passed"].map(lambda v: len(v) > 0 and all(int(x) == 1 for x in v)).to_numpy()
        correct = g["correct"].to_numpy(dtype=bool)
        tp, fp = int((accepted & correct).sum()), int((accepted & ~correct).sum())
        fn, tn = int((~accepted & correct).sum()), int((~accepted & ~correct).sum())

        def ratio(a, b):
            return a / b if b else float("nan")

        precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
        row = {"source": source, "questions": int(g[QUESTION_ID].nunique()), "programs": len(g), "tp": tp, "fp": fp,
               "fn": fn, "tn": tn, "accuracy": ratio(tp + tn, len(g)), "precision": precision, "recall": recall,
               "f1": ratio(2 * precision * recall, precision + recall) if tp else (0.0 if fp + fn else float("nan")),
               "false_acceptance_rate": ratio(fp, fp + tn), "false_rejection_rate": ratio(fn, fn + tp)}
        per_q = g.assign(accepted=accepted, correct_=correct).groupby(QUESTION_ID)
        for name, fn_q in (("accuracy", lambda q: (q["accepted"] == q["correct_"]).mean()),
                           ("false_acceptance_rate", lambda q: q.loc[~q["correct_"], "accepted"].mean()),
                           ("false_rejection_rate", lambda q: (~q.loc[q["correct_"], "accepted"]).mean())):
            values = np.array([v for v in (fn_q(q) for _, q in per_q) if v == v], dtype=float)
            lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed) if len(values) > 1 else (np.nan, np.nan)
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = float(lo), float(hi)
        rows.append(row)
    return pd.DataFrame(rows)


def scaling_curves(pool: pd.DataFrame, subsets: int = 50, seed: int = 0) -> pd.DataFrame:
    """``09_curves``: for every M from 1 to the pool size, Best-of-N accuracy averaged over ``subsets`` random
    M-subsets of the selection tests (every subset when there are fewer)."""
    rng = np.random.default_rng(seed)
    rows = []
    for (source, qid), g in pool.groupby(["source", QUESTION_ID], sort=False):
        matrix = np.array([list(v) for v in g["selection_passed"]], dtype=int)
        correct = g["correct"].to_numpy(dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            continue
        m_max = matrix.shape[1]
        for m in range(1, m_max + 1):
            picks = []
            for _ in range(1 if m == m_max else subsets):
                cols = rng.choice(m_max, size=m, replace=False)
                order = rank_by_tests(matrix[:, cols].tolist())
                picks.append(correct[order[0]])
            rows.append({"source": source, QUESTION_ID: qid, "m": m, "accuracy": float(np.mean(picks)),
                         "oracle": float(correct.max()), "random": float(correct.mean())})
    return pd.DataFrame(rows, columns=SCALING_CURVES.column_names)


_WORD = re.compile(r"[a-z_]+|\d+")


def _features(texts: list[str], dim: int = 512) -> np.ndarray:
    """Hashed bag of words (log counts) plus log length: a deliberately small, dependency-free text model."""
    x = np.zeros((len(texts), dim + 1))
    for i, t in enumerate(texts):
        for w in _WORD.findall(t.lower()):
            x[i, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % dim] += 1.0
        x[i, dim] = np.log1p(len(t))
    return np.log1p(x)


SAMPLE_SIGNALS = ("extracted_share", "distinct_share", "log_program_chars", "log_reference_chars")
AGREEMENT_SIGNALS = ("output_agreement", "output_error_share")


def agreement_signals(programs: pd.DataFrame, questions: pd.DataFrame, engine, inputs: int = 3,
                      timeout_s: float = 0.5) -> pd.DataFrame:
    """Per question (index question_id), ``AGREEMENT_SIGNALS``: the policy's samples run in the sandbox on the
    question's first ``inputs`` test inputs, the left side of its ``assert f(...) == expected`` tests
    (``testgen.assert_call``). The expected values are never read, so no test is spent: this is CodeT's execution
    agreement used as a difficulty signal. ``output_agreement``: the mean over inputs of the share of samples that
    return the most common value (a sample that fails counts as disagreeing); ``output_error_share``: the share
    that raise or run out of ``timeout_s`` CPU seconds. NaN for a question without such an input."""
    import dataclasses
    from collections import Counter

    from ..code.extract import alias_entry_point
    from ..code.testgen import assert_call

    q = questions.drop_duplicates(QUESTION_ID).set_index(QUESTION_ID)
    calls = {qid: [c for c in (assert_call(t) for t in list(q.at[qid, "tests"])) if c][:inputs]
             for qid in programs[QUESTION_ID].unique() if qid in q.index}
    rows = programs[programs[QUESTION_ID].map(lambda qid: bool(calls.get(qid)))]
    out = pd.DataFrame(index=pd.Index(programs[QUESTION_ID].unique(), name=QUESTION_ID),
                       columns=list(AGREEMENT_SIGNALS), dtype=float)
    if rows.empty or inputs < 1:
        return out
    entry = q["entry_point"] if "entry_point" in q else pd.Series("", index=q.index)
    results = engine.evaluate([alias_entry_point(p or "", entry.get(qid, "")) for p, qid in
                               zip(rows["program"], rows[QUESTION_ID])], [calls[qid] for qid in rows[QUESTION_ID]],
                              config=dataclasses.replace(engine.config, test_timeout_s=timeout_s))
    values = pd.Series([r.values for r in results], index=rows.index)
    for qid, idx in rows.groupby(QUESTION_ID).groups.items():
        per_input = list(zip(*values.loc[idx]))  # one tuple of the samples' values per input
        n = len(idx)
        agree = [max(Counter(v for v in col if v is not None).values(), default=0) / n for col in per_input]
        errors = [sum(v is None for v in col) / n for col in per_input]
        out.loc[qid] = [float(np.mean(agree)), float(np.mean(errors))]
    return out


def sample_signals(questions: pd.DataFrame, programs: pd.DataFrame,
                   agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per question (index question_id), the cheap signals of ``SAMPLE_SIGNALS``: read off the policy's samples and
    the question, with no test run (phase 04's verdicts are not looked at); with ``agreement``
    (``agreement_signals``), its columns too."""
    g = programs.groupby(QUESTION_ID)
    program = programs["program"].fillna("")
    out = pd.DataFrame({
        "extracted_share": programs.assign(ok=programs["extraction"].eq("ok")).groupby(QUESTION_ID)["ok"].mean(),
        "distinct_share": g["program"].agg(lambda p: p.fillna("").nunique() / max(1, len(p))),
        "log_program_chars": np.log1p(program.str.len()).groupby(programs[QUESTION_ID]).mean(),
    })
    ref = questions.drop_duplicates(QUESTION_ID).set_index(QUESTION_ID)
    chars = ref["reference"].fillna("").str.len() if "reference" in ref else pd.Series(0, index=ref.index)
    out["log_reference_chars"] = np.log1p(chars.reindex(out.index).fillna(0).astype(float))
    out = out[list(SAMPLE_SIGNALS)]
    if agreement is not None:
        out = out.join(agreement[list(AGREEMENT_SIGNALS)].astype(float))
    return out


def signal_correlations(difficulty: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """Spearman of each cheap signal, and of the fitted prediction, with the true pass rate (the notebook's table)."""
    truth = difficulty.set_index(QUESTION_ID)["true_pass_rate"]
    rows = [{"signal": c, "spearman": float(signals[c].reindex(truth.index).corr(truth, method="spearman"))}
            for c in signals.columns]
    rows.append({"signal": "predicted_pass_rate (k-fold ridge)",
                 "spearman": float(difficulty["predicted_pass_rate"].corr(difficulty["true_pass_rate"],
                                                                          method="spearman"))})
    return pd.DataFrame(rows)


def predict_difficulty(questions: pd.DataFrame, programs: pd.DataFrame, folds: int = 5, alpha: float = 3.0,
                       seed: int = 0, features: str = "samples", agreement: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """Per question: ``true_pass_rate`` (phase 04's mean), ``predicted_pass_rate`` (k-fold ridge on ``features``:
    samples | text | both, see the module docstring, the samples' signals joined by ``agreement``'s where given,
    a question without them taking the others' mean; each question's prediction comes from a model that never saw
    it) and ``difficulty`` = 1 - predicted."""
    if features not in ("samples", "text", "both"):
        raise ValueError(f"features must be samples, text or both; got {features!r}")
    mean = programs.groupby(QUESTION_ID)["pass_rate"].mean()
    q = questions[questions[QUESTION_ID].isin(mean.index)].drop_duplicates(QUESTION_ID)
    parts = []
    if features in ("text", "both"):
        parts.append(_features(q["question"].tolist()))
    if features in ("samples", "both"):
        needed = {"program", "extraction"} - set(programs.columns)
        if needed:
            raise ValueError(f"features={features!r} needs the programs' columns {sorted(needed)}")
        signals = sample_signals(q, programs, agreement).reindex(q[QUESTION_ID]).astype(float)
        signals = signals.loc[:, signals.notna().any()]  # a signal no question has (no parsable input) is left out
        parts.append(signals.fillna(signals.mean()).to_numpy(dtype=float))
    x = np.hstack(parts)
    y = mean.loc[q[QUESTION_ID]].to_numpy()
    pred = np.full(len(q), y.mean() if len(y) else 0.0)
    if len(q) >= max(4, folds):
        fold = np.random.default_rng(seed).permutation(len(q)) % folds
        for k in range(folds):
            tr, te = fold != k, fold == k
            mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
            xt = (x[tr] - mu) / sd
            w = np.linalg.solve(xt.T @ xt + alpha * len(xt) * np.eye(xt.shape[1]), xt.T @ (y[tr] - y[tr].mean()))
            pred[te] = ((x[te] - mu) / sd) @ w + y[tr].mean()
    pred = np.clip(pred, 0.0, 1.0)
    return pd.DataFrame({QUESTION_ID: q[QUESTION_ID].to_numpy(), "true_pass_rate": y,
                         "predicted_pass_rate": pred, "difficulty": 1.0 - pred})


def allocate(difficulty: pd.Series, budget: int, max_tests: pd.Series) -> pd.Series:
    """Tests per question summing to ``budget`` (at most each question's ``max_tests``): one each, then greedily one
    more to the question with the highest difficulty / tests so far. ``difficulty`` and ``max_tests`` are indexed
    by question id."""
    ids = list(difficulty.index)
    cap = max_tests.reindex(ids).fillna(0).astype(int)
    alloc = pd.Series(np.minimum(1, cap.to_numpy()), index=ids)
    budget = min(int(budget), int(cap.sum()))
    if alloc.sum() > budget:
        raise ValueError(f"budget {budget} is below one test per question ({alloc.sum()})")
    d = difficulty.reindex(ids).to_numpy(dtype=float) + 1e-9
    while alloc.sum() < budget:
        room = alloc.to_numpy() < cap.to_numpy()
        priority = np.where(room, d / np.maximum(alloc.to_numpy(), 1), -np.inf)
        alloc.iloc[int(np.argmax(priority))] += 1
    return alloc


def compare_allocations(curves: pd.DataFrame, difficulty: pd.DataFrame, budgets=(1, 2, 4, 8)) -> pd.DataFrame:
    """``09_allocation``: at each average budget per question, uniform (the same M everywhere, capped at the pool)
    vs dynamic (``allocate`` by estimated difficulty) at the SAME total number of tests, overall and per quintile
    of estimated difficulty."""
    rows = []
    for source, g in curves.groupby("source"):
        acc = {(q, m): a for q, m, a in zip(g[QUESTION_ID], g["m"], g["accuracy"])}
        pool_size = g.groupby(QUESTION_ID)["m"].max()
        d = (difficulty.set_index(QUESTION_ID)["difficulty"].reindex(pool_size.index)
             .fillna(difficulty["difficulty"].mean()))
        # the allocator sees percentile ranks: a weak predictor's values sit close together (0.78-0.85, say), and
        # difficulty / tests-so-far would then hand every question its second test before any gets a third, i.e.
        # reproduce uniform exactly; the ranks keep only the order, which is what the estimate is trusted for
        ranks = d.rank(pct=True, method="average")
        quint = pd.qcut(d.rank(method="first"), 5, labels=[f"q{i}" for i in range(1, 6)]) if len(d) >= 5 else \
            pd.Series("q3", index=d.index)
        for b in budgets:
            uniform = np.minimum(pool_size, b)
            total = int(uniform.sum())  # the uniform run's real spend: the dynamic one gets exactly this many
            dynamic = allocate(ranks, total, pool_size)
            for name, alloc in (("uniform", uniform), ("dynamic", dynamic)):
                per_q = pd.Series({q: acc[(q, int(m))] for q, m in alloc.items()})
                for label, members in ([("all", per_q.index)]
                                       + [(k, quint.index[quint == k]) for k in sorted(set(quint))]):
                    rows.append({"source": source, "budget_per_question": float(b), "strategy": name,
                                 "quintile": str(label), "questions": len(members),
                                 "accuracy": float(per_q.loc[members].mean()) if len(members) else float("nan"),
                                 "tests_used": int(alloc.loc[members].sum())})
    return pd.DataFrame(rows, columns=ALLOCATION.column_names)




def test_pools(programs: pd.DataFrame, questions: pd.DataFrame, sources: list[str], pool_fraction: float = 0.5,
               generator=None, cache=None, engine=None, llm_questions: int = 0, limits: dict | None = None,
               **generate_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(``09_test_pool``, ``07_generated_tests``-shaped frame) for the test sources asked for: ``grounded`` (a stable
    share of each question's verified tests selects, the rest judge; no re-execution) and ``llm`` (``generator``, a
    backend, writes tests for the first ``llm_questions`` questions phase 04 sampled, 0 = all; every program is run
    on them in ``engine``, each test under a limit calibrated on the question's reference; ``limits``: llm_pool's
    ``time_limits``, ``floor_s``, ``factor``, ``fixed_s``). ``generate_kwargs`` go to ``solutions.generate_tests``."""
    from ..code.extract import alias_entry_point
    from ..core.schemas import GENERATED_TESTS
    from ..solutions import generate_tests

    unknown = set(sources) - {"grounded", "llm"}
    if unknown:
        raise ValueError(f"unknown test sources {sorted(unknown)}: use grounded and/or llm")
    pools = []
    if "grounded" in sources:
        pools.append(grounded_pool(programs, pool_fraction=pool_fraction))
    generated = pd.DataFrame(columns=GENERATED_TESTS.column_names)
    if "llm" in sources:
        if generator is None or cache is None or engine is None:
            raise ValueError("the llm source needs a generator backend, a cache and an engine")
        chosen = list(dict.fromkeys(programs[QUESTION_ID]))
        chosen = chosen[:llm_questions] if llm_questions else chosen
        asked = questions.set_index(QUESTION_ID).loc[chosen].reset_index().assign(benchmark="train")
        generated = generate_tests(asked, generator, cache, **generate_kwargs)
        refs = {q.question_id: alias_entry_point(q.reference or "", q.entry_point)
                for q in asked.itertuples()} if "reference" in asked else {}
        pools.append(llm_pool(programs, generated, engine, refs, **(limits or {})))
    pool = pd.concat(pools, ignore_index=True) if pools else pd.DataFrame(columns=TEST_POOL.column_names)
    return pool, generated

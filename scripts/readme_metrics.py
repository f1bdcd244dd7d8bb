"""Write (or check) the README's results block from the committed headline numbers of a run.

    .venv/bin/python scripts/readme_metrics.py             # rewrite the block from figures/default/metrics.json
    .venv/bin/python scripts/readme_metrics.py --check     # exit 1 if the README's block differs from that file

The block sits between `<!-- metrics:begin -->` and `<!-- metrics:end -->`; its text is
`p10_report.metrics_markdown(metrics)`, so every number in it comes from the JSON file (notebook 10 writes it with
`PUBLISH_FIGURES`). tests/test_readme.py runs the check.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from acecoder_lib.core import paths
from acecoder_lib.phases.p10_report import metrics_markdown

BLOCK = re.compile(r"(<!-- metrics:begin -->\n)(.*?)(<!-- metrics:end -->)", re.S)


def rendered(readme: str, metrics: dict) -> str:
    """``readme`` with its block replaced by the metrics' Markdown; ValueError when it has no block."""
    if not BLOCK.search(readme):
        raise ValueError("the README has no <!-- metrics:begin --> ... <!-- metrics:end --> block")
    return BLOCK.sub(lambda m: m.group(1) + metrics_markdown(metrics) + m.group(3), readme, count=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="default", help="figures/<RUN>/metrics.json")
    ap.add_argument("--readme", type=Path, default=paths.REPO_ROOT / "README.md")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    metrics = json.loads((paths.FIGURES_DIR / args.run / "metrics.json").read_text())
    text = args.readme.read_text()
    new = rendered(text, metrics)
    if args.check:
        if new != text:
            print(f"{args.readme}: the metrics block differs from figures/{args.run}/metrics.json; "
                  "run scripts/readme_metrics.py")
            return 1
        print("README metrics block matches")
        return 0
    args.readme.write_text(new)
    print(f"wrote the metrics block of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

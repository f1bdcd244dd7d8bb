"""Screenshots of the explorer's views on a finished run, taken in a real JupyterLab (headless Chromium).

    .venv/bin/python scripts/explorer_screenshots.py default            # -> figures/default/explorer_*.png
    .venv/bin/python scripts/explorer_screenshots.py my-run --out /tmp/shots

A throwaway notebook in a temporary JupyterLab root reads the run's ``03_questions``, ``04_programs`` and (where
phase 08 ran) ``08_rl_eval``, and shows the linked views of ``acecoder_lib.explorer``; the script then does what a
reader would: a box over the middle of the scatter (the mixed questions), a click on a failing cell of the heatmap,
the pair rule's margin slider moved left. It saves one PNG per view:

- ``explorer_distribution.png``: filters, the selection count, the mean-vs-spread scatter and the histograms;
- ``explorer_question_text.png``: the question list, the question with its reference and its flagged tests;
- ``explorer_question.png``: that question's programs x tests heatmap and, below it, the clicked cell's program;
- ``explorer_pairs.png``: the pair rule's sliders, the pair count, one pair as a diff;
- ``explorer_comparison.png``: the base policy against the first trained one (only when phase 08 ran).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from acecoder_lib.core import lab, paths  # noqa: E402

CELLS = [
    "from acecoder_lib import explorer\nfrom acecoder_lib.core import io, schemas\n"
    "from acecoder_lib.phases import p05_build_pairs as pairs\n"
    "questions = io.read_artifact({run!r}, schemas.FILTERED)\nprograms = io.read_artifact({run!r}, schemas.PROGRAMS)",
    "view = explorer.PassRateExplorer(questions, programs)\nview.widget",
    "pair_view = explorer.PairExplorer(programs, lambda progs, **rule: pairs.build_pairs(progs, questions, **rule))\n"
    "pair_view.widget",
]
COMPARISON = ("evals = io.read_artifact({run!r}, schemas.RL_EVAL)\n"
              "trained = sorted(set(evals['policy']) - {{'base'}})[0]\n"
              "explorer.comparison_figure(explorer.compare(evals[evals['policy'] == 'base'], "
              "evals[evals['policy'] == trained], names=('base', trained)), ('base', trained))")


def _notebook(path: Path, run: str, with_comparison: bool) -> None:
    import nbformat

    cells = [c.format(run=run) for c in CELLS] + ([COMPARISON.format(run=run)] if with_comparison else [])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _union(*boxes) -> dict:
    x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    x1, y1 = max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def shoot(run: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    run_dir = paths.run_dir(run, create=False)
    if not (run_dir / "04_programs").exists() and not any(run_dir.glob("04_programs*")):
        raise SystemExit(f"{run_dir} has no 04_programs: run notebooks 00-04 first")
    with_comparison = any(run_dir.glob("08_rl_eval*"))
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        root = Path(tmp)
        _notebook(root / "views.ipynb", run, with_comparison)
        with lab.serve(root, env={"ACECODER_RUNS_DIR": str(run_dir.parent)}) as base:
            browser = p.chromium.launch(executable_path=lab.chromium(), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1800}, device_scale_factor=1)
                page.goto(lab.notebook_url(base, "views.ipynb"))
                lab.run_all_cells(page, "[data-pairs]", timeout_ms=240_000)
                plots = 4 if with_comparison else 3
                page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {plots}",
                                       timeout=120_000)
                page.keyboard.press("Escape")
                no = page.locator(".jp-toast-button", has_text="No")  # JupyterLab's "news?" toast
                if no.count():
                    no.first.click()
                page.wait_for_timeout(1500)
                area = page.locator(".jp-OutputArea-output:has(.js-plotly-plot)").first
                scatter = page.locator(".js-plotly-plot").nth(0)
                scatter.scroll_into_view_if_needed()
                box = scatter.locator(".nsewdrag").first.bounding_box()
                lab.drag(page, (box["x"] + box["width"] * 0.15, box["y"] + 3),
                         (box["x"] + box["width"] * 0.85, box["y"] + box["height"] - 3))
                page.wait_for_timeout(2500)
                top = area.bounding_box()
                hist = page.locator(".js-plotly-plot").nth(1).bounding_box()
                saved.append(out / "explorer_distribution.png")
                page.screenshot(path=saved[-1], full_page=True,
                                clip=_union({**top, "height": 10}, scatter.bounding_box(), hist))
                heat = page.locator(".js-plotly-plot").nth(2)
                heat.scroll_into_view_if_needed()
                grid = heat.locator(".nsewdrag").first.bounding_box()
                page.mouse.click(grid["x"] + grid["width"] * 0.75, grid["y"] + grid["height"] * 0.3)
                page.wait_for_selector("[data-cell]", timeout=60_000)
                page.locator("[data-cell]").first.scroll_into_view_if_needed()
                page.wait_for_timeout(1000)
                panel = page.locator("[data-cell]").first.bounding_box()
                saved.append(out / "explorer_question.png")  # the heatmap and the clicked cell's program
                page.screenshot(path=saved[-1], full_page=True, clip=_union(heat.bounding_box(), panel))
                saved.append(out / "explorer_question_text.png")  # the list and the question with its flagged tests
                page.locator(".jp-OutputArea-output select:not([multiple])").first.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                listing = page.locator(".jp-OutputArea-output select:not([multiple])").first.bounding_box()
                view = page.locator("[data-question]").first.locator("xpath=..").bounding_box()
                page.screenshot(path=saved[-1], full_page=True,
                                clip=_union(listing, {**view, "height": min(view["height"], 700)}))
                slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="margin")).first
                slider.scroll_into_view_if_needed()
                handle, track = slider.locator(".noUi-handle").first.bounding_box(), \
                    slider.locator(".noUi-target").first.bounding_box()
                middle = handle["y"] + handle["height"] / 2
                lab.drag(page, (handle["x"] + handle["width"] / 2, middle), (track["x"] + track["width"] * 0.3, middle))
                page.wait_for_timeout(2500)
                pairs_area = page.locator(".jp-OutputArea-output:has([data-pairs])").first
                saved.append(out / "explorer_pairs.png")
                pairs_area.screenshot(path=saved[-1])
                if with_comparison:
                    saved.append(out / "explorer_comparison.png")
                    page.locator(".js-plotly-plot").nth(3).screenshot(path=saved[-1])
            finally:
                browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run under runs/ with phases 03 and 04 done (08 for the comparison view)")
    parser.add_argument("--out", type=Path, default=None, help="default: figures/<run>/")
    args = parser.parse_args()
    if lab.chromium() is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    for path in shoot(args.run, args.out or paths.FIGURES_DIR / args.run):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

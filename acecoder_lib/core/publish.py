"""Publish a run for reading without running it: ``runs/<RUN>/notebooks/*.ipynb`` -> ``docs/<RUN>-run/*.md``.

    python -m acecoder_lib.core.publish default          # docs/default-run/ (committed for the default run)
    python -m acecoder_lib.core.publish my-run --out /tmp/my-run-docs

Each executed notebook (what the batch runner saved, outputs included) becomes one Markdown page that GitHub and
any Markdown viewer render: markdown cells as they are, code cells fenced, text outputs fenced (long ones cut in
the middle, saying how much), pandas tables as their HTML, and every plotly figure as a static PNG beside the page
(rendered from the figure's own JSON with kaleido; a figure that cannot be rendered says so in the page). Progress
bars (widgets) are left out. ``index.md`` lists the pages with each notebook's run time and the run's headline
numbers from ``10_metrics.json``. The folder is rewritten whole, so a page of a notebook that no longer exists
does not linger.

A simplification: an HTML output other than a table (a styled frame, an explorer widget) is kept as raw HTML,
which GitHub shows stripped of scripts and styles.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from . import paths

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
MAX_OUTPUT_LINES = 40  # a longer text output keeps its first and last 20 lines


def _fence(text: str, lang: str = "") -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _clip(text: str, limit: int = MAX_OUTPUT_LINES) -> str:
    lines = text.rstrip("\n").split("\n")
    if len(lines) <= limit:
        return "\n".join(lines)
    half = limit // 2
    return "\n".join(lines[:half] + [f"... ({len(lines) - limit} lines left out) ..."] + lines[-half:])


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _render_png(figure_json: dict, target: Path, width: int, height: int) -> str:
    """Write the plotly figure to ``target``; '' on success, else why not."""
    try:
        import plotly.io as pio

        from .plotting import _browser

        browser = _browser()
        if browser is None:
            return "no Chromium found for kaleido (install Debian's chromium or set BROWSER_PATH)"
        import os

        os.environ.setdefault("BROWSER_PATH", browser)
        fig = pio.from_json(json.dumps(figure_json))
    except Exception as exc:  # a page without one picture is still worth reading
        return f"{type(exc).__name__}: {exc}"[:300]
    why = ""
    for _ in range(2):  # kaleido's first browser start sometimes fails on a busy machine; once more, then give up
        try:
            fig.write_image(target, width=width, height=height)
            return ""
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"[:300]
    return why


def _outputs(outputs: list[dict], stem: str, cell_index: int, figures: Path, width: int, height: int) -> list[str]:
    parts = []
    for k, out in enumerate(outputs):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_fence(_clip(_text(out.get("text", ""))), "text"))
        elif kind == "error":
            parts.append(_fence(f"{out.get('ename')}: {out.get('evalue')}", "text"))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if WIDGET in data:
                continue  # a progress bar: its text form is a snapshot of 0%
            if PLOTLY in data:
                name = f"{stem}-{cell_index:02d}-{k}.png"
                why = _render_png(data[PLOTLY], figures / name, width, height)
                parts.append(f"![figure](figures/{name})" if not why else f"*(figure not rendered: {why})*")
            elif "image/png" in data:
                import base64

                name = f"{stem}-{cell_index:02d}-{k}.png"
                (figures / name).write_bytes(base64.b64decode(_text(data["image/png"])))
                parts.append(f"![figure](figures/{name})")
            elif "text/html" in data:
                parts.append(_text(data["text/html"]).strip())
            elif "text/markdown" in data:
                parts.append(_text(data["text/markdown"]).strip())
            elif "text/plain" in data:
                parts.append(_fence(_clip(_text(data["text/plain"])), "text"))
    return parts


def notebook_markdown(notebook: dict, stem: str, figures: Path, width: int = 800, height: int = 450) -> str:
    """One executed notebook (nbformat JSON) as a Markdown page; its figures are written into ``figures``."""
    blocks = []
    for i, cell in enumerate(notebook.get("cells", [])):
        source = _text(cell.get("source", "")).strip()
        if cell.get("cell_type") == "markdown":
            blocks.append(source)
        elif cell.get("cell_type") == "code":
            tags = cell.get("metadata", {}).get("tags", [])
            if source:
                label = " (parameters this run used)" if "injected-parameters" in tags else ""
                blocks.append((f"*Parameters{label}:*\n\n" if label else "") + _fence(source, "python"))
            blocks.extend(_outputs(cell.get("outputs", []), stem, i, figures, width, height))
    return "\n\n".join(b for b in blocks if b) + "\n"


def _duration(notebook: dict) -> str:
    seconds = notebook.get("metadata", {}).get("papermill", {}).get("duration")
    return f"{seconds:,.0f} s" if isinstance(seconds, (int, float)) else "?"


def _headline(metrics: dict) -> list[str]:
    rm = metrics.get("rm_heldout_sampled") or {}
    rl = metrics.get("rl") or {}
    lines = [f"- wall time of the chain: {metrics.get('wall_seconds', '?')} s; preference pairs: "
             f"{metrics.get('pairs', '?')}"]
    if rm:
        lines.append(f"- reward model on {rm.get('n')} held-out sampled pairs: {rm.get('accuracy', 0):.1%} "
                     f"[{rm.get('ci_low', 0):.1%}, {rm.get('ci_high', 0):.1%}]")
    if rl:
        lines.append(f"- RL: groups with reward variance {rl.get('nonzero_advantage_share', 0):.0%}; reward slope "
                     f"{rl.get('reward_slope', 0):+.3f} (CI low {rl.get('reward_slope_ci_low', 0):+.3f})")
    return lines


def publish_run(run_name: str, out_dir: str | Path | None = None, width: int = 800, height: int = 450,
                log=print) -> Path:
    """Write the run's executed notebooks as Markdown pages (see the module docstring); returns the folder."""
    source = paths.run_dir(run_name, create=False) / "notebooks"
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {source}: run the chain first "
                                f"(python -m acecoder_lib.core.batch run --run-name {run_name})")
    out = Path(out_dir) if out_dir else paths.REPO_ROOT / "docs" / f"{paths.check_run_name(run_name)}-run"
    if out.exists():
        shutil.rmtree(out)
    figures = out / "figures"
    figures.mkdir(parents=True)
    rows = []
    for path in notebooks:
        notebook = json.loads(path.read_text())
        page = out / f"{path.stem}.md"
        page.write_text(notebook_markdown(notebook, path.stem, figures, width, height))
        rows.append(f"| [{path.stem}]({page.name}) | {_duration(notebook)} |")
        log(f"publish: {page}")
    metrics_path = paths.run_dir(run_name, create=False) / "10_metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    index = [f"# Run `{run_name}`: the executed notebooks", "",
             "Written by `python -m acecoder_lib.core.publish " + run_name + "` from `runs/" + run_name +
             "/notebooks/` (what the batch runner executed); figures are static copies of the notebooks' plots.", ""]
    if metrics:
        index += ["Headline numbers (`10_metrics.json`):", "", *_headline(metrics), ""]
    index += ["| notebook | run time |", "|---|---|", *rows, ""]
    (out / "index.md").write_text("\n".join(index))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m acecoder_lib.core.publish", description=__doc__.splitlines()[0])
    ap.add_argument("run_name")
    ap.add_argument("--out", help="target folder (default: docs/<RUN>-run/)")
    args = ap.parse_args(argv)
    out = publish_run(args.run_name, args.out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"publish: {out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

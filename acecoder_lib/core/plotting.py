"""One way to save a figure: interactive HTML under the run, a static PNG where a browser engine exists.

    fig = px.histogram(df, x="pass_rate", title="...")
    plotting.save_figure(fig, RUN_NAME, "04_pass_rates")     # runs/<RUN_NAME>/figures/04_pass_rates.html (+ .png)
    plotting.save_figure(fig, RUN_NAME, "04_pass_rates", publish=True)  # also figures/<RUN_NAME>/ (named full runs)

Names start with the notebook number. HTML files share one ``plotly.min.js`` beside them, so they open offline.
The PNG export goes through kaleido, which needs a Chromium (Debian's ``chromium``, found through
``BROWSER_PATH`` or the usual places); without one the PNG is skipped with a note and the HTML still works.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..core import paths, timing

_NAME_RE = re.compile(r"^\d\d_[A-Za-z0-9_.-]+$")


def _browser() -> str | None:
    """A Chromium/Chrome binary kaleido can drive, or None."""
    for candidate in (os.environ.get("BROWSER_PATH"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


@timing.timed("plotting")
def save_figure(fig, run_name: str, name: str, png: bool = True, publish: bool = False,
                width: int = 900, height: int = 500) -> dict[str, Path]:
    """Write ``fig`` as ``<name>.html`` (and ``.png`` when possible) under the run; returns the paths written."""
    if not _NAME_RE.match(name):
        raise ValueError(f"figure name {name!r} must start with the notebook number, e.g. '04_pass_rates'")
    folders = [paths.run_dir(run_name) / "figures"]
    if publish:
        folders.append(paths.FIGURES_DIR / paths.check_run_name(run_name))
    written: dict[str, Path] = {}
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        html = folder / f"{name}.html"
        fig.write_html(html, include_plotlyjs="directory", full_html=True)
        written.setdefault("html", html)
        if png:
            browser = _browser()
            if browser is None:
                written["png_skipped"] = Path("no Chromium found: install Debian's chromium or set BROWSER_PATH")
                continue
            os.environ.setdefault("BROWSER_PATH", browser)
            target = folder / f"{name}.png"
            try:
                fig.write_image(target, width=width, height=height)
                written.setdefault("png", target)
            except Exception as exc:  # a static copy is a convenience; the HTML is the figure
                written["png_skipped"] = Path(f"PNG export failed: {type(exc).__name__}: {exc}")
    return written

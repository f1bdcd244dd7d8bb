#!/usr/bin/env bash
# Set up, then lint (ruff) and run every test: the library (pytest) and the end-to-end papermill batch run of the
# notebook chain on the smoke profile (tests/test_e2e.py), which executes every notebook once on its own defaults
# (what nbval would do; `pytest --nbval-lax notebooks` runs nbval itself, see CONTRIBUTING.md).
#   bash scripts/test.sh            # what CI runs
#   bash scripts/test.sh -k batch   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
.venv/bin/ruff check .
exec .venv/bin/python -m pytest tests "$@"

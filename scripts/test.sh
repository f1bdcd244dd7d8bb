#!/usr/bin/env bash
# Set up, then run every test: the library (pytest), the notebooks on their smoke defaults (nbval), and the
# end-to-end papermill batch run of the chain on the smoke profile (tests/test_e2e.py).
#   bash scripts/test.sh            # what CI runs
#   bash scripts/test.sh -k batch   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest --nbval-lax tests notebooks "$@"

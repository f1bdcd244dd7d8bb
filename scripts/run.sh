#!/usr/bin/env bash
# The main job: set up, then run the whole notebook chain on a profile (default: the CPU "default" profile).
#   bash scripts/run.sh                      # profile default, results in runs/default/
#   bash scripts/run.sh smoke my-run         # profile smoke, results in runs/my-run/
# Re-running resumes at the first unfinished notebook.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
profile=${1:-default}
run_name=${2:-$profile}
exec .venv/bin/python -m acecoder_lib.core.batch run --profile "$profile" --run-name "$run_name"

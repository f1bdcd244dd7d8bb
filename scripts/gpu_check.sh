#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py: docstring there) on a machine that has only torch (CUDA), transformers,
# accelerate and peft, and no network. trl and datasets (and datasets' dill and multiprocess) come as wheels:
#   bash scripts/gpu_check.sh --fetch-wheels      # on a machine with pip access: the wheels into .whl/ (~2 MB)
#   bash scripts/gpu_check.sh [gpu_check.py args] # on the GPU machine: installs .whl/*.whl, if any, then checks
# The wheels are for CPython 3.12 on x86-64 Linux unless GPU_CHECK_PYTHON says another version (e.g. 3.11).
# If datasets refuses that machine's pyarrow (it needs >= 24), add `pyarrow==26.0.1` (a 42 MB wheel) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${GPU_CHECK_WHEELS:-.whl}
# The versions the workbench's CPU install uses (scripts/constraints.txt pins trl; the others are datasets 5.2's).
PACKAGES=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19)
if [ "${1:-}" = "--fetch-wheels" ]; then
  platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
  done
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_CHECK_PYTHON:-3.12}" \
    --implementation cp "${platforms[@]}" -d "$WHEELS" "${PACKAGES[@]}"
  ls -la "$WHEELS"
  exit 0
fi
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  site=${TMPDIR:-/tmp}/gpu_check-site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$WHEELS"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  echo "gpu_check.sh: installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $site"
fi
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
exec env PYTHONUNBUFFERED=1 "$PY" scripts/gpu_check.py "$@"

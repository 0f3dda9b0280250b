#!/usr/bin/env bash
# Create .venv (once) and install detkit with its test, drawing, ONNX and fast-eval extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q -e '.[tests,viz,onnx,fast_eval]'

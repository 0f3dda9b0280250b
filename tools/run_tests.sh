#!/usr/bin/env bash
# Set up .venv and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec .venv/bin/python -m pytest -q tests "$@"

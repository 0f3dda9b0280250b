#!/usr/bin/env bash
# Check detkit against one torch release in a throw-away virtualenv:
#   bash tools/compat_check.sh TORCH_VERSION [MMENGINE_VERSION]
# e.g. `bash tools/compat_check.sh 2.1.2 0.10.4`. It installs that torch, the
# matching torchvision (0.<minor+15>.<patch>, or $TORCHVISION) and detkit from
# this repository's HEAD (or $REF) with pip (which resolves setup.cfg's requirements), then runs
# the smoke subset of the tests below: every config builds, CPU training with
# checkpoints and an exact resume, an evaluation, 2-process gloo torchrun
# training + testing, safe checkpoint loading. The venv lives under
# $COMPAT_DIR (default /tmp/detkit-compat) and is deleted afterwards unless
# KEEP=1; PyPI's CUDA builds of torch take 3-6 GB there while it runs.
# FULL=1 runs the whole test suite instead (with all extras), to see what else breaks.
# The last line says PASS or FAIL, the versions, the time and the disk used.
set -euo pipefail
TORCH=${1:?usage: bash tools/compat_check.sh TORCH_VERSION [MMENGINE_VERSION]}
MMENGINE=${2:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
IFS=. read -r MAJOR MINOR PATCH <<< "${TORCH%%+*}"
TORCHVISION=${TORCHVISION:-0.$((MINOR + 15)).${PATCH:-0}}
SMOKE=(
  tests/engine/test_compat.py
  tests/engine/test_compat_configs.py
  tests/engine/test_compat_checkpoint.py
  tests/engine/test_runner_utils.py
  tests/tools/test_train.py
  tests/tools/test_test.py::test_test_tool_evaluates_a_trained_checkpoint
  tests/tools/test_dist_train.py::test_dist_train_then_dist_test_with_two_ranks
  tests/robustness/test_checkpoints.py
)
PYTEST_ARGS=(-x "${SMOKE[@]}")
EXTRAS=tests
SUITE="smoke subset"
if [ "${FULL:-0}" = 1 ]; then
  PYTEST_ARGS=(tests)
  EXTRAS=tests,viz,onnx,fast_eval
  SUITE="full suite"
fi

mkdir -p "${COMPAT_DIR:=/tmp/detkit-compat}"
WORK=$(mktemp -d "$COMPAT_DIR/torch-$TORCH.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$WORK"' EXIT
fi
START=$(date +%s)
echo "== $WORK: torch $TORCH, torchvision $TORCHVISION, mmengine ${MMENGINE:-newest 0.10.x}"

# Committed code only ($REF, default HEAD): a shared checkout holds others' edits in flight.
mkdir "$WORK/src"
git -C "$REPO" archive --format=tar "${REF:-HEAD}" | tar -xf - -C "$WORK/src"

"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install -q --no-cache-dir)
REQUIREMENTS=("torch==$TORCH" "torchvision==$TORCHVISION")
if [ -n "$MMENGINE" ]; then
  REQUIREMENTS+=("mmengine==$MMENGINE")
fi
if [ "$MAJOR" -eq 2 ] && [ "$MINOR" -lt 4 ]; then
  REQUIREMENTS+=("numpy<2")   # PyPI's torch < 2.4 predates NumPy 2 (June 2024)
fi
# (the filter drops pip's notes about this machine's local index folders)
"${PIP[@]}" "${REQUIREMENTS[@]}" "$WORK/src[$EXTRAS]" 2>&1 | { grep -v 'is neither a file nor a directory' || true; }
"$WORK/venv/bin/python" - <<'EOF'
import importlib.metadata as m
print('installed:', ', '.join(f'{p} {m.version(p)}' for p in
      ('torch', 'torchvision', 'mmengine', 'numpy', 'pycocotools', 'detkit')))
EOF
DISK=$(du -sh "$WORK" | cut -f1)

STATUS=PASS
(cd "$WORK/src" && OMP_NUM_THREADS=1 "$WORK/venv/bin/python" -m pytest -q "${PYTEST_ARGS[@]}") \
  || STATUS=FAIL
SECONDS_TAKEN=$(( $(date +%s) - START ))
echo "$STATUS ($SUITE): torch $TORCH, torchvision $TORCHVISION, mmengine ${MMENGINE:-newest}," \
  "python $("$PYTHON" -c 'import platform; print(platform.python_version())'):" \
  "${SECONDS_TAKEN} s, venv $DISK, $(date -u +%F)"
[ "$STATUS" = PASS ]

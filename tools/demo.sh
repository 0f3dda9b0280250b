#!/usr/bin/env bash
# Set up .venv, train the embedded-default RetinaNet on the synthetic dataset
# (generated on first use, no downloads), then evaluate it: prints the COCO mAP table.
# --amp: bf16 autocast on CPUs with AVX-512 BF16 / AMX (fp32 with a notice on others),
# fp16 AMP on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
CONFIG=configs/retinanet_r18_fpn_synthetic.py
WORK_DIR=${WORK_DIR:-work_dirs/retinanet_r18_fpn_synthetic}
.venv/bin/python tools/train.py "$CONFIG" --amp --work-dir "$WORK_DIR" "$@"
.venv/bin/python tools/test.py "$CONFIG" "$WORK_DIR" --work-dir "$WORK_DIR"

#!/usr/bin/env bash
# Every check that needs a GPU, in one call (docs/benchmarks.md, "GPU"): the CUDA tests,
# the throughput and compare benchmarks at 800x1333 with AMP, and the embedded demo trained
# eagerly and from a CUDA graph, each then evaluated. Figures go to $OUT (or ./gpu_selfcheck).
# With --parity it runs instead the full-size from-scratch parity benchmark (torchvision vs
# detkit, seeds 0-2, three runs at a time; estimated 5 min on an H200, not yet run), in a
# call of its own.
#
# The GPU machines have torch but not detkit's pure-Python dependencies and no network:
#   here:   bash tools/gpu_selfcheck.sh --fetch-wheels   (into .whl/, git-ignored)
#   there:  bash tools/gpu_selfcheck.sh                  (installs .whl/ into /tmp/site)
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=(mmengine==0.10.7 addict==2.4.0 termcolor==2.4.0 yapf==0.40.2 platformdirs==4.2.2
        pycocotools==2.0.8)
if [ "${1:-}" = "--fetch-wheels" ]; then
  mkdir -p .whl
  PY=${PYTHON:-python3}
  for w in "${WHEELS[@]}"; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform any -d .whl "$w" || exit 1
  done
  ls .whl
  exit 0
fi
OUT=${OUT:-gpu_selfcheck}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c 'import torch, torchvision, mmengine; print(torch.__version__, torchvision.__version__, mmengine.__version__)' | tee -a "$OUT/gpu.txt"
status=0
# run_to FILE CMD...: CMD's output to the screen and $OUT/FILE, its exit status kept
run_to() {
  local file=$1; shift
  echo "== $*"
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$OUT/$file"
  local rc=${PIPESTATUS[0]}
  echo "== rc=$rc in $((SECONDS - start)) s" | tee -a "$OUT/$file"
  [ "$rc" -eq 0 ] || status=1
}

if [ "${1:-}" = "--parity" ]; then
  run_to parity.txt python3 benchmarks/train_parity.py --preset full --jobs 3 --threads 4 \
    --seeds 0 1 2 --out-dir "$OUT/parity"
  exit $status
fi
run_to tests.txt python3 -m pytest -q -p no:cacheprovider tests/engine/test_graph_train_step.py \
  tests/models/dense_heads tests/utils/test_sync_recorder.py
run_to throughput.txt python3 tools/benchmark.py --mode throughput --device cuda --amp \
  --size 800 1333 --batches 2 8 16 --repeats 10 --warmup 3 --json "$OUT/throughput.json"
run_to compare.txt python3 tools/benchmark.py --device cuda --amp --size 800 1333 \
  --infer-batches 1 8 --repeats 10 --json "$OUT/compare.json"
for mode in eager graph; do
  flag=""; [ "$mode" = graph ] && flag="--cuda-graph"
  run_to "demo_$mode.txt" python3 tools/train.py configs/retinanet_r18_fpn_synthetic.py --amp \
    $flag --work-dir "work_dirs/selfcheck_$mode" --seed 0
  run_to "demo_$mode.txt" python3 tools/test.py configs/retinanet_r18_fpn_synthetic.py \
    "$(ls -t work_dirs/selfcheck_$mode/epoch_*.pth | head -1)"
done
grep -h -E "cuda_graph|time: |bbox_mAP" "$OUT"/demo_*.txt | tail -n 40
exit $status

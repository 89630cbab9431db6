#!/usr/bin/env bash
# The GPU checks behind docs/speed.md#gpu, in one run on a machine with a CUDA device:
#   1. tests/test_cuda.py (the fast engine, the latent encoders and every model on CUDA
#      against the CPU),
#   2. the engine benchmark on CUDA (python -m treenn.bench --device cuda),
#   3. the README's SST-5 Tree-LSTM, seed 1, trained on CUDA and scored on test,
#   4. one epoch of the beam Tree-LSTM on LISTOPS_DIR's train.tsv and dev.tsv (docs/speed.md
#      used 7,775 expressions of <= 100 tokens from the nb preset, generated beforehand: the
#      nb generator takes minutes of CPU).
# Usage: [PYTHON=python3] scripts/gpu_check.sh SST_DIR LISTOPS_DIR OUT [DEVICE=cuda]
# treenn must be importable by PYTHON (installed, not the checkout: data/ installs as
# treenn.data); the steps run from a scratch folder holding a copy of tests/ and train.py.
# Each step has a time limit; the script goes on to the next step when one fails or runs out
# of time, and exits with 1 if any did.
set -uo pipefail
for dir in "${1:?SST folder}" "${2:?ListOps folder}"; do
  [ -d "$dir" ] || { echo "gpu_check: no folder $dir" >&2; exit 2; }
done
SST=$(realpath "$1"); LISTOPS=$(realpath "$2")
OUT=$(realpath -m "${3:?output folder}"); DEVICE=${4:-cuda}; PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
cp -r "$ROOT/tests" "$ROOT/train.py" "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$WORK"
cd "$WORK" || exit 1
export PYTHONUNBUFFERED=1
FAILED=0

step() {  # step NAME SECONDS COMMAND...: its output in OUT/NAME.txt
  local name=$1 limit=$2 t0=$SECONDS
  shift 2
  echo "== $name: $*"
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  [ "$rc" -eq 0 ] || FAILED=1
  tail -n 25 "$OUT/$name.txt"
  echo "== $name: rc $rc, $((SECONDS - t0)) s"
}

"$PY" -c "import torch, dgl, treenn; print('torch', torch.__version__, 'dgl', dgl.__version__,
    'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" || exit 1
step cuda-tests 80 env TREENN_TEST_DEVICE="$DEVICE" "$PY" -m pytest -q -p no:cacheprovider \
  tests/test_cuda.py
step bench 130 "$PY" -m treenn.bench --data-dir "$SST" --device "$DEVICE" \
  --json "$OUT/bench.json"
step sst5 150 "$PY" train.py -q train --task sst5 --model tree-lstm --seed 1 --data-dir "$SST" \
  --device "$DEVICE" --out sst5-tree-lstm-s1
cp sst5-tree-lstm-s1/metrics.jsonl "$OUT/sst5-metrics.jsonl" 2>/dev/null
step sst5-test 40 "$PY" train.py -q evaluate sst5-tree-lstm-s1 --split test
step beam 100 "$PY" train.py -q train --task listops --data-dir "$LISTOPS" \
  --model beam-tree-lstm --epochs 1 --seed 1 --device "$DEVICE" --out beam-s1
cp beam-s1/metrics.jsonl "$OUT/beam-metrics.jsonl" 2>/dev/null
exit "$FAILED"

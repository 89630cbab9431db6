#!/usr/bin/env bash
# The ListOps runs behind README's results: Tree-LSTM, LSTM and BiLSTM, three seeds each, on
# the default generated data (data.listops.ListOpsConfig: 30,000 training expressions).
# Usage: scripts/listops_experiments.sh [OUT=runs/listops] [JOBS=2]
set -euo pipefail
OUT=${1:-runs/listops}; JOBS=${2:-2}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
runs() {
  for s in 1 2 3; do
    for m in tree-lstm lstm bilstm; do echo "listops-$m-s$s|--task listops --model $m --seed $s"; done
  done
}
one() {
  local name=${1%%|*} args=${1#*|}
  if [ -f "$OUT/$name/eval-test.json" ]; then echo "done already: $name"; return; fi
  local resume=""
  [ -f "$OUT/$name/last.pt" ] && resume="--resume"
  echo "start $name"
  # shellcheck disable=SC2086
  "$PY" train.py -q train $args --threads 1 --out "$OUT/$name" $resume > "$OUT/$name.log" 2>&1 \
    || echo "FAILED $name (see $OUT/$name.log)"
  echo "end $name"
}
export -f one; export OUT PY
runs | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {}

#!/usr/bin/env bash
# The ListOps runs behind docs/listops.md: Tree-LSTM, LSTM and BiLSTM, three seeds each, on
# the default generated data (treenn.data.listops_generator.ListOpsConfig: 30,000 training expressions).
# Usage: scripts/listops_experiments.sh [OUT=runs/listops] [JOBS=2]
set -euo pipefail
OUT=${1:-runs/listops}; JOBS=${2:-2}
runs() {
  for s in 1 2 3; do
    for m in tree-lstm lstm bilstm; do echo "listops-$m-s$s|--task listops --model $m --seed $s"; done
  done
}

source "$(dirname "$0")/queue.sh"
runs | run_queue "$OUT" "$JOBS"

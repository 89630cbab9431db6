#!/usr/bin/env bash
# The runs behind docs/latent.md: ListOps on Nangia & Bowman's distribution (--listops-preset
# nb) with the gold-tree Tree-LSTM, an LSTM and the Gumbel Tree-LSTM (latent trees, trained on
# expressions of <= 100 tokens: it costs O(n^2) per expression), the beam Tree-LSTM on the
# same expressions (comparable with the Gumbel runs), and SST-5 with the Gumbel and beam
# Tree-LSTMs (the gold-tree SST-5 runs are scripts/sst_experiments.sh's). Then `evaluate`
# scores each latent run's induced trees against the gold trees of every split, and the
# SST-5 latent runs parse the PTB sample's test split (NLTK_DATA must hold the sample).
# Usage: [THREADS=1] scripts/latent_experiments.sh SST_DIR [OUT=runs/latent] [JOBS=2]
#        [SEEDS="1 2 3"]   (THREADS: torch threads of each training run and evaluation)
# (docs/latent.md reports seeds 1-3 for the plateau Tree-LSTM with and without --ema, the
# LSTM, both Gumbel runs and both beam runs, seed 1 for the constant-rate Tree-LSTM.)
set -euo pipefail
shopt -s nullglob  # a run kind with no folder is skipped, not read as a literal pattern
SST=${1:?SST folder}; OUT=${2:-runs/latent}; JOBS=${3:-2}; SEEDS=${4:-1 2 3}
NB="--task listops --listops-preset nb"

runs() {
  for s in $SEEDS; do
    echo "nb-tree-lstm-s$s|$NB --model tree-lstm --epochs 12 --seed $s"
    echo "nb-tree-lstm-plateau-s$s|$NB --model tree-lstm --epochs 16 --lr-patience 1 --seed $s"
    echo "nb-tree-lstm-plateau-ema-s$s|$NB --model tree-lstm --epochs 16 --lr-patience 1 --ema 0.999 --seed $s"
    echo "nb-lstm-s$s|$NB --model lstm --epochs 6 --seed $s"
    echo "nb-gumbel-tree-lstm-s$s|$NB --listops-train-max-length 100 --model gumbel-tree-lstm --epochs 4 --seed $s"
    echo "nb-beam-tree-lstm-s$s|$NB --listops-train-max-length 100 --model beam-tree-lstm --epochs 8 --seed $s"
    echo "sst5-gumbel-tree-lstm-s$s|--task sst5 --model gumbel-tree-lstm --data-dir $SST --seed $s"
    echo "sst5-beam-tree-lstm-s$s|--task sst5 --model beam-tree-lstm --data-dir $SST --seed $s"
  done
}

source "$(dirname "$0")/queue.sh"
runs | run_queue "$OUT" "$JOBS"

for run in "$OUT"/*gumbel-tree-lstm-s*/ "$OUT"/*beam-tree-lstm-s*/; do
  for split in $(ls "$run" | sed -n 's/^eval-\([^@]*\)\.json$/\1/p'); do
    "$PY" train.py -q evaluate "$run" --split "$split" --threads "${THREADS:-1}" > "$run/evaluate-$split.txt"
  done
done
for run in "$OUT"/sst5-gumbel-tree-lstm-s*/ "$OUT"/sst5-beam-tree-lstm-s*/; do
  "$PY" -m treenn.experiments.induction "$run" --json "$run/induction-ptb-test.json"
done
"$PY" -m treenn.experiments.latent_bench --data-dir "$SST" --batches 100 --json docs/bench-latent.json

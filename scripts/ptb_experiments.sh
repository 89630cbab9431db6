#!/usr/bin/env bash
# The parser runs behind README's parsing results, on NLTK's Penn Treebank sample.
# Usage: scripts/ptb_experiments.sh NLTK_DATA_DIR GLOVE_FILE [OUT=runs/ptb] [JOBS=2]
set -euo pipefail
NLTK=${1:?nltk_data folder}; GLOVE=${2:?GloVe text file}; OUT=${3:-runs/ptb}; JOBS=${4:-2}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
runs() {
  echo "rnn-parser|--model rnn-parser --epochs 18 --embeddings $GLOVE --x-size 50"
  echo "rnn-parser-bilstm-leaves|--model rnn-parser --leaves bilstm --epochs 15 --embeddings $GLOVE --x-size 50"
  echo "bilstm-parser|--model bilstm-parser --epochs 20 --embeddings $GLOVE --x-size 50"
  echo "pcfg|--model pcfg"
}
one() {
  local name=${1%%|*} args=${1#*|}
  if [ -f "$OUT/$name/eval-test.json" ]; then echo "done already: $name"; return; fi
  local resume=""
  [ -f "$OUT/$name/last.pt" ] && [ "$name" != pcfg ] && resume="--resume"
  echo "start $name"
  # shellcheck disable=SC2086
  "$PY" train.py -q train --task ptb $args --data-dir "$NLTK" --threads 1 --out "$OUT/$name" \
    $resume > "$OUT/$name.log" 2>&1 || echo "FAILED $name (see $OUT/$name.log)"
  echo "end $name"
}
export -f one; export OUT NLTK PY
runs | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {}

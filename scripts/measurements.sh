#!/usr/bin/env bash
# The measurements behind docs/speed.md, docs/parsing.md and the reports, run after the
# experiment scripts (scripts/{sst,listops,ptb}_experiments.sh) on a machine doing nothing
# else. Usage: scripts/measurements.sh SST_DIR NLTK_DATA_DIR [OUT=docs]
set -euo pipefail
SST=${1:?SST folder}; NLTK=${2:?nltk_data folder}; OUT=${3:-docs}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"

# Engines: DGL reference vs fast vs nn.LSTM on one SST epoch, cost by height, 10k-node chain.
"$PY" -m treenn.bench --data-dir "$SST" --threads 2 --json "$OUT/bench-engines.json" \
  | tee "$OUT/bench-engines.txt"
# issue 22: the same benchmark after the level-major engine, and where a step's time goes
"$PY" -m treenn.bench --data-dir "$SST" --threads 2 --json "$OUT/bench-engines-floor.json" \
  | tee "$OUT/bench-engines-floor.txt"
for t in 2 1; do
  suffix=$([ "$t" = 1 ] && echo "-1thread" || true)
  "$PY" -m treenn.experiments.engine_trials --data-dir "$SST" --threads "$t" \
    --json "$OUT/engine-trials$suffix.json" | tee "$OUT/engine-trials$suffix.txt"
done

# The recursive parsers' chart against its earlier version (fbe4611): same derivations?
# speed of each, measured in one process.
P28=runs/ptb/rnn-parser-beam2-plateau-28ep
"$PY" scripts/chart_speedup.py --data-dir "$NLTK" --threads 2 --json "$OUT/chart-speedup.json" \
  "$P28-seed3" runs/ptb/rnn-parser "$P28,$P28-seed2,$P28-seed3" | tee "$OUT/chart-speedup.txt"

# Parsing speed on PTB-sample dev+test sentences of <= 40 tokens.
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parsers.json" \
  runs/ptb/bilstm-parser runs/ptb/rnn-parser runs/ptb/rnn-parser-beam2 \
  runs/ptb/rnn-parser-beam2-plateau runs/ptb/rnn-parser-bilstm-leaves runs/ptb/pcfg \
  right-branching left-branching balanced | tee "$OUT/bench-parsers.txt"
# The recursive parser dev chooses (28 epochs, seed 3), next to the seed-1 run, in one run.
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parser-chosen.json" \
  runs/ptb/rnn-parser-beam2-plateau runs/ptb/rnn-parser-beam2-plateau-28ep-seed3 \
  | tee "$OUT/bench-parser-chosen.txt"

# The wider cell (h=256) and its speed.
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parser-h256.json" \
  runs/ptb/rnn-parser-beam2-plateau-h256 | tee "$OUT/bench-parser-h256.txt"
"$PY" scripts/compare_epochs.py runs/ptb/rnn-parser-beam2-plateau \
  runs/ptb/rnn-parser-beam2-plateau-h256 > "$OUT/rnn-parser-h256.txt"
# Its seed 1 again with a moving average of the weights (--ema), epoch by epoch, and its speed.
"$PY" scripts/compare_epochs.py runs/ptb/rnn-parser-beam2-plateau-h256 \
  runs/ptb/rnn-parser-beam2-plateau-h256-ema > "$OUT/rnn-parser-h256-ema.txt"
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parser-h256-ema.json" \
  runs/ptb/rnn-parser-beam2-plateau-h256-ema | tee "$OUT/bench-parser-h256-ema.txt"
# The h=128 seed 1 with the moving average, the same way (the single run dev chooses).
"$PY" scripts/compare_epochs.py runs/ptb/rnn-parser-beam2-plateau \
  runs/ptb/rnn-parser-beam2-plateau-ema > "$OUT/rnn-parser-ema.txt"
# (docs/bench-parser-ema.txt holds its speed with the previous chart, up to 65a75ef.) The
# chart as it is now against 65a75ef's on it (same derivations? how much faster), its
# dev F1 by beam and pairs per split point, and speed and test F1 with all pairs, with the
# two pairs dev prefers, and at beam 1.
EMA=runs/ptb/rnn-parser-beam2-plateau-ema
"$PY" scripts/chart_speedup.py --data-dir "$NLTK" --threads 2 --before 65a75ef \
  --json "$OUT/chart-speedup-65a75ef.json" "$EMA" | tee "$OUT/chart-speedup-65a75ef.txt"
"$PY" -m treenn.experiments.search "$EMA" --data-dir "$NLTK" --split dev --threads 2 --beam 1 2 \
  --pairs 1 2 3 --json "$OUT/search-rnn-parser-ema-pairs.json" | tee "$OUT/search-rnn-parser-ema-pairs.txt"
for setting in beam2: pairs2:--pairs=2 beam1:--beam=1; do
  name=${setting%%:*}; flag=${setting#*:}
  # shellcheck disable=SC2086
  "$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 $flag \
    --json "$OUT/bench-parser-ema-$name.json" "$EMA" | tee "$OUT/bench-parser-ema-$name.txt"
done
# Its seeds 2 and 3: mean ± sd over the three, dev with two pairs, and test and speed with two.
"$PY" -m treenn.experiments.seeds "$EMA" "$EMA-seed2" "$EMA-seed3" --json "$OUT/seeds-parsers-ema.json" \
  | tee "$OUT/seeds-parsers-ema.txt"
for seed in 2 3; do
  "$PY" -m treenn.experiments.search "$EMA-seed$seed" --data-dir "$NLTK" --split dev --threads 2 --beam 2 \
    --pairs 2 --json "$OUT/search-rnn-parser-ema-seed$seed-pairs.json" \
    | tee "$OUT/search-rnn-parser-ema-seed$seed-pairs.txt"
done
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --pairs 2 \
  --json "$OUT/bench-parser-ema-seeds-pairs2.json" "$EMA-seed2" "$EMA-seed3" \
  | tee "$OUT/bench-parser-ema-seeds-pairs2.txt"

# Parser runs side by side: the beam-2 plateau configuration over three seeds (20 and 28
# epochs, h=128; 20 epochs, h=256), and which seed dev F1 chooses; the other runs alone.
"$PY" -m treenn.experiments.seeds runs/ptb/rnn-parser-beam2-plateau{,-seed2,-seed3} \
  runs/ptb/rnn-parser-beam2-plateau-28ep{,-seed2,-seed3} runs/ptb/rnn-parser-beam2-plateau-h256{,-seed2,-seed3} \
  runs/ptb/rnn-parser-beam2-plateau-h256-ema runs/ptb/rnn-parser-beam2-plateau-ema runs/ptb/rnn-parser-beam2 \
  runs/ptb/rnn-parser runs/ptb/rnn-parser-bilstm-leaves runs/ptb/bilstm-parser runs/ptb/pcfg \
  --json "$OUT/seeds-parsers.json" | tee "$OUT/seeds-parsers.txt"

# The three 28-epoch seeds decoding together as one ensemble, against each alone (dev and
# test F1), and its speed next to the single run dev chose, in one run.
"$PY" -m treenn.experiments.ensemble "$P28" "$P28-seed2" "$P28-seed3" --data-dir "$NLTK" --threads 2 \
  --json "$OUT/ensemble-parsers.json" | tee "$OUT/ensemble-parsers.txt"
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parser-ensemble.json" \
  "$P28-seed3" "$P28,$P28-seed2,$P28-seed3" | tee "$OUT/bench-parser-ensemble.txt"
# The three h=256 seeds as one ensemble, the same way, and its speed.
H256=runs/ptb/rnn-parser-beam2-plateau-h256
"$PY" -m treenn.experiments.ensemble "$H256" "$H256-seed2" "$H256-seed3" --data-dir "$NLTK" --threads 2 \
  --json "$OUT/ensemble-parsers-h256.json" | tee "$OUT/ensemble-parsers-h256.txt"
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --json "$OUT/bench-parser-ensemble-h256.json" \
  "$H256,$H256-seed2,$H256-seed3" | tee "$OUT/bench-parser-ensemble-h256.txt"
# The same two parsed greedily (--beam 1): the fast option, and its F1.
"$PY" -m treenn.experiments.parser_bench --data-dir "$NLTK" --threads 2 --beam 1 --json "$OUT/bench-parser-beam1.json" \
  "$P28-seed3" "$P28,$P28-seed2,$P28-seed3" | tee "$OUT/bench-parser-beam1.txt"

# The recursive parser's search: F1 and search errors on dev at several beam widths.
for spec in rnn-parser:1,2,4 rnn-parser-beam2:1,2,3 rnn-parser-beam2-plateau:1,2,3 \
    rnn-parser-beam2-plateau-28ep-seed3:1,2; do
  run=${spec%%:*}; beams=${spec#*:}
  # shellcheck disable=SC2086
  "$PY" -m treenn.experiments.search "runs/ptb/$run" --data-dir "$NLTK" --split dev --threads 2 \
    --beam ${beams//,/ } --json "$OUT/search-$run.json" | tee "$OUT/search-$run.txt"
done

# Parsers on SST: bracketing F1 against SST's trees and the raw-text sentiment pipeline,
# with the sst5 Tree-LSTM of best dev accuracy.
BEST=$("$PY" - <<'PY'
import json, pathlib
runs = [p for p in pathlib.Path("runs/sst").glob("sst5-tree-lstm-*-s*") if (p / "eval-test.json").is_file()
        and json.loads((p / "config.json").read_text())["model"]["engine"] == "fast"]
# best dev root accuracy; ties go to the first run in name order
print(max(sorted(runs), key=lambda p: json.loads((p / "eval-dev.json").read_text())["root"]["accuracy"]))
PY
)
"$PY" -m treenn.experiments.crossdomain --sst-dir "$SST" --sentiment "$BEST" --threads 2 \
  --json "$OUT/crossdomain.json" runs/ptb/bilstm-parser runs/ptb/rnn-parser runs/ptb/rnn-parser-beam2 \
  runs/ptb/rnn-parser-beam2-plateau runs/ptb/rnn-parser-bilstm-leaves runs/ptb/pcfg right-branching left-branching balanced \
  | tee "$OUT/crossdomain.txt"
# The ensemble of the three 28-epoch recursive parsers on SST (figures of its own).
"$PY" -m treenn.experiments.crossdomain --sst-dir "$SST" --sentiment "$BEST" --threads 2 \
  --json "$OUT/crossdomain-ensemble.json" "$P28,$P28-seed2,$P28-seed3" \
  | tee "$OUT/crossdomain-ensemble.txt"
# The recursive parser dev chooses, with every pair and with the two pairs dev prefers.
"$PY" -m treenn.experiments.crossdomain --sst-dir "$SST" --sentiment "$BEST" --threads 2 \
  --json "$OUT/crossdomain-ema.json" "$EMA" | tee "$OUT/crossdomain-ema.txt"
"$PY" -m treenn.experiments.crossdomain --sst-dir "$SST" --sentiment "$BEST" --threads 2 --pairs 2 \
  --json "$OUT/crossdomain-ema-pairs2.json" "$EMA" | tee "$OUT/crossdomain-ema-pairs2.txt"

# The comparison report docs/sst.md and docs/listops.md quote: Tree-LSTM, LSTM and BiLSTM, 3 seeds, sst5 and ListOps.
"$PY" train.py compare runs/sst/sst5-{tree-lstm,lstm,bilstm}-random-s{1,2,3} runs/listops \
  --out "$OUT/report"
# Every SST run in one report (all models, fine-grained and binary).
"$PY" train.py compare runs/sst --out "$OUT/report-sst-all"

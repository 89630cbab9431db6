# Shared by the experiment scripts (source it): runs the training runs that standard input
# lists as "NAME|ARGUMENTS" lines, JOBS at a time with THREADS (default 1) torch threads each:
#   $PY train.py -q train ARGUMENTS COMMON... --threads THREADS --out OUT/NAME [--resume]
# A finished run (it has eval-test.json) is skipped; an interrupted one (last.pt) resumes.
# Usage: run_queue OUT JOBS [COMMON ARGUMENTS...] < runs.txt
PY=${PY:-.venv/bin/python}

_queue_one() {
  local name=${1%%|*} args=${1#*|}
  if [ -f "$OUT/$name/eval-test.json" ]; then echo "done already: $name"; return; fi
  local resume=""
  [ -f "$OUT/$name/last.pt" ] && resume="--resume"
  echo "start $name"
  # shellcheck disable=SC2086
  "$PY" train.py -q train $args "${COMMON[@]}" --threads "${THREADS:-1}" --out "$OUT/$name" $resume \
    > "$OUT/$name.log" 2>&1 || echo "FAILED $name (see $OUT/$name.log)"
  echo "end $name"
}

run_queue() {
  local jobs=$2
  OUT=$1; shift 2
  mkdir -p "$OUT"
  # arrays do not cross into the xargs shells: pass the common arguments as a quoted string
  # (none given: printf would still print '' once, an empty argument train.py refuses)
  COMMON_Q=""
  [ $# -gt 0 ] && COMMON_Q=$(printf '%q ' "$@")
  export OUT PY COMMON_Q THREADS
  export -f _queue_one
  xargs -P "$jobs" -I{} bash -c 'eval "COMMON=($COMMON_Q)"; _queue_one "$1"' _ {}
}

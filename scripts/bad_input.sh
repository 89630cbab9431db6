#!/usr/bin/env bash
# The bad-input transcript docs/robustness.md quotes: each case is run for real and its standard error
# and exit status printed (the standard output of successful commands cut at 100 characters).
# Usage: scripts/bad_input.sh SENTIMENT_RUN PARSER_RUN...
# (SENTIMENT_RUN: a trained sst5 run; PARSER_RUNs: trained parsers, or right-branching).
set -uo pipefail
SENT=${1:?sentiment run}; shift
PY=${PY:-.venv/bin/python}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
GOOD='(3 (2 It) (4 (4 (2 is) (4 good)) (2 .)))'

REPO=$(pwd)
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
show() {  # show DESCRIPTION ARGS...: runs train.py ARGS in $TMP, prints its stderr and status
  local shown="${*:2}"
  echo "\$ python train.py ${shown//$REPO\//}    # $1"
  (cd "$TMP" && "$PY" "$REPO/train.py" "${@:2}") > "$TMP/stdout" 2> "$TMP/stderr"
  local rc=$?
  cat "$TMP/stderr"
  if [ "$rc" -eq 0 ]; then cut -c1-100 "$TMP/stdout"; fi
  echo "exit status $rc"
}
sst() {  # sst NAME LINE2: a data folder whose train.txt has LINE2 as its second line
  mkdir -p "$TMP/$1"
  printf '%s\n%s\n%s\n' "$GOOD" "$2" "$GOOD" > "$TMP/$1/train.txt"
  cp "$TMP/$1/train.txt" "$TMP/$1/dev.txt"; cp "$TMP/$1/train.txt" "$TMP/$1/test.txt"
}
sst brackets '(3 (2 It) (4 (2 is) (4 good))'
sst label '(3 (2 It) (x (2 is) (4 good)))'
sst empty ''
T=(-q train --task sst5 --out run)
show "line 2 lacks a ')'" "${T[@]}" --model tree-lstm --data-dir brackets
show "line 2 has the label x" "${T[@]}" --model tree-lstm --data-dir label
show "line 2 is empty" "${T[@]}" --model tree-lstm --data-dir empty
show "no such model" "${T[@]}" --model transformer --data-dir brackets
show "no such folder" "${T[@]}" --model lstm --data-dir no/such/dir

# Raw text through the parsers: unseen words, an empty line, 300 tokens, non-ASCII.
python3 - > "$TMP/text.txt" <<'EOF'
print("Zorblatt quindled the vexnorious gribbles .")
print("")
print(" ".join(["good"] * 300))
print("Le film était « très » bon — naïve café 映画 😀 .")
EOF
abs() { case $1 in /*|right-branching|left-branching|balanced) echo "$1";; *) echo "$REPO/$1";; esac; }
for parser in "$@"; do
  show "unseen words, an empty line, 300 tokens, non-ASCII" parse "$(abs "$parser")" --text text.txt
  grep -v '^$' "$TMP/text.txt" > "$TMP/text-no-empty.txt"
  show "the same without the empty line" parse "$(abs "$parser")" --text text-no-empty.txt
  grep -v -e '^$' -e '^good good' "$TMP/text.txt" > "$TMP/text-short.txt"
  show "only the unseen words and the non-ASCII line" parse "$(abs "$parser")" --text text-short.txt
done
show "raw text -> parser -> sentiment" predict "$(abs "$SENT")" --text text-no-empty.txt \
  --parser "$(abs "${1:-right-branching}")"

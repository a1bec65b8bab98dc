#!/usr/bin/env bash
# docs.sh - the docs cannot disagree with the data: every results block in
# the docs is what tools/doc-tables.sh makes from docs/results/<machine>/,
# and every results file kept there carries its machine header.
set -u
. "$(dirname "$0")/lib.sh"

shopt -s nullglob
dirs=("$REPO"/docs/results/*/)
if ((${#dirs[@]} == 0)); then
    report na docs "tables match their results files" "no reference results under docs/results/ yet"
    exit 0
fi
if out=$("$REPO/tools/doc-tables.sh" --check 2>&1); then
    report pass docs "every table in the docs is generated from docs/results"
else
    report fail docs "tables match their results files" "$out"
fi
missing=()
for f in "$REPO"/docs/results/*/*.csv "$REPO"/docs/results/*/*.md; do
    [[ "$(basename "$f")" == README.md ]] && continue
    grep -q '^# machine: ' "$f" && grep -q '^# cpu: ' "$f" && grep -q '^# kernel: ' "$f" ||
        missing+=("${f#"$REPO"/}")
done
if ((${#missing[@]})); then
    report fail docs "every results file names its machine" "no machine header: ${missing[*]}"
else
    report pass docs "every results file names its machine"
fi

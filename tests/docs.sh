#!/usr/bin/env bash
# docs.sh - the docs cannot disagree with the data or with the code:
#   - every results block in the docs is what tools/doc-tables.sh makes
#     from docs/results/<machine>/ (and its subdirectories);
#   - every table there is what tools/stats.awk computes from the raw runs
#     of its CSV: no number in a doc table is typed by hand;
#   - every results file carries its machine header;
#   - every command the docs give still works as written
#     (tests/doc-commands.sh), and that check fails a doc that is wrong.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

shopt -s nullglob globstar
dirs=("$REPO"/docs/results/*/)
if ((${#dirs[@]} == 0)); then
    report na docs "tables match their results files" "no reference results under docs/results/ yet"
else
    if out=$("$REPO/tools/doc-tables.sh" --check 2>&1); then
        report pass docs "every table in the docs is generated from docs/results"
    else
        report fail docs "tables match their results files" "$out"
    fi

    # A figure whose row, column or table is not in its results file.
    if unfound=$(grep -Hn -- '-->(no [^<]*<!-- /cell -->' "$REPO"/README.md "$REPO"/docs/*.md); then
        report fail docs "every figure in the text is found in its results file" "$unfound"
    else
        report pass docs "every figure in the text is found in its results file"
    fi

    missing=() differ=() n=0
    for f in "$REPO"/docs/results/**/*.csv "$REPO"/docs/results/**/*.md; do
        [[ "$(basename "$f")" == README.md ]] && continue
        grep -q '^# machine: ' "$f" && grep -q '^# cpu: ' "$f" && grep -q '^# kernel: ' "$f" ||
            missing+=("${f#"$REPO"/}")
    done
    if ((${#missing[@]})); then
        report fail docs "every results file names its machine" "no machine header: ${missing[*]}"
    else
        report pass docs "every results file names its machine"
    fi

    for csv in "$REPO"/docs/results/**/*.csv; do
        md=${csv%.csv}.md
        [[ -f "$md" ]] || continue
        n=$((n + 1))
        if ! cmp -s <(awk -F, -v mode=md -f "$REPO/tools/stats.awk" "$csv") <(grep '^|' "$md"); then
            differ+=("${md#"$REPO"/}")
        fi
    done
    if ((${#differ[@]})); then
        report fail docs "every results table is the medians of its raw runs" "differs from its CSV: ${differ[*]}"
    else
        report pass docs "every results table ($n) is the medians of its raw runs, recomputed from its CSV"
    fi
fi

"$TESTS_DIR/doc-commands.sh"

# The command check must be able to fail: a doc with three mistakes.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' '```sh' 'part1-iterative/server --no-such-flag' 'tools/no-such-script.sh' \
    'make no-such-target' '```' >"$tmp/wrong.md"
out=$("$TESTS_DIR/doc-commands.sh" "$tmp/wrong.md")
if [[ "$out" == FAIL* && "$out" == *--no-such-flag* && "$out" == *no-such-script* && "$out" == *no-such-target* ]]; then
    report pass docs "the command check fails a doc with a wrong flag, a missing script and a missing make target"
else
    report fail docs "the command check fails a wrong doc" "it said: $out"
fi

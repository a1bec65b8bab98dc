#!/usr/bin/env bash
# doc-tables.sh [--check] [--results DIR]
#
# Fills every block of the docs (docs/*.md and README.md) written as
#     <!-- results: part1_b -->
#     ...
#     <!-- /results -->
# with the table of DIR/part1_b.md (default DIR: docs/results/<the one
# machine there>), its machine line, a link to the raw runs, and its plot
# when DIR/part1_b.png exists. Docs and data cannot disagree: no table in
# a doc is typed by hand.
# NAME may name a subdirectory: `results: full/part3_a` (make bench-full's
# tables, kept in DIR/full/). A single figure inside a sentence or a table
# cell is written
#     <!-- cell: part2_a 20 iterative -->4.01<!-- /cell -->
# and filled with the median of that row and column of DIR/part2_a.md (a
# column named with a space, "epoll req_per_s", is written epoll+req_per_s).
#   --check   change nothing; exit 1 if a doc differs from what its
#             results file gives (make test runs this)
set -u
tools_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$tools_dir")
check=0 results=""
while (($#)); do
    case "$1" in
        --check) check=1; shift ;;
        --results) results=${2:?--results needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "doc-tables.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [[ -z "$results" ]]; then
    for d in "$repo"/docs/results/*/; do
        [[ -d "$d" ]] && results=${d%/}
    done
fi
[[ -n "$results" && -d "$results" ]] || { echo "doc-tables.sh: no results directory (docs/results/<machine>/)" >&2; exit 2; }
results=$(cd "$results" && pwd)

# The block for table NAME, with links relative to the doc's directory.
block() {
    local name=$1 docdir=$2 md="$results/$1.md" rel
    rel=$(realpath --relative-to="$docdir" "$results")
    if [[ ! -f "$md" ]]; then
        echo "(no reference results for $name yet: run the lesson's timing.sh, copy results/ here and rerun tools/doc-tables.sh)"
        return
    fi
    # Everything after the table's own heading: machine, date, the table.
    awk 'seen { print } /^## / { seen = 1 }' "$md" | sed '1{/^$/d}'
    echo
    echo "Source: [\`$rel/$name.md\`]($rel/$name.md), every run in [\`$name.csv\`]($rel/$name.csv)."
    if [[ -f "$results/$name.png" ]]; then
        echo
        echo "![$name]($rel/$name.png)"
    fi
}

# cell NAME ROW COLUMN: the median in that row and column of NAME.md.
cell() {
    local md="$results/$1.md"
    [[ -f "$md" ]] || { echo "(no $1)"; return; }
    awk -F'|' -v row="$2" -v col="${3//+/ }" '
        function trim(s) { gsub(/^ +| +$/, "", s); return s }
        !/^\|/ { next }
        !c { for (i = 2; i < NF; i++) if (trim($i) == col) c = i; if (!c) exit; next }
        trim($2) == row { v = trim($c); sub(/ \(.*$/, "", v); print v; found = 1; exit }
        END { if (!found) print "(no " row "/" col ")" }' "$md"
}

# cells LINE: the line with every <!-- cell: ... --> figure filled in.
cells() {
    local line=$1 out="" re='<!-- cell: ([a-z0-9_/-]+) ([^ ]+) ([^ ]+) -->'
    while [[ "$line" =~ $re ]]; do
        local marker=${BASH_REMATCH[0]} value
        value=$(cell "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
        out+="${line%%"$marker"*}$marker$value<!-- /cell -->"
        line=${line#*"$marker"}
        line=${line#*'<!-- /cell -->'}
    done
    printf '%s\n' "$out$line"
}

# fill DOC: print the doc with every results block regenerated.
fill() {
    local doc=$1 docdir line name inside=0
    docdir=$(dirname "$doc")
    while IFS= read -r line || [[ -n "$line" ]]; do
        if ((inside)); then
            [[ "$line" == "<!-- /results -->" ]] && { inside=0; printf '%s\n' "$line"; }
            continue
        fi
        if [[ "$line" == *'<!-- cell: '* ]]; then cells "$line"; else printf '%s\n' "$line"; fi
        if [[ "$line" =~ ^\<\!--\ results:\ ([a-z0-9_/-]+)\ --\>$ ]]; then
            name=${BASH_REMATCH[1]}
            block "$name" "$docdir"
            inside=1
        fi
    done <"$doc"
}

status=0
for doc in "$repo"/README.md "$repo"/docs/*.md; do
    [[ -f "$doc" ]] && grep -q '<!-- results: \|<!-- cell: ' "$doc" || continue
    new=$(mktemp)
    fill "$doc" >"$new"
    if ! cmp -s "$doc" "$new"; then
        if ((check)); then
            echo "${doc#"$repo"/}: its tables differ from ${results#"$repo"/} (run tools/doc-tables.sh)"
            status=1
        else
            cat "$new" >"$doc"
            echo "updated ${doc#"$repo"/}"
        fi
    fi
    rm -f "$new"
done
exit "$status"

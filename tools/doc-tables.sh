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
        -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
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

# fill DOC: print the doc with every results block regenerated.
fill() {
    local doc=$1 docdir line name inside=0
    docdir=$(dirname "$doc")
    while IFS= read -r line || [[ -n "$line" ]]; do
        if ((inside)); then
            [[ "$line" == "<!-- /results -->" ]] && { inside=0; printf '%s\n' "$line"; }
            continue
        fi
        printf '%s\n' "$line"
        if [[ "$line" =~ ^\<\!--\ results:\ ([a-z0-9_]+)\ --\>$ ]]; then
            name=${BASH_REMATCH[1]}
            block "$name" "$docdir"
            inside=1
        fi
    done <"$doc"
}

status=0
for doc in "$repo"/README.md "$repo"/docs/*.md; do
    [[ -f "$doc" ]] && grep -q '^<!-- results: ' "$doc" || continue
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

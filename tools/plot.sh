#!/usr/bin/env bash
# plot.sh - one PNG per results table, or text bar charts without matplotlib.
#
#   tools/plot.sh [--text] [DIR | TABLE.csv ...]     (default DIR: <repo>/results)
#
# For every TABLE.csv (raw runs written by tools/bench.sh) it draws
# TABLE.png beside it with tools/plot.py, the way that table's lesson reads
# it (plot.py's FIGURES table; medians from tools/stats.awk, error bars min
# to max). It uses the first python that can import matplotlib:
# $PLOT_PYTHON, python3 on PATH, /usr/bin/python3. Without one, or with
# --text, it prints a text bar chart of each table.
set -u

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$tools_dir")

usage() {
    printf 'usage: %s [--text] [DIR | TABLE.csv ...]\n' "$0"
    printf '  Plots every results table (default DIR: %s/results) to TABLE.png;\n' "$repo_dir"
    printf '  --text (or no matplotlib): prints text bar charts instead.\n'
}

text=0
bench=0          # called by bench_report: chart to stdout, messages to stderr
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --text) text=1 ;;
    --from-bench) bench=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) printf 'plot.sh: unknown option %s\n' "$1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1") ;;
    esac
    shift
done
[ ${#targets[@]} -gt 0 ] || targets=("$repo_dir/results")

files=()
for t in "${targets[@]}"; do
    if [ -d "$t" ]; then
        for f in "$t"/*.csv; do
            [ -f "$f" ] && files+=("$f")
        done
    elif [ -f "$t" ]; then
        files+=("$t")
    else
        printf 'plot.sh: no such file or directory: %s\n' "$t" >&2
        exit 2
    fi
done
if [ ${#files[@]} -eq 0 ]; then
    printf 'plot.sh: no results (*.csv) in %s; run make bench first\n' "${targets[*]}" >&2
    exit 1
fi

py=""
if [ "$text" = 0 ]; then
    # PLOT_PYTHON=none: behave as if no python had matplotlib.
    cands=("${PLOT_PYTHON:-}" python3 /usr/bin/python3)
    [ "${PLOT_PYTHON:-}" != none ] || cands=()
    for cand in "${cands[@]}"; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import matplotlib' >/dev/null 2>&1; then
            py=$cand
            break
        fi
    done
fi

status=0
if [ -n "$py" ]; then
    pairs=()
    for f in "${files[@]}"; do
        if awk -F, -v mode=long -f "$tools_dir/stats.awk" "$f" >/dev/null; then
            pairs+=("$f" "${f%.csv}.png")
        else
            printf 'plot.sh: %s: not a results table, skipped\n' "$f" >&2
            status=1
        fi
    done
    if [ ${#pairs[@]} -gt 0 ]; then
        if [ "$bench" = 1 ]; then
            "$py" "$tools_dir/plot.py" "${pairs[@]}" | sed 's/^/   plot: /' >&2 || status=1
        else
            "$py" "$tools_dir/plot.py" "${pairs[@]}" || status=1
        fi
    fi
    exit "$status"
fi

for f in "${files[@]}"; do
    awk -F, -v mode=chart -f "$tools_dir/stats.awk" "$f" || status=1
done
if [ "$text" = 0 ]; then
    printf 'plot.sh: no python with matplotlib, so text charts only; for PNG plots:\n' >&2
    printf '  apt-get install python3-matplotlib   (or: pip install matplotlib)\n' >&2
fi
exit "$status"

#!/usr/bin/env bash
# bench-all.sh [default|full] [timing.sh options...]
#
# Every lesson's timing.sh, in order, in one profile (`make bench` runs the
# default one, `make bench-full` the full one). Results go to results/ (or
# $BENCH_OUT); a lesson without a timing.sh yet is skipped with a message.
# Plots (or text charts) of everything at the end.
set -u
tools_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$tools_dir")
profile=${1:-default}
shift || true
case "$profile" in
    default|full) ;;
    -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench-all.sh: unknown profile '$profile' (default or full)" >&2; exit 2 ;;
esac

start=$(date +%s)
failed=()
for part in part1-iterative part2-process-thread part3-multiplexing part4-copy-modes; do
    script="$repo/$part/timing.sh"
    if [[ ! -x "$script" ]]; then
        echo "== $part: no timing.sh yet, skipped"
        continue
    fi
    echo "== $part ($profile profile)"
    if ! BENCH_PLOT=0 "$script" --profile "$profile" "$@"; then
        failed+=("$part")
    fi
done
elapsed=$(( $(date +%s) - start ))
echo "== all lessons: $((elapsed / 60))m$((elapsed % 60))s; results in ${BENCH_OUT:-$repo/results}/"
if [[ -x "$tools_dir/plot.sh" ]]; then
    "$tools_dir/plot.sh" "${BENCH_OUT:-$repo/results}"
fi
if ((${#failed[@]})); then
    echo "== failed: ${failed[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# shellcheck disable=SC2034  # arrays and BENCH_USAGE are read by tools/bench.sh
# timing.sh - lesson 1's two tables (tools/bench.sh does the runs, medians,
# sampling and files; see docs/methodology.md).
#
#   (a) part1_a: one client, round trips of 64 B .. 64 KiB:
#       requests/s and latency p50 / p99 / max.
#   (b) part1_b: N clients that arrive together, each holding a session of
#       R requests with think time T: total wall time, and each client's
#       wait before its first reply. Served one at a time, the last client
#       waits for all the sessions before it: total = N x session.
#
#   ./timing.sh [--runs N] [--profile default|full] [--only part1_a|part1_b]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tools/bench.sh
. "$here/../tools/bench.sh"
BENCH_USAGE="tables: part1_a (round trips by size), part1_b (N clients, one at a time)"
bench_begin "$@"

server=("$here/server" -p 0 --idle-timeout 0)

if [[ "$BENCH_PROFILE" == full ]]; then
    requests=20000                  # per size, table (a)
    ns=(10 20 50 100)               # clients, table (b): the published scale
    session_requests=4 think_ms=1000  # a session of about 3 s
else
    requests=2000
    ns=(1 2 4 8 16)
    session_requests=3 think_ms=50  # a session of about 100 ms
fi
session_s=$(( (session_requests - 1) * think_ms ))   # ms, think time only

# ---- (a) one client, request size ------------------------------------------
sizes=(64 1K 16K 64K)
bench_table part1_a "Part 1 (a): one client, round trips by request size" \
    --rows size --values req_per_s,lat_p50_us,lat_p99_us,lat_max_us \
    --cells "${#sizes[@]}" --timeout 120
for size in "${sizes[@]}"; do
    client=("$here/client" -p '{port}' -n "$requests" -s "$size" --csv)
    bench_cell "size=$size" server client
done
bench_report

# ---- (b) N clients arriving together ------------------------------------------
bench_table part1_b "Part 1 (b): N clients arriving together, each holding a session (iterative)" \
    --rows n --values wall_s,first_avg_ms,first_max_ms,sess_avg_s \
    --cells "${#ns[@]}" --timeout $(( ${ns[-1]} * (session_s / 1000 + 2) + 60 ))
for n in "${ns[@]}"; do
    # The last client waits for n-1 sessions before its first reply.
    wait_ms=$(( n * (session_s + 1000) + 10000 ))
    client=("$here/client" -p '{port}' -c "$n" -n "$session_requests" -s 64
            --think "$think_ms" --timeout "$wait_ms" --csv)
    bench_cell "n=$n" server client
done
bench_report

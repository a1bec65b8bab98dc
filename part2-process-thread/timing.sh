#!/usr/bin/env bash
# shellcheck disable=SC2034  # arrays and BENCH_USAGE are read by tools/bench.sh
# timing.sh - lesson 2's three tables (tools/bench.sh does the runs, medians,
# sampling and files; see docs/methodology.md).
#
#   (a) part2_a: the classic table (docs/experiments.md). N clients arrive
#       together, each holding a session of R requests with think time T;
#       total wall time for the iterative server of part 1 and the four
#       concurrent models. Served one at a time: N x a session; served
#       together: about one session.
#   (b) part2_b: the cost of a connection (E6, Stevens' UNP ch. 30). 10,000
#       short connections (connect, one 64-byte request, close) from C
#       client threads: connections/s, and the server tree's CPU seconds
#       for those 10,000 (divide by 10 for "per 1,000"), peak RSS, threads
#       and children.
#   (c) part2_c: N idle sessions held open: memory, threads and processes
#       of the whole server tree while they are all connected.
#
#   Prefork and pool run as the classic fixed pool in all three tables
#   (--max-workers equal to -w): -w N, one worker per client, in (a) and
#   (c), and 4 workers in (b). Their default, a pool that grows from -w up
#   to --max-workers, is the lesson's "Pools that grow" section.
#
#   ./timing.sh [--runs N] [--profile default|full] [--only part2_a|part2_b|part2_c]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools/bench.sh
. "$here/../tools/bench.sh"
BENCH_USAGE="tables: part2_a (N sessions: iterative vs fork/thread/prefork/pool), part2_b (cost of a connection), part2_c (idle sessions held)"
bench_begin "$@"

iterative=("$here/../part1-iterative/server" -p 0 --idle-timeout 0)
fork=("$here/server_fork" -p 0 --idle-timeout 0)
thread=("$here/server_thread" -p 0 --idle-timeout 0)
thread_64k=("$here/server_thread" -p 0 --idle-timeout 0 --stack-kib 64)

if [[ "$BENCH_PROFILE" == full ]]; then
    ns=(10 20 30 40 50 60 70 80 90 100)   # table (a): the published scale
    session_requests=4 think_ms=1000     # a session of about 3 s
    conc=(1 4 16)                        # table (b): client threads
    idle_ns=(100 1000)                   # table (c)
    idle_ms=5000
else
    ns=(2 5 10 20)
    session_requests=3 think_ms=100      # a session of about 200 ms
    conc=(4)
    idle_ns=(100)
    idle_ms=1000                         # held 1 s: the sampler sees the peak
fi
runs=${BENCH_RUNS:-3}
session_ms=$(( (session_requests - 1) * think_ms ))

# An honest estimate before a long run: the iterative server needs
# N sessions for each N, the four concurrent models about one each.
sum_n=0
for n in "${ns[@]}"; do sum_n=$((sum_n + n)); done
est_s=$(( runs * ( (sum_n + 4 * ${#ns[@]}) * session_ms / 1000
                   + 5 * ${#conc[@]} * 4
                   + 5 * ${#idle_ns[@]} * (idle_ms / 1000 + 2) ) ))
echo "timing.sh: $BENCH_PROFILE profile, $runs runs per cell: about $((est_s / 60))m$((est_s % 60))s"

# ---- (a) N clients each holding a session ----------------------------------
bench_table part2_a "Part 2 (a): N clients arriving together, each holding a session of ${session_requests} requests, ${think_ms} ms apart: total wall time (s); prefork and pool fixed at N workers" \
    --rows n --cols model --values wall_s \
    --cells $(( 5 * ${#ns[@]} )) --timeout $(( ${ns[-1]} * (session_ms / 1000 + 2) + 60 ))
for n in "${ns[@]}"; do
    # Served one at a time, the last client waits n-1 sessions for its reply.
    wait_ms=$(( n * (session_ms + 1000) + 10000 ))
    client=("$here/client" -p '{port}' -c "$n" -n "$session_requests" -s 64
            --think "$think_ms" --timeout "$wait_ms" --csv)
    # Prefork and pool as fixed pools (--max-workers = -w) serve -w clients
    # at a time: give them one per client, and the pool a queue that holds
    # a whole burst of arrivals (with the default 64 slots, 100 clients
    # arriving at once overflow it before the workers have taken them, and
    # the newest are turned away).
    prefork=("$here/server_prefork" -p 0 --idle-timeout 0 -w "$n" --max-workers "$n")
    pool=("$here/server_pool" -p 0 --idle-timeout 0 -w "$n" --max-workers "$n" --queue "$n")
    bench_cell "model=iterative n=$n" iterative client
    bench_cell "model=fork n=$n" fork client
    bench_cell "model=thread n=$n" thread client
    bench_cell "model=prefork n=$n" prefork client
    bench_cell "model=pool n=$n" pool client
done
bench_report

# ---- (b) the cost of a connection -----------------------------------------
# 10,000 short connections per cell: enough CPU time to be well above the
# sampler's 10 ms resolution; srv_cpu_s / 10 = CPU seconds per 1,000.
# Prefork and pool keep 4 workers (--max-workers 4: fixed, never grown):
# the pool's point is a fixed, small set.
prefork4=("$here/server_prefork" -p 0 --idle-timeout 0 -w 4 --max-workers 4)
pool4=("$here/server_pool" -p 0 --idle-timeout 0 -w 4 --max-workers 4)
bench_table part2_b "Part 2 (b): 10,000 short connections (connect, 64 B, close) from C client threads; prefork and pool fixed at 4 workers" \
    --rows model --cols c --values req_per_s,srv_cpu_s,srv_rss_kib,srv_threads,srv_children \
    --cells $(( 5 * ${#conc[@]} )) --timeout 120
for c in "${conc[@]}"; do
    client=("$here/client" -p '{port}' -c "$c" -k $(( 10000 / c )) -n 1 -s 64 --csv)
    bench_cell "model=iterative c=$c" iterative client
    bench_cell "model=fork c=$c" fork client
    bench_cell "model=thread c=$c" thread client
    bench_cell "model=prefork-w4 c=$c" prefork4 client
    bench_cell "model=pool-w4 c=$c" pool4 client
done
bench_report

# ---- (c) N idle sessions held open ----------------------------------------
# Each client: one request, idle_ms of silence, one more request. While all
# N are silent, the server holds N sessions and the sampler sees its peak.
bench_table part2_c "Part 2 (c): N sessions held open and idle: the whole server tree; prefork and pool fixed at N workers" \
    --rows model --cols n --values srv_rss_kib,srv_threads,srv_children,srv_cpu_s \
    --cells $(( 5 * ${#idle_ns[@]} )) --timeout $(( idle_ms / 1000 + 120 ))
for n in "${idle_ns[@]}"; do
    client=("$here/client" -p '{port}' -c "$n" -n 2 -s 64 --think "$idle_ms" --csv)
    prefork=("$here/server_prefork" -p 0 --idle-timeout 0 -w "$n" --max-workers "$n")
    pool=("$here/server_pool" -p 0 --idle-timeout 0 -w "$n" --max-workers "$n" --queue "$n")
    bench_cell "model=fork n=$n" fork client
    bench_cell "model=thread n=$n" thread client
    bench_cell "model=thread-stack64k n=$n" thread_64k client
    bench_cell "model=prefork n=$n" prefork client
    bench_cell "model=pool n=$n" pool client
done
bench_report

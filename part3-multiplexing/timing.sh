#!/usr/bin/env bash
# timing.sh - part 3's tables (docs/part3.md; the experiments: docs/experiments.md).
#
#   ./timing.sh                    default profile: reduced scale, about 4 minutes
#   ./timing.sh --profile full     the published scales (prints an estimate first)
#   ./timing.sh --runs 1 --only part3_b
#   P3_SMOKE=1 ./timing.sh --runs 1 --out /tmp/p3   tiny cells: does it all work?
#
#   part3_a  every model of parts 2 and 3 at N clients, fixed requests each:
#            requests/s, MB/s, latency p50/p99, server CPU %, peak RSS (E4),
#            and per request: context switches, receive and send system
#            calls (these two need perf; empty without it)
#   part3_b  epoll with worker threads, N connections x 100 requests of 64 B:
#            average duration per connection and response time (E2)
#   part3_c  capacity: idle connections each model holds, up to a ceiling (E3)
#   part3_d  throughput at 256 and 512 bytes per send, thread vs epoll (E3)
#   part3_e  latency against offered load: each model's closed-loop peak,
#            then open loop at 10% to 110% of it (corrected p50/p99/p99.9,
#            uncorrected p99, achieved rate, late requests)
#   part3_f  server_epoll paused 100 ms in every second: closed-loop p99
#            against open-loop p99, corrected and uncorrected
#
# Part 2's servers come from ../part2-process-thread; a model whose binary
# is missing is skipped with a message.
# The server and client arrays are passed to bench_cell by name:
# shellcheck disable=SC2034
set -u
here=$(cd "$(dirname "$0")" && pwd)
p2="$here/../part2-process-thread"
if [[ ! -f "$here/../tools/bench.sh" ]]; then
    echo "timing.sh: tools/bench.sh is missing (the measurement tools, issue 3)" >&2
    exit 2
fi
# shellcheck source=/dev/null
. "$here/../tools/bench.sh"
BENCH_USAGE="part 3: tables part3_a (models x clients), part3_b (epoll workers, E2),
part3_c (idle capacity, E3), part3_d (throughput 256/512 B, E3),
part3_e (latency against offered load), part3_f (a paused server, closed and open loop)"
bench_begin "$@"

cores=$(nproc 2>/dev/null || echo 2)

if [[ "$BENCH_PROFILE" == full ]]; then
    A_CLIENTS=(500 1000 3000) A_REQUESTS=100
    B_CONNS=(100 200 500 1000 1500 2000 2500 3000 4000)
    C_CEILING=19000 C_HOLD=5 C_RAMP=10000
    D_SECONDS=10
else
    A_CLIENTS=(100 500 1000) A_REQUESTS=100   # cells of about a second: CPU is counted in 10 ms ticks
    B_CONNS=(100 200 500 1000)
    C_CEILING=2000 C_HOLD=1 C_RAMP=500
    D_SECONDS=1
fi
if [[ -n "${P3_SMOKE:-}" ]]; then    # a quick check that the script works
    A_CLIENTS=(20 50) A_REQUESTS=5 B_CONNS=(50) C_CEILING=200 C_HOLD=1 C_RAMP=200 D_SECONDS=1
fi

# ---- the models --------------------------------------------------------------
# name|server command (the bench adds nothing: -p 0 and flags are here)
models=()
add_model() {   # add_model NAME BINARY [FLAGS...]
    local name=$1 bin=$2
    shift 2
    if [[ -x "$bin" ]]; then
        models+=("$name")
        declare -g -a "srv_$name"
        local -n cmd="srv_$name"
        cmd=("$bin" -p 0 --idle-timeout 0 "$@")
    else
        echo "timing.sh: no $bin: model $name skipped (build it: make)" >&2
    fi
}
add_model fork "$p2/server_fork"
add_model thread "$p2/server_thread"
add_model prefork "$p2/server_prefork"
add_model pool "$p2/server_pool"
add_model select "$here/server_select"
add_model poll "$here/server_poll"
add_model epoll "$here/server_epoll"
add_model epoll_et "$here/server_epoll" -e
add_model epoll_workers "$here/server_epoll_workers" -w "$cores"
add_model epoll_reuseport "$here/server_epoll_workers" -w "$cores" --reuseport
if "$here/server_uring" -h >/dev/null 2>&1 &&
   ! timeout -k 5 1 "$here/server_uring" -p 0 2>&1 >/dev/null | grep -q "not available"; then
    add_model uring "$here/server_uring"
else
    echo "timing.sh: io_uring is not available here: model uring skipped" >&2
fi
has_model() { [[ " ${models[*]} " == *" $1 "* ]]; }

if [[ "$BENCH_PROFILE" == full ]]; then
    runs=$BENCH_RUNS
    est=$(( runs * (${#models[@]} * ${#A_CLIENTS[@]} * 6 + ${#B_CONNS[@]} * 8 +
                    6 * (C_HOLD + C_RAMP / 1000 + 8) + 4 * (D_SECONDS + 2) +
                    8 * 8 * (5 + 2) + 4 * (2 + 2)) ))
    echo "timing.sh: full profile, estimate about $((est / 60)) minutes" \
         "($runs runs per cell; 3,000 clients in (a), 4,000 in (b), ceiling" \
         "$C_CEILING idle connections in (c))" >&2
fi

# ---- (a) every model at N clients ----------------------------------------------
bench_table part3_a "Part 3 (a): every model, N clients x $A_REQUESTS requests of 256 B (E4)" \
    --rows case \
    --values req_per_s,mb_s_sent,mb_s_recv,lat_p50_us,lat_p99_us,srv_cpu_pct,srv_rss_kib,srv_cs_per_req,srv_recv_per_req,srv_send_per_req,conn_failed \
    --cells $(( ${#models[@]} * ${#A_CLIENTS[@]} )) --timeout 300 --cost 1
for n in "${A_CLIENTS[@]}"; do
    for m in "${models[@]}"; do
        cli=("$here/client" -p '{port}' -c "$n" -t 2 -n "$A_REQUESTS" -s 256 \
             --timeout 20000 --failures-ok --csv)
        bench_cell "case=$n/$m n=$n model=$m" "srv_$m" cli
    done
done
bench_report

# ---- (b) epoll with workers, E2 -------------------------------------------------
if has_model epoll_workers; then
    bench_table part3_b "Part 3 (b): epoll with $cores workers, N connections x 100 requests of 64 B (E2)" \
        --rows conns --values sess_avg_s,lat_avg_us,lat_p99_us,connections,conn_failed \
        --cells ${#B_CONNS[@]} --timeout 300
    for c in "${B_CONNS[@]}"; do
        cli=("$here/client" -p '{port}' -c "$c" -t 2 -n 100 -s 64 --timeout 30000 \
             --failures-ok --csv)
        bench_cell "conns=$c" srv_epoll_workers cli
    done
    bench_report
fi

# ---- (c) capacity: idle connections held -----------------------------------------
# Each client connection makes one request (so it is really being served,
# not waiting in the listen queue), then holds. `connections` is how many
# were still held at the end; the rest were refused or failed. Memory per
# idle connection is about srv_rss_kib / connections.
cap_models=()
for m in fork thread select poll epoll uring; do
    has_model "$m" && cap_models+=("$m")
done
procs=$(( C_CEILING > 9000 ? 2 : 1 ))
bench_table part3_c "Part 3 (c): idle connections held, ceiling $C_CEILING (E3)" \
    --rows model --values connections,conn_failed,srv_rss_kib,srv_threads,srv_children \
    --cells ${#cap_models[@]} --timeout $(( C_HOLD + C_RAMP / 1000 + 120 ))
for m in "${cap_models[@]}"; do
    cli=("$here/client" -p '{port}' -c "$C_CEILING" -t 2 --procs "$procs" --src 4 \
         --idle -n 1 -d "$C_HOLD" --ramp "$C_RAMP" --timeout 10000 --failures-ok --csv)
    bench_cell "model=$m" "srv_$m" cli
done
bench_report

# ---- (d) throughput at 256 and 512 bytes per send, thread vs epoll ---------------
bench_table part3_d "Part 3 (d): throughput, 100 connections for ${D_SECONDS} s, thread vs epoll (E3)" \
    --rows size --cols model --values mb_s_recv,req_per_s,srv_cpu_pct \
    --cells 4 --timeout $(( D_SECONDS + 60 ))
for s in 256 512; do
    for m in thread epoll; do
        has_model "$m" || continue
        cli=("$here/client" -p '{port}' -c 100 -t 2 -d "$D_SECONDS" -s "$s" --csv)
        bench_cell "size=$s model=$m" "srv_$m" cli
    done
done
bench_report

# ---- (e) latency against offered load ---------------------------------------------
# Each model's closed-loop peak first (load=peak: req_per_s), then open loop
# (--rate) at a share of that peak's median, read back from the table's raw
# runs as soon as they are written. An offered rate is known only at run
# time; it is kept in each row's offered_rps. The same connections and
# threads in both loops: past 100% every connection is busy, requests queue
# on their schedule, and the corrected latency grows with the run.
if [[ "$BENCH_PROFILE" == full ]]; then
    E_MODELS=(thread select poll epoll epoll_et epoll_workers epoll_reuseport uring)
    E_SECS=5 E_RUNS=$BENCH_RUNS
else
    E_MODELS=(thread epoll epoll_workers uring)
    E_SECS=2 E_RUNS=1             # 32 cells of about 2.5 s: the whole table in about 80 s
fi
[[ -z "${P3_SMOKE:-}" ]] || E_MODELS=(epoll)
E_LOADS=(10 25 50 75 90 100 110)
e_models=()
for m in "${E_MODELS[@]}"; do
    has_model "$m" && e_models+=("$m")
done
e_runs_saved=$BENCH_RUNS
BENCH_RUNS=$E_RUNS
if [[ $E_RUNS == 1 ]]; then e_what="1 run per point"; else e_what="median of $E_RUNS runs"; fi
bench_table part3_e "Part 3 (e): latency against offered load, % of each model's closed-loop peak; 20 connections, ${E_SECS} s per point, $e_what" \
    --rows case \
    --values req_per_s,offered_rps,achieved_rps,late,lat_p50_us,lat_p99_us,lat_p999_us,raw_p99_us \
    --cells $(( ${#e_models[@]} * (1 + ${#E_LOADS[@]}) )) --timeout $(( E_SECS + 60 ))
# (the peak is read back only when this table really runs: not with --only another)
if [[ -z "$BENCH_ONLY" || "$BENCH_ONLY" == part3_e ]]; then
    for m in "${e_models[@]}"; do
        cli=("$here/client" -p '{port}' -c 20 -t 2 -d "$E_SECS" -s 64 --csv)
        bench_cell "case=$m/peak model=$m load=peak" "srv_$m" cli
        peak=$(awk -F, -v mode=long -v rows=case -v cols=- -v values=req_per_s \
                   -f "$here/../tools/stats.awk" "$BENCH_OUT/part3_e.csv" 2>/dev/null |
               awk -F, -v r="$m/peak" '$1 == r && $7 != "" { printf "%.0f\n", $7 }')
        if [[ -z "$peak" || "$peak" == 0 ]]; then
            echo "timing.sh: part3_e: no closed-loop peak for $m (no ok run): its loads skipped" >&2
            continue
        fi
        for p in "${E_LOADS[@]}"; do
            cli=("$here/client" -p '{port}' -c 20 -t 2 -d "$E_SECS" -s 64 \
                 --rate $(( peak * p / 100 )) --csv)
            bench_cell "case=$m/$p model=$m load=$p" "srv_$m" cli
        done
    done
fi
bench_report
BENCH_RUNS=$e_runs_saved

# ---- (f) the paused server: closed loop against open loop --------------------------
# server_epoll running freely, and the same server stopped (SIGSTOP) 100 ms
# in every second by pause-demo.sh --serve (which starts it and signals
# only it). Closed loop, then open loop at a rate well below the peak.
F_SECS=2 F_RATE=10000
srv_free=("$here/server_epoll" -p 0 --idle-timeout 0)
srv_paused=("$here/pause-demo.sh" --serve $(( F_SECS + 60 )))
if [[ -x "$here/server_epoll" ]]; then
    bench_table part3_f "Part 3 (f): server_epoll paused 100 ms in every second, closed loop against open loop at $F_RATE requests/s; 10 connections, $F_SECS s per run" \
        --rows server --cols loop --values lat_p99_us,raw_p99_us,late \
        --cells 4 --timeout $(( F_SECS + 60 ))
    for s in free paused; do
        cli=("$here/client" -p '{port}' -c 10 -t 1 -d "$F_SECS" --csv)
        bench_cell "server=$s loop=closed" "srv_$s" cli
        cli+=(--rate "$F_RATE")
        bench_cell "server=$s loop=open" "srv_$s" cli
    done
    bench_report
fi

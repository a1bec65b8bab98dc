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
#   part3_i  new connections over 4 workers: hand-off, SO_REUSEPORT and
#            EPOLLEXCLUSIVE; each worker's share, and p99 beside a heavy client
#   part3_g  work per request: models at a fixed offered load (open loop)
#            with --work-us 0/50/200 and --block-us 1000: achieved req/s, p99
#   part3_h  head-of-line blocking: one client's requests block 2 ms, nine
#            others' cost nothing; the p99 of those nine
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
part3_e (latency against offered load), part3_f (a paused server, closed and open loop),
part3_g (work per request), part3_h (head-of-line blocking), part3_i (accept balancing),
part3_j (io_uring feature by feature)"
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
# Table (c)'s last row, server_epoll --procs CP_PROCS (see (c) below). At
# 200,000, connections of a 60 s ramp on two cores waited up to 28.6 s
# for their first reply (the client's "wait for first reply" in docs/results/epyc-2core-vm/
# procs-200k/run.txt), so the hold is long enough for the fresh clients,
# half way through it, to come when nearly all of them are held.
if [[ "$BENCH_PROFILE" == full ]]; then
    CP_PROCS=12 CP_CONNS=200000 CP_SRC=12 CP_RAMP=60000 CP_HOLD=40
else
    CP_PROCS=4 CP_CONNS=$C_CEILING CP_SRC=4 CP_RAMP=$C_RAMP CP_HOLD=$C_HOLD
fi
[[ -n "${P3_SMOKE:-}" ]] && CP_PROCS=2 CP_CONNS=$C_CEILING CP_SRC=2 CP_RAMP=$C_RAMP CP_HOLD=$C_HOLD
CP_PROBE=20

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
# Part 2's pools as the classic fixed pools of 4 workers (--max-workers 4:
# never grown), the design whose queueing the lesson's tables explain;
# part 2's "Pools that grow" measures the growing ones.
add_model prefork "$p2/server_prefork" -w 4 --max-workers 4
add_model pool "$p2/server_pool" -w 4 --max-workers 4
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
                    8 * 8 * (5 + 2) + 4 * (2 + 2) +
                    CP_HOLD + CP_RAMP / 1000 + 30) ))
    echo "timing.sh: full profile, estimate about $((est / 60)) minutes" \
         "($runs runs per cell; 3,000 clients in (a), 4,000 in (b), ceiling" \
         "$C_CEILING idle connections in (c))" >&2
fi

# ---- (a) every model at N clients ----------------------------------------------
bench_table part3_a "Part 3 (a): every model, N clients x $A_REQUESTS requests of 256 B; prefork and pool fixed at 4 workers (E4)" \
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
# io_uring with multishot receives from one shared buffer ring: memory
# follows the data in flight, not the number of connections.
if has_model uring && ! timeout -k 5 1 "$here/server_uring" --multishot -p 0 2>&1 >/dev/null |
   grep -q "not available"; then
    srv_uring_multishot=("$here/server_uring" -p 0 --idle-timeout 0 --multishot)
    cap_models+=(uring_multishot)
fi
procs=$(( C_CEILING > 9000 ? 2 : 1 ))
# The last row, epoll_procsP: server_epoll --procs P, P processes on one
# port (SO_REUSEPORT), each under its own descriptor limit, asked for
# CP_CONNS connections (the full profile: 200,000, past one process's
# limit). While they are held, CP_PROBE fresh clients per process make one
# request each: the cell is ok only if every one is answered. Its server
# also reports the kernel's side: srv_tcp_inuse_peak sockets (both ends, on
# loopback) and srv_tcp_mem_peak_kib of buffers, from /proc/net/sockstat.
# hold_and_probe PORT CLIENT PROBE_AT_S PROBES CLIENT_ARGS...: the idle
# client (its CSV is the cell's), and fresh clients while it holds.
hold_and_probe='port=$1 client=$2 at=$3 probes=$4
shift 4
"$client" -p "$port" "$@" &
idle=$!
sleep "$at"
probe=0
"$client" -p "$port" -c "$probes" -t 1 -n 1 --timeout 10000 >/dev/null 2>&1 || probe=$?
rc=0
wait "$idle" || rc=$?
if [ "$probe" != 0 ]; then
    echo "hold_and_probe: fresh clients while the others were held: exit $probe" >&2
    exit 1
fi
exit "$rc"'
# A listen queue of 4096 (the kernel's somaxconn here) rather than the
# default 1024: in a hand run at 200,000 with 1024, 382 connects timed
# out; with 4096, none did.
srv_epoll_procs=("$here/server_epoll" -p 0 --idle-timeout 0 --procs "$CP_PROCS" --backlog 4096)
bench_table part3_c "Part 3 (c): idle connections held, ceiling $C_CEILING; epoll_procs$CP_PROCS: $CP_CONNS (E3)" \
    --rows model --values connections,conn_failed,srv_rss_kib,srv_threads,srv_children,srv_tcp_inuse_peak,srv_tcp_mem_peak_kib \
    --server-fields tcp_inuse_peak,tcp_mem_peak_kib,accepts \
    --cells $(( ${#cap_models[@]} + 1 )) \
    --timeout $(( (C_HOLD + C_RAMP / 1000 > CP_HOLD + CP_RAMP / 1000 ? C_HOLD + C_RAMP / 1000 : CP_HOLD + CP_RAMP / 1000) + 120 ))
for m in "${cap_models[@]}"; do
    cli=("$here/client" -p '{port}' -c "$C_CEILING" -t 2 --procs "$procs" --src 4 \
         --idle -n 1 -d "$C_HOLD" --ramp "$C_RAMP" --timeout 10000 --failures-ok --csv)
    bench_cell "model=$m" "srv_$m" cli
done
if [[ -x "$here/server_epoll" ]]; then
    probe_ms=$(( CP_RAMP + CP_HOLD * 500 ))     # halfway through the hold
    cli=(bash -c "$hold_and_probe" probe '{port}' "$here/client" \
         "$(( probe_ms / 1000 )).$(( probe_ms % 1000 / 100 ))" "$(( CP_PROBE * CP_PROCS ))" \
         -c "$CP_CONNS" -t 2 --src "$CP_SRC" --idle -n 1 -d "$CP_HOLD" --ramp "$CP_RAMP" \
         --timeout 30000 --failures-ok --csv)
    bench_cell "model=epoll_procs$CP_PROCS" srv_epoll_procs cli
fi
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
    E_SECS=1 E_RUNS=1             # 32 cells of about 1.5 s: the whole table in about 45 s
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

# ---- (j) io_uring feature by feature ---------------------------------------------
# part3_j: server_uring's first step, then one feature added at a time
# (--multishot, then --defer-taskrun, then --fixed-files), against epoll
# level-triggered and edge-triggered, at 100 and 1,000 connections making
# J_TOTAL requests of 256 B in all. srv_sys_per_req counts every system call of
# the server (io_uring_enter included) per request; needs perf, like (a).
# J_TOTAL requests in all per cell, whatever N, so that a cell lasts about
# a second (CPU is counted in 10 ms ticks).
if [[ "$BENCH_PROFILE" == full ]]; then J_TOTAL=400000; else J_TOTAL=60000; fi
J_CLIENTS=(100 1000)
[[ -n "${P3_SMOKE:-}" ]] && J_CLIENTS=(20) J_TOTAL=100
j_rows=()
for m in epoll epoll_et uring; do has_model "$m" && j_rows+=("$m"); done
j_step() {   # j_step NAME FLAGS...: a row, when this kernel has the features
    local name=$1
    shift
    has_model uring || return 0
    if timeout -k 5 1 "$here/server_uring" "$@" -p 0 2>&1 >/dev/null |
       grep -m1 "not available" >&2; then
        echo "timing.sh: row $name of part3_j skipped" >&2
        return 0
    fi
    j_rows+=("$name")
    declare -g -a "srv_$name"
    local -n jcmd="srv_$name"
    jcmd=("$here/server_uring" -p 0 --idle-timeout 0 "$@")
}
j_step uring_multishot --multishot
j_step uring_defer --multishot --defer-taskrun
j_step uring_fixed --multishot --defer-taskrun --fixed-files
bench_table part3_j "Part 3 (j): io_uring feature by feature, N clients, $J_TOTAL requests of 256 B in all" \
    --rows case \
    --values req_per_s,lat_p99_us,srv_cpu_pct,srv_sys_per_req,srv_cs_per_req,srv_rss_kib,conn_failed \
    --cells $(( ${#j_rows[@]} * ${#J_CLIENTS[@]} )) --timeout 300 --cost 1
for n in "${J_CLIENTS[@]}"; do
    for m in "${j_rows[@]}"; do
        cli=("$here/client" -p '{port}' -c "$n" -t 2 -n "$(( J_TOTAL / n ))" -s 256 \
             --timeout 20000 --failures-ok --csv)
        bench_cell "case=$n/$m n=$n model=$m" "srv_$m" cli
    done
done
bench_report
# ---- (i) how new connections are spread over workers: hand-off, SO_REUSEPORT, EPOLLEXCLUSIVE
# server_epoll_workers -w 4 in its three modes, under three loads:
#   burst   1,000 connections arriving together, 5 requests of 64 B each;
#   ramp    1,000 connections spread over I_RAMP ms, one request each: the
#           workers are mostly idle when a connection arrives;
#   heavy   one client streams 1 MiB requests back to back on one
#           connection (it started first, so it lands on one worker) while
#           100 ordinary clients, spread over I_RAMP ms, each make
#           I_LIGHT_N requests of 64 B, 10 ms apart. Latency and req/s are
#           the ordinary clients'; the heavy one's output is dropped.
# srv_max_share_pct/srv_min_share_pct: the largest and smallest worker's
# share of the connections, from the server's stop line (accepts=A/B/C/D).
if [[ "$BENCH_PROFILE" == full ]]; then
    I_RAMP=3000 I_HEAVY_S=6 I_LIGHT_N=200
else
    I_RAMP=500 I_HEAVY_S=2 I_LIGHT_N=40
fi
[[ -n "${P3_SMOKE:-}" ]] && I_RAMP=200 I_HEAVY_S=1 I_LIGHT_N=5
# heavy_and_light PORT CLIENT HEAVY_S RAMP_MS N: the heavy client in the
# background, the ordinary ones in front (their CSV is the cell's).
heavy_and_light='port=$1 client=$2
"$client" -p "$port" -c 1 -t 1 -s 1M -d "$3" --timeout 20000 --csv >/dev/null 2>&1 &
heavy=$!
sleep 0.3
rc=0
"$client" -p "$port" -c 100 -t 2 -n "$5" -s 64 --think 10 --ramp "$4" --timeout 20000 --csv || rc=$?
wait "$heavy"
exit "$rc"'
if [[ -x "$here/server_epoll_workers" ]]; then
    bench_table part3_i "Part 3 (i): new connections over 4 workers: hand-off, SO_REUSEPORT, EPOLLEXCLUSIVE" \
        --rows mode --cols load \
        --values srv_max_share_pct,srv_min_share_pct,lat_p99_us,conn_failed \
        --server-fields accepts,max_share_pct,min_share_pct \
        --cells 9 --timeout $(( I_HEAVY_S + I_RAMP / 1000 + 60 ))
    for mode in handoff reuseport exclusive; do
        srv=("$here/server_epoll_workers" -p 0 --idle-timeout 0 -w 4)
        [[ $mode != handoff ]] && srv+=("--$mode")
        cli=("$here/client" -p '{port}' -c 1000 -t 2 -n 5 -s 64 --timeout 20000 --csv)
        bench_cell "mode=$mode load=burst" srv cli
        cli=("$here/client" -p '{port}' -c 1000 -t 2 -n 1 -s 64 --ramp "$I_RAMP" \
             --timeout 20000 --csv)
        bench_cell "mode=$mode load=ramp" srv cli
        cli=(bash -c "$heavy_and_light" heavy '{port}' "$here/client" "$I_HEAVY_S" \
             "$I_RAMP" "$I_LIGHT_N")
        bench_cell "mode=$mode load=heavy" srv cli
    done
    bench_report
fi
# ---- (g) work per request: every model at a fixed offered load ----------------------
# Open loop (--rate): the offered load is the same for every model, so a
# model that cannot keep up shows it twice: achieved req/s below the offer,
# and p99 (from each request's schedule) growing with the backlog. 4
# connections, so part 2's pools (4 workers) hold all of them.
if [[ "$BENCH_PROFILE" == full ]]; then
    G_MODELS=(fork thread prefork pool select poll epoll epoll_et epoll_workers
              epoll_reuseport uring epoll_offload) G_REQUESTS=1000
else
    G_MODELS=(thread epoll epoll_workers epoll_offload) G_REQUESTS=200
fi
G_RATE=2000 G_CONNS=4
[[ -n "${P3_SMOKE:-}" ]] && G_MODELS=(epoll epoll_offload) G_REQUESTS=20
if [[ -x "$here/server_epoll_offload" ]]; then   # its own flags: tables g and h only
    srv_epoll_offload=("$here/server_epoll_offload" -p 0 --idle-timeout 0 -w 4)
else
    echo "timing.sh: no $here/server_epoll_offload: tables g and h skip it (make)" >&2
fi
g_models=()
for m in "${G_MODELS[@]}"; do
    [[ $m == epoll_offload && -n "${srv_epoll_offload[*]:-}" ]] || has_model "$m" || continue
    g_models+=("$m")
done
G_WORK=(none:"" cpu50:"--work-us 50" cpu200:"--work-us 200" block1000:"--block-us 1000")
bench_table part3_g "Part 3 (g): work per request, $G_CONNS connections, open loop at $G_RATE req/s, $G_REQUESTS requests each" \
    --rows model --cols work --values achieved_rps,lat_p99_us \
    --cells $(( ${#g_models[@]} * ${#G_WORK[@]} )) --timeout 120
for m in "${g_models[@]}"; do
    for w in "${G_WORK[@]}"; do
        declare -n base="srv_$m"
        read -r -a flags <<<"${w#*:}"
        srv_g=("${base[@]}" "${flags[@]}")
        unset -n base
        cli=("$here/client" -p '{port}' -c "$G_CONNS" -n "$G_REQUESTS" -s 64 \
             --rate "$G_RATE" --timeout 30000 --csv)
        bench_cell "model=$m work=${w%%:*}" srv_g cli
    done
done
bench_report

# ---- (h) head-of-line blocking: fast clients behind a slow one ------------------------
# hol-client.sh: one client sends 1 KiB requests back to back, each of which
# blocks 2 ms in the server (--block-us 2000 --slow-from 1K); nine others
# send 64 B requests, which cost nothing, at H_RATE requests/s in all. The
# table shows the nine's latency: what one slow request costs the others.
H_SECONDS=1 H_RATE=1800
[[ "$BENCH_PROFILE" == full ]] && H_SECONDS=5
h_models=()
for m in epoll epoll_workers epoll_offload thread; do
    [[ $m == epoll_offload && -n "${srv_epoll_offload[*]:-}" ]] || has_model "$m" || continue
    h_models+=("$m")
done
bench_table part3_h "Part 3 (h): head-of-line blocking, 9 fast clients (64 B, $H_RATE req/s) beside 1 whose requests block 2 ms" \
    --rows model --values lat_p50_us,lat_p99_us,lat_max_us,achieved_rps,errors \
    --cells ${#h_models[@]} --timeout $(( H_SECONDS + 60 ))
for m in "${h_models[@]}"; do
    declare -n base="srv_$m"
    srv_h=("${base[@]}" --block-us 2000 --slow-from 1K)
    unset -n base
    cli=("$here/hol-client.sh" "$here/client" '{port}' "$H_SECONDS" "$H_RATE")
    bench_cell "model=$m" srv_h cli
done
bench_report

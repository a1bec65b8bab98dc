#!/usr/bin/env bash
# timing.sh - part 3's tables (docs/part3.md; the experiments: docs/experiments.md).
#
#   ./timing.sh                    default profile: reduced scale, about 3 minutes
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
part3_g (work per request), part3_h (head-of-line blocking)"
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
                    6 * (C_HOLD + C_RAMP / 1000 + 8) + 4 * (D_SECONDS + 2)) ))
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

# ---- (g) work per request: every model at a fixed offered load ----------------------
# Open loop (--rate): the offered load is the same for every model, so a
# model that cannot keep up shows it twice: achieved req/s below the offer,
# and p99 (from each request's schedule) growing with the backlog. 4
# connections, so part 2's pools (4 workers) hold all of them.
if [[ "$BENCH_PROFILE" == full ]]; then
    G_MODELS=(fork thread prefork pool select poll epoll epoll_et epoll_workers
              epoll_reuseport uring epoll_offload) G_REQUESTS=1000
else
    G_MODELS=(thread pool epoll epoll_workers epoll_offload) G_REQUESTS=200
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

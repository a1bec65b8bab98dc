#!/usr/bin/env bash
# shellcheck disable=SC2034  # arrays and BENCH_USAGE are read by tools/bench.sh
# timing.sh - lesson 4's tables (tools/bench.sh does the runs, medians,
# sampling and files; see docs/methodology.md and docs/part4.md).
#
#   (a) part4_a: throughput (Gbit/s received) against message size, per mode;
#       iperf3 -l SIZE beside it when iperf3 is installed.
#   (b) part4_b: latency p50 / p99 of one message (4 KiB) against client
#       threads 1, 2, 4, 8, per mode.
#   (c) part4_c: CPU per KiB, sender (server) and receiver (client), per mode
#       and size; and results/part4_c_perf.txt: perf stat's hardware counters
#       where the machine has them ("not supported" where it says so).
#   (d) part4_d: zero-copy accounting per size: sends, completions, share
#       copied; on loopback and, as root, across a veth pair (tools/netns.sh);
#       MSG_ZEROCOPY (columns loopback, veth) and io_uring's send-zc
#       (send-zc-loopback, send-zc-veth).
#
# send-zc needs Linux 6.2; where the server says it cannot, the tables go
# without it (the script says so).
#
# Server and client are pinned to different cores (taskset) when there are
# two or more; the tables' notes say so.
#
#   ./timing.sh [--runs N] [--profile default|full] [--only part4_a|...|part4_d]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=../tools/bench.sh
. "$here/../tools/bench.sh"
BENCH_USAGE="tables: part4_a (throughput by size), part4_b (latency by threads), part4_c (CPU per KiB), part4_d (zero-copy accounting)"
bench_begin "$@"

modes=(two-copy one-copy zero-copy sendfile)
# send-zc joins them where the kernel has it: a server that cannot says so
# and exits 1 at once; one that can is still listening after a second.
sendzc_note=$(timeout 1 "$here/server" -p 0 --mode send-zc 2>&1 >/dev/null) && sendzc_rc=0 || sendzc_rc=$?
if [[ $sendzc_rc == 124 ]]; then
    modes+=(send-zc)
else
    echo "no send-zc column: ${sendzc_note:-the server exited with status $sendzc_rc}"
fi
if [[ "$BENCH_PROFILE" == full ]]; then
    secs=5 sizes=(1K 4K 16K 64K 256K 1M) cpu_sizes=(1K 4K 16K 64K 256K 1M) threads=(1 2 4 8)
else
    secs=0.4 sizes=(1K 4K 16K 64K 256K 1M) cpu_sizes=(4K 64K 1M) threads=(1 2 4 8)
fi

# Pinning: the server on core 0, the client on core 1 (when there are two).
pin_srv=() pin_cli=() pinned="not pinned"
if (( $(nproc) >= 2 )) && command -v taskset >/dev/null 2>&1; then
    pin_srv=(taskset -c 0) pin_cli=(taskset -c 1) pinned="server on core 0, client on core 1"
fi
echo "pinning: $pinned"
server_for() { srv=("${pin_srv[@]}" "$here/server" -p 0 --idle-timeout 0 --mode "$1"); }

# ---- (a) throughput against message size -----------------------------------
have_iperf=""
command -v iperf3 >/dev/null 2>&1 && have_iperf=1
[[ -n "$have_iperf" ]] || echo "iperf3 not installed: table (a) without its reference column (docs/part4.md says how to add it)"
bench_table part4_a "Part 4 (a): throughput against message size (one connection, $secs s; $pinned)" \
    --rows size --cols mode --values gbit_s \
    --cells $(( ${#sizes[@]} * (${#modes[@]} + ${have_iperf:-0}) )) --timeout 120
for size in "${sizes[@]}"; do
    for mode in "${modes[@]}"; do
        server_for "$mode"
        cli=("${pin_cli[@]}" "$here/client" -p '{port}' -s "$size" -d "$secs" --csv)
        bench_cell "size=$size mode=$mode" srv cli
    done
    if [[ -n "$have_iperf" ]]; then
        srv=("${pin_srv[@]}" "$here/iperf3-server.sh")
        cli=("${pin_cli[@]}" "$here/iperf3-client.sh" '{port}' "$size" "$secs")
        bench_cell "size=$size mode=iperf3" srv cli
    fi
done
bench_report

# ---- (b) latency against client threads ------------------------------------
bench_table part4_b "Part 4 (b): latency of one 4 KiB message against client threads ($pinned)" \
    --rows threads --cols mode --values lat_p50_us,lat_p99_us \
    --cells $(( ${#threads[@]} * ${#modes[@]} )) --timeout 120
for t in "${threads[@]}"; do
    for mode in "${modes[@]}"; do
        server_for "$mode"
        cli=("${pin_cli[@]}" "$here/client" -p '{port}' -s 4K -c "$t" --latency -d "$secs" --csv)
        bench_cell "threads=$t mode=$mode" srv cli
    done
done
bench_report

# ---- (c) CPU per KiB, sender and receiver ------------------------------------
bench_table part4_c "Part 4 (c): CPU per KiB sent (server) and received (client) ($pinned)" \
    --rows size --cols mode --values srv_cpu_per_kib_ns,cli_cpu_per_kib_ns,gbit_s \
    --server-fields cpu_per_kib_ns --cells $(( ${#cpu_sizes[@]} * ${#modes[@]} )) --timeout 120
for size in "${cpu_sizes[@]}"; do
    for mode in "${modes[@]}"; do
        server_for "$mode"
        cli=("${pin_cli[@]}" "$here/client" -p '{port}' -s "$size" -d "$secs" --csv)
        bench_cell "size=$size mode=$mode" srv cli
    done
done
bench_report

# Hardware counters: perf stat on the server for one 64 KiB run per mode.
# Whatever perf prints is kept as it is, "<not supported>" included.
perf_counters() {
    local out="$BENCH_OUT/part4_c_perf.txt" mode port pid f
    if ! command -v perf >/dev/null 2>&1; then
        echo "perf not installed: no hardware counters" | tee "$out"
        return 0
    fi
    {
        echo "# perf stat -e cycles,instructions,cache-misses,LLC-load-misses,task-clock"
        echo "# on the server during one ${secs}s stream of 64 KiB messages per mode; $(date -u)"
    } >"$out"
    for mode in "${modes[@]}"; do
        f=$(mktemp)
        "${pin_srv[@]}" "$here/server" -p 0 --idle-timeout 0 --mode "$mode" >"$f" 2>/dev/null &
        pid=$!
        port=""
        for _ in $(seq 50); do
            port=$(sed -n 's/.*:\([0-9][0-9]*\) pid.*/\1/p' "$f")
            [[ -n "$port" ]] && break
            sleep 0.1
        done
        echo "== mode=$mode" >>"$out"
        if [[ -n "$port" ]]; then
            timeout -k 5 30 perf stat -e cycles,instructions,cache-misses,LLC-load-misses,task-clock \
                -p "$pid" -- "${pin_cli[@]}" "$here/client" -p "$port" -s 64K -d "$secs" \
                >/dev/null 2>>"$out" || echo "(perf stat failed)" >>"$out"
        fi
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$f"
    done
    echo "hardware counters: $out"
    grep -E 'cycles|cache-misses|LLC' "$out" | sort | uniq -c | sed 's/^/  /' || true
}
if [[ -z "$BENCH_ONLY" || "$BENCH_ONLY" == part4_c ]]; then
    mkdir -p "$BENCH_OUT"
    perf_counters
fi

# ---- (d) zero-copy accounting, loopback and veth ---------------------------------
netns_ok=""
if [[ -z "$BENCH_ONLY" || "$BENCH_ONLY" == part4_d ]]; then
    if "$repo/tools/netns.sh" check && "$repo/tools/netns.sh" up; then
        netns_ok=1
        trap '"$repo/tools/netns.sh" down' EXIT
    fi
fi
links=(loopback)
[[ -n "$netns_ok" ]] && links+=(veth)
# A column is a send and a link: MSG_ZEROCOPY's keep their names
# (loopback, veth); send-zc's say so (send-zc-loopback, send-zc-veth).
zc_modes=(zero-copy)
[[ " ${modes[*]} " == *" send-zc "* ]] && zc_modes+=(send-zc)
bench_table part4_d "Part 4 (d): zero-copy accounting per message size, MSG_ZEROCOPY and send-zc ($secs s stream; $pinned)" \
    --rows size --cols link --values srv_zc_sends,srv_zc_completions,srv_zc_copied_pct,gbit_s \
    --server-fields zc_sends,zc_completions,zc_copied_pct \
    --cells $(( ${#sizes[@]} * ${#links[@]} * ${#zc_modes[@]} )) --timeout 120
for size in "${sizes[@]}"; do
    for mode in "${zc_modes[@]}"; do
        col=""
        [[ $mode == zero-copy ]] || col="$mode-"
        server_for "$mode"
        cli=("${pin_cli[@]}" "$here/client" -p '{port}' -s "$size" -d "$secs" --csv)
        bench_cell "size=$size link=${col}loopback" srv cli
        if [[ -n "$netns_ok" ]]; then
            srv=("$repo/tools/netns.sh" run srv "${pin_srv[@]}" "$here/server" -p 0
                 -a "$("$repo/tools/netns.sh" addr srv)" --idle-timeout 0 --mode "$mode")
            cli=("$repo/tools/netns.sh" run cli "${pin_cli[@]}" "$here/client" -a '{host}'
                 -p '{port}' -s "$size" -d "$secs" --csv)
            bench_cell "size=$size link=${col}veth" srv cli
        fi
    done
done
bench_report

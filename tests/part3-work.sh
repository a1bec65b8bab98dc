#!/usr/bin/env bash
# Work per request (--work-us, --block-us, --slow-from; common/work.c) and
# the event loop that hands it to a pool (server_epoll_offload):
#   - --block-us is honoured: 20 requests at --block-us 20000 on one
#     connection take at least 0.4 s (and without the flag far less), on
#     the iterative, thread, epoll, io_uring and offload servers;
#   - --work-us is CPU: 200 requests at --work-us 2000 cost the server at
#     least 0.3 CPU s (0.4 expected);
#   - --slow-from: only requests at least that big cost anything;
#   - part 4's stream server, not an echo server, refuses the flags;
#   - the offload server's loop does not block: with one client making
#     200 ms requests, a 64-byte client's round trips stay under 100 ms,
#     while on server_epoll (whose loop does the work) they are slower;
#   - the offload server stops cleanly with a request in its pool.
# Bounds are generous: they catch a flag ignored or a loop that blocks,
# not a speed.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

SUITE=part3-work
P3="$BUILD/part3-multiplexing"
CLIENT="$P3/client"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/work.XXXXXX")
BG_PID=""
cleanup() {
    [[ -n "$BG_PID" ]] && kill -KILL "$BG_PID" 2>/dev/null
    [[ -n "$SRV_PID" ]] && kill -KILL "$SRV_PID" 2>/dev/null
    cleanup_server_files
    rm -rf "$TMP"
}
trap cleanup EXIT

result() {   # result NAME WHY: pass when WHY is empty
    if [[ -z "$2" ]]; then report pass "$SUITE" "$1"; else report fail "$SUITE" "$1" "$2"; fi
}
# field NAME CSVFILE: the value of column NAME in the row (line 2).
field() {
    awk -F, -v k="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
                       NR == 2 && c { print $c }' "$2"
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'; }
# client OUT ARGS...: part 3's client against the running server, CSV to OUT.
client() {
    local out=$1
    shift
    timeout -k 5 60 "$CLIENT" -p "$SRV_PORT" --timeout 20000 --csv "$@" >"$out" 2>"$out.err"
}

if [[ ! -x "$CLIENT" || ! -x "$P3/server_epoll_offload" ]]; then
    report fail "$SUITE" "built" "no $CLIENT or $P3/server_epoll_offload: run make"
    exit 1
fi

# name|command: representative servers of each part.
servers=(
    "iterative|$BUILD/part1-iterative/server"
    "thread|$BUILD/part2-process-thread/server_thread"
    "epoll|$P3/server_epoll"
    "epoll-offload|$P3/server_epoll_offload -w 2"
)
if timeout -k 5 2 "$P3/server_uring" -p 0 2>&1 >/dev/null | grep -q "io_uring is not available"; then
    report na "$SUITE" "uring: work per request" "io_uring is not available here"
else
    servers+=("uring|$P3/server_uring")
fi

# ---- 1. --block-us and --work-us on every kind of server ----------------------
for entry in "${servers[@]}"; do
    name=${entry%%|*}
    read -r -a cmd <<<"${entry#*|}"

    # Without work: the baseline the bound below is not met by anyway.
    why=""
    if start_server "${cmd[@]}" -p 0; then
        client "$TMP/none.csv" -c 1 -n 20 -s 64 || why="client failed: $(tail -1 "$TMP/none.csv.err")"
        wall=$(field wall_s "$TMP/none.csv")
        [[ -z "$why" ]] && ! lt "$wall" 0.3 && why="20 requests without work took ${wall} s"
        stop_server 3
    else why="no banner"; fi
    result "$name: no work by default (20 requests well under 0.4 s)" "$why"
    cleanup_server_files

    why=""
    if start_server "${cmd[@]}" -p 0 --block-us 20000; then
        client "$TMP/block.csv" -c 1 -n 20 -s 64 || why="client failed: $(tail -1 "$TMP/block.csv.err")"
        wall=$(field wall_s "$TMP/block.csv")
        [[ -z "$why" ]] && lt "$wall" 0.4 && why="20 requests at --block-us 20000 took only ${wall} s"
        [[ -z "$why" ]] && ! lt "$wall" 10 && why="20 requests took ${wall} s (hang?)"
        stop_server 3
        [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    else why="no banner"; fi
    result "$name: --block-us 20000 x 20 requests takes >= 0.4 s" "$why"
    cleanup_server_files

    why=""
    if start_server "${cmd[@]}" -p 0 --work-us 2000; then
        cpu0=$(cpu_seconds "$SRV_PID")
        client "$TMP/work.csv" -c 1 -n 200 -s 64 || why="client failed: $(tail -1 "$TMP/work.csv.err")"
        cpu1=$(cpu_seconds "$SRV_PID")
        [[ -z "$why" ]] && cpu_below "$cpu0" "$cpu1" 0.3 &&
            why="200 requests at --work-us 2000 cost the server $(cpu_used "$cpu0" "$cpu1") CPU s"
        stop_server 3
    else why="no banner"; fi
    result "$name: --work-us 2000 x 200 requests costs >= 0.3 CPU s" "$why"
    cleanup_server_files
done

# ---- 2. --slow-from: only big requests cost -----------------------------------
why=""
if start_server "$P3/server_epoll" -p 0 --block-us 20000 --slow-from 1K; then
    client "$TMP/small.csv" -c 1 -n 20 -s 64 || why="client failed (64 B)"
    client "$TMP/big.csv" -c 1 -n 20 -s 1K || why="client failed (1 KiB)"
    small=$(field wall_s "$TMP/small.csv") big=$(field wall_s "$TMP/big.csv")
    if [[ -z "$why" ]] && ! lt "$small" 0.3; then why="64 B requests took ${small} s: they should cost nothing"
    elif [[ -z "$why" ]] && lt "$big" 0.4; then why="1 KiB requests took only ${big} s"; fi
    stop_server 3
else why="no banner"; fi
result "epoll --slow-from 1K: 64 B requests free, 1 KiB requests blocked" "$why"
cleanup_server_files

# ---- 3. part 4 is not an echo server ---------------------------------------------
if [[ -x "$BUILD/part4-copy-modes/server" ]]; then
    rc=0
    timeout -k 5 5 "$BUILD/part4-copy-modes/server" -p 0 --work-us 10 >/dev/null 2>&1 || rc=$?
    if [[ $rc == 2 ]]; then result "part 4's stream server refuses --work-us (exit 2)" ""
    else result "part 4's stream server refuses --work-us (exit 2)" "exit status $rc"; fi
fi

# ---- 4. head-of-line blocking: a fast client behind a slow one -------------------
# fast_behind_slow SERVER...: one client makes 1 KiB requests that block the
# server 200 ms each, for 2 s; meanwhile another makes 64 B requests for 1 s.
# Sets FAST_MAX_US and FAST_AVG_US (the fast client's latencies), or WHY.
fast_behind_slow() {
    WHY="" FAST_MAX_US="" FAST_AVG_US=""
    start_server "$@" -p 0 --block-us 200000 --slow-from 1K || { WHY="no banner"; return; }
    timeout -k 5 30 "$CLIENT" -p "$SRV_PORT" -c 1 -d 2 -s 1K --csv >"$TMP/slow.csv" 2>&1 &
    BG_PID=$!
    sleep 0.3                                   # the slow requests are under way
    client "$TMP/fast.csv" -c 1 -d 1 -s 64 || WHY="fast client failed: $(tail -1 "$TMP/fast.csv.err")"
    wait "$BG_PID" || WHY="${WHY:-slow client failed}"
    BG_PID=""
    FAST_MAX_US=$(field lat_max_us "$TMP/fast.csv")
    FAST_AVG_US=$(field lat_avg_us "$TMP/fast.csv")
    stop_server 3
    [[ -z "$WHY" && "$SRV_STATUS" != 0 ]] && WHY="exit status $SRV_STATUS after SIGTERM"
    cleanup_server_files
}

fast_behind_slow "$P3/server_epoll_offload" -w 2
off_avg=$FAST_AVG_US
if [[ -z "$WHY" ]] && ! lt "$FAST_MAX_US" 100000; then
    WHY="a 64 B round trip took up to ${FAST_MAX_US} us behind 200 ms requests: does the loop block?"
fi
result "epoll-offload: a fast client is not held behind a blocked one (max < 100 ms)" "$WHY"

fast_behind_slow "$P3/server_epoll"
if [[ -z "$WHY" ]] && ! lt "$off_avg" "$FAST_AVG_US"; then
    WHY="epoll's fast client averaged ${FAST_AVG_US} us, offload's ${off_avg} us: epoll should be slower"
fi
echo "  (the fast client's average round trip: epoll ${FAST_AVG_US:-?} us, offload ${off_avg:-?} us)"
result "epoll: the same fast client waits behind the blocked loop (slower than on offload)" "$WHY"

# ---- 5. a stop with a request in the pool -----------------------------------------
why=""
if start_server "$P3/server_epoll_offload" -w 2 -p 0 --block-us 500000; then
    timeout -k 5 10 "$CLIENT" -p "$SRV_PORT" -c 1 -n 1 -s 64 --failures-ok >/dev/null 2>&1 &
    BG_PID=$!
    sleep 0.2                                   # its request is in a worker now
    stop_server 3
    wait "$BG_PID" 2>/dev/null
    BG_PID=""
    if [[ "$SRV_STATUS" != 0 ]]; then why="exit status $SRV_STATUS after SIGTERM"
    elif ! grep -q "stopped: .* workers=2 offloaded=1" "$SRV_OUT"; then
        why="stop line: $(tail -1 "$SRV_OUT")"; fi
else why="no banner"; fi
result "epoll-offload: stops cleanly with a request in its pool (workers joined)" "$why"

#!/usr/bin/env bash
# server_uring's modes under pressure (the conformance suite runs the common
# scenarios in each mode: tests/servers.list):
#   - the buffer ring runs dry: a client that never reads holds every buffer
#     of a 4-buffer ring, another client's RECV ends with ENOBUFS; the server
#     does not spin meanwhile, and serves that client once buffers return;
#   - a ring of 4 buffers and 100 busy clients: every byte checked, no
#     connection closed for want of buffers, ENOBUFS seen and survived;
#   - multishot RECVs that end (a byte limit, ENOBUFS) are re-armed: 8 MiB
#     echoed through 1 KiB buffers; a multishot ACCEPT that ends (EMFILE, a
#     full table of direct descriptors) is re-armed after its pause;
#   - every buffer goes back to the ring: after resets and closes in the
#     middle of transfers, the stop line says bufs_free == bufs_total;
#   - backpressure: a client that never reads, others served, RSS bounded;
#   - memory follows data: 2,000 idle connections cost under 1 KiB each;
#   - a bad mode value is refused with exit 2.
# A kernel without io_uring, or without what a mode needs, makes the checks
# N/A with the server's own line. Bounds catch a hang or a spin, not a speed.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P3="$BUILD/part3-multiplexing"
SRV="$P3/server_uring"
CLIENT="$P3/client"
SUITE=part3-uring
MS=("$SRV" --multishot)
ALL=("$SRV" --multishot --defer-taskrun --fixed-files)

# stat NAME: a number from the server's stop line (after stop_server).
stat() { sed -n "s/.*: stopped: .* $1=\([0-9]*\).*/\1/p" "$SRV_OUT"; }
result() {   # result NAME WHY: pass when WHY is empty
    if [[ -z "$2" ]]; then report pass "$SUITE" "$1"; else report fail "$SUITE" "$1" "${2//$'\n'/; }"; fi
}
# stop_clean: what every check ends with (not in a $(...): the server is
# this shell's child): stop the server, then add to $why the first
# problem: an exit status, connections unfinished, buffers not back.
stop_clean() {
    stop_server 3
    [[ -n "$why" ]] && return
    if [[ "$SRV_STATUS" != 0 ]]; then why="exit status $SRV_STATUS after SIGTERM: $(tail -2 "$SRV_OUT.err")"
    elif [[ "$(stat unfinished)" != 0 ]]; then why="unfinished=$(stat unfinished) at stop"
    elif [[ "$(stat bufs_free)" != "$(stat bufs_total)" ]]; then
        why="buffers lost: bufs_free=$(stat bufs_free) of bufs_total=$(stat bufs_total)"
    fi
}

# rearm_waited: after stop_clean, each ENOBUFS waited for a buffer to come
# back: not more of them than buffers filled (bytes / 1 KiB), or the RECVs
# were re-armed in a loop. Sets why.
rearm_waited() {
    local e b
    e=$(stat enobufs) b=$(stat bytes)
    [[ -z "$why" ]] && ((e > 2 * b / 1024 + 1000)) &&
        why="enobufs=$e for $b bytes: re-armed without waiting for buffers"
}

[[ -x "$SRV" && -x "$CLIENT" && -x "$PROBE" ]] || { report fail "$SUITE" build "run make"; exit 1; }
# Not applicable here: io_uring refused, or a mode's feature missing.
why=$(timeout -k 5 2 "${ALL[@]}" -p 0 2>&1 >/dev/null | grep -m1 "io_uring is not available")
if [[ -n "$why" ]]; then
    report na "$SUITE" "every check" "$why"
    exit 0
fi

# ---- 1. the ring runs dry, and fills again ----------------------------------
check_dry_ring() {
    local name="ENOBUFS: a drained ring parks a client without spinning, buffers return, it is served"
    start_server "${MS[@]}" -p 0 --bufs 4 --buf-size 1024 || { result "$name" "no start"; return; }
    local hog out cpu0 cpu1 why="" tmp
    tmp=$(mktemp)
    # The hog pushes until the server stops taking (its echo fills the
    # hog's socket, the server keeps 4 buffers it cannot send), then stays.
    "$PROBE" -p "$SRV_PORT" no-read 32M 4000 >"$tmp" &
    hog=$!
    wait_until 10 grep -q holding "$tmp"
    "$PROBE" -p "$SRV_PORT" --timeout 15000 integrity 1000 64K >"$tmp.other" &
    local other=$!
    sleep 0.5
    cpu0=$(cpu_seconds "$SRV_PID")
    sleep 2
    cpu1=$(cpu_seconds "$SRV_PID")
    if ! cpu_below "$cpu0" "$cpu1" 0.3; then
        why="server used $(cpu_used "$cpu0" "$cpu1") CPU s in 2 s with the ring empty (spinning?)"
    elif ! kill -0 "$other" 2>/dev/null; then
        why="the other client ended while the ring was empty: $(cat "$tmp.other")"
    fi
    wait "$hog"
    if ! wait "$other" && [[ -z "$why" ]]; then
        why="the parked client was not served once buffers returned: $(cat "$tmp.other")"
    fi
    stop_clean
    [[ -z "$why" && "$(stat enobufs)" -lt 1 ]] && why="no ENOBUFS: the ring never ran dry"
    rearm_waited
    result "$name (enobufs=$(stat enobufs))" "$why"
    rm -f "$tmp" "$tmp.other"
    cleanup_server_files
}

# ---- 2. a tiny ring, 100 busy clients ---------------------------------------
check_tiny_ring() {
    local label=$1 name out why=""
    shift
    name="$label: 4 buffers of 1 KiB, 100 busy clients, every byte checked, none closed"
    start_server "$@" -p 0 --bufs 4 --buf-size 1024 || { result "$name" "no start"; return; }
    out=$("$PROBE" -p "$SRV_PORT" --timeout 20000 concurrent 100 16K 20) || why="$out"
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" --timeout 20000 mixed 100 64K 7) || why="$out"; }
    stop_clean
    local e; e=$(stat enobufs)
    [[ -z "$why" && "${e:-0}" -lt 1 ]] && why="no ENOBUFS: the ring never ran dry"
    rearm_waited
    result "$name (enobufs=$e)" "$why"
    cleanup_server_files
}

# ---- 3. multishots that end are re-armed -------------------------------------
check_rearm() {
    local name="ended multishot RECVs re-armed: 8 MiB through 1 KiB buffers, 8 at once" out why=""
    start_server "${MS[@]}" -p 0 --bufs 16 --buf-size 1024 || { result "$name" "no start"; return; }
    out=$("$PROBE" -p "$SRV_PORT" --timeout 20000 integrity 8M) || why="$out"
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" --timeout 20000 concurrent 8 1M 2) || why="$out"; }
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" --timeout 20000 halfclose 1M) || why="$out"; }
    stop_clean
    result "$name" "$why"
    cleanup_server_files
}

check_accept_rearm() {
    local label=$1 name out held why="" cpu0 cpu1
    shift
    name="$label: multishot ACCEPT ended by EMFILE/ENFILE (--nofile=64) is re-armed, no spin"
    start_server prlimit --nofile=64 "$@" -p 0 --max-conns 1000 || { result "$name" "no start"; return; }
    cpu0=$(cpu_seconds "$SRV_PID")
    out=$("$CLIENT" -p "$SRV_PORT" -c 80 -t 1 --idle -n 1 -d 2 --timeout 5000 2>&1)
    cpu1=$(cpu_seconds "$SRV_PID")
    held=$(sed -n 's/^client: \([0-9]*\) connections (\([0-9]*\) failed).*/\1/p' <<<"$out")
    if [[ -z "$held" ]] || ((held >= 80 || held < 30)); then
        why="expected some but not all of 80 clients held, got: $(grep -m1 held <<<"$out")"
    elif ! cpu_below "$cpu0" "$cpu1" 0.5; then
        why="server used $(cpu_used "$cpu0" "$cpu1") CPU s at EMFILE (spinning?)"
    elif ! out=$("$PROBE" -p "$SRV_PORT" --retry 20 concurrent 10 4K 3); then
        why="not accepting again after the extras left: $out"
    fi
    stop_clean
    result "$name" "$why"
    cleanup_server_files
}

# ---- 4. every buffer goes back -------------------------------------------------
check_buffers_back() {
    local label=$1 name out why=""
    shift
    name="$label: resets and closes mid-transfer: every buffer back in the ring"
    start_server "$@" -p 0 --bufs 16 --buf-size 1024 || { result "$name" "no start"; return; }
    local pids=()
    for _ in 1 2 3 4 5; do
        "$PROBE" -p "$SRV_PORT" reset-mid 1M >/dev/null &
        pids+=($!)
        "$PROBE" -p "$SRV_PORT" close-mid 1M >/dev/null &
        pids+=($!)
    done
    out=$("$PROBE" -p "$SRV_PORT" churn 300) || why="$out"
    "$PROBE" -p "$SRV_PORT" vanish 20 64K >/dev/null
    wait "${pids[@]}"
    # Every client gone: a lost buffer would now starve the ring.
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" --timeout 10000 concurrent 20 16K 5) || why="after the resets: $out"; }
    stop_clean
    result "$name" "$why"
    cleanup_server_files
}

# ---- 5. backpressure -----------------------------------------------------------
check_no_reader() {
    local label=$1 name
    shift
    name="$label: a never-reading client: others served promptly, RSS bounded"
    start_server "$@" -p 0 || { result "$name" "no start"; return; }
    never_reader_check "$SRV_PID" "$SRV_PORT"
    stop_clean
    result "$name (RSS +$NEVER_READER_RSS_KIB KiB)" "$NEVER_READER_WHY"
    cleanup_server_files
}

# ---- 6. memory per idle connection -----------------------------------------------
check_idle_memory() {
    local n=2000 name out rss0 rss1 held why=""
    name="--multishot: $n idle connections cost under 1 KiB each (64 buffers of 4 KiB)"
    # ThreadSanitizer's shadow memory grows with every allocation and every
    # thread's accesses: RSS says nothing about the server there (the plain
    # and ASan runs check it).
    local rss_checked=1
    if [[ "${SANITIZER:-}" == tsan ]]; then
        rss_checked=0
        name="--multishot: $n idle connections held (RSS not checked under tsan: its shadow memory)"
    fi
    start_server "${MS[@]}" -p 0 --bufs 64 || { result "$name" "no start"; return; }
    rss0=$(rss_kib "$SRV_PID")
    "$CLIENT" -p "$SRV_PORT" -c "$n" -t 2 --idle -n 1 -d 3 --ramp 500 --timeout 10000 \
        >"$SRV_OUT.client" 2>&1 &
    local cli=$!
    sleep 2.5
    rss1=$(rss_kib "$SRV_PID")
    wait "$cli"
    held=$(sed -n 's/^client: held \([0-9]*\) of.*/\1/p' "$SRV_OUT.client")
    if [[ "$held" != "$n" ]]; then
        why="held ${held:-?} of $n: $(grep -m1 'held' "$SRV_OUT.client")"
    elif ((rss_checked && rss1 - rss0 > n)); then
        why="RSS grew by $((rss1 - rss0)) KiB for $n idle connections"
    fi
    stop_clean
    result "$name (+$((rss1 - rss0)) KiB)" "$why"
    rm -f "$SRV_OUT.client"
    cleanup_server_files
}

# ---- 7. bad values -----------------------------------------------------------------
check_bad_values() {
    local name="bad --bufs / --buf-size values: exit 2" rc why="" v
    for v in "--bufs 3" "--bufs 0" "--bufs 65536" "--buf-size 1" "--bufs"; do
        rc=0
        # shellcheck disable=SC2086
        timeout -k 5 5 "$SRV" --multishot $v -p 0 >/dev/null 2>&1 || rc=$?
        [[ "$rc" == 2 ]] || why="$why '$v' exit $rc;"
    done
    result "$name" "$why"
}

check_dry_ring
check_tiny_ring multishot "${MS[@]}"
check_tiny_ring all-features "${ALL[@]}"
check_rearm
check_accept_rearm multishot "${MS[@]}"
check_accept_rearm all-features "${ALL[@]}"
check_buffers_back multishot "${MS[@]}"
check_buffers_back all-features "${ALL[@]}"
check_no_reader multishot "${MS[@]}"
check_no_reader all-features "${ALL[@]}"
check_idle_memory
check_bad_values

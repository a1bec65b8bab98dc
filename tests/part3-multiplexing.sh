#!/usr/bin/env bash
# Part 3's own checks (the conformance suite runs the common scenarios):
#   - select refuses descriptors at or above FD_SETSIZE and keeps serving;
#   - out of descriptors (prlimit --nofile=64): no spinning, extras turned
#     away, service resumes;
#   - a client that never reads: others served promptly, RSS bounded;
#   - edge-triggered epoll echoes 1 MiB bursts in full;
#   - 3,000 concurrent clients served correctly by poll, epoll, epoll with
#     workers (both designs) and io_uring.
#   - the defect checks of tests/event-defects.sh (hand-offs pending at a
#     stop, --reuseport on IPv6, start-up memory under a huge nofile).
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P3="$BUILD/part3-multiplexing"
CLIENT="$P3/client"
HOLDFDS="$BUILD/tests/bin/part3_holdfds"
SUITE=part3

# The summary line of a client run: "client: N connections (F failed), ..."
completed() { sed -n 's/^client: \([0-9]*\) connections (\([0-9]*\) failed).*/\1/p' <<<"$1"; }
failed()    { sed -n 's/^client: \([0-9]*\) connections (\([0-9]*\) failed).*/\2/p' <<<"$1"; }

# io_uring may be switched off (kernel.io_uring_disabled, seccomp, old kernel):
# the server says so and exits; its checks are then not applicable.
URING_NA=""
uring_check() {
    local out
    out=$(timeout -k 5 5 "$P3/server_uring" -p 0 -h 2>&1 >/dev/null; \
          timeout -k 5 2 "$P3/server_uring" -p 0 2>&1 >/dev/null)
    if grep -q "io_uring is not available" <<<"$out"; then
        URING_NA=$(grep -m1 "io_uring is not available" <<<"$out")
    fi
}

# ---- 1. select and FD_SETSIZE --------------------------------------------
# The server starts with descriptors 3..1019 taken, so its listening socket
# is 1020, its spare descriptor 1021, and only two clients (1022, 1023) fit
# below FD_SETSIZE. Six idle clients: two are held, four are refused.
check_select_wall() {
    local name="select refuses descriptors >= FD_SETSIZE and keeps serving" out
    if ! start_server "$HOLDFDS" 1020 "$P3/server_select" -p 0; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    out=$("$CLIENT" -p "$SRV_PORT" -c 6 -t 1 --idle -n 1 -d 1 --ramp 300 2>&1)
    local held refused
    held=$(completed "$out") refused=$(failed "$out")
    local why=""
    if [[ "$held" != 2 || "$refused" != 4 ]]; then
        why="expected 2 held and 4 refused, got: $(grep -m1 'held' <<<"$out")"
    elif ! grep -q "FD_SETSIZE" "$SRV_OUT.err"; then
        why="no log line about FD_SETSIZE"
    elif ! kill -0 "$SRV_PID" 2>/dev/null; then
        why="the server died"
    elif ! out=$("$PROBE" -p "$SRV_PORT" integrity 100 64K 1M); then
        why="a client below the wall was not served afterwards: $out"
    fi
    stop_server 2
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

# ---- 2. EMFILE ----------------------------------------------------------------
# 64 descriptors, a connection cap far above that, 80 clients holding on:
# accept() fails with EMFILE. The server must turn the extras away (they see
# a close or a reset, never a hang), use little CPU meanwhile (no accept loop spinning), and serve
# again once they are gone.
check_emfile() {
    local label=$1 name; shift
    name="$label: EMFILE under --nofile=64: no spin, extras turned away, service resumes"
    if ! start_server prlimit --nofile=64 "$@" -p 0 --max-conns 1000; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    local cpu0 cpu1 out held why=""
    cpu0=$(cpu_seconds "$SRV_PID")
    local conns_log; conns_log=$(mktemp)
    out=$("$CLIENT" -p "$SRV_PORT" -c 80 -t 1 --idle -n 1 -d 3 --timeout 5000 --log "$conns_log" 2>&1)
    cpu1=$(cpu_seconds "$SRV_PID")
    held=$(completed "$out")
    if [[ -z "$held" ]] || ((held >= 80 || held < 30)); then
        why="expected some but not all of 80 clients held, got: $(grep -m1 held <<<"$out")"
    elif grep -Eq 'result=(stopped|connect timed out|no progress)' "$conns_log"; then
        # Turned away means closed or reset by the server, never left
        # waiting until the run ended or timed out.
        why="extras left hanging, not turned away: $(grep -Ec 'result=(stopped|connect timed out|no progress)' "$conns_log") connections"
    elif awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { exit !(b - a > 0.5) }'; then
        why="server used $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }') CPU s in 3 s at EMFILE (spinning?)"
    elif ! out=$("$PROBE" -p "$SRV_PORT" integrity 100 64K); then
        why="not serving after the extras left: $out"
    fi
    stop_server 2
    rm -f "$conns_log"
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

# ---- 3. a client that never reads ----------------------------------------------
# It sends 32 MiB and reads nothing. The server stops reading it once one
# chunk is owed (backpressure), so its RSS stays flat, and other clients
# still get prompt answers meanwhile.
check_no_reader() {
    local label=$1 name why; shift
    name="$label: a never-reading client: others served promptly, RSS bounded"
    if ! start_server "$@" -p 0; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    never_reader_check "$SRV_PID" "$SRV_PORT"
    why=$NEVER_READER_WHY
    stop_server 2
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name (RSS +$NEVER_READER_RSS_KIB KiB)"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

# ---- 4. edge-triggered: a 1 MiB burst ------------------------------------------
check_edge_burst() {
    local name="epoll -e echoes 1 MiB bursts in full (8 at once, and one half-closed)" out why=""
    if ! start_server "$P3/server_epoll" -e -p 0; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    out=$("$PROBE" -p "$SRV_PORT" integrity 1M 1M) || why="$out"
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" concurrent 8 1M 2) || why="$out"; }
    [[ -z "$why" ]] && { out=$("$PROBE" -p "$SRV_PORT" halfclose 1M) || why="$out"; }
    stop_server 2
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

# ---- 5. 3,000 concurrent clients -----------------------------------------------
check_3000() {
    local label=$1 name; shift
    name="$label: 3,000 concurrent clients x 5 requests, every byte checked"
    if [[ "$label" == uring && -n "$URING_NA" ]]; then
        report na "$SUITE" "$name" "$URING_NA"; return
    fi
    if ! start_server "$@" -p 0; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    local out why=""
    out=$("$CLIENT" -p "$SRV_PORT" -c 3000 -t 2 -n 5 -s 256 --ramp 500 --timeout 20000 2>&1)
    if [[ "$(completed "$out")" != 3000 || "$(failed "$out")" != 0 ]]; then
        why="$(grep -m1 'connections (' <<<"$out") $(grep -m1 'first failure' <<<"$out")"
    fi
    stop_server 2
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

for bin in "$P3/client" "$HOLDFDS" "$P3/server_select" "$P3/server_poll" \
           "$P3/server_epoll" "$P3/server_epoll_workers"; do
    [[ -x "$bin" ]] || { report fail "$SUITE" build "$bin not built"; exit 1; }
done
uring_check

check_select_wall
check_emfile select "$P3/server_select"
check_emfile poll "$P3/server_poll"
check_emfile epoll "$P3/server_epoll"
check_emfile epoll-workers "$P3/server_epoll_workers" -w 2
check_no_reader select "$P3/server_select"
check_no_reader poll "$P3/server_poll"
check_no_reader epoll "$P3/server_epoll"
check_no_reader epoll-et "$P3/server_epoll" -e
check_no_reader epoll-workers "$P3/server_epoll_workers" -w 2
check_edge_burst
check_3000 poll "$P3/server_poll"
check_3000 epoll "$P3/server_epoll"
check_3000 epoll-et "$P3/server_epoll" -e
check_3000 epoll-workers "$P3/server_epoll_workers" -w 2
check_3000 epoll-reuseport "$P3/server_epoll_workers" -w 2 --reuseport
if [[ -x "$P3/server_uring" ]]; then
    [[ -z "$URING_NA" ]] && check_emfile uring "$P3/server_uring"
    [[ -z "$URING_NA" ]] && check_no_reader uring "$P3/server_uring"
    check_3000 uring "$P3/server_uring"
fi
"$TESTS_DIR/event-defects.sh"

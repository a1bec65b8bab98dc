#!/usr/bin/env bash
# Checks for defects a reading of the event servers found (issue 13); run
# by tests/part3-multiplexing.sh, or alone after `make`:
#   - epoll with workers, stopped while hand-offs wait in its pipes (more
#     than one read of 16 records takes): every one closed and counted;
#   - epoll with workers, --reuseport on IPv6 (-a ::1): every worker's
#     socket on the port the first one got, all of them serving;
#   - start-up memory does not follow the descriptor limit or the cap:
#     poll, epoll, epoll -e and fork, started under the highest nofile this
#     machine allows and with --max-conns 2^30, map no more than under a
#     nofile of 1024 (VmSize: an untouched table costs address space, not
#     RSS, until it is used) and stay small in RSS.
# The epoll -e ready queue's order (first in, first out) and wait_fd()'s
# timeout of 0 are unit checks (tests/unit_common.c).
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P3="$BUILD/part3-multiplexing"
SUITE=part3

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

# ---- 1. hand-offs pending at the stop --------------------------------------
check_handoffs() {
    local name="epoll-workers: stopped with 100 hand-offs pending (16 a read): all closed and counted"
    local out rc
    out=$("$BUILD/tests/bin/part3_handoffs" 100 "$P3/server_epoll_workers" -w 2 2>&1)
    rc=$?
    case $rc in
        0) report pass "$SUITE" "$name" ;;
        3) report na "$SUITE" "$name" "$out" ;;
        *) report fail "$SUITE" "$name" "$out" ;;
    esac
}

# ---- 2. --reuseport on IPv6 ------------------------------------------------
check_reuseport_ipv6() {
    local name="epoll-reuseport on ::1: every worker listens on the same port and serves"
    if ! grep -qs '^0\{31\}1 ' /proc/net/if_inet6; then
        report na "$SUITE" "$name" "no IPv6 loopback (::1) here"; return
    fi
    if ! start_server "$P3/server_epoll_workers" -w 2 --reuseport -a ::1 -v -p 0; then
        report fail "$SUITE" "$name" "server did not start"; return
    fi
    local out why="" w
    out=$("$PROBE" -a ::1 -p "$SRV_PORT" concurrent 24 4K 3) || why="clients: $out"
    stop_server 2
    for w in w0 w1; do
        [[ -z "$why" ]] && ! grep -q "/$w: closed" "$SRV_OUT.err" &&
            why="worker $w served none of 24 connections (its socket on another port?)"
    done
    [[ -z "$why" && "$SRV_STATUS" != 0 ]] && why="exit status $SRV_STATUS after SIGTERM"
    if [[ -z "$why" ]]; then report pass "$SUITE" "$name"
    else report fail "$SUITE" "$name" "$why"; fi
    cleanup_server_files
}

# ---- 3. start-up memory ----------------------------------------------------
# The highest descriptor limit prlimit may set here: 2^30 where the kernel
# and our privileges allow it, else fs.nr_open, else the hard limit.
highest_nofile() {
    local n
    for n in 1073741824 "$(cat /proc/sys/fs/nr_open 2>/dev/null)" "$(ulimit -Hn)"; do
        [[ "$n" =~ ^[0-9]+$ ]] || continue
        if prlimit --nofile="$n" true 2>/dev/null; then echo "$n"; return; fi
    done
    echo 1024
}

# started_kib NOFILE COMMAND...: "VmSize VmRSS" of the server just started.
started_kib() {
    local nofile=$1; shift
    start_server prlimit --nofile="$nofile" "$@" -p 0 || return 1
    echo "$(status_kib "$SRV_PID" VmSize) $(status_kib "$SRV_PID" VmRSS)"
    stop_server 2
    cleanup_server_files
}

check_bounded_start() {
    local label=$1 high=$2; shift 2
    local name="$label: start-up memory bounded under nofile=$high and --max-conns 2^30"
    local base hi cap why="" vb rb vh rh vc rc
    base=$(started_kib 1024 "$@") && hi=$(started_kib "$high" "$@") &&
        cap=$(started_kib 1024 "$@" --max-conns 1073741824) || why="server did not start"
    if [[ -z "$why" ]]; then
        read -r vb rb <<<"$base"
        read -r vh rh <<<"$hi"
        read -r vc rc <<<"$cap"
        # 64 KiB: far below one table per possible descriptor (8 bytes each
        # under 20,000 is 156 KiB; under 2^30, 8 GiB), above page noise.
        if ((vh - vb > 64 || vc - vb > 64)); then
            why="address space grew with the limit: VmSize ${vb} KiB at nofile=1024, ${vh} KiB at nofile=$high, ${vc} KiB with --max-conns 2^30"
        elif ((rh - rb > 4096 || rc - rb > 4096)); then
            why="RSS grew with the limit: ${rb}, ${rh}, ${rc} KiB"
        fi
    fi
    if [[ -z "$why" ]]; then
        report pass "$SUITE" "$name (VmSize ${vb}/${vh}/${vc} KiB, RSS ${rb}/${rh}/${rc} KiB)"
    else report fail "$SUITE" "$name" "$why"; fi
}

for bin in "$BUILD/tests/bin/part3_handoffs" "$P3/server_poll" "$P3/server_epoll" \
           "$P3/server_epoll_workers"; do
    [[ -x "$bin" ]] || { report fail "$SUITE" build "$bin not built"; exit 1; }
done

check_handoffs
check_reuseport_ipv6
HIGH=$(highest_nofile)
check_bounded_start poll "$HIGH" "$P3/server_poll"
check_bounded_start epoll "$HIGH" "$P3/server_epoll"
check_bounded_start epoll-et "$HIGH" "$P3/server_epoll" -e
FORK="$BUILD/part2-process-thread/server_fork"
if [[ -x "$FORK" ]]; then
    check_bounded_start fork "$HIGH" "$FORK"
else
    report na "$SUITE" "fork: start-up memory bounded" "$FORK not built (make builds it)"
fi

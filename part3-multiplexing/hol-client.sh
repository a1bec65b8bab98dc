#!/usr/bin/env bash
# hol-client.sh CLIENT PORT SECONDS RATE - head-of-line blocking, the client side
# of table part3_h: one slow client and nine fast ones on the same server.
#
#   slow: 1 connection sending 1 KiB requests back to back (closed loop)
#         for SECONDS + 1; the server is started with --slow-from 1K, so
#         each of these requests blocks or spins for a while
#   fast: 9 connections sending 64 B requests (free) at RATE requests/s in
#         all (open loop, latency from the schedule) for SECONDS, started
#         once the slow one is under way
#
# CLIENT is part 3's client binary (timing.sh passes its own).
# Prints the fast clients' --csv lines (header and row) on stdout: their
# latency is what a blocked loop costs the clients that did nothing wrong.
# Exits non-zero when either client failed.
set -u
case "${1:-}" in -h|--help|'') sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
if [[ $# -ne 4 ]]; then
    echo "usage: hol-client.sh CLIENT PORT SECONDS RATE" >&2
    exit 2
fi
client=$1 port=$2 secs=$3 rate=$4

"$client" -p "$port" -c 1 -s 1K -d "$((secs + 1))" --csv >/dev/null 2>&1 &
slow=$!
sleep 0.2
rc=0
"$client" -p "$port" -c 9 -s 64 -d "$secs" --rate "$rate" --csv 2>/dev/null || rc=$?
if ! wait "$slow" && [[ $rc == 0 ]]; then
    rc=3                       # the slow client failed: the cell is not valid
fi
exit "$rc"

#!/usr/bin/env bash
# Part 1's own check: the iterative server serves one client at a time.
# Proven from what two clients observe (see serial-order in
# tests/echo_probe.c): B, connected and waiting, gets nothing while A is
# served, and its echo only after A disconnects.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

if ! start_server "$BUILD/part1-iterative/server" -p 0; then
    report fail part1 "serial order" "server did not start"
    exit 1
fi
if out=$("$PROBE" -p "$SRV_PORT" serial-order); then
    report pass part1 "serial order: second client served only after the first leaves"
else
    report fail part1 "serial order" "$out"
fi
stop_server 2
cleanup_server_files

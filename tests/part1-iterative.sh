#!/usr/bin/env bash
# Part 1's own checks:
#   - the iterative server serves one client at a time. Proven from what
#     two clients observe (see serial-order in tests/echo_probe.c): B,
#     connected and waiting, gets nothing while A is served, and its echo
#     only after A disconnects;
#   - out of descriptors, its plain accept() fails with EMFILE while a
#     client waits in the queue: the server backs off instead of spinning
#     (counted in accept_errors) and still stops cleanly on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

SERVER="$BUILD/part1-iterative/server"

if ! start_server "$SERVER" -p 0; then
    report fail part1 "serial order" "server did not start"
    exit 1
fi
# The lowest descriptor number it does not use before any client: the one
# its next accept() would get (descriptors inherited from the shell may
# sit higher up; a limit leaves those alone).
held=0
while [[ -e "/proc/$SRV_PID/fd/$held" ]]; do held=$((held + 1)); done
if out=$("$PROBE" -p "$SRV_PORT" serial-order); then
    report pass part1 "serial order: second client served only after the first leaves"
else
    report fail part1 "serial order" "$out"
fi
stop_server 2
cleanup_server_files

# Started with that as its descriptor limit, its next accept() needs a
# descriptor number it may not have.
emfile_backs_off() {
    local holder before after
    "$PROBE" -p "$SRV_PORT" idle-drop 3000 >/dev/null &
    holder=$!
    sleep 0.3
    before=$(cpu_seconds "$SRV_PID")
    sleep 1.5
    after=$(cpu_seconds "$SRV_PID")
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    cpu_below "$before" "$after" 0.5 ||
        { echo "server used $(cpu_used "$before" "$after") s of CPU while out of descriptors (spinning?)"; return 1; }
}
if ! command -v prlimit >/dev/null; then
    report na part1 "EMFILE: back off, no spin" "prlimit (util-linux) is not installed"
elif start_server prlimit --nofile="$held:$held" "$SERVER" -p 0; then
    if out=$(emfile_backs_off); then
        stop_server 2
        errors=$(sed -n 's/.* accept_errors=\([0-9]*\).*/\1/p' "$SRV_OUT")
        # About 2 s out of descriptors: a back-off makes a few dozen failed
        # accepts, a spin millions (its CPU time alone may not show it on a
        # loaded machine).
        if [[ "$SRV_STATUS" == 0 && "${errors:-0}" -gt 0 && "${errors:-0}" -le 200 ]]; then
            report pass part1 "EMFILE under --nofile=$held: accept() fails ($errors times), the server backs off (no spin) and stops cleanly"
        else
            report fail part1 "EMFILE" "exit status $SRV_STATUS, accept_errors=${errors:-none} (1 .. 200 expected in about 2 s)"
        fi
    else
        report fail part1 "EMFILE" "$out"
        stop_server 2
    fi
    cleanup_server_files
else
    report fail part1 "EMFILE" "no banner under prlimit --nofile=$held"
fi

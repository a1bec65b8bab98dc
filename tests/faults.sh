#!/usr/bin/env bash
# faults.sh - every echo server under fault injection: tests/faultinject.so,
# preloaded into the server, makes about one socket call in four fail the
# way the kernel may (EINTR, EAGAIN, short counts; accept also ECONNABORTED
# and EMFILE). 20 clients then send random binary requests up to 512 KiB;
# a client turned away (the server shedding it on a fake EMFILE) may
# reconnect, and every byte echoed must be right.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

INJECT="$BUILD/tests/bin/faultinject.so"

if [[ -n "${SANITIZER:-}" ]]; then
    report na faults "all servers" "not under $SANITIZER: its runtime must be the first library loaded"
    exit 0
fi

# A lasting accept error, where the injector cannot reach the accept call
# (io_uring accepts inside the kernel): FAULT_SHUT_LISTEN_MS shuts the
# listening socket down under the server, so that every accept fails from
# then on. The server must not retry in a spin (under 0.5 CPU s in 2 s)
# and must still stop cleanly.
check_accept_error() {
    local name="$1: a lasting accept error (listening socket shut down): no spin"
    shift
    if ! start_server env LD_PRELOAD="$INJECT" FAULT_EVERY=1000000 FAULT_SHUT_LISTEN_MS=100 \
            "$@" -p 0; then
        report fail faults "$name" "server did not start under the injector"
        return
    fi
    local cpu0 cpu1 why=""
    wait_until 3 grep -q "listening socket is shut down" "$SRV_OUT.err" ||
        why="the injector did not shut the listening socket down"
    cpu0=$(cpu_seconds "$SRV_PID")
    sleep 2
    cpu1=$(cpu_seconds "$SRV_PID")
    stop_server 2
    if [[ -z "$why" ]] && ! cpu_below "$cpu0" "$cpu1" 0.5; then
        why="server used $(cpu_used "$cpu0" "$cpu1") CPU s in 2 s of failing accepts (spinning?)"
    elif [[ -z "$why" && "$SRV_STATUS" != 0 ]]; then
        why="exit status $SRV_STATUS after SIGTERM"
    fi
    if [[ -z "$why" ]]; then report pass faults "$name"
    else report fail faults "$name" "$why"; fi
    cleanup_server_files
}

while read -r name traits cmd; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    read -r -a argv <<<"$cmd"
    argv[0]="$BUILD/${argv[0]}"
    if [[ ",$traits," == *",stream,"* ]]; then
        report na faults "$name" "not an echo server: see tests/part4-copy-modes.sh"
        continue
    fi
    if [[ ",$traits," == *",io_uring,"* ]]; then
        report na faults "$name" "io_uring's operations do not go through the libc calls the injector replaces"
        check_accept_error "$name" "${argv[@]}"
        continue
    fi
    extra=()
    # Edge-triggered: a fake EAGAIN would never be followed by an edge.
    [[ " ${argv[*]} " == *" -e "* ]] && extra=(FAULT_NO_EAGAIN=1)
    if ! start_server env LD_PRELOAD="$INJECT" FAULT_EVERY=4 FAULT_SEED=7 "${extra[@]}" \
            "${argv[@]}" -p 0; then
        report fail faults "$name" "server did not start under the injector"
        continue
    fi
    out=$("$PROBE" --retry 50 -p "$SRV_PORT" mixed 20 512K 11 2>&1)
    rc=$?
    stop_server 2
    injected=$(sed -n 's/^faultinject: \([0-9]*\) faults injected$/\1/p' "$SRV_OUT.err")
    if [[ $rc != 0 ]]; then
        report fail faults "$name" "$out"
    elif [[ "$SRV_STATUS" != 0 ]]; then
        report fail faults "$name" "exit status $SRV_STATUS after SIGTERM under the injector"
    elif [[ -z "$injected" || "$injected" == 0 ]]; then
        report fail faults "$name" "the injector injected nothing (not preloaded?)"
    else
        report pass faults "$name: every byte echoed through $injected injected faults"
    fi
    cleanup_server_files
done <"$TESTS_DIR/servers.list"

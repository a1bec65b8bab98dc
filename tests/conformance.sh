#!/usr/bin/env bash
# conformance.sh NAME TRAITS COMMAND...
#
# The scenarios every echo server must pass, run against one server. Each
# scenario starts a fresh server (COMMAND -p 0 ...), plays clients against
# it with echo_probe, checks what the server did (its descriptors, its exit),
# and prints one PASS/FAIL/N/A line. tests/servers.list says which servers.
set -u
. "$(dirname "$0")/lib.sh"

NAME=$1 TRAITS=$2
shift 2
CMD=("$@")
CMD[0]="$BUILD/${CMD[0]}"

has_trait() { [[ ",$TRAITS," == *",$1,"* ]]; }
probe() { "$PROBE" -p "$SRV_PORT" "$@"; }

# After a fault: a fresh client is served correctly and the server's open
# descriptors come back to what they were before (no leak).
still_serves_without_leak() {
    local base=$1 out
    out=$(probe integrity 1000 64K) || { echo "fresh client after the fault: $out"; return 1; }
    wait_until 3 fds_are "$SRV_PID" "$base" ||
        { echo "descriptors $(fd_count "$SRV_PID"), baseline $base"; return 1; }
}

# The baseline is taken after one client, so that anything a server opens
# lazily on its first connection is counted in it.
warm_baseline() {
    probe integrity 1 >/dev/null || { echo "first client failed"; return 1; }
    wait_until 2 true
    fd_count "$SRV_PID"
}

sc_integrity() {
    probe integrity 1 100 1K 4K 64K 1M 8M >/dev/null || probe integrity 1 100 1K 4K 64K 1M 8M
}

sc_turns() {
    local out; out=$(probe turns 20 4K) || { echo "$out"; return 1; }
}

sc_concurrent() {
    local out; out=$(probe concurrent 20 4K 3) || { echo "$out"; return 1; }
}

sc_halfclose() {
    local out; out=$(probe halfclose 1M) || { echo "$out"; return 1; }
}

# fault_then_check PROBE-ARGS...: run a faulty client, then the usual checks.
fault_then_check() {
    local base out
    base=$(warm_baseline) || { echo "$base"; return 1; }
    out=$(probe "$@") || { echo "$out"; return 1; }
    still_serves_without_leak "$base"
}

sc_reset_mid()  { fault_then_check reset-mid 4M; }
sc_close_mid()  { fault_then_check close-mid 4M; }
sc_no_read()    { fault_then_check no-read 16M; }
sc_vanish()     { fault_then_check vanish 50 256K; }

sc_idle_timeout() {
    local out
    out=$(probe idle-drop 3000) || { echo "$out (server started with --idle-timeout 1)"; return 1; }
}

# Runs in the main shell (not in $(...)): it stops the server itself.
sc_sigterm() {
    # One connected, silent client: the server must still stop promptly.
    "$PROBE" -p "$SRV_PORT" idle-drop 10000 >/dev/null &
    local holder=$!
    sleep 0.2
    stop_server 2
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    if [[ "$SRV_STATUS" != 0 ]]; then
        WHY="exit status $SRV_STATUS after SIGTERM (0 within 2 s expected)"
        return 1
    fi
    grep -q ": stopped" "$SRV_OUT" || { WHY="no summary line after SIGTERM"; return 1; }
}

# run SCENARIO [SERVER-FLAGS...]: a fresh server, the scenario, a clean stop.
run() {
    local sc=$1 fn rc
    fn="sc_${1//-/_}"
    shift
    if ! start_server "${CMD[@]}" -p 0 "$@"; then
        report fail "$NAME" "$sc" "server did not start"
        return
    fi
    WHY=""
    if [[ "$sc" == sigterm ]]; then
        "$fn"
        rc=$?
    else
        WHY=$("$fn" 2>&1)
        rc=$?
    fi
    if [[ -n "$SRV_PID" ]]; then
        stop_server 2
        if [[ $rc == 0 && "$SRV_STATUS" != 0 ]]; then
            rc=1
            WHY="exit status $SRV_STATUS after SIGTERM"
        fi
    fi
    if [[ $rc == 0 ]]; then
        report pass "$NAME" "$sc"
    else
        report fail "$NAME" "$sc" "$(printf '%s' "$WHY" | tr '\n' ' ' | cut -c1-300)"
    fi
    cleanup_server_files
}

# SCENARIOS="a b" runs only those (tests/meta.sh uses it).
wanted() { [[ -z "${SCENARIOS:-}" || " $SCENARIOS " == *" $1 "* ]]; }

[[ -x "${CMD[0]}" ]] || { report fail "$NAME" build "${CMD[0]} not built"; exit 1; }
wanted integrity    && run integrity
wanted turns        && run turns
wanted concurrent   && run concurrent
wanted halfclose    && run halfclose
wanted reset-mid    && run reset-mid
wanted close-mid    && run close-mid
wanted no-read      && run no-read
wanted vanish       && run vanish
wanted idle-timeout && run idle-timeout --idle-timeout 1
wanted sigterm      && run sigterm
exit 0

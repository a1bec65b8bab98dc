#!/usr/bin/env bash
# conformance.sh NAME TRAITS COMMAND...
#
# The scenarios every echo server must pass, run against one server. Each
# scenario starts a fresh server (COMMAND -p 0 ...), plays clients against
# it with echo_probe, checks what the server did (its descriptors, its exit),
# and prints one PASS/FAIL/N/A line. tests/servers.list says which servers.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

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
    settled_fd_count "$SRV_PID"
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
sc_trickle() {
    local out
    out=$(probe trickle 8000) || { echo "$out (server started with --idle-timeout 1)"; return 1; }
}

sc_mixed() {
    local out; out=$(probe mixed 50 1M) || { echo "$out"; return 1; }
}

# Summed resident memory of the server's process tree, KiB.
tree_rss_kib() {
    local p total=0 kb
    for p in $(tree_pids "$SRV_PID"); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# A slow reader must cost the server waiting, not CPU: a server that polls
# for writability in a loop would burn a core for the whole transfer.
sc_slow_reader() {
    local before after out
    before=$(cpu_seconds "$SRV_PID")
    out=$(probe slow-reader 64M) || { echo "$out"; return 1; }
    after=$(cpu_seconds "$SRV_PID")
    cpu_below "$before" "$after" 1.5 ||
        { echo "server used $(cpu_used "$before" "$after") s of CPU for one slow reader"; return 1; }
}

# A client that sends 32 MiB and never reads: the server must stop reading
# it (backpressure) rather than buffer it, and others must still be served.
sc_never_reads() {
    local base rss0 rss1 holder out i
    base=$(warm_baseline) || { echo "$base"; return 1; }
    rss0=$(tree_rss_kib)
    out=$(mktemp)
    "$PROBE" -p "$SRV_PORT" no-read 32M 4000 >"$out" &
    holder=$!
    for ((i = 0; i < 100; i++)); do grep -q holding "$out" && break; sleep 0.05; done
    rss1=$(tree_rss_kib)
    if ! has_trait serial && ! probe --timeout 2000 integrity 1K 64K >/dev/null; then
        echo "another client was not served promptly while one never read"
        kill "$holder" 2>/dev/null
        wait "$holder" 2>/dev/null
        rm -f "$out"
        return 1
    fi
    wait "$holder" 2>/dev/null
    rm -f "$out"
    ((rss1 - rss0 < 12288)) ||
        { echo "server memory grew by $((rss1 - rss0)) KiB for a client that never reads"; return 1; }
    still_serves_without_leak "$base"
}

sc_reset_early() { fault_then_check reset-early 50; }

# The cap is 4, the pool's worker count, so that every admitted client is
# served at once by every model; 10 more must be turned away.
sc_cap() {
    local out; out=$(probe admit 14 4) || { echo "$out (server started with --max-conns 4)"; return 1; }
}

# Run under `prlimit --nofile=64` with a cap far above it, so descriptors
# really run out: extras must be turned away, the server must not spin,
# and it must serve again once they leave.
sc_emfile() {
    local before after out
    before=$(cpu_seconds "$SRV_PID")
    local wait=()
    has_trait waits && wait=(waiting-ok)
    out=$(probe admit "${wait[@]}" 80) || { echo "$out (under prlimit --nofile=64)"; return 1; }
    sleep 1
    after=$(cpu_seconds "$SRV_PID")
    cpu_below "$before" "$after" 1.0 ||
        { echo "server used $(cpu_used "$before" "$after") s of CPU while out of descriptors (spinning?)"; return 1; }
    out=$(probe integrity 1K) || { echo "not served after the flood left: $out"; return 1; }
}

# 10,000 connections ending every way: descriptors, threads and child
# processes must come back exactly to where they were.
children_are() { [[ "$(child_count "$SRV_PID")" == "$1" ]]; }
sc_churn() {
    local base threads kids out
    base=$(warm_baseline) || { echo "$base"; return 1; }
    threads=$(thread_count "$SRV_PID")
    kids=$(child_count "$SRV_PID")
    out=$(probe churn 10000 4) || { echo "$out"; return 1; }
    wait_until 10 fds_are "$SRV_PID" "$base" ||
        { echo "descriptors $(fd_count "$SRV_PID") after churn, baseline $base"; return 1; }
    wait_until 10 threads_are "$SRV_PID" "$threads" ||
        { echo "threads $(thread_count "$SRV_PID") after churn, baseline $threads"; return 1; }
    wait_until 10 children_are "$kids" ||
        { echo "child processes $(child_count "$SRV_PID") after churn, baseline $kids"; return 1; }
}

# SIGUSR1 and SIGCHLD at 1 kHz while clients are served: every interrupted
# call must be retried, and no echo may fail.
sc_signal_storm() {
    local storm out rc=0
    "$BUILD/tests/bin/signal_storm" "$SRV_PID" 1000 3 >/dev/null &
    storm=$!
    out=$(probe concurrent 10 64K 20) || rc=1
    if [[ $rc == 0 ]]; then out=$(probe integrity 1 1M) || rc=1; fi
    wait "$storm" || { echo "the server died during the signal storm"; return 1; }
    [[ $rc == 0 ]] || { echo "an echo failed during the signal storm: $out"; return 1; }
}

# The listening socket of a server started without -a is on 127.0.0.1 only.
sc_default_bind() { listens_on_loopback_only "$SRV_PORT"; }

# Runs in the main shell: it stops the server, and starts another on the
# same port at once, while the first one's connections are still closing.
stop_holders() { local h; for h in "$@"; do kill "$h" 2>/dev/null; wait "$h" 2>/dev/null; done; }
sc_restart() {
    local port=$SRV_PORT holders=() i
    for i in 1 2 3; do
        "$PROBE" -p "$port" no-read 1K 3000 >/dev/null &
        holders+=($!)
    done
    sleep 0.3
    stop_server 2
    if [[ "$SRV_STATUS" != 0 ]]; then
        WHY="exit status $SRV_STATUS after SIGTERM"
        stop_holders "${holders[@]}"
        return 1
    fi
    cleanup_server_files
    if ! start_server "${CMD[@]}" -p "$port"; then
        WHY="a new server could not bind port $port right after the old one stopped"
        stop_holders "${holders[@]}"
        return 1
    fi
    stop_holders "${holders[@]}"
    WHY=$(probe integrity 1K) || return 1
}

# Runs in the main shell (not in $(...)): it stops the server itself.
sc_sigterm() {
    # One connected, silent client: the server must still stop promptly.
    "$PROBE" -p "$SRV_PORT" idle-drop 10000 >/dev/null &
    local holder=$! tree p left=""
    sleep 0.2
    tree=$(tree_pids "$SRV_PID")
    stop_server 2
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    if [[ "$SRV_STATUS" != 0 ]]; then
        WHY="exit status $SRV_STATUS after SIGTERM (0 within 2 s expected)"
        return 1
    fi
    grep -q ": stopped" "$SRV_OUT" || { WHY="no summary line after SIGTERM"; return 1; }
    for p in $tree; do
        [[ -e "/proc/$p" && "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]] && left+=" $p"
    done
    [[ -z "$left" ]] || { WHY="processes of the server still running after it exited:$left"; return 1; }
}

# run SCENARIO [SERVER-FLAGS...]: a fresh server, the scenario, a clean stop.
run() {
    local sc=$1 fn rc t0=$SECONDS
    fn="sc_${1//-/_}"
    shift
    if ! start_server "${LAUNCH[@]}" "${CMD[@]}" -p 0 "$@"; then
        report fail "$NAME" "$sc" "server did not start"
        return
    fi
    WHY=""
    if [[ "$sc" == sigterm || "$sc" == restart ]]; then
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
    [[ -n "${TEST_TIMES:-}" ]] && echo "time $NAME: $sc $((SECONDS - t0)) s" >&2
    return 0
}

LAUNCH=()   # a command put before the server's (prlimit, for emfile)

# na_for_queueing SCENARIO: true (and reports N/A) for servers that serve
# one client at a time, or hold a fixed number and queue the rest.
na_for_queueing() {
    if has_trait serial; then
        report na "$NAME" "$1" "serves one client at a time: the others wait in the listen queue by design"
    elif has_trait queues; then
        report na "$NAME" "$1" "holds a fixed number of clients; the others wait in the listen queue by design"
    else
        return 1
    fi
}

# Every scenario, in the order they run (the list at the end of this file).
ALL_SCENARIOS="integrity turns concurrent halfclose reset-mid close-mid no-read vanish
    idle-timeout trickle mixed slow-reader never-reads reset-early cap emfile churn
    signal-storm default-bind restart sigterm"

# SCENARIOS="a b" runs only those (tests/meta.sh uses it).
# Traits (tests/servers.list): serial = one client at a time; event = an
# event loop, where a slow client holds no thread or process.
wanted() { [[ -z "${SCENARIOS:-}" || " $SCENARIOS " == *" $1 "* ]]; }

[[ -x "${CMD[0]}" ]] || { report fail "$NAME" build "${CMD[0]} not built"; exit 1; }
# Trait stream: not an echo server (part 4); its own fault checks are in
# tests/part4-copy-modes.sh.
if has_trait stream; then
    for sc in $ALL_SCENARIOS; do
        report na "$NAME" "$sc" "speaks the stream protocol, not echo: tests/part4-copy-modes.sh runs the same scenarios in that protocol, for every mode"
    done
    exit 0
fi
# Trait io_uring: a server that needs io_uring says "io_uring is not available"
# and exits when the kernel refuses it; then every scenario is not applicable.
if has_trait io_uring; then
    why=$(timeout -k 5 1 "${CMD[@]}" -p 0 2>&1 >/dev/null | grep -m1 "io_uring is not available")
    if [[ -n "$why" ]]; then
        for sc in $ALL_SCENARIOS; do
            report na "$NAME" "$sc" "$why"
        done
        exit 0
    fi
fi
wanted integrity    && run integrity
wanted turns        && run turns
wanted concurrent   && run concurrent
wanted halfclose    && run halfclose
wanted reset-mid    && run reset-mid
wanted close-mid    && run close-mid
wanted no-read      && run no-read
wanted vanish       && run vanish
wanted idle-timeout && run idle-timeout --idle-timeout 1
if wanted trickle; then
    if has_trait event; then
        report na "$NAME" trickle "an event loop holds no thread for a trickling client"
    else
        run trickle --idle-timeout 1
    fi
fi
wanted mixed        && run mixed
wanted slow-reader  && run slow-reader
wanted never-reads  && run never-reads
wanted reset-early  && run reset-early
if wanted cap && ! na_for_queueing cap; then
    run cap --max-conns 4
fi
if wanted emfile && ! na_for_queueing emfile; then
    LAUNCH=(prlimit --nofile=64:64 --)
    run emfile --max-conns 1000
    LAUNCH=()
fi
wanted churn        && run churn
wanted signal-storm && run signal-storm
wanted default-bind && run default-bind
wanted restart      && run restart
wanted sigterm      && run sigterm
exit 0

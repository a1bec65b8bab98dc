#!/usr/bin/env bash
# Part 2's own checks, beyond the conformance suite: the servers really
# serve clients at the same time, reap every child, end every thread,
# behave as documented at their cap, the prefork parent replaces a child
# that dies, prefork children stop when their parent is killed outright,
# and the pools grow while all their workers are busy and
# shrink back to -w when idle. Clients: tests/part2_probe.c.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P2="$BUILD/part2-process-thread"
P2PROBE="$BUILD/tests/bin/part2_probe"
S=part2

p2() { "$P2PROBE" -p "$SRV_PORT" "$@"; }

# check NAME COMMAND...: run a check function, report its outcome (its
# exit status 3 means "does not apply", with the reason as its output).
check() {
    local name=$1 out
    shift
    out=$("$@" 2>&1)
    case $? in
        0) report pass "$S" "$name" ;;
        3) report na "$S" "$name" "$out" ;;
        *) report fail "$S" "$name" "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)" ;;
    esac
}

# with_server SERVER-ARGS... -- FUNCTION: a fresh server around a check;
# the server must then stop cleanly.
with_server() {
    local args=() rc
    while [[ "$1" != -- ]]; do args+=("$1"); shift; done
    shift
    start_server "${args[@]}" -p 0 || { echo "server did not start"; return 1; }
    "$@"
    rc=$?
    stop_server 2
    [[ "$SRV_STATUS" == 0 ]] || { echo "exit status $SRV_STATUS after SIGTERM"; rc=1; }
    cleanup_server_files
    return $rc
}

no_children_left() { [[ "$(child_count "$SRV_PID")" -eq 0 ]]; }

# ---- fork: every child reaped -----------------------------------------
fork_reaps_500() {
    local base
    p2 churn 1 >/dev/null || return 1       # the baseline counts what the
    wait_until 2 no_children_left           # first client makes it open
    base=$(settled_fd_count "$SRV_PID")
    p2 churn 500 4 || return 1
    wait_until 3 no_children_left ||
        { echo "$(zombie_count "$SRV_PID") zombies, $(child_count "$SRV_PID") children left"; return 1; }
    wait_until 2 fds_are "$SRV_PID" "$base" ||
        { echo "parent descriptors $(fd_count "$SRV_PID"), baseline $base"; return 1; }
}

fork_reaps_50_at_once() {
    p2 overlap 50 >/dev/null || { p2 overlap 50; return 1; }
    wait_until 3 no_children_left ||
        { echo "$(zombie_count "$SRV_PID") zombies, $(child_count "$SRV_PID") children left"; return 1; }
}

# ---- thread: every thread ends ----------------------------------------
threads_back_after_2000() {
    local base
    p2 churn 1 >/dev/null || return 1   # anything started lazily (a sanitizer's
    sleep 0.3                           # own thread) belongs in the baseline
    base=$(thread_count "$SRV_PID")
    p2 churn 2000 4 || return 1
    wait_until 3 threads_are "$SRV_PID" "$base" ||
        { echo "threads $(thread_count "$SRV_PID"), baseline $base"; return 1; }
}

# ---- all: N clients served at the same time -----------------------------
overlap_20() { p2 overlap 20 >/dev/null || { p2 overlap 20; return 1; }; }

# ---- the cap ----------------------------------------------------------------
cap_check() { p2 cap "$@" >/dev/null || { p2 cap "$@"; return 1; }; }

# ---- prefork: a killed child is replaced ----------------------------------
prefork_replaces() {
    local kids victim i
    wait_until 3 eval '[[ "$(child_count "$SRV_PID")" -eq 3 ]]' ||
        { echo "expected 3 children, found $(child_count "$SRV_PID")"; return 1; }
    read -r -a kids <<<"$(cat "/proc/$SRV_PID/task/"*/children)"
    victim=${kids[0]}
    kill -KILL "$victim"
    wait_until 3 eval '[[ "$(child_count "$SRV_PID")" -eq 3 ]] && ! kill -0 '"$victim"' 2>/dev/null' ||
        { echo "children after the kill: $(child_count "$SRV_PID") ($(zombie_count "$SRV_PID") zombies)"; return 1; }
    for ((i = 0; i < 3; i++)); do
        p2 overlap 3 >/dev/null || { echo "after the replacement:"; p2 overlap 3; return 1; }
    done
}

# ---- growing pools: more workers while all are busy, back to -w when idle
# A worker is a child process (prefork) or a thread (pool). The servers
# run with -w 2 --idle-retire 1. The pool's baseline is its thread count
# after a first client: the main thread, the 2 workers, and any thread a
# sanitizer starts lazily.
workers_prefork() { child_count "$SRV_PID"; }
workers_pool()    { thread_count "$SRV_PID"; }
worker_ids() {
    if [[ $1 == prefork ]]; then cat "/proc/$SRV_PID/task/"*/children; else ls "/proc/$SRV_PID/task"; fi |
        tr -s ' \n' ' '
}
workers_at_least() { [[ "$("$1")" -ge "$2" ]]; }
workers_are()      { [[ "$("$1")" -eq "$2" ]]; }

grows_and_shrinks() {
    local count=workers_$1 base=2 out held peak ids rc=0
    p2 churn 1 >/dev/null || return 1
    sleep 0.3
    [[ $1 == pool ]] && base=$(thread_count "$SRV_PID")
    wait_until 3 workers_are "$count" "$base" ||
        { echo "at start: $("$count") workers, expected $base"; return 1; }
    # The proof from the clients' side: 12 served while all 12 are connected.
    p2 overlap 12 >/dev/null || { p2 overlap 12; return 1; }
    # 12 sessions of 2 s held at once: the workers are counted while busy.
    out=$(mktemp)
    "$P2/client" -p "$SRV_PORT" -c 12 -n 2 --think 2000 --timeout 10000 >"$out" 2>&1 &
    held=$!
    wait_until 3 workers_at_least "$count" $((base + 10)) ||
        { echo "$("$count") workers while 12 sessions are held ($base at start)"; rc=1; }
    peak=$("$count")
    wait "$held" || { echo "the sessions failed: $(grep '^client:' "$out")"; rc=1; }
    rm -f "$out"
    [[ $rc == 0 ]] || return 1
    # Idle for --idle-retire (1 s): back to -w, every child reaped.
    wait_until 8 workers_are "$count" "$base" ||
        { echo "$("$count") workers 8 s after the sessions ended (peak $peak), expected $base"; return 1; }
    # ... and stays there with the same workers: none retires below -w (to
    # be replaced), a second retire time later.
    ids=$(worker_ids "$1")
    sleep 1.6
    [[ "$(worker_ids "$1")" == "$ids" ]] ||
        { echo "workers changed while idle at -w: $ids, then $(worker_ids "$1")"; return 1; }
    [[ "$(zombie_count "$SRV_PID")" -eq 0 ]] || { echo "$(zombie_count "$SRV_PID") zombies"; return 1; }
}

# With default flags (-w 4): 10 clients at once, and 200 connections in
# lockstep (each one's request k before any request k+1), all served.
overlap_10() { p2 overlap 10 >/dev/null || { p2 overlap 10; return 1; }; }
lockstep_200() { local out; out=$(p2 lockstep 200 10 1K) || { echo "$out"; return 1; }; }

# Under a 400 MiB address-space limit the pool runs out of 8 MiB thread
# stacks after a few tens of workers: pthread_create fails, the server
# goes on with the workers it has, and the queued clients are served
# later, none lost.
pool_create_failure() {
    local out rc=0
    start_server prlimit --as=$((400 * 1024 * 1024)) "$P2/server_pool" -w 2 -p 0 \
        2>/dev/null || { echo "the server cannot start under a 400 MiB address-space limit (a sanitizer build?)"; return 3; }
    out=$("$P2/client" -p "$SRV_PORT" -c 80 -n 2 --think 500 --timeout 10000 2>&1) ||
        { echo "$(grep '^client:' <<<"$out")"; rc=1; }
    stop_server 2
    [[ "$SRV_STATUS" == 0 ]] || { echo "exit status $SRV_STATUS after SIGTERM"; rc=1; }
    grep -q "create_failed=[1-9]" "$SRV_OUT" ||
        { echo "no pthread_create failed: $(tail -1 "$SRV_OUT")"; rc=1; }
    cleanup_server_files
    return $rc
}

# ---- SIGTERM leaves no child behind ---------------------------------------
# Clients hold sessions; the server is stopped under them; every process
# of its tree must be gone.
stop_leaves_no_child() {
    local server=("$@") pids p held
    start_server "${server[@]}" -p 0 || { echo "server did not start"; return 1; }
    "$BUILD/tests/bin/echo_probe" -p "$SRV_PORT" idle-drop 10000 >/dev/null &
    held=$!
    "$BUILD/tests/bin/echo_probe" -p "$SRV_PORT" idle-drop 10000 >/dev/null &
    held="$held $!"
    sleep 0.3
    pids=$(tree_pids "$SRV_PID")
    stop_server 2
    # shellcheck disable=SC2086
    kill $held 2>/dev/null
    # shellcheck disable=SC2086
    wait $held 2>/dev/null
    cleanup_server_files
    [[ "$SRV_STATUS" == 0 ]] || { echo "exit status $SRV_STATUS"; return 1; }
    for p in $pids; do
        if kill -0 "$p" 2>/dev/null; then echo "process $p still alive"; return 1; fi
    done
}

# ---- prefork: the parent killed outright ----------------------------------
# SIGKILL gives the parent no chance to stop its children: each must stop
# by itself (it asked for a SIGTERM at its parent's death) rather than go
# on accepting, orphaned.
prefork_parent_killed() {
    local kids k left=""
    start_server "$P2/server_prefork" -w 3 -p 0 || { echo "server did not start"; return 1; }
    wait_until 3 eval '[[ "$(child_count "$SRV_PID")" -eq 3 ]]' ||
        { echo "expected 3 children, found $(child_count "$SRV_PID")"; return 1; }
    kids=$(cat "/proc/$SRV_PID/task/"*/children)
    kill -KILL "$SRV_PID"
    wait_exit "$SRV_PID" 5 2>/dev/null   # (not bash's "Killed" line)
    cleanup_server_files
    for k in $kids; do
        wait_until 3 test ! -e "/proc/$k" || left="$left $k"
    done
    # shellcheck disable=SC2086  # (left only if the check failed)
    [[ -z "$left" ]] || { kill -KILL $left 2>/dev/null; echo "children still serving, orphaned:$left"; return 1; }
}

# ---- thread: a failed pthread_create turns one client away --------------
# Under a small address-space limit, 64 MiB stacks run out after a few
# threads: the clients beyond must be closed, not hang, and the server goes on.
thread_create_failure() {
    local out rc=0
    # A sanitizer build reserves terabytes of address space: it cannot run
    # under this limit at all, so the check does not apply to it.
    start_server prlimit --as=$((400 * 1024 * 1024)) "$P2/server_thread" --stack-kib 65536 -p 0 \
        2>/dev/null || { echo "the server cannot start under a 400 MiB address-space limit (a sanitizer build?)"; return 3; }
    out=$(p2 flood 12) || { echo "$out"; rc=1; }
    stop_server 2
    [[ "$SRV_STATUS" == 0 ]] || { echo "exit status $SRV_STATUS after SIGTERM"; rc=1; }
    grep -q "create_failed=[1-9]" "$SRV_OUT" ||
        { echo "no pthread_create failed: $(tail -1 "$SRV_OUT")"; rc=1; }
    cleanup_server_files
    return $rc
}

check "fork: no zombie after 500 short sessions; parent descriptors at baseline" \
    with_server "$P2/server_fork" -- fork_reaps_500
check "fork: 50 children exit at once, all reaped" \
    with_server "$P2/server_fork" -- fork_reaps_50_at_once
check "thread: thread count back to baseline after 2,000 sessions" \
    with_server "$P2/server_thread" -- threads_back_after_2000
check "fork: 20 clients served at the same time" with_server "$P2/server_fork" -- overlap_20
check "thread: 20 clients served at the same time" with_server "$P2/server_thread" -- overlap_20
check "prefork -w 20: 20 clients served at the same time" \
    with_server "$P2/server_prefork" -w 20 -- overlap_20
check "pool -w 20: 20 clients served at the same time" \
    with_server "$P2/server_pool" -w 20 -- overlap_20
check "fork cap: --max-conns 3, 2 more clients closed at once" \
    with_server "$P2/server_fork" --max-conns 3 -- cap_check 3 0 2
check "thread cap: --max-conns 3, 2 more clients closed at once" \
    with_server "$P2/server_thread" --max-conns 3 -- cap_check 3 0 2
check "prefork cap: -w 2 --max-workers 2 (fixed), 2 more clients wait in the listen queue, served next" \
    with_server "$P2/server_prefork" -w 2 --max-workers 2 -- cap_check 2 2 0
check "pool full queue: -w 2 --max-workers 2 (fixed) --queue 2, 2 queued and served next, 2 more closed at once" \
    with_server "$P2/server_pool" -w 2 --max-workers 2 --queue 2 -- cap_check 2 2 2
check "prefork -w 2 grows: 12 sessions at once on 12+ children, back to 2 children when idle, no zombie" \
    with_server "$P2/server_prefork" -w 2 --idle-retire 1 -- grows_and_shrinks prefork
check "pool -w 2 grows: 12 sessions at once on 12+ worker threads, back to 2 when idle" \
    with_server "$P2/server_pool" -w 2 --idle-retire 1 -- grows_and_shrinks pool
for srv in server_prefork server_pool; do
    check "${srv#server_} default flags: 10 clients served at the same time" \
        with_server "$P2/$srv" -- overlap_10
    check "${srv#server_} default flags: 200 connections x 10 requests of 1 KiB in lockstep, no error" \
        with_server "$P2/$srv" -- lockstep_200
done
check "prefork: a killed child is replaced, service continues" \
    with_server "$P2/server_prefork" -w 3 -- prefork_replaces
for srv in server_fork server_thread server_prefork server_pool; do
    check "${srv#server_}: SIGTERM with sessions open, nothing left running" \
        stop_leaves_no_child "$P2/$srv"
done
check "prefork: the parent killed outright (SIGKILL), every child stops too" \
    prefork_parent_killed
if command -v prlimit >/dev/null; then
    check "thread: failed pthread_create closes that client, the server goes on" \
        thread_create_failure
else
    report na "$S" "thread: failed pthread_create" "prlimit (util-linux) not installed"
fi
if command -v prlimit >/dev/null; then
    check "pool: failed pthread_create while growing, the server goes on, every client served" \
        pool_create_failure
else
    report na "$S" "pool: failed pthread_create" "prlimit (util-linux) not installed"
fi

#!/usr/bin/env bash
# How new connections are spread over the loops of part 3:
#   - server_epoll_workers -w 4, in each of its modes (hand-off,
#     --reuseport, --exclusive): 1,000 connections arriving together are
#     all served, the stop line's per-worker accept counts add up to the
#     connections served, and every worker accepts some of them;
#   - the check itself rejects a stop line whose counts are all one
#     worker's, or do not add up (so it can fail);
#   - --exclusive and --reuseport together are refused (exit 2);
#   - server_epoll --procs 3: one banner, three children, each with its
#     soft descriptor limit raised to the hard one; 300 connections are
#     served, every process accepts some (the stop line's accept counts),
#     and they add up; SIGTERM stops every child, and no process, zombie
#     or listening socket is left;
#   - a child that dies makes the parent stop the others and exit non-zero;
#   - a parent killed outright (SIGKILL) leaves no child serving, orphaned;
#   - a child that will not stop is killed after 3 s, and the parent says
#     so and exits non-zero;
#   - a bad --procs is refused (exit 2).
# Bounds are generous: they catch a hang or a lost child, not a speed.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P3="$BUILD/part3-multiplexing"
CLIENT="$P3/client"
SUITE=part3-balance
TMP=$(mktemp -d "${TMPDIR:-/tmp}/balance.XXXXXX")
cleanup() {
    [[ -n "$SRV_PID" ]] && kill -KILL "$SRV_PID" 2>/dev/null
    local k
    for k in ${KIDS:-}; do kill -KILL "$k" 2>/dev/null; done
    cleanup_server_files
    rm -rf "$TMP"
}
trap cleanup EXIT
KIDS=""

result() {   # result NAME WHY: pass when WHY is empty
    if [[ -z "$2" ]]; then report pass "$SUITE" "$1"; else report fail "$SUITE" "$1" "$2"; fi
}

# spread_problem LINE COUNT EXPECTED: why the stop line LINE does not show
# COUNT loops that each accepted some of EXPECTED connections, counts that
# add up to its connections=, or "" when it does.
spread_problem() {
    local line=$1 count=$2 expected=$3 conns accepts sum=0 n
    conns=$(sed -n 's/.* connections=\([0-9]*\) .*/\1/p' <<<"$line")
    accepts=$(sed -n 's/.* accepts=\([0-9/]*\).*/\1/p' <<<"$line")
    [[ -n "$conns" && -n "$accepts" ]] || { echo "no connections= or accepts= in: $line"; return; }
    local -a a
    IFS=/ read -r -a a <<<"$accepts"
    [[ ${#a[@]} -eq "$count" ]] || { echo "$count counts wanted, got accepts=$accepts"; return; }
    for n in "${a[@]}"; do
        ((n > 0)) || { echo "a loop accepted none: accepts=$accepts"; return; }
        sum=$((sum + n))
    done
    ((sum == conns)) || { echo "accepts=$accepts add up to $sum, not connections=$conns"; return; }
    ((conns == expected)) || echo "connections=$conns, not $expected"
}

# run_client OUTBASE ARGS...: the client under a time limit; sets RC.
run_client() {
    local base=$1
    shift
    RC=0
    timeout -k 5 60 "$CLIENT" -p "$SRV_PORT" "$@" --csv >"$base.csv" 2>"$base.err" || RC=$?
}
stop_line() { grep ': stopped: ' "$SRV_OUT" | tail -1; }

if [[ ! -x "$CLIENT" || ! -x "$P3/server_epoll_workers" || ! -x "$P3/server_epoll" ]]; then
    report fail "$SUITE" "built" "no part 3 servers or client in $P3: run make"
    exit 1
fi

# ---- 1. the check can fail ----------------------------------------------
doctored="x: stopped: connections=1000 refused=0 idle_closed=0 bytes=1 workers=4"
why=""
[[ -n "$(spread_problem "$doctored accepts=1000/0/0/0" 4 1000)" ]] ||
    why="all in one worker passed"
[[ -n "$(spread_problem "$doctored accepts=250/250/250/249" 4 1000)" ]] ||
    why="$why; counts adding to 999 passed"
[[ -z "$(spread_problem "$doctored accepts=250/250/250/250" 4 1000)" ]] ||
    why="$why; an even spread failed"
result "the spread check rejects one worker's 1000/0/0/0 and counts that do not add up" "${why#; }"

# ---- 2. every mode of server_epoll_workers spreads 1,000 connections -------
# They arrive together (no --ramp) and each makes 5 requests, so that the
# workers are busy while others arrive: an idle --exclusive set hands
# nearly every connection to the first worker in the socket's wait queue
# (docs/part3.md), and that is not what this checks.
for mode in handoff reuseport exclusive; do
    flags=()
    [[ $mode != handoff ]] && flags=("--$mode")
    why=""
    if start_server "$P3/server_epoll_workers" -p 0 -w 4 "${flags[@]}"; then
        run_client "$TMP/$mode" -c 1000 -n 5 -t 2
        [[ $RC -eq 0 ]] || why="client exit $RC: $(tail -2 "$TMP/$mode.err" | tr '\n' ' ')"
        stop_server 5
        [[ "$SRV_STATUS" == 0 ]] || why="$why; stop: $SRV_STATUS"
        [[ -z "$why" ]] && why=$(spread_problem "$(stop_line)" 4 1000)
        [[ -z "$why" ]] && echo "  $mode: $(stop_line | sed 's/.* workers=/workers=/')"
    else
        why="did not start"
    fi
    cleanup_server_files
    result "epoll-workers -w 4 (${mode}): 1000 connections, every worker accepts some, counts add up" "${why#; }"
done

why=""
"$P3/server_epoll_workers" -p 0 --exclusive --reuseport >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 ]] || why="exit $rc, not 2"
result "--exclusive with --reuseport is refused (exit 2)" "$why"

# ---- 3. server_epoll --procs 3 -------------------------------------------
why=""
if start_server "$P3/server_epoll" -p 0 --procs 3; then
    wait_until 5 test "$(child_count "$SRV_PID")" -eq 3 ||
        why="$(child_count "$SRV_PID") children, not 3"
    KIDS=$(tree_pids "$SRV_PID" | tail -n +2 | tr '\n' ' ')
    for k in $KIDS; do
        soft=$(awk '/^Max open files/ { print $4 }' "/proc/$k/limits")
        hard=$(awk '/^Max open files/ { print $5 }' "/proc/$k/limits")
        [[ "$soft" == "$hard" ]] || why="$why; child $k: soft limit $soft, hard $hard"
    done
    run_client "$TMP/procs" -c 300 -n 2 -t 2
    [[ $RC -eq 0 ]] || why="$why; client exit $RC: $(tail -2 "$TMP/procs.err" | tr '\n' ' ')"
    port=$SRV_PORT
    stop_server 5
    [[ "$SRV_STATUS" == 0 ]] || why="$why; stop: $SRV_STATUS"
    [[ $(grep -c ': listening on ' "$SRV_OUT") -eq 1 ]] || why="$why; not one banner line"
    [[ -z "$why" ]] && why=$(spread_problem "$(stop_line)" 3 300)
    [[ -z "$why" ]] && echo "  procs: $(stop_line | sed 's/.* procs=/procs=/')"
    for k in $KIDS; do
        [[ -e "/proc/$k" ]] && why="$why; child $k still there ($(awk '{print $3}' "/proc/$k/stat"))"
    done
    listening=$(awk -v p=":$(printf '%04X' "$port")" \
                '$4 == "0A" && substr($2, length($2) - 4) == p' /proc/net/tcp | wc -l)
    [[ "$listening" -eq 0 ]] || why="$why; $listening sockets still listen on $port"
else
    why="did not start"
fi
cleanup_server_files
KIDS=""
result "epoll --procs 3: 3 children at the hard descriptor limit, 300 connections, every process accepts some, SIGTERM leaves no process or socket" "${why#; }"

# ---- 4. --procs 3 when something goes wrong --------------------------------
# start_procs3: server_epoll --procs 3 running with its 3 children, listed
# in KIDS.
start_procs3() {
    start_server "$P3/server_epoll" -p 0 --procs 3 &&
        wait_until 5 test "$(child_count "$SRV_PID")" -eq 3 || return 1
    KIDS=$(tree_pids "$SRV_PID" | tail -n +2 | tr '\n' ' ')
}
# parent_failed WHAT: why the parent's exit (after wait_exit) is not the
# non-zero status WHAT calls for; nothing when it is.
parent_failed() {
    [[ "$EXIT_STATUS" != 0 && "$EXIT_STATUS" != timeout ]] ||
        printf '; parent exit status %s %s (want non-zero)' "$EXIT_STATUS" "$1"
}
# kids_left SECONDS: each child of KIDS still there after SECONDS.
kids_left() {
    local k
    for k in $KIDS; do
        wait_until "$1" test ! -e "/proc/$k" || printf '; child %s still there' "$k"
    done
}
# end_procs_check NAME: report, leaving nothing behind (a failed check may
# leave the parent or children running, or stopped).
end_procs_check() {
    local k
    if [[ -n "$SRV_PID" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
        kill -KILL "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    for k in $KIDS; do kill -CONT "$k" 2>/dev/null; kill -KILL "$k" 2>/dev/null; done
    SRV_PID="" KIDS=""
    cleanup_server_files
    result "$1" "${why#; }"
}

why="did not start with 3 children"
if start_procs3; then
    read -r victim _ <<<"$KIDS"
    kill -KILL "$victim"
    wait_exit "$SRV_PID" 5
    why="$(parent_failed "after a child died")$(kids_left 2)"
fi
end_procs_check "epoll --procs 3: a child killed, the parent stops the others and exits non-zero"

why="did not start with 3 children"
if start_procs3; then
    kill -KILL "$SRV_PID"
    wait_exit "$SRV_PID" 5 2>/dev/null   # (not bash's "Killed" line)
    why=$(kids_left 3)
fi
end_procs_check "epoll --procs 3: the parent killed outright (SIGKILL), every child stops too"

# A child that does not stop (here: stopped by SIGSTOP) is killed after the
# parent's 3 s, and the parent says so and exits non-zero.
why="did not start with 3 children"
if start_procs3; then
    read -r victim _ <<<"$KIDS"
    kill -STOP "$victim"
    kill -TERM "$SRV_PID"
    wait_exit "$SRV_PID" 10
    why=$(parent_failed "with a child that would not stop")
    grep -q "1 process(es) did not stop within 3 s: killed" "$SRV_OUT" "$SRV_OUT.err" ||
        why="$why; no line about the killed child: $(tail -2 "$SRV_OUT.err" | tr '\n' ' ')"
    why="$why$(kids_left 2)"
fi
end_procs_check "epoll --procs 3: a child that will not stop is killed after 3 s, the parent exits non-zero"

why=""
for bad in 0 -1 x 2000; do
    "$P3/server_epoll" -p 0 --procs "$bad" >/dev/null 2>&1
    rc=$?
    [[ $rc -eq 2 ]] || why="$why; --procs $bad: exit $rc, not 2"
done
result "a bad --procs is refused (exit 2)" "${why#; }"

#!/usr/bin/env bash
# Part 3's client in open loop (--rate), against servers whose latency is
# known (tests/delay_echo holds every reply 20 ms):
#   - the schedule is kept: every request sent, none skipped, each
#     connection's requests reach the server in order and evenly spaced;
#   - a server too slow for the rate: every request still sent (late, not
#     skipped), latency from the schedule grows, from the send it does not;
#   - corrected latency is never below uncorrected, at every percentile;
#   - Poisson arrivals: about the offered number of requests;
#   - --series writes one line per interval that adds up to the requests;
#   - a client stopped in the middle says it could not keep its schedule;
#   - closed loop is unchanged: the same CSV columns first, the new ones
#     appended and empty, the usual latency line;
#   - bad open-loop options are refused with exit 2.
# Bounds are generous: they catch a hang, a skip or a burst, not a speed.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

P3="$BUILD/part3-multiplexing"
CLIENT="$P3/client"
DELAY="$BUILD/tests/bin/delay_echo"
SUITE=part3-openloop
TMP=$(mktemp -d "${TMPDIR:-/tmp}/openloop.XXXXXX")
CLI_PID=""
cleanup() {
    if [[ -n "$CLI_PID" ]]; then
        kill -CONT "$CLI_PID" 2>/dev/null
        kill -KILL "$CLI_PID" 2>/dev/null
    fi
    [[ -n "$SRV_PID" ]] && kill -KILL "$SRV_PID" 2>/dev/null
    cleanup_server_files
    rm -rf "$TMP"
}
trap cleanup EXIT

OLD_HEADER="connections,conn_failed,requests,errors,timeouts,bytes_sent,bytes_recv,wall_s,req_per_s,mb_s_sent,mb_s_recv,lat_avg_us,lat_p50_us,lat_p90_us,lat_p99_us,lat_p999_us,lat_max_us,first_avg_ms,first_max_ms,sess_avg_s,sess_max_s,cpu_s"
NEW_COLS="raw_p50_us,raw_p99_us,raw_p999_us,offered_rps,achieved_rps,late"

# field NAME CSVFILE: the value of column NAME in the row (line 2).
field() {
    awk -F, -v k="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
                       NR == 2 && c { print $c }' "$2"
}
# ge A B / between X LO HI: numeric comparisons (empty is false).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 >= b + 0) }'; }
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x + 0 >= lo && x + 0 <= hi) }'; }
# lat_values LABEL ERRFILE: the six numbers of a summary latency line.
lat_values() {
    grep -m1 "$1" "$2" | sed 's/.*: //' | awk '{ for (i = 2; i <= NF; i += 2) printf "%s ", $i }'
}
# corrected_not_below ERRFILE: every corrected figure >= its uncorrected one.
corrected_not_below() {
    local -a c r
    read -r -a c <<<"$(lat_values 'corrected (from the schedule)' "$1")"
    read -r -a r <<<"$(lat_values 'uncorrected (from the send)' "$1")"
    [[ ${#c[@]} -eq 6 && ${#r[@]} -eq 6 ]] || { echo "no latency lines"; return 1; }
    local i
    for i in 0 1 2 3 4 5; do
        ge "${c[$i]}" "${r[$i]}" || { echo "corrected ${c[*]} < uncorrected ${r[*]}"; return 1; }
    done
}
# run_client OUTBASE ARGS...: the client under a time limit; stdout to
# OUTBASE.csv, stderr to OUTBASE.err; sets RC.
run_client() {
    local base=$1
    shift
    RC=0
    timeout -k 5 60 "$CLIENT" "$@" >"$base.csv" 2>"$base.err" || RC=$?
}
result() {   # result NAME WHY: pass when WHY is empty
    if [[ -z "$2" ]]; then report pass "$SUITE" "$1"; else report fail "$SUITE" "$1" "$2"; fi
}

if [[ ! -x "$CLIENT" || ! -x "$DELAY" ]]; then
    report fail "$SUITE" "built" "no $CLIENT or $DELAY: run make"
    exit 1
fi

# ---- 1. the schedule is kept against a server that keeps up -------------
# 10 connections x 20 requests/s each = 200/s for 2 s: fixed arrivals put
# exactly 40 requests on each connection's schedule, 50 ms apart.
check_kept() {
    local name="200 requests/s over 10 connections for 2 s, replies held 20 ms: schedule kept"
    local why="" b="$TMP/kept" log="$TMP/kept.log"
    if ! start_server "$DELAY" -p 0 -d 20 -l "$log"; then
        result "$name" "server did not start"; return
    fi
    run_client "$b" -p "$SRV_PORT" -c 10 -t 1 -d 2 --rate 200 --csv --series "$TMP/kept.series"
    stop_server 2
    local req ach late raw50
    req=$(field requests "$b.csv") ach=$(field achieved_rps "$b.csv")
    late=$(field late "$b.csv") raw50=$(field raw_p50_us "$b.csv")
    if [[ $RC != 0 ]]; then
        why="client exit $RC: $(tail -n 2 "$b.err")"
    elif [[ "$req" != 400 || "$(field errors "$b.csv")" != 0 ]]; then
        why="requests=$req errors=$(field errors "$b.csv"), want 400 and 0"
    elif [[ "$(wc -l <"$log")" -ne 400 ]]; then
        why="the server saw $(wc -l <"$log") requests, want 400"
    elif ! between "$ach" 160 240; then
        why="achieved $ach requests/s for 200 offered"
    elif ! between "$late" 0 40; then
        why="$late of 400 sent late against a server that keeps up"
    elif ! between "$raw50" 19000 60000; then
        why="uncorrected p50 $raw50 us, the server holds replies 20,000 us"
    elif [[ "$(field offered_rps "$b.csv")" != 200 ]]; then
        why="offered_rps=$(field offered_rps "$b.csv")"
    fi
    result "$name" "$why"

    # Each connection: 40 requests, in order, about 50 ms apart (the
    # median gap; a skipped request would show as a 100 ms gap, a burst as
    # gaps near 0).
    name="each connection's requests reach the server 50 ms apart, none missing"
    why=$(sort -k1,1n -k2,2n "$log" | awk '
        $1 != conn { if (NR > 1) check(); conn = $1; n = 0 }
        { t[++n] = $2 }
        function check(   i, g, m, k, tmp) {
            if (n != 40) { printf "connection %s: %d requests, want 40\n", conn, n; bad = 1; return }
            m = 0
            for (i = 2; i <= n; i++) g[++m] = t[i] - t[i - 1]
            for (i = 2; i <= m; i++) { tmp = g[i]; for (k = i - 1; k >= 1 && g[k] > tmp; k--) g[k + 1] = g[k]; g[k + 1] = tmp }
            if (g[int(m / 2)] < 40000 || g[int(m / 2)] > 60000) {
                printf "connection %s: median gap %d us, want 50000\n", conn, g[int(m / 2)]; bad = 1
            }
        }
        END { if (NR) check(); if (!NR) print "no requests logged" }' | head -n 3)
    result "$name" "$why"

    name="corrected latency >= uncorrected at every percentile (server keeps up)"
    result "$name" "$(corrected_not_below "$b.err")"

    name="--series: one line per 100 ms, adding up to the requests"
    why=""
    local s="$TMP/kept.series" sum lines
    if [[ ! -s "$s" ]]; then
        why="no series file"
    elif [[ "$(head -n 1 "$s")" != "t_s,requests,req_per_s,p50_us,p99_us,max_us" ]]; then
        why="header: $(head -n 1 "$s")"
    else
        sum=$(awk -F, 'NR > 1 { s += $2 } END { print s + 0 }' "$s")
        lines=$(($(wc -l <"$s") - 1))
        if [[ "$sum" != 400 ]]; then
            why="the intervals add up to $sum requests, want 400"
        elif ((lines < 20 || lines > 40)); then
            why="$lines intervals for a 2 s run"
        elif ! awk -F, 'NR > 1 && $2 > 0 && !($5 >= 19000) { bad = 1 } END { exit bad }' "$s"; then
            why="an interval's p99 below the server's 20 ms"
        fi
    fi
    result "$name" "$why"
    cleanup_server_files
}

# ---- 2. a server too slow for the rate ----------------------------------
# One connection, 200 requests/s, replies held 20 ms: the server answers 50
# a second. All 60 requests must still go out (late), latency from the
# schedule grows to most of a second, latency from the send stays ~20 ms.
check_overload() {
    local name="a server slower than the rate: every request sent late, none skipped"
    local why="" b="$TMP/slow"
    if ! start_server "$DELAY" -p 0 -d 20; then
        result "$name" "server did not start"; return
    fi
    run_client "$b" -p "$SRV_PORT" -c 1 -t 1 -n 60 --rate 200 --csv
    stop_server 2
    local req late ach p99 raw99 mx
    req=$(field requests "$b.csv") late=$(field late "$b.csv") ach=$(field achieved_rps "$b.csv")
    p99=$(field lat_p99_us "$b.csv") raw99=$(field raw_p99_us "$b.csv") mx=$(field lat_max_us "$b.csv")
    if [[ $RC != 0 ]]; then
        why="client exit $RC: $(tail -n 2 "$b.err")"
    elif [[ "$req" != 60 ]]; then
        why="requests=$req, want 60"
    elif ! between "$late" 40 60; then
        why="late=$late, want most of the 60"
    elif ! between "$ach" 1 120; then
        why="achieved $ach requests/s: the server cannot do more than 50"
    elif ! ge "$mx" 400000; then
        why="corrected max $mx us: the last request was due ~300 ms in and answered ~1.2 s in"
    elif ! ge "$p99" "$(awk -v r="$raw99" 'BEGIN { print 5 * r }')"; then
        why="corrected p99 $p99 us not far above uncorrected $raw99 us"
    elif ! between "$(field raw_p50_us "$b.csv")" 19000 60000; then
        why="uncorrected p50 $(field raw_p50_us "$b.csv") us, want ~20,000"
    fi
    result "$name" "$why"
    name="corrected latency >= uncorrected at every percentile (server too slow)"
    result "$name" "$(corrected_not_below "$b.err")"
    cleanup_server_files
}

# ---- 3. Poisson arrivals ---------------------------------------------------
check_poisson() {
    local name="--arrival poisson: about the offered count, corrected >= uncorrected"
    local why="" b="$TMP/poisson"
    if ! start_server "$P3/server_epoll" -p 0; then
        result "$name" "server did not start"; return
    fi
    run_client "$b" -p "$SRV_PORT" -c 4 -t 1 -d 1 --rate 400 --arrival poisson --csv
    stop_server 2
    local req
    req=$(field requests "$b.csv")
    if [[ $RC != 0 ]]; then
        why="client exit $RC: $(tail -n 2 "$b.err")"
    elif ! between "$req" 280 520; then
        why="requests=$req for 400/s over 1 s"
    elif ! grep -q "open loop (poisson arrivals)" "$b.err"; then
        why="the summary does not say poisson"
    else
        why=$(corrected_not_below "$b.err")
    fi
    result "$name" "$why"
    cleanup_server_files
}

# ---- 4. a client that cannot keep its schedule says so -------------------
# 50 connections at 20 requests/s each; the client is stopped for 300 ms
# in the middle, so its timers fire late: it must say the client, not the
# server, was slow.
check_lagging_client() {
    local name="a client stopped for 300 ms warns that it could not keep its schedule"
    local why="" b="$TMP/lag"
    if ! start_server "$P3/server_epoll" -p 0; then
        result "$name" "server did not start"; return
    fi
    # (not under timeout(1): SIGSTOP must reach the client; wait_exit bounds it)
    "$CLIENT" -p "$SRV_PORT" -c 50 -t 1 -d 2 --rate 1000 >"$b.out" 2>&1 &
    CLI_PID=$!
    sleep 0.8
    kill -STOP "$CLI_PID" 2>/dev/null
    sleep 0.3
    kill -CONT "$CLI_PID" 2>/dev/null
    wait_exit "$CLI_PID" 30
    [[ "$EXIT_STATUS" == timeout ]] && kill -KILL "$CLI_PID" 2>/dev/null
    CLI_PID=""
    stop_server 2
    if [[ "$EXIT_STATUS" != 0 ]]; then
        why="client exit $EXIT_STATUS: $(tail -n 2 "$b.out")"
    elif ! grep -q "WARNING: this client could not keep its own schedule" "$b.out"; then
        why="no warning: $(grep -m1 'schedule' "$b.out")"
    fi
    result "$name" "$why"
    cleanup_server_files
}

# ---- 5. closed loop unchanged ----------------------------------------------
check_closed() {
    local name="closed loop: the same columns first, the new ones appended and empty"
    local why="" b="$TMP/closed"
    if ! start_server "$P3/server_epoll" -p 0; then
        result "$name" "server did not start"; return
    fi
    run_client "$b" -p "$SRV_PORT" -c 4 -n 50 --csv
    stop_server 2
    local row tail
    row=$(sed -n 2p "$b.csv")
    tail=$(awk -F, '{ print $23 $24 $25 $26 $27 $28 "|" NF }' <<<"$row")
    if [[ $RC != 0 ]]; then
        why="client exit $RC"
    elif [[ "$(head -n 1 "$b.csv")" != "$OLD_HEADER,$NEW_COLS" ]]; then
        why="header: $(head -n 1 "$b.csv")"
    elif [[ "$tail" != "|28" ]]; then
        why="the new columns are not empty (or not 28 fields): $row"
    elif [[ "$(field requests "$b.csv")" != 200 ]] || ! ge "$(field lat_p99_us "$b.csv")" 1; then
        why="requests or latency missing: $row"
    elif ! grep -q "^  latency us: avg " "$b.err" || grep -q "open loop\|corrected" "$b.err"; then
        why="the human summary changed: $(cat "$b.err")"
    fi
    result "$name" "$why"
    cleanup_server_files
}

# ---- 6. bad options ----------------------------------------------------------
check_bad_options() {
    local args rc bad=""
    for args in "--rate 0" "--rate -5" "--rate x" "--rate 100 --arrival sometimes" \
                "--rate 100 --think 5" "--rate 100 --idle" "--series-ms 0"; do
        rc=0
        # shellcheck disable=SC2086  # split on purpose
        timeout -k 5 10 "$CLIENT" -p 1 $args >/dev/null 2>&1 || rc=$?
        [[ $rc == 2 ]] || bad="$bad '$args' -> $rc;"
    done
    result "bad open-loop options exit 2" "$bad"
}

check_kept
check_overload
check_poisson
check_lagging_client
check_closed
check_bad_options

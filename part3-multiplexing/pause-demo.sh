#!/usr/bin/env bash
# pause-demo.sh - coordinated omission, shown: a server frozen 100 ms in
# every second, measured closed loop and open loop (docs/part3.md, exercise
# "A server that stalls"; docs/methodology.md, "Closed loop and open loop").
#
#   ./pause-demo.sh                       10 connections, 5 s per run, 20,000 requests/s
#   ./pause-demo.sh -d 10 --rate 10000 --out /tmp/demo
#   ./pause-demo.sh --serve SECS          only the paused server (timing.sh, table part3_f)
#
# Starts ./server_epoll on a free port and runs the client four times:
# closed loop and open loop (--rate), against the server running freely and
# against the same server stopped (SIGSTOP) for 100 ms and continued
# (SIGCONT) once a second. Only the server this script started is
# signalled, by the pid in its banner, and it is always continued before
# the script exits. Prints one table: closed-loop p99, open-loop p99 from
# the schedule (corrected) and from the send (uncorrected). Keeps every
# client's CSV line and summary in the --out directory, and the time series
# of the paused open-loop run (paused-open-series.csv: requests/s and p99
# per 100 ms).
#
# The rate must stay well below the server's closed-loop peak on this
# machine (the closed-loop rows show it): the open-loop client then asks
# for the same requests whether or not the server stalls.
#
# --serve SECS starts ./server_epoll -p 0 --idle-timeout 0 with this
# script's stdout and stderr (its banner names its own pid), pauses it the
# same way for at most SECS seconds, and exits when it exits, with its
# status. Part 3's timing.sh (table part3_f) runs it as a server.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SECS=5 RATE=20000 CONNS=10 OUT="" SERVE=""

usage() { sed -n '2,29s/^# \{0,1\}//p' "$0"; }
while (($#)); do
    case $1 in
        -d) SECS=${2:-}; shift 2 || break ;;
        --rate) RATE=${2:-}; shift 2 || break ;;
        -c) CONNS=${2:-}; shift 2 || break ;;
        --out) OUT=${2:-}; shift 2 || break ;;
        --serve) SERVE=${2:-}; shift 2 || break ;;
        -h|--help) usage; exit 0 ;;
        *) echo "pause-demo.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in "$SECS" "$RATE" "$CONNS"; do
    if [[ ! $v =~ ^[1-9][0-9]*$ ]]; then
        echo "pause-demo.sh: -d, --rate and -c want positive whole numbers" >&2
        exit 2
    fi
done
if [[ -n "$SERVE" ]]; then
    if [[ ! $SERVE =~ ^[1-9][0-9]*$ ]]; then
        echo "pause-demo.sh: --serve wants a positive whole number of seconds" >&2
        exit 2
    fi
    SECS=$SERVE
fi
((SECS <= 600)) || { echo "pause-demo.sh: -d and --serve at most 600 s" >&2; exit 2; }
SERVER="$here/server_epoll" CLIENT="$here/client"
if [[ ! -x "$SERVER" || ! -x "$CLIENT" ]]; then
    echo "pause-demo.sh: build first: make -C $here" >&2
    exit 2
fi
if [[ -z "$OUT" && -z "$SERVE" ]]; then
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/pause-demo.XXXXXX") || exit 1
fi
[[ -n "$SERVE" ]] || mkdir -p -- "$OUT" || exit 1

SRV_PID="" PAUSER_PID=""
stop_pauser() {
    if [[ -n "$PAUSER_PID" ]]; then
        kill -TERM "$PAUSER_PID" 2>/dev/null
        wait "$PAUSER_PID" 2>/dev/null
        PAUSER_PID=""
    fi
    # The pauser may have been stopped between its SIGSTOP and SIGCONT.
    [[ -n "$SRV_PID" ]] && kill -CONT "$SRV_PID" 2>/dev/null
}
cleanup() {
    local i
    stop_pauser
    if [[ -n "$SRV_PID" ]]; then
        kill -TERM "$SRV_PID" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SRV_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
        SRV_PID=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- SIGSTOP 100 ms in every second, for a bounded number of seconds --------
pause_server() {
    local n
    trap 'kill -CONT "$pid" 2>/dev/null; exit 0' TERM
    # (sleep in the background: the TERM trap then runs at once, not after it)
    for ((n = 0; n < SECS + 5; n++)); do
        sleep 0.9 &
        wait "$!"
        kill -STOP "$pid" 2>/dev/null || exit 0
        sleep 0.1 &
        wait "$!"
        kill -CONT "$pid" 2>/dev/null || exit 0
    done
}

# ---- --serve: only the paused server, for timing.sh ------------------------
if [[ -n "$SERVE" ]]; then
    "$SERVER" -p 0 --idle-timeout 0 &
    SRV_PID=$! pid=$!
    pause_server &
    PAUSER_PID=$!
    rc=0
    wait "$SRV_PID" || rc=$?
    SRV_PID=""
    stop_pauser
    exit "$rc"
fi

# ---- the server, on a free port; its pid from its banner ------------------
"$SERVER" -p 0 --idle-timeout 0 >"$OUT/server.out" 2>"$OUT/server.err" &
started=$!
port="" pid=""
for ((i = 0; i < 100; i++)); do
    line=$(head -n 1 "$OUT/server.out" 2>/dev/null)
    if [[ $line =~ listening\ on\ .*:([0-9]+)\ pid\ ([0-9]+)$ ]]; then
        port=${BASH_REMATCH[1]} pid=${BASH_REMATCH[2]}
        break
    fi
    kill -0 "$started" 2>/dev/null || break
    sleep 0.05
done
SRV_PID=$started
if [[ -z "$port" || "$pid" != "$started" ]]; then
    echo "pause-demo.sh: no banner from $SERVER (or not its own pid): $line" >&2
    exit 1
fi

# run NAME paused|free [client args...]: one client run, its CSV in OUT.
run() {
    local name=$1 mode=$2 rc=0
    shift 2
    if [[ $mode == paused ]]; then
        pause_server &
        PAUSER_PID=$!
    fi
    printf 'pause-demo: %-13s ' "$name" >&2
    timeout -k 5 $((SECS + 60)) "$CLIENT" -p "$port" -c "$CONNS" -t 1 -d "$SECS" --csv \
        "$@" >"$OUT/$name.csv" 2>"$OUT/$name.txt" || rc=$?
    stop_pauser
    if ((rc != 0)); then
        echo "client failed (exit $rc): $(tail -n 2 "$OUT/$name.txt")" >&2
        exit 1
    fi
    grep -h "WARNING" "$OUT/$name.txt" >&2
    echo "done" >&2
}

# field NAME RUN: a column of a run's CSV line, by name.
field() {
    awk -F, -v k="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i }
                       NR == 2 && c { print $c }' "$OUT/$2.csv"
}
us() { awk -v x="$1" 'BEGIN { if (x == "") print "-"; else printf "%.0f", x }'; }

echo "pause-demo: server_epoll pid $pid on port $port; $CONNS connections, 1 thread," \
     "$SECS s per run, open loop at $RATE requests/s; results in $OUT" >&2
run free-closed free
run free-open free --rate "$RATE"
run paused-closed paused
run paused-open paused --rate "$RATE" --series "$OUT/paused-open-series.csv"

{
    printf '| server | closed loop: requests/s | closed-loop p99 µs | open loop: achieved requests/s | late | open-loop p99 µs, corrected | open-loop p99 µs, uncorrected |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|\n'
    for m in free paused; do
        label=$m
        [[ $m == paused ]] && label="paused 100 ms/s"
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
            "$(us "$(field req_per_s "$m-closed")")" "$(us "$(field lat_p99_us "$m-closed")")" \
            "$(us "$(field achieved_rps "$m-open")")" "$(field late "$m-open")" \
            "$(us "$(field lat_p99_us "$m-open")")" "$(us "$(field raw_p99_us "$m-open")")"
    done
} | tee "$OUT/table.md"
echo "pause-demo: time series of the paused open-loop run: $OUT/paused-open-series.csv" >&2

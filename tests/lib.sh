# shellcheck shell=bash
# lib.sh - helpers for the test scripts: start and stop a server, count its
# descriptors, threads and children, report a check. Every wait is bounded.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$TESTS_DIR/.." && pwd)
BUILD=${O:-$REPO}
export PROBE="$BUILD/tests/bin/echo_probe"
SRV_PID=""
SRV_PORT=""
SRV_OUT=""

# help_if_asked "$@": -h or --help prints the script's header comment
# (its first comment block, after the #! line) and exits 0.
help_if_asked() {
    case "${1:-}" in
        -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    esac
}

# pass|fail|na SUITE NAME [REASON]: one line the runner counts.
report() {
    local status=$1 suite=$2 name=$3 reason=${4:-}
    case "$status" in
        pass) printf 'PASS %s: %s\n' "$suite" "$name" ;;
        fail) printf 'FAIL %s: %s - %s\n' "$suite" "$name" "$reason" ;;
        na)   printf 'N/A %s: %s - %s\n' "$suite" "$name" "$reason" ;;
    esac
}

# start_server COMMAND...: start it on a free port (the caller passes -p 0),
# wait up to 5 s for the banner; sets SRV_PID, SRV_PORT, SRV_OUT.
start_server() {
    SRV_OUT=$(mktemp "${TMPDIR:-/tmp}/srv.XXXXXX")
    "$@" >"$SRV_OUT" 2>"$SRV_OUT.err" &
    SRV_PID=$!
    SRV_PORT=""
    local i
    for ((i = 0; i < 100; i++)); do
        SRV_PORT=$(sed -n 's/^.*: listening on .*:\([0-9][0-9]*\) pid [0-9][0-9]*$/\1/p' "$SRV_OUT")
        [[ -n "$SRV_PORT" ]] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "no banner from: $*" >&2
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    return 1
}

# wait_exit PID SECONDS: wait for a child of this shell to end; sets
# EXIT_STATUS to its exit status, or "timeout". (Not in a $(...) subshell:
# only the shell that started a process can collect its status.)
EXIT_STATUS=""
wait_exit() {
    local pid=$1 limit=$2 i
    EXIT_STATUS=timeout
    for ((i = 0; i < limit * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            EXIT_STATUS=0
            wait "$pid" 2>/dev/null || EXIT_STATUS=$?
            return 0
        fi
        sleep 0.05
    done
}

# stop_server [SECONDS]: SIGTERM, wait (default 2 s); sets SRV_STATUS to the
# exit status or "timeout" (then the server is killed).
SRV_STATUS=""
stop_server() {
    local limit=${1:-2}
    SRV_STATUS=none
    [[ -n "$SRV_PID" ]] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    wait_exit "$SRV_PID" "$limit"
    SRV_STATUS=$EXIT_STATUS
    if [[ "$SRV_STATUS" == timeout ]]; then
        kill -KILL "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    SRV_PID=""
}

cleanup_server_files() {
    [[ -n "$SRV_OUT" ]] && rm -f "$SRV_OUT" "$SRV_OUT.err"
    SRV_OUT=""
}

# The server's process tree: the process and all its descendants.
tree_pids() {
    local pid=$1 kids k
    echo "$pid"
    kids=$(cat "/proc/$pid/task/"*/children 2>/dev/null)
    for k in $kids; do tree_pids "$k"; done
}

fd_count()    { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
thread_count() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
child_count() { local n; n=$(tree_pids "$1" | wc -l); echo $((n - 1)); }
zombie_count() {
    local p n=0
    for p in $(tree_pids "$1"); do
        [[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" == Z ]] && n=$((n + 1))
    done
    echo "$n"
}
# CPU seconds (user+sys) the process has used, its reaped children included.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"
}

# wait_until SECONDS COMMAND...: retry COMMAND every 50 ms until it succeeds.
wait_until() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}

# settled_fd_count PID: the process's descriptor count once it has stopped
# changing (three equal readings 100 ms apart, 4 s at most). A server closes
# a departed client's descriptor a moment after the client has gone, much
# later under a sanitizer or on a loaded machine: a baseline read too early
# counts it.
settled_fd_count() {
    local prev=-1 now same=0 i
    for ((i = 0; i < 40 && same < 2; i++)); do
        now=$(fd_count "$1")
        if [[ "$now" == "$prev" ]]; then same=$((same + 1)); else same=0; fi
        prev=$now
        sleep 0.1
    done
    echo "$now"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# never_reader_check PID PORT: backpressure. A client sends 32 MiB and
# reads nothing; the server must stop reading it once one chunk is owed,
# so ten other clients x 20 requests are still answered within 3 s and the
# server's RSS grows by less than 8 MiB. Sets NEVER_READER_WHY (empty when
# all that holds) and NEVER_READER_RSS_KIB (the growth).
never_reader_check() {
    local pid=$1 port=$2 hog out t0 t1 rss0 rss1
    NEVER_READER_WHY=""
    "$PROBE" -p "$port" integrity 64K >/dev/null
    rss0=$(rss_kib "$pid")
    "$PROBE" -p "$port" no-read 32M >/dev/null &
    hog=$!
    sleep 0.5
    t0=$(date +%s%N)
    out=$("$PROBE" -p "$port" --timeout 3000 concurrent 10 4K 20) || NEVER_READER_WHY="other clients: $out"
    t1=$(date +%s%N)
    rss1=$(rss_kib "$pid")
    kill "$hog" 2>/dev/null
    wait "$hog" 2>/dev/null
    NEVER_READER_RSS_KIB=$((rss1 - rss0))
    if [[ -z "$NEVER_READER_WHY" ]] && (((t1 - t0) / 1000000 > 3000)); then
        NEVER_READER_WHY="10 clients x 20 requests took $(((t1 - t0) / 1000000)) ms beside the hog"
    elif [[ -z "$NEVER_READER_WHY" ]] && ((NEVER_READER_RSS_KIB > 8192)); then
        NEVER_READER_WHY="RSS grew by $NEVER_READER_RSS_KIB KiB with a client that never reads"
    fi
}

fds_are() { [[ "$(fd_count "$1")" -eq "$2" ]]; }
threads_are() { [[ "$(thread_count "$1")" -eq "$2" ]]; }

# CPU seconds the server used between two readings, compared with a bound.
cpu_below() { awk -v a="$2" -v b="$1" -v max="$3" 'BEGIN { exit !(a - b < max) }'; }
cpu_used()  { awk -v a="$2" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# listens_on_loopback_only PORT: the only listening socket on PORT, in
# /proc/net/tcp and tcp6, is 127.0.0.1's (0100007F).
listens_on_loopback_only() {
    local hexport addrs
    hexport=$(printf '%04X' "$1")
    addrs=$(awk -v p=":$hexport" '$4 == "0A" && substr($2, length($2) - 4) == p { print $2 }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
    [[ "$addrs" == "0100007F:$hexport" ]] ||
        { echo "listening on ${addrs:-nothing} (want 0100007F:$hexport, 127.0.0.1 only)"; return 1; }
}

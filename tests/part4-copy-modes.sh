#!/usr/bin/env bash
# Part 4's own checks: the copy-modes server speaks the stream protocol
# (common/stream.h), not echo, so the echo conformance suite does not apply
# to it; these checks cover the same ground for it:
#   - the header parser alone (part4_probe parser);
#   - every mode delivers exactly the right bytes for sizes 1 B .. 1 MiB,
#     in stream and latency mode, and to a slow receiver;
#   - zero-copy: completions equal successful sends, no gap, nothing
#     unfinished, and a buffer is never reused before its completion (a
#     slow receiver keeps the whole pool in flight; an early reuse shows as
#     a wrong sequence number - checked by hand against a broken variant);
#     send-zc (io_uring) likewise: a notification for every send that
#     promised one, nothing unfinished. Where the kernel cannot do send-zc
#     the server says so at start-up and its checks are N/A with that line;
#   - (zero-copy and send-zc, one server each)
#     malformed, truncated and oversized headers get an error reply and the
#     server goes on; reset and close mid-stream, a client that never reads
#     (dropped at the idle timeout while others are served), the connection
#     cap, no descriptor leak, SIGTERM within 2 s with exit status 0,
#     and SIGINT/SIGTERM blocked in every connection thread;
#   - and the rest of the echo suite's scenarios, in this protocol, for
#     every mode: EMFILE under prlimit --nofile=64 with 80 clients (no
#     spinning, the extras turned away within a second, service resumes;
#     sendfile and send-zc also at 65, as they take two descriptors per
#     connection);
#     churn (10,000 connections ending gracefully, by reset or mid-header:
#     descriptors and threads back exactly); new sizes and tags pipelined
#     on one connection, so that content is replaced while the old may be
#     in flight (it caught, by hand, zero-copy freeing its buffers without
#     waiting for completions and sendfile rewriting its file); a storm of
#     SIGUSR1 and SIGCHLD at 1 kHz during traffic; and, once, the default
#     bind (127.0.0.1 only) and a restart on the same port while
#     connections are open.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

SUITE=part4
DIR="$BUILD/part4-copy-modes"
SERVER="$DIR/server"
CLIENT="$DIR/client"
P4PROBE="$BUILD/tests/bin/part4_probe"
MODES=(two-copy one-copy zero-copy sendfile)
# If this script is interrupted, take its server (only ours, by pid) along.
trap '[[ -n "$SRV_PID" ]] && kill -KILL "$SRV_PID" 2>/dev/null' EXIT

# send-zc needs io_uring's SENDMSG_ZC (Linux 6.2, with its usage report).
# Without it the server says so and exits 1 before it listens: then every
# send-zc check is N/A with that line; any other failure to start fails.
ZC_MODES=(zero-copy)
sendzc_supported() {
    local line
    if start_server "$SERVER" -p 0 --mode send-zc; then
        stop_server 2
        cleanup_server_files
        return 0
    fi
    SRV_PID=""
    line=$(grep -m1 'send-zc is not available here' "$SRV_OUT.err")
    cleanup_server_files
    if [[ -n "$line" ]]; then
        report na "$SUITE" "send-zc: every check" "$line"
    else
        report fail "$SUITE" "send-zc: start" "no banner, and no 'not available' line"
    fi
    return 1
}
if sendzc_supported; then
    MODES+=(send-zc)
    ZC_MODES+=(send-zc)
fi

client() { timeout -k 5 60 "$CLIENT" -p "$SRV_PORT" --timeout 5000 "$@" 2>&1; }
p4probe() { timeout -k 5 30 "$P4PROBE" -p "$SRV_PORT" "$@" 2>&1; }

# check NAME COMMAND...: PASS when the command succeeds, FAIL with its output.
check() {
    local name=$1 out
    shift
    if out=$("$@"); then
        report pass "$SUITE" "$name"
    else
        report fail "$SUITE" "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
    fi
}

# stop_and_check MODE: SIGTERM; exit 0 within 2 s; prints the stopped line.
stop_and_check() {
    local mode=$1 last
    stop_server 2
    last=$(tail -n 1 "$SRV_OUT")
    if [[ "$SRV_STATUS" == 0 && "$last" == *": stopped: mode=$mode "* ]]; then
        report pass "$SUITE" "$mode: SIGTERM during traffic: exit 0 within 2 s, stopped line"
    else
        report fail "$SUITE" "$mode: SIGTERM" "status $SRV_STATUS, last line: $last"
    fi
    STOPPED_LINE=$last
    cleanup_server_files
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$STOPPED_LINE"; }

# ---- the parser, without a socket ----------------------------------------
check "parser: valid, prefix, corrupt, oversized and 200000 random headers" \
    "$P4PROBE" parser
check "parser: the fuzz corpus replays cleanly (tests/fuzz/fuzz_parsers.c)" \
    "$BUILD/tests/bin/fuzz_parsers" "$TESTS_DIR/fuzz/corpus"

# ---- every mode: identical bytes ------------------------------------------
every_size() {
    local s n
    for s in 1 7 8 9 100 1K 4K 16K 64K 256K 1M; do
        case "$s" in 256K) n=40 ;; 1M) n=12 ;; *) n=400 ;; esac
        client -s "$s" -n "$n" -c 2 --check >/dev/null || { client -s "$s" -n "$n" -c 2 --check; return 1; }
    done
}
latency_checked() { client -s 3K -n 300 -c 3 --latency --check >/dev/null || client -s 3K -n 300 -c 3 --latency --check; }
# A slow receiver (small buffer, a pause after every read): the server's
# sends block and, in zero-copy mode, its whole buffer pool is in flight.
slow_receiver() {
    local s
    for s in 1K 4K 64K; do
        client -s "$s" -n 1500 -c 2 --check --rcvbuf 65536 --pause-us 200 >/dev/null ||
            { client -s "$s" -n 1500 -c 2 --check --rcvbuf 65536 --pause-us 200; return 1; }
    done
}
streaming_client_pid=""
for mode in "${MODES[@]}"; do
    if ! start_server "$SERVER" -p 0 --mode "$mode" --idle-timeout 5; then
        report fail "$SUITE" "$mode: start" "no banner"
        continue
    fi
    check "$mode: identical bytes for every size 1 B .. 1 MiB (stream)" every_size
    check "$mode: identical bytes one message at a time (latency mode)" latency_checked
    check "$mode: identical bytes to a slow receiver" slow_receiver
    # An endless stream in progress when SIGTERM comes.
    "$CLIENT" -p "$SRV_PORT" -s 64K -d 30 --timeout 5000 >/dev/null 2>&1 &
    streaming_client_pid=$!
    sleep 0.3
    stop_and_check "$mode"
    wait_exit "$streaming_client_pid" 3
    [[ "$EXIT_STATUS" == timeout ]] && kill "$streaming_client_pid" 2>/dev/null
    if [[ "$mode" == zero-copy ]]; then
        sends=$(field zc_sends) done=$(field zc_completions) gaps=$(field zc_gaps)
        unfinished=$(field zc_unfinished)
        if [[ -n "$sends" && "$sends" -gt 0 && "$sends" == "$done" && "$gaps" == 0 && "$unfinished" == 0 ]]; then
            report pass "$SUITE" "zero-copy: completions = sends ($sends), no gap, none unfinished (copied: $(field zc_copied_pct)%)"
        else
            report fail "$SUITE" "zero-copy accounting" "$STOPPED_LINE"
        fi
    fi
    # The ring posts one notification per send, each naming its own send,
    # in an order of its own: zc_gaps counts reorderings there, not losses.
    if [[ "$mode" == send-zc ]]; then
        sends=$(field zc_sends) done=$(field zc_completions) unfinished=$(field zc_unfinished)
        if [[ -n "$sends" && "$sends" -gt 0 && "$sends" == "$done" && "$unfinished" == 0 ]]; then
            report pass "$SUITE" "send-zc: a notification for every send ($sends), none unfinished (copied: $(field zc_copied_pct)%, out of order: $(field zc_gaps))"
        else
            report fail "$SUITE" "send-zc accounting" "$STOPPED_LINE"
        fi
    fi
done

# ---- bad requests and faults (one server per zero-copy mode) -------
# After each fault the server must still serve. Zero-copy's check names
# are unprefixed, send-zc's say "send-zc: ".
faults() {
    local P=""
    [[ $1 == zero-copy ]] || P="$1: "
    if start_server "$SERVER" -p 0 --mode "$1" --idle-timeout 1 --max-conns 4; then
        client -s 1K -n 10 --check >/dev/null
        base=$(settled_fd_count "$SRV_PID")
        serves_without_leak() {
            client -s 4K -n 100 --check >/dev/null || { echo "a fresh client failed"; return 1; }
            wait_until 3 fds_are "$SRV_PID" "$base" ||
                { echo "descriptors $(fd_count "$SRV_PID"), baseline $base"; return 1; }
        }
        bad_then_serves() { p4probe bad "$1" && serves_without_leak; }
        for kind in magic version flags reserved zero oversized truncated garbage; do
            check "${P}bad request ($kind): error reply and close, server goes on" bad_then_serves "$kind"
        done
        fault_then_serves() { p4probe "$@" && serves_without_leak; }
        check "${P}reset in the middle of a stream: server goes on, no leak" fault_then_serves reset 64K
        check "${P}close in the middle of a stream: server goes on, no leak" fault_then_serves close 1M

        # A client that asks for an endless stream and never reads: while it
        # hangs there, others are served, and the idle timeout (1 s) drops it:
        # its descriptor is released long before it lets go.
        never_reader_fds() {
            p4probe noread 5000 >/dev/null &
            local holder=$!
            sleep 0.3
            client -s 4K -n 100 --check >/dev/null || { echo "another client failed meanwhile"; kill "$holder"; return 1; }
            # Dropped at the 1 s idle timeout, long before the holder lets go.
            wait_until 4 fds_are "$SRV_PID" "$base" ||
                { echo "still $(fd_count "$SRV_PID") descriptors (baseline $base) after 4 s"; kill "$holder"; return 1; }
            wait "$holder"
            serves_without_leak
        }
        check "${P}never-reading client: others served, dropped at the idle timeout" never_reader_fds

        # Only the main thread may take SIGINT/SIGTERM, as in part 2's thread
        # servers: a connection thread with them unblocked could take the
        # signal, and the accept loop's wait would not be cut short. The
        # threads that appear while a client is held must have both blocked
        # (SigBlk in /proc: bits 2 and 15, mask 0x4002).
        task_ids() { find "/proc/$SRV_PID/task" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
        stop_signals_blocked() {
            local before after holder tid blk bad="" i threads
            before=$(task_ids) threads=$(thread_count "$SRV_PID")
            p4probe noread 1500 >/dev/null &
            holder=$!
            for ((i = 0; i < 30; i++)); do
                after=$(comm -13 <(echo "$before") <(task_ids))
                [[ -n "$after" ]] && break
                sleep 0.1
            done
            for tid in $after; do
                blk=$(awk '/^SigBlk:/ {print $2}' "/proc/$SRV_PID/task/$tid/status" 2>/dev/null)
                [[ -n "$blk" ]] && (((16#$blk & 0x4002) != 0x4002)) && bad+=" $tid:$blk"
            done
            wait "$holder"
            [[ -n "$after" ]] || { echo "no connection thread appeared"; return 1; }
            [[ -z "$bad" ]] || { echo "SIGINT/SIGTERM not blocked in thread(s)$bad"; return 1; }
            # Gone before the next check counts connections.
            wait_until 4 threads_are "$SRV_PID" "$threads" ||
                { echo "threads $(thread_count "$SRV_PID"), baseline $threads"; return 1; }
        }
        check "${P}connection threads block SIGINT and SIGTERM (only the main thread takes them)" stop_signals_blocked

        # The cap: 4 connections held, the 5th turned away at once.
        at_the_cap() {
            local holders=() i rc=0
            for i in 1 2 3 4; do
                p4probe noread 800 >/dev/null &
                holders+=($!)
            done
            sleep 0.3
            p4probe refused || rc=1
            for i in "${holders[@]}"; do wait "$i"; done
            sleep 1.2           # their connections end at the idle timeout
            [[ $rc == 0 ]] && serves_without_leak
        }
        check "${P}connection cap (--max-conns 4): the 5th client is turned away" at_the_cap
        stop_server 2
        cleanup_server_files
    else
        report fail "$SUITE" "${P}faults: start" "no banner"
    fi
}
for mode in "${ZC_MODES[@]}"; do faults "$mode"; done

# ---- the echo suite's other scenarios, in the stream protocol ------------------
# Out of descriptors: 64 of them, 80 clients held one after another. The
# extras must be turned away (not left hanging), the server must not spin,
# and once they leave a client is served again.
emfile_ok() {
    local before after out
    before=$(cpu_seconds "$SRV_PID")
    out=$(p4probe admit 80) || { echo "$out (under prlimit --nofile=$nofile)"; return 1; }
    sleep 1
    after=$(cpu_seconds "$SRV_PID")
    cpu_below "$before" "$after" 1.0 ||
        { echo "server used $(cpu_used "$before" "$after") s of CPU while out of descriptors (spinning?)"; return 1; }
    client -s 1K -n 10 --check >/dev/null || { echo "not served after the flood left"; return 1; }
    echo "$out"
}
# 10,000 connections ending every way: descriptors and threads come back.
churn_ok() {
    local base threads out
    client -s 1K -n 10 --check >/dev/null || { echo "a first client failed"; return 1; }
    base=$(settled_fd_count "$SRV_PID") threads=$(thread_count "$SRV_PID")
    out=$(timeout -k 5 120 "$P4PROBE" -p "$SRV_PORT" churn 10000 4 2>&1) || { echo "$out"; return 1; }
    wait_until 10 fds_are "$SRV_PID" "$base" ||
        { echo "descriptors $(fd_count "$SRV_PID") after churn, baseline $base"; return 1; }
    wait_until 10 threads_are "$SRV_PID" "$threads" ||
        { echo "threads $(thread_count "$SRV_PID") after churn, baseline $threads"; return 1; }
}
# SIGUSR1 and SIGCHLD at 1 kHz for 3 s while streams and exchanges run.
signal_storm_ok() {
    local storm rc=0
    "$BUILD/tests/bin/signal_storm" "$SRV_PID" 1000 3 >/dev/null &
    storm=$!
    client -s 64K -n 400 -c 4 --check >/dev/null || rc=1
    [[ $rc == 0 ]] && { client -s 3K -n 300 -c 2 --latency --check >/dev/null || rc=2; }
    wait "$storm" || { echo "the server died during the signal storm"; return 1; }
    case $rc in
        1) echo "a stream failed during the signal storm" ;;
        2) echo "a latency exchange failed during the signal storm" ;;
    esac
    [[ $rc == 0 ]]
}
# sendfile and send-zc take two descriptors per connection (the socket and
# its memory file or ring), so whether the last free descriptor goes to an accept or to a
# memory file depends on how many the server inherited: try both parities.
emfile_limits() {
    if [[ $1 == sendfile || $1 == send-zc ]]; then echo 64 65; else echo 64; fi
}
for mode in "${MODES[@]}"; do
    for nofile in $(emfile_limits "$mode"); do
        if start_server prlimit --nofile="$nofile" "$SERVER" -p 0 --mode "$mode" --idle-timeout 5; then
            check "$mode: EMFILE under --nofile=$nofile, 80 clients: extras turned away, no spin, served again" emfile_ok
            stop_server 2
            cleanup_server_files
        else
            report fail "$SUITE" "$mode: EMFILE" "no banner under prlimit --nofile=$nofile"
        fi
    done
    if start_server "$SERVER" -p 0 --mode "$mode" --idle-timeout 5; then
        check "$mode: churn, 10,000 connections: descriptors and threads back to the baseline" churn_ok
        check "$mode: new content on one connection while the old is in flight: every byte right" p4probe retag
        check "$mode: a storm of SIGUSR1 and SIGCHLD at 1 kHz: every byte right" signal_storm_ok
        stop_server 2
        [[ "$SRV_STATUS" == 0 ]] ||
            report fail "$SUITE" "$mode: SIGTERM after churn and signals" "status $SRV_STATUS"
        cleanup_server_files
    else
        report fail "$SUITE" "$mode: start" "no banner"
    fi
done

# The default bind, and a restart on the same port with connections open:
# a new server binds at once (SO_REUSEADDR) while the old ones close.
if start_server "$SERVER" -p 0 --mode zero-copy; then
    check "default bind: 127.0.0.1 only (/proc/net/tcp)" listens_on_loopback_only "$SRV_PORT"
    port=$SRV_PORT holders=()
    for i in 1 2 3; do
        p4probe noread 3000 >/dev/null &
        holders+=($!)
    done
    sleep 0.3
    stop_server 2
    old_status=$SRV_STATUS
    cleanup_server_files
    if [[ "$old_status" != 0 ]]; then
        report fail "$SUITE" "restart" "exit status $old_status after SIGTERM with streams open"
    elif ! start_server "$SERVER" -p "$port" --mode zero-copy; then
        report fail "$SUITE" "restart" "a new server could not bind port $port right after the old one stopped"
    else
        check "restart with streams open: the new server binds the same port at once and serves" \
            client -s 4K -n 100 --check
        stop_server 2
        cleanup_server_files
    fi
    for h in "${holders[@]}"; do kill "$h" 2>/dev/null; wait "$h" 2>/dev/null; done
else
    report fail "$SUITE" "default bind: start" "no banner"
fi

# ---- usage -----------------------------------------------------------------
bad_mode() {
    local rc=0
    "$SERVER" -p 0 --mode three-copy >/dev/null 2>&1 || rc=$?
    [[ $rc == 2 ]] || { echo "exit status $rc for an unknown mode (2 expected)"; return 1; }
}
check "an unknown --mode is refused with exit status 2" bad_mode

#!/usr/bin/env bash
# shellcheck shell=bash
# bench.sh - the median-of-N runner that every part's timing.sh sources.
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   . "$here/../tools/bench.sh"
#   bench_begin "$@"            # --runs N --profile default|full --out DIR --only TABLE -h
#   bench_table part1_b "Part 1 (b): N clients arriving together" \
#       --rows n --cols model --values wall_s,first_max_ms \
#       [--server-fields zc_sends,zc_copied] [--cells 5] [--timeout 120]
#   srv=("$here/server" -p 0 --idle-timeout 0)
#   cli=("$here/client" -p '{port}' -c 4 --csv)
#   bench_cell "model=iterative n=4" srv cli    # arrays passed by name
#   bench_cell "model=none n=4" "" cli         # no server: no sampling, no {port}
#   bench_report                                # writes TABLE.md, prints the table
#
# One run of a cell: start the server (stdout to a file), wait up to 10 s
# for its banner '<name>: listening on ADDR:PORT pid PID', start
# 'procsample -p PID', run the client (every '{port}' and '{host}' in its
# arguments replaced) under timeout(1), stop the sampler, SIGTERM the
# server and wait up to 5 s for it (then SIGKILL it and its descendants).
# One raw row per run goes to OUT/TABLE.csv:
#   table,<cell keys>,run,status,<client CSV columns>,
#   srv_cpu_s,srv_cpu_pct,srv_rss_kib,srv_threads,srv_children,srv_fds,
#   srv_<each --server-fields key, from the server's 'stopped:' line>
# status is 'ok', or what went wrong, joined with '+': timeout,
# client_exit=N, client_bad_csv (not exactly a header and a row on stdout),
# server_no_banner, server_exit=N (died, or exited non-zero after SIGTERM),
# server_killed (still alive 5 s after SIGTERM).
# Medians (tools/stats.awk) use the ok rows only; every row is kept.
#
# Environment (besides BENCH_RUNS, BENCH_PROFILE, BENCH_OUT):
#   O                  build directory: procsample is $O/tools/bin/procsample
#   BENCH_SAMPLE_MS    sampling interval of procsample (default 100)
#   BENCH_BANNER_WAIT  seconds to wait for the banner (default 10)
#   BENCH_STOP_WAIT    seconds to wait for the server after SIGTERM (default 5)
#   BENCH_PLOT=0       do not plot / print the text chart in bench_report
# bench.sh owns the EXIT, INT and TERM traps of the script that sources it.
# It works with or without 'set -euo pipefail' in that script.

# Run rather than sourced (tools/bench.sh -h): say what it is and how to use it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    sed -n '3,38s/^# \{0,1\}//p' "$0"
    exit 0
fi

_bench_tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_bench_repo_dir=$(dirname "$_bench_tools_dir")

_bench_began=""
_bench_table=""
_bench_only_seen=""

# Messages go to a copy of the original stderr: a trap may run while a
# 'wait ... 2>/dev/null' is in progress, and must still be heard.
_bench_die() {
    printf 'bench: %s\n' "$*" >&"${_bench_err_fd:-2}"
    exit 1
}

_bench_warn() {
    printf 'bench: %s\n' "$*" >&"${_bench_err_fd:-2}"
}

# Microseconds since the epoch, without forking when bash has EPOCHREALTIME.
_bench_now_us() {
    local t=${EPOCHREALTIME:-}
    if [ -n "$t" ]; then
        t=${t//[.,]/}
        printf '%s' "$((10#$t))"
    else
        date +%s%6N
    fi
}

# Sleep without forking: a read with a timeout on a FIFO nobody writes.
_bench_nap() {
    read -r -t "$1" -u "$_bench_sleep_fd" _bench_dummy 2>/dev/null || true
}

# True if pid exists and is not a zombie.
_bench_alive() {
    local line rest
    kill -0 "$1" 2>/dev/null || return 1
    { IFS= read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    case ${rest%% *} in
    Z | X) return 1 ;;
    esac
    return 0
}

# Wait up to $2 seconds for pid $1 to end. 0: it ended, 1: still alive.
_bench_wait_gone() {
    local deadline
    deadline=$(($(_bench_now_us) + $2 * 1000000))
    while _bench_alive "$1"; do
        [ "$(_bench_now_us)" -lt "$deadline" ] || return 1
        _bench_nap 0.02
    done
    return 0
}

# The descendants of pid $1 (not itself), one per line.
_bench_descendants() {
    ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            tree[root] = 1
            do {
                more = 0
                for (p in parent)
                    if (!(p in tree) && (parent[p] in tree)) {
                        tree[p] = 1
                        more = 1
                        print p
                    }
            } while (more)
        }'
}

# SIGKILL pid $1 and all its descendants (they are processes we started).
_bench_kill_tree() {
    local p kids
    kids=$(_bench_descendants "$1")
    kill -KILL "$1" 2>/dev/null || true
    for p in $kids; do
        kill -KILL "$p" 2>/dev/null || true
    done
}

# Run in a background subshell: close every descriptor above 2, then become
# the command. The server starts with stdin, stdout and stderr only, so its
# fds count is its own, whatever the shell that runs us had open.
_bench_exec_clean() {
    local f n
    for f in /proc/self/fd/*; do
        n=${f##*/}
        if [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 2 ]; then
            eval "exec $n>&-"
        fi
    done
    exec "$@"
}

_bench_fmt_dur() {
    local s=$1
    if [ "$s" -lt 60 ]; then
        printf '%ds' "$s"
    elif [ "$s" -lt 3600 ]; then
        printf '%dm%02ds' "$((s / 60))" "$((s % 60))"
    else
        printf '%dh%02dm' "$((s / 3600))" "$((s % 3600 / 60))"
    fi
}

_bench_usage() {
    printf 'usage: %s [--runs N] [--profile default|full] [--out DIR] [--only TABLE]\n' "$0"
    if [ -n "${BENCH_USAGE:-}" ]; then
        printf '%s\n' "$BENCH_USAGE"
    fi
    cat <<'EOF'
  --runs N        runs of every cell; tables show the median (default 3, env BENCH_RUNS)
  --profile P     default: reduced scale, minutes; full: the published scales
                  (env BENCH_PROFILE)
  --out DIR       where results go (default <repo>/results, env BENCH_OUT)
  --only TABLE    run only that table (for example part1_b)
  -h, --help      this help
Writes DIR/TABLE.csv (every run, raw), DIR/TABLE.md (median and min-max of the
ok runs) and, when python3-matplotlib is installed, DIR/TABLE.png.
See docs/methodology.md for what every number means.
EOF
}

# Kill what is still running (only processes this library started).
_bench_cleanup() {
    local p
    for p in ${_bench_live:-}; do
        if _bench_alive "$p"; then
            kill -TERM "$p" 2>/dev/null || true
        fi
    done
    for p in ${_bench_live:-}; do
        if ! _bench_wait_gone "$p" 2; then
            _bench_kill_tree "$p"
        fi
    done
    _bench_live=""
}

_bench_on_exit() {
    _bench_cleanup
    if [ -n "${_bench_table:-}" ] && [ "${_bench_skip:-0}" != 1 ]; then
        _bench_warn "table $_bench_table was not finished (no bench_report)"
    fi
    if [ -n "${BENCH_ONLY:-}" ] && [ -z "$_bench_only_seen" ] && [ -n "$_bench_began" ]; then
        _bench_warn "--only $BENCH_ONLY: no table of that name in $0"
    fi
    if [ -n "${_bench_tmp:-}" ] && [ -d "$_bench_tmp" ]; then
        rm -rf -- "$_bench_tmp"
    fi
}

_bench_on_signal() {
    printf '\nbench: interrupted (%s), stopping\n' "$1" >&"${_bench_err_fd:-2}"
    trap - INT TERM
    _bench_cleanup
    if [ "$1" = INT ]; then exit 130; fi
    exit 143
}

_bench_track() {
    _bench_live="${_bench_live:-} $1"
}

_bench_untrack() {
    local p out=""
    for p in ${_bench_live:-}; do
        [ "$p" = "$1" ] || out="$out $p"
    done
    _bench_live=$out
}

# The command line for a results header, quoted, with every path inside
# the repository written relative to its root: a header names the command
# a reader types from their own clone, not where the author's clone was.
_bench_repo_relative() {
    local a abs out=""
    for a in "$@"; do
        abs=$a
        if [ -e "$a" ] && [[ $a == */* ]]; then
            abs="$(cd "$(dirname "$a")" 2>/dev/null && pwd)/$(basename "$a")" || abs=$a
        fi
        if [[ $abs == "$_bench_repo_dir"/* ]]; then
            a=${abs#"$_bench_repo_dir"/}
        fi
        out="$out $(printf '%q' "$a")"
    done
    printf '%s' "${out# }"
}

bench_begin() {
    BENCH_RUNS=${BENCH_RUNS:-3}
    BENCH_PROFILE=${BENCH_PROFILE:-default}
    BENCH_OUT=${BENCH_OUT:-$_bench_repo_dir/results}
    BENCH_ONLY=${BENCH_ONLY:-}
    _bench_cmdline=$(_bench_repo_relative "$0" "$@")
    while [ $# -gt 0 ]; do
        case $1 in
        --runs | --profile | --out | --only)
            if [ $# -lt 2 ]; then
                printf '%s: %s needs a value\n' "$0" "$1" >&2
                _bench_usage >&2
                exit 2
            fi
            case $1 in
            --runs) BENCH_RUNS=$2 ;;
            --profile) BENCH_PROFILE=$2 ;;
            --out) BENCH_OUT=$2 ;;
            --only) BENCH_ONLY=$2 ;;
            esac
            shift 2
            ;;
        --runs=*) BENCH_RUNS=${1#*=}; shift ;;
        --profile=*) BENCH_PROFILE=${1#*=}; shift ;;
        --out=*) BENCH_OUT=${1#*=}; shift ;;
        --only=*) BENCH_ONLY=${1#*=}; shift ;;
        -h | --help)
            _bench_usage
            exit 0
            ;;
        *)
            printf '%s: unknown option: %s\n' "$0" "$1" >&2
            _bench_usage >&2
            exit 2
            ;;
        esac
    done
    case $BENCH_RUNS in
    '' | *[!0-9]* | 0 | 0*)
        printf '%s: --runs wants a positive integer, not %s\n' "$0" "$BENCH_RUNS" >&2
        exit 2
        ;;
    esac
    case $BENCH_PROFILE in
    default | full) ;;
    *)
        printf '%s: --profile is default or full, not %s\n' "$0" "$BENCH_PROFILE" >&2
        exit 2
        ;;
    esac
    export BENCH_RUNS BENCH_PROFILE BENCH_OUT

    if [ -n "${O:-}" ]; then
        _bench_procsample="$O/tools/bin/procsample"
    else
        _bench_procsample="$_bench_tools_dir/bin/procsample"
    fi
    if [ ! -x "$_bench_procsample" ]; then
        _bench_die "no $_bench_procsample: build it first (make, or make -C tools)"
    fi
    command -v timeout >/dev/null 2>&1 || _bench_die "timeout(1) not found (coreutils)"
    mkdir -p -- "$BENCH_OUT" || _bench_die "cannot create $BENCH_OUT"
    BENCH_OUT=$(cd "$BENCH_OUT" && pwd)

    _bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX") || _bench_die "mktemp failed"
    mkfifo "$_bench_tmp/nap" || _bench_die "mkfifo failed"
    exec {_bench_sleep_fd}<>"$_bench_tmp/nap"
    exec {_bench_err_fd}>&2
    _bench_live=""
    trap _bench_on_exit EXIT
    trap '_bench_on_signal INT' INT
    trap '_bench_on_signal TERM' TERM
    _bench_began=1
    printf 'bench: profile %s, %s run(s) per cell, results in %s\n' \
        "$BENCH_PROFILE" "$BENCH_RUNS" "$BENCH_OUT" >&2
}

# bench_table ... --cost 1: the cost of a request on the server. procsample
# runs with -c (context switches and /proc read/write system calls of the
# server tree) and, where perf can count syscall tracepoints (detected once;
# otherwise said once and left empty), 'perf stat -p' counts the server's
# system calls. After the server columns (and the --server-fields ones), a
# --cost table's rows add:
#   srv_ctx_vol,srv_ctx_invol,srv_syscr,srv_syscw     procsample -c
#   srv_sys_recv,srv_sys_send,srv_sys_all             perf: read+readv+recvfrom+
#                                                     recvmsg, write+writev+sendto+
#                                                     sendmsg, every system call
#   srv_cs_per_req,srv_recv_per_req,srv_send_per_req,srv_sys_per_req
#       (ctx_vol+ctx_invol), sys_recv, sys_send, sys_all divided by the
#       client's 'requests' column
_bench_cost_cols="srv_ctx_vol,srv_ctx_invol,srv_syscr,srv_syscw,srv_sys_recv,srv_sys_send,srv_sys_all,srv_cs_per_req,srv_recv_per_req,srv_send_per_req,srv_sys_per_req"
_bench_perf_events="syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,raw_syscalls:sys_enter"
_bench_perf=""

# Can perf count the syscall tracepoints here? Sets _bench_perf to 1 or 0.
_bench_detect_perf() {
    [ -z "$_bench_perf" ] || return 0
    _bench_perf=0
    if command -v perf >/dev/null 2>&1 &&
        timeout -k 2 10 perf stat -x, -e "$_bench_perf_events" -- true 2>&1 >/dev/null |
        grep -q '^[0-9][0-9]*,.*raw_syscalls:sys_enter'; then
        _bench_perf=1
    else
        _bench_warn "perf cannot count syscall tracepoints here (not installed, or" \
            "kernel.perf_event_paranoid and tracefs do not allow it): the system" \
            "calls per request stay empty; context switches are still counted"
    fi
}

# x / n with 4 significant digits, or empty when either is missing.
_bench_ratio() {
    awk -v a="$1" -v n="$2" 'BEGIN { if (a == "" || n == "" || n + 0 == 0) print ""; else printf "%.4g\n", a / n }'
}

bench_table() {
    [ -n "$_bench_began" ] || _bench_die "bench_table before bench_begin"
    if [ -n "$_bench_table" ]; then
        _bench_warn "table $_bench_table had no bench_report: reporting it now"
        bench_report
    fi
    [ $# -ge 2 ] || _bench_die "usage: bench_table NAME TITLE --rows K [--cols K] --values V,... [--server-fields F,...] [--cells N] [--timeout S]"
    local name=$1 title=$2
    shift 2
    _bench_rows="" _bench_cols="" _bench_values="" _bench_srv_fields=""
    _bench_cells="" _bench_timeout=600 _bench_cost=0
    while [ $# -gt 0 ]; do
        [ $# -ge 2 ] || _bench_die "bench_table $name: $1 needs a value"
        case $1 in
        --rows) _bench_rows=$2 ;;
        --cols) _bench_cols=$2 ;;
        --values) _bench_values=$2 ;;
        --server-fields) _bench_srv_fields=$2 ;;
        --cells) _bench_cells=$2 ;;
        --timeout) _bench_timeout=$2 ;;
        --cost) _bench_cost=$2 ;;
        *) _bench_die "bench_table $name: unknown option $1" ;;
        esac
        shift 2
    done
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || _bench_die "bench_table: bad table name '$name'"
    [ -n "$_bench_rows" ] || _bench_die "bench_table $name: --rows is required"
    [ -n "$_bench_values" ] || _bench_die "bench_table $name: --values is required"
    _bench_values_a=() _bench_fields_a=() _bench_rc_keys=()
    IFS=, read -r -a _bench_values_a <<<"$_bench_values"
    IFS=, read -r -a _bench_fields_a <<<"$_bench_srv_fields"
    IFS=, read -r -a _bench_rc_keys <<<"$_bench_rows,$_bench_cols"
    case $_bench_cells in
    '') ;;
    *[!0-9]* | 0) _bench_die "bench_table $name: --cells wants a positive integer" ;;
    esac
    case $_bench_timeout in
    '' | *[!0-9]* | 0) _bench_die "bench_table $name: --timeout wants whole seconds > 0" ;;
    esac

    _bench_table=$name
    _bench_skip=0
    if [ -n "$BENCH_ONLY" ] && [ "$BENCH_ONLY" != "$name" ]; then
        _bench_skip=1
        return 0
    fi
    [ "$_bench_cost" = 1 ] && _bench_detect_perf
    [ -z "$BENCH_ONLY" ] || _bench_only_seen=1
    _bench_title=$title
    _bench_csv="$BENCH_OUT/$name.csv"
    _bench_md="$BENCH_OUT/$name.md"
    _bench_keys=()
    _bench_cli_cols=()
    _bench_pending=()
    _bench_header_done=0
    _bench_done=0
    _bench_spent_us=0
    _bench_dropped_warned=0
    _bench_total=""
    if [ -n "$_bench_cells" ]; then
        _bench_total=$((_bench_cells * BENCH_RUNS))
    fi
    {
        bash "$_bench_tools_dir/machine.sh"
        printf '# table: %s\n' "$name"
        printf '# title: %s\n' "$title"
        printf '# command: %s\n' "$_bench_cmdline"
        printf '# profile: %s\n' "$BENCH_PROFILE"
        printf '# runs: %s\n' "$BENCH_RUNS"
        printf '# timeout: %s s per run\n' "$_bench_timeout"
        printf '# report: rows=%s cols=%s values=%s\n' "$_bench_rows" "$_bench_cols" "$_bench_values"
    } >"$_bench_csv" || _bench_die "cannot write $_bench_csv"
    printf '\n== %s: %s\n' "$name" "$title" >&2
    if [ -n "$_bench_total" ]; then
        printf '   %s cells x %s runs, raw runs in %s\n' "$_bench_cells" "$BENCH_RUNS" "$_bench_csv" >&2
    else
        printf '   %s runs per cell, raw runs in %s\n' "$BENCH_RUNS" "$_bench_csv" >&2
    fi
}

# Write the CSV header line once the client's columns are known.
_bench_write_header() {
    local h="table" f
    for f in "${_bench_keys[@]}"; do
        h="$h,$f"
    done
    h="$h,run,status"
    for f in "${_bench_cli_cols[@]}"; do
        h="$h,$f"
    done
    h="$h,srv_cpu_s,srv_cpu_pct,srv_rss_kib,srv_threads,srv_children,srv_fds"
    for f in "${_bench_fields_a[@]}"; do
        h="$h,srv_$f"
    done
    [ "$_bench_cost" = 1 ] && h="$h,$_bench_cost_cols"
    printf '%s\n' "$h" >>"$_bench_csv"
    _bench_header_done=1
}

# Pending rows (runs before any client printed its header) have empty
# client columns: write them now.
_bench_flush_pending() {
    local row head tail empty="" i
    for ((i = 0; i < ${#_bench_cli_cols[@]}; i++)); do
        empty="$empty,"
    done
    for row in "${_bench_pending[@]}"; do
        head=${row%%$'\037'*}
        tail=${row#*$'\037'}
        printf '%s%s,%s\n' "$head" "$empty" "$tail" >>"$_bench_csv"
    done
    _bench_pending=()
}

bench_cell() {
    [ -n "$_bench_table" ] || _bench_die "bench_cell outside bench_table/bench_report"
    [ $# -eq 3 ] || _bench_die "usage: bench_cell 'key=value ...' SERVER_ARRAY_NAME|'' CLIENT_ARRAY_NAME"
    [ "$_bench_skip" = 1 ] && return 0
    local spec=$1 w k v i found
    local -a words=()
    local -A kv=()
    read -r -a words <<<"$spec"
    [ ${#words[@]} -gt 0 ] || _bench_die "bench_cell: empty cell spec"
    for w in "${words[@]}"; do
        k=${w%%=*}
        v=${w#*=}
        [[ $w == *=* && $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ && -n $v && $v != *,* ]] ||
            _bench_die "bench_cell: bad 'key=value' in '$spec' (no commas or spaces in values)"
        kv[$k]=$v
    done
    if [ ${#_bench_keys[@]} -eq 0 ]; then
        for w in "${words[@]}"; do
            _bench_keys+=("${w%%=*}")
        done
        for k in "${_bench_rc_keys[@]}"; do
            [ -n "${kv[$k]+set}" ] ||
                _bench_die "bench_cell: key '$k' of --rows/--cols is not in '$spec'"
        done
    else
        for k in "${!kv[@]}"; do
            found=0
            for i in "${_bench_keys[@]}"; do
                [ "$i" = "$k" ] && found=1
            done
            [ "$found" = 1 ] ||
                _bench_die "bench_cell: key '$k' is new in '$spec' (the first cell of $_bench_table has: ${_bench_keys[*]})"
        done
    fi
    local keyvals=""
    for k in "${_bench_keys[@]}"; do
        keyvals="$keyvals,${kv[$k]:-}"
    done

    _BENCH_SRV=()
    _BENCH_CLI=()
    if [ -n "$2" ]; then
        local -n _bench_srv_ref=$2
        _BENCH_SRV=("${_bench_srv_ref[@]}")
        [ ${#_BENCH_SRV[@]} -gt 0 ] || _bench_die "bench_cell: server array '$2' is empty"
    fi
    local -n _bench_cli_ref=$3
    _BENCH_CLI=("${_bench_cli_ref[@]}")
    [ ${#_BENCH_CLI[@]} -gt 0 ] || _bench_die "bench_cell: client array '$3' is empty"

    local run
    for ((run = 1; run <= BENCH_RUNS; run++)); do
        _bench_progress "$spec" "$run"
        _bench_run_once "$keyvals" "$run"
    done
    return 0
}

_bench_progress() {
    local n=$((_bench_done + 1)) total=${_bench_total:-?} eta="?" left mean
    if [ "$_bench_done" -gt 0 ] && [ -n "$_bench_total" ]; then
        left=$((_bench_total - _bench_done))
        [ "$left" -ge 0 ] || left=0
        mean=$((_bench_spent_us / _bench_done))
        eta=$(_bench_fmt_dur "$(((mean * left + 500000) / 1000000))")
    fi
    printf '[%s/%s] %s run %s/%s eta %s\n' "$n" "$total" "$1" "$2" "$BENCH_RUNS" "$eta" >&2
}

# Show the last lines of a log, indented (for a failed run).
_bench_tail() {
    if [ -s "$2" ]; then
        printf '      %s:\n' "$1" >&2
        tail -n 3 -- "$2" | sed 's/^/        /' >&2
    fi
}

_bench_run_once() {
    local keyvals=$1 run=$2 t="$_bench_tmp"
    local t0 t1 spid="" bpid="" sampid="" cpid="" perfpid="" port="" host="" line rc
    local -a status=() args=() cl=() words=()
    local srv_status="" a w i deadline
    rm -f -- "$t/srv.out" "$t/srv.err" "$t/ps.out" "$t/ps.err" "$t/cli.out" "$t/cli.err" \
        "$t/perf.out"
    t0=$(_bench_now_us)

    if [ ${#_BENCH_SRV[@]} -gt 0 ]; then
        _bench_exec_clean "${_BENCH_SRV[@]}" >"$t/srv.out" 2>"$t/srv.err" </dev/null &
        spid=$!
        _bench_track "$spid"
        deadline=$((t0 + ${BENCH_BANNER_WAIT:-10} * 1000000))
        while :; do
            line=""
            # (a whole line only: read fails on a line without its newline)
            if { IFS= read -r line <"$t/srv.out"; } 2>/dev/null &&
                [[ $line =~ ^[^:]+:\ listening\ on\ (.+):([0-9]+)\ pid\ ([0-9]+)$ ]]; then
                host=${BASH_REMATCH[1]}
                port=${BASH_REMATCH[2]}
                bpid=${BASH_REMATCH[3]}
                host=${host#\[}
                host=${host%\]}
                # Signal only what we started: the banner's pid must be the
                # server or one of its descendants.
                if [ "$bpid" != "$spid" ] &&
                    [[ $'\n'$(_bench_descendants "$spid")$'\n' != *$'\n'"$bpid"$'\n'* ]]; then
                    _bench_warn "banner pid $bpid is not the server ($spid) nor its child: using $spid"
                    bpid=$spid
                fi
                break
            fi
            _bench_alive "$spid" || break
            [ "$(_bench_now_us)" -lt "$deadline" ] || break
            _bench_nap 0.02
        done
        if [ -z "$port" ]; then
            status+=("server_no_banner")
        else
            local -a cost_opt=()
            [ "$_bench_cost" = 1 ] && cost_opt=(-c)
            "$_bench_procsample" -p "$bpid" -i "${BENCH_SAMPLE_MS:-100}" "${cost_opt[@]}" \
                -t "$((_bench_timeout + 60))" -v -o "$t/ps.out" \
                2>"$t/ps.err" </dev/null {_bench_sleep_fd}>&- {_bench_err_fd}>&- &
            sampid=$!
            _bench_track "$sampid"
            # Start the client once the first sample is taken (bounded).
            deadline=$(($(_bench_now_us) + 2000000))
            while [ ! -s "$t/ps.err" ] && _bench_alive "$sampid" &&
                [ "$(_bench_now_us)" -lt "$deadline" ]; do
                _bench_nap 0.01
            done
            if [ "$_bench_cost" = 1 ] && [ "$_bench_perf" = 1 ]; then
                # The whole tree: perf follows only the processes and threads
                # created after it attaches (a prefork server's children exist
                # before), so name every process of the tree now.
                local tree
                tree=$(printf '%s' "$bpid" "$(_bench_descendants "$bpid" | sed 's/^/,/')" | tr -d '\n')
                timeout -k 5 "$((_bench_timeout + 60))" perf stat -x, -o "$t/perf.out" \
                    -e "$_bench_perf_events" -p "$tree" </dev/null >/dev/null 2>&1 \
                    {_bench_sleep_fd}>&- {_bench_err_fd}>&- &
                perfpid=$!
                _bench_track "$perfpid"
                _bench_nap 0.1      # (it attaches in a few ms; nothing tells when)
            fi
        fi
    fi

    if [ ${#status[@]} -eq 0 ]; then
        for a in "${_BENCH_CLI[@]}"; do
            if [ -n "$port" ]; then
                a=${a//'{port}'/$port}
                a=${a//'{host}'/$host}
            fi
            args+=("$a")
        done
        timeout -k 5 "$_bench_timeout" "${args[@]}" >"$t/cli.out" 2>"$t/cli.err" \
            </dev/null {_bench_sleep_fd}>&- {_bench_err_fd}>&- &
        cpid=$!
        _bench_track "$cpid"
        rc=0
        wait "$cpid" 2>/dev/null || rc=$?
        _bench_untrack "$cpid"
        case $rc in
        0) ;;
        124 | 137) status+=("timeout") ;;
        *) status+=("client_exit=$rc") ;;
        esac
        mapfile -t cl <"$t/cli.out"
        if [ ${#cl[@]} -eq 2 ] && [ -n "${cl[0]}" ]; then
            a=${cl[0]//[!,]/}
            w=${cl[1]//[!,]/}
            [ ${#a} -eq ${#w} ] || cl=()
        else
            cl=()
        fi
        if [ ${#cl[@]} -eq 0 ] && [ "$rc" -eq 0 ]; then
            status+=("client_bad_csv")
        fi
    fi

    if [ -n "$perfpid" ]; then
        # timeout(1) passes SIGINT on: perf prints its counts and exits.
        kill -INT "$perfpid" 2>/dev/null || true
        if ! _bench_wait_gone "$perfpid" 3; then
            _bench_kill_tree "$perfpid"
        fi
        wait "$perfpid" 2>/dev/null || true
        _bench_untrack "$perfpid"
    fi
    if [ -n "$sampid" ]; then
        kill -TERM "$sampid" 2>/dev/null || true
        if ! _bench_wait_gone "$sampid" 3; then
            kill -KILL "$sampid" 2>/dev/null || true
        fi
        wait "$sampid" 2>/dev/null || true
        _bench_untrack "$sampid"
    fi

    if [ -n "$spid" ]; then
        if _bench_alive "$spid"; then
            kill -TERM "${bpid:-$spid}" 2>/dev/null || true
            if ! _bench_wait_gone "$spid" "${BENCH_STOP_WAIT:-5}"; then
                _bench_kill_tree "$spid"
                srv_status="server_killed"
            fi
        elif [ -n "$port" ]; then
            srv_status="died"
        fi
        rc=0
        wait "$spid" 2>/dev/null || rc=$?
        _bench_untrack "$spid"
        if [ -z "$srv_status" ] && [ "$rc" -ne 0 ] && [ -n "$port" ]; then
            srv_status="server_exit=$rc"
        elif [ "$srv_status" = died ]; then
            srv_status="server_exit=$rc"
        fi
        [ -z "$srv_status" ] || status+=("$srv_status")
    fi
    t1=$(_bench_now_us)
    _bench_done=$((_bench_done + 1))
    _bench_spent_us=$((_bench_spent_us + t1 - t0))

    # --- the row ---
    local st
    if [ ${#status[@]} -eq 0 ]; then
        st=ok
    else
        st=$(IFS=+; printf '%s' "${status[*]}")
    fi
    local head="$_bench_table$keyvals,$run,$st"
    local tail f v
    local -A ps=() sf=() cv=()
    if [ -s "$t/ps.out" ]; then
        read -r -a words <"$t/ps.out" || true
        for w in "${words[@]}"; do
            ps[${w%%=*}]=${w#*=}
        done
    fi
    tail="${ps[cpu_s]:-},${ps[cpu_pct]:-},${ps[rss_kib]:-},${ps[threads]:-},${ps[children]:-},${ps[fds]:-}"
    if [ -n "$_bench_srv_fields" ]; then
        line=""
        if [ -s "$t/srv.out" ]; then
            line=$(grep -E '^[^ ]+: stopped:' "$t/srv.out" | tail -n 1) || true
        fi
        line=${line#*stopped:}
        read -r -a words <<<"$line" || true
        for w in "${words[@]}"; do
            [[ $w == *=* ]] && sf[${w%%=*}]=${w#*=}
        done
        for f in "${_bench_fields_a[@]}"; do
            v=${sf[$f]:-}
            tail="$tail,${v//,/;}"
        done
    fi

    local -a ch=() cr=()
    if [ ${#cl[@]} -eq 2 ]; then
        IFS=, read -r -a ch <<<"${cl[0]}"
        IFS=, read -r -a cr <<<"${cl[1]}"
        for ((i = 0; i < ${#ch[@]}; i++)); do
            cv[${ch[$i]}]=${cr[$i]:-}
        done
    fi
    if [ "$_bench_cost" = 1 ]; then
        local -A pf=()
        local recv="" send="" all="" cs="" n=${cv[requests]:-}
        if [ -s "$t/perf.out" ]; then
            while IFS=, read -r v _ f _; do
                [[ $v =~ ^[0-9]+$ ]] && pf[${f##*:}]=$v
            done <"$t/perf.out"
            if [ ${#pf[@]} -eq 9 ]; then
                recv=$((pf[sys_enter_read] + pf[sys_enter_readv] +
                    pf[sys_enter_recvfrom] + pf[sys_enter_recvmsg]))
                send=$((pf[sys_enter_write] + pf[sys_enter_writev] +
                    pf[sys_enter_sendto] + pf[sys_enter_sendmsg]))
                all=${pf[sys_enter]}
            fi
        fi
        if [ -n "${ps[ctx_vol]:-}" ] && [ -n "${ps[ctx_invol]:-}" ]; then
            cs=$((ps[ctx_vol] + ps[ctx_invol]))
        fi
        tail="$tail,${ps[ctx_vol]:-},${ps[ctx_invol]:-},${ps[syscr]:-},${ps[syscw]:-}"
        tail="$tail,$recv,$send,$all,$(_bench_ratio "$cs" "$n"),$(_bench_ratio "$recv" "$n")"
        tail="$tail,$(_bench_ratio "$send" "$n"),$(_bench_ratio "$all" "$n")"
    fi

    if [ ${#cl[@]} -eq 2 ]; then
        if [ "$_bench_header_done" = 0 ]; then
            _bench_cli_cols=("${ch[@]}")
            _bench_write_header
            _bench_flush_pending
        fi
        local row="$head" known=" ${_bench_cli_cols[*]} "
        for f in "${_bench_cli_cols[@]}"; do
            row="$row,${cv[$f]:-}"
        done
        for f in "${ch[@]}"; do
            if [[ $known != *" $f "* ]] && [ "$_bench_dropped_warned" = 0 ]; then
                _bench_warn "client column '$f' is not in the first client header of $_bench_table: dropped"
                _bench_dropped_warned=1
            fi
        done
        printf '%s,%s\n' "$row" "$tail" >>"$_bench_csv"
    elif [ "$_bench_header_done" = 1 ]; then
        local row="$head"
        for f in "${_bench_cli_cols[@]}"; do
            row="$row,"
        done
        printf '%s,%s\n' "$row" "$tail" >>"$_bench_csv"
    else
        _bench_pending+=("$head"$'\037'"$tail")
    fi

    # --- one line of outcome on stderr ---
    local secs out=""
    secs=$(((t1 - t0) / 1000))
    secs="$((secs / 1000)).$(printf '%03d' "$((secs % 1000))")"
    for f in "${_bench_values_a[@]}"; do
        if [ -n "${cv[$f]+set}" ]; then
            out="$out $f=${cv[$f]}"
        elif [[ $f == srv_* ]] && [ -n "${ps[${f#srv_}]+set}" ]; then
            out="$out $f=${ps[${f#srv_}]}"
        fi
    done
    if [ "$st" = ok ]; then
        printf '      ok in %ss:%s\n' "$secs" "$out" >&2
    else
        printf '      NOT OK (%s) in %ss:%s\n' "$st" "$secs" "$out" >&2
        _bench_tail "client stderr" "$t/cli.err"
        _bench_tail "server stderr" "$t/srv.err"
    fi
}

# The unit of a column, from its name (same rules as stats.awk).
_bench_units() {
    awk -v mode=units -v values="$1" -f "$_bench_tools_dir/stats.awk" </dev/null
}

bench_report() {
    if [ -z "$_bench_table" ]; then
        _bench_warn "bench_report without bench_table"
        return 0
    fi
    if [ "$_bench_skip" = 1 ]; then
        _bench_table=""
        _bench_skip=0
        return 0
    fi
    if [ "$_bench_header_done" = 0 ]; then
        _bench_write_header
        _bench_flush_pending
    fi
    local table notes line k v
    local -A hdr=()
    while IFS= read -r line; do
        case $line in
        '# '*': '*)
            k=${line#\# }
            k=${k%%:*}
            v=${line#*: }
            hdr[$k]=$v
            ;;
        '#'*) ;;
        *) break ;;
        esac
    done <"$_bench_csv"
    table=$(awk -F, -v mode=md -f "$_bench_tools_dir/stats.awk" "$_bench_csv") ||
        _bench_warn "stats.awk failed on $_bench_csv"
    notes=$(awk -F, '
        /^#/ { next }
        !h { for (i = 1; i <= NF; i++) if ($i == "status") s = i; h = 1; next }
        { n++; if (s && $s != "ok") { bad++; why[$s]++ } }
        END {
            if (!bad) { printf "All %d runs ok.", n; exit }
            printf "%d of %d runs not ok, left out of the medians:", bad, n
            sep = " "
            for (w in why) { printf "%s%s x%d", sep, w, why[w]; sep = ", " }
            printf "."
        }' "$_bench_csv")
    local units
    units=$(_bench_units "$_bench_values")
    {
        printf '<!--\n'
        grep '^#' "$_bench_csv"
        printf -- '-->\n'
        printf '## %s\n\n' "$_bench_title"
        printf -- '- machine: %s, %s, %s cores, %s, %s, kernel %s\n' \
            "${hdr[machine]:-?}" "${hdr[cpu]:-?}" "${hdr[cores]:-?}" \
            "${hdr[memory]:-?}" "${hdr[os]:-?}" "${hdr[kernel]:-?}"
        printf -- '- date: %s, commit %s, load before: %s\n' \
            "${hdr[date]:-?}" "${hdr[commit]:-?}" "${hdr[load]:-?}"
        # shellcheck disable=SC2016
        printf -- '- command: `%s` (profile %s, runs per cell: %s)\n' \
            "${hdr[command]:-?}" "${hdr[profile]:-?}" "${hdr[runs]:-?}"
        # shellcheck disable=SC2016
        printf -- '- cells: median (min–max) of the ok runs; %s; raw runs in `%s.csv`\n' \
            "$units" "$_bench_table"
        printf '\n%s\n\n%s\n' "$table" "$notes"
    } >"$_bench_md"
    printf '\n## %s\n\n%s\n\n%s\n%s\n\n' "$_bench_title" "$table" "$units" "$notes"
    printf '   wrote %s and %s\n' "$_bench_csv" "$_bench_md" >&2
    if [ "${BENCH_PLOT:-1}" != 0 ]; then
        bash "$_bench_tools_dir/plot.sh" --from-bench "$_bench_csv" || true
    fi
    _bench_table=""
}

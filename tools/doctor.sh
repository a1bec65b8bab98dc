#!/usr/bin/env bash
# doctor.sh - what this machine has, and lacks, for each lesson.
#
#   tools/doctor.sh          (make doctor)
#
# One line per check: ok, limited (works, with less than a lesson wants)
# or missing, what was found, and which lesson needs it. Changes nothing
# on the machine (the namespace check creates one namespace and deletes
# it at once, through tools/netns.sh check). Exit status: 1 when a
# required item (a C compiler, make) is missing, else 0: everything else
# is optional and the lessons skip it with a message.
# Environment: CC (the compiler to look for first), O (build directory:
# the io_uring probe is $O/tools/bin/uring_probe), PLOT_PYTHON as for
# tools/plot.sh (none: as if no python had matplotlib).
set -u

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
-h | --help)
    sed -n '2,14s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
esac

required_missing=0
# say STATUS WHAT DETAIL LESSON
say() { printf '%-8s %-18s %s  [%s]\n' "$1" "$2" "$3" "$4"; }
have() { command -v "$1" >/dev/null 2>&1; }
first_line() { "$@" 2>&1 | head -n 1; }

check_compiler() {
    local c
    for c in ${CC:-} cc gcc clang; do
        if have "$c"; then
            say ok compiler "$c: $(first_line "$c" --version)" "every lesson (C11)"
            return
        fi
    done
    say missing compiler "no cc, gcc or clang on PATH (apt-get install gcc)" "every lesson"
    required_missing=1
}

check_make() {
    if have make; then
        say ok make "$(first_line make --version)" "every lesson"
    else
        say missing make "no make on PATH (apt-get install make)" "every lesson"
        required_missing=1
    fi
}

check_kernel() {
    local r major minor
    r=$(uname -r)
    major=${r%%.*} minor=${r#*.}
    minor=${minor%%[!0-9]*}
    if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "${minor:-0}" -ge 6 ]; }; then
        say ok kernel "Linux $r" "every lesson; io_uring wants 5.6 or later"
    else
        say limited kernel "Linux $r: older than 5.6, io_uring's accept/recv/send may be missing" "part 3 (uring)"
    fi
}

check_io_uring() {
    local sysctl=/proc/sys/kernel/io_uring_disabled disabled="" probe out
    [ -r "$sysctl" ] && disabled=$(cat "$sysctl")
    if [ -n "${O:-}" ]; then probe=$O/tools/bin/uring_probe; else probe=$tools/bin/uring_probe; fi
    if [ ! -x "$probe" ]; then
        say limited io_uring "not probed: build $probe first (make)${disabled:+; kernel.io_uring_disabled=$disabled}" "part 3 (server_uring)"
        return
    fi
    if out=$("$probe" 2>&1); then
        say ok io_uring "io_uring_setup() works${disabled:+ (kernel.io_uring_disabled=$disabled)}" "part 3 (server_uring)"
    else
        say missing io_uring "${out#io_uring: }${disabled:+; kernel.io_uring_disabled=$disabled (0 allows it)}" "part 3 (server_uring; its tests skip)"
    fi
}

# Part 3 (c) holds 2000 idle connections (default) or 19000 (full), and
# select's wall at FD_SETSIZE (1024) only shows when more are allowed.
check_nofile() {
    local soft hard detail
    soft=$(ulimit -Sn) hard=$(ulimit -Hn)
    detail="soft $soft, hard $hard"
    if [ "$soft" = unlimited ] || [ "$soft" -ge 20000 ]; then
        say ok "ulimit -n" "$detail" "part 3 (c) full profile needs ~20000"
    elif [ "$soft" -gt 2100 ]; then
        say limited "ulimit -n" "$detail: enough for the default profile; the full one wants ~20000 (ulimit -n 20000, up to the hard limit)" "part 3 (c)"
    elif [ "$soft" -gt 1024 ]; then
        say limited "ulimit -n" "$detail: select's wall shows, but 2000 connections do not fit; run ulimit -n 4096 first" "part 3 (a), (c)"
    else
        say limited "ulimit -n" "$detail: at 1024 every server stops where select does; run ulimit -n 4096 (full profile: 20000) first" "part 3 (a), (c)"
    fi
    if [ "$hard" != unlimited ] && [ "$hard" -lt 20000 ]; then
        say limited "ulimit -n (hard)" "hard $hard < 20000: the full profile's 19000 connections need root to raise it (limits.conf, or LimitNOFILE)" "part 3 (c) full profile"
    fi
}

check_ports() {
    local f=/proc/sys/net/ipv4/ip_local_port_range lo hi n
    if [ ! -r "$f" ]; then
        say limited "ephemeral ports" "cannot read $f" "part 2 (b), part 3"
        return
    fi
    read -r lo hi <"$f"
    n=$((hi - lo + 1))
    if [ "$n" -ge 10000 ]; then
        say ok "ephemeral ports" "$lo-$hi ($n per source address)" "part 2 (b) 10,000 connections, part 3 (c)"
    else
        say limited "ephemeral ports" "$lo-$hi, only $n per source address: 10,000 short connections will run out (TIME_WAIT)" "part 2 (b), part 3 (c)"
    fi
}

check_netns() {
    local out
    if out=$(NETNS_PREFIX="doctor$$" "$tools/netns.sh" check 2>&1); then
        say ok "namespaces" "root, iproute2, and network namespaces can be created" "part 4 (d) veth column, docs/two-hosts.md"
    else
        say missing "namespaces" "${out#netns.sh: }" "part 4 (d) veth column, docs/two-hosts.md"
    fi
}

# Which python make plots would use: tools/plot.sh's order.
check_matplotlib() {
    local cands=() c found="" notes="" v
    [ "${PLOT_PYTHON:-}" = none ] || cands=(${PLOT_PYTHON:+"$PLOT_PYTHON"} python3 /usr/bin/python3)
    for c in "${cands[@]}"; do
        if ! have "$c"; then
            notes="$notes; $c: not found"
        elif v=$("$c" -c 'import matplotlib; print(matplotlib.__version__)' 2>/dev/null); then
            notes="$notes; $c: matplotlib $v"
            [ -n "$found" ] || found=$c
        else
            notes="$notes; $c ($(command -v "$c")): no matplotlib"
        fi
    done
    [ "${PLOT_PYTHON:-}" != none ] || notes="; PLOT_PYTHON=none"
    if [ -n "$found" ]; then
        say ok matplotlib "make plots uses $found${notes}" "PNG plots of every table"
    else
        say missing matplotlib "no python with matplotlib${notes} (apt-get install python3-matplotlib); make plots draws text charts" "PNG plots of every table"
    fi
}

check_perf() {
    local out
    if ! have perf; then
        say missing perf "not installed (apt-get install linux-perf)" "part 4 (c) counters"
        return
    fi
    if ! out=$(perf stat -e task-clock true 2>&1) || [[ $out != *task-clock* ]]; then
        say missing perf "perf stat fails here (kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null))" "part 4 (c) counters"
    elif out=$(perf stat -e cycles true 2>&1) && [[ $out != *"not supported"* && $out != *"not counted"* ]]; then
        say ok perf "software and hardware events (cycles)" "part 4 (c) counters"
    else
        say limited perf "software events only: no hardware counters (a virtual machine?); cycles and cache misses show as not supported" "part 4 (c) counters"
    fi
}

# check_tool NAME LESSON
check_tool() {
    if have "$1"; then
        say ok "$1" "$(command -v "$1")" "$2"
    else
        say missing "$1" "not installed (apt-get install $3)" "$2"
    fi
}

check_compiler
check_make
check_kernel
check_io_uring
check_nofile
check_ports
check_netns
check_matplotlib
check_perf
check_tool strace "part 3 (the system calls of epoll and epoll -e)" strace
check_tool nc "part 1 exercises (talk to the server by hand)" netcat-openbsd
check_tool iperf3 "part 4 (a) reference column" iperf3
check_tool timeout "make bench (coreutils)" coreutils
if [ "$required_missing" = 1 ]; then
    echo "doctor: a required tool is missing: the lessons cannot be built"
    exit 1
fi
echo "doctor: the lessons can be built here; what is limited or missing is optional and skipped with a message"

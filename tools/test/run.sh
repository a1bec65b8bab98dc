#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # bash -c '...$1...' on purpose; trap-called functions
# run.sh - the tests of tools/: stats.awk, procsample, bench.sh, plot.sh,
# check-results.sh, doctor.sh, netns.sh.
#
#   make -C tools && tools/test/run.sh        (env O: the build directory)
#
# One line per check: 'PASS suite: name', 'FAIL suite: name - reason' or
# 'N/A suite: name - reason'; exits 1 if any check failed. Builds nothing.
# Small loads only, every wait bounded; whole run well under 60 s.
set -u
case "${1:-}" in
    -h|--help) sed -n '3,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=$(dirname "$here")
if [ -n "${O:-}" ]; then
    bin="$O/tools/bin"
else
    bin="$tools/bin"
fi

failed=0
suite=tools
pass() { printf 'PASS %s: %s\n' "$suite" "$1"; }
fail() {
    printf 'FAIL %s: %s - %s\n' "$suite" "$1" "$2"
    failed=$((failed + 1))
}
na() { printf 'N/A %s: %s - %s\n' "$suite" "$1" "$2"; }
# check NAME REASON-IF-FALSE COMMAND...
check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-test.XXXXXX") || exit 1
mypids=""
cleanup() {
    local p
    for p in $mypids; do
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf -- "$tmp"
}
trap cleanup EXIT

now_ms() { local t=${EPOCHREALTIME//[.,]/}; printf '%s' "$((10#$t / 1000))"; }
nap() { sleep "$1"; }
# wait_for SECONDS COMMAND...: poll until COMMAND succeeds, bounded.
wait_for() {
    local end=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        nap 0.02
    done
}
# alive PID: exists and is not a zombie (an orphan's zombie may linger when
# PID 1 is slow to reap, as in some containers: it is dead for us).
alive() {
    local line
    kill -0 "$1" 2>/dev/null || return 1
    { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    line=${line##*) }
    [ "${line%% *}" != Z ]
}
dead() { ! alive "$1"; }
# count_alive FILE...: how many of the pids listed in the files are alive
count_alive() {
    local p n=0
    # shellcheck disable=SC2013  # pids, words on purpose
    for p in $(cat "$@" 2>/dev/null); do
        if alive "$p"; then n=$((n + 1)); fi
    done
    printf '%s' "$n"
}
# field KEY LINE: the value of KEY=... in a procsample line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# float_between X LO HI
float_between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x + 0 >= lo && x + 0 <= hi) }'; }
has_line() { grep -qxF -- "$2" "$1"; }
has_re() { grep -qE -- "$2" "$1"; }

###########################################################################
suite=tools/stats
cat >"$tmp/s.csv" <<'EOF'
# machine: test
# title: Known input
# report: rows=n cols=model values=wall_s,lat_us
table,model,n,run,status,wall_s,lat_us,model
t,a,1,1,ok,1.0,10,zz
t,a,1,2,ok,3.0,,zz
t,a,1,3,ok,2.0,30,zz
t,a,2,1,ok,4,1e3,zz
t,a,2,2,client_exit=3,100,1,zz
t,a,2,3,ok,6,2000,zz
t,b,1,1,ok,1,0.5,zz
t,b,1,2,ok,2,0.5,zz
t,b,1,3,ok,3,0.25,zz
t,b,1,4,ok,10,0.123456,zz
t,b,2,1,timeout,,,zz
t,c,1,1,ok,3.14159,12345.6,zz
EOF
stats() { awk -F, -f "$tools/stats.awk" "$@"; }
stats -v mode=long "$tmp/s.csv" >"$tmp/s.long" 2>"$tmp/s.err"
check "long output runs" "$(head -c 200 "$tmp/s.err")" [ -s "$tmp/s.long" ]
check "median of an odd N (1,3,2 -> 2), min, max" "$(grep '^1,a,wall_s' "$tmp/s.long")" \
    has_line "$tmp/s.long" "1,a,wall_s,3,3,3,2,1,3"
check "median of an even N (1,2,3,10 -> 2.5)" "$(grep '^1,b,wall_s' "$tmp/s.long")" \
    has_line "$tmp/s.long" "1,b,wall_s,4,4,4,2.5,1,10"
check "empty field = not measured, skipped (10,30 -> 20)" "$(grep '^1,a,lat_us' "$tmp/s.long")" \
    has_line "$tmp/s.long" "1,a,lat_us,2,3,3,20,10,30"
check "failed run excluded (4,[100],6 -> 5)" "$(grep '^2,a,wall_s' "$tmp/s.long")" \
    has_line "$tmp/s.long" "2,a,wall_s,2,2,3,5,4,6"
check "exponent numbers (1e3,2000 -> 1500)" "$(grep '^2,a,lat_us' "$tmp/s.long")" \
    has_line "$tmp/s.long" "2,a,lat_us,2,2,3,1500,1000,2000"
check "one run" "$(grep '^1,c,wall_s' "$tmp/s.long")" \
    has_line "$tmp/s.long" "1,c,wall_s,1,1,1,3.14159,3.14159,3.14159"
check "no ok run gives an empty median" "$(grep '^2,b,wall_s' "$tmp/s.long")" \
    has_line "$tmp/s.long" "2,b,wall_s,0,0,1,,,"
check "groups keep first-seen order" "$(grep -v '^#' "$tmp/s.long" | cut -d, -f1,2 | uniq | tr '\n' ' ')" \
    [ "$(grep -v '^#' "$tmp/s.long" | cut -d, -f1,2 | uniq | tr '\n' ' ')" = "row,col 1,a 1,b 1,c 2,a 2,b " ]
check "units line" "$(grep '^# units' "$tmp/s.long")" has_line "$tmp/s.long" "# units: s,µs"
stats -v mode=long -v cols=- -v values=wall_s "$tmp/s.csv" >"$tmp/s.pool" 2>&1
check "cols=- pools the other keys (1,3,2,1,2,3,10,3.14159 -> 2.5)" "$(grep '^1,' "$tmp/s.pool")" \
    has_line "$tmp/s.pool" "1,,wall_s,8,8,8,2.5,1,10"
stats -v mode=md "$tmp/s.csv" >"$tmp/s.md" 2>&1
check "md header row" "$(head -n 1 "$tmp/s.md")" \
    has_line "$tmp/s.md" "| n | a wall_s | a lat_us | b wall_s | b lat_us | c wall_s | c lat_us |"
check "md cells: median (min–max), one run alone, 3 significant digits" "$(sed -n 3p "$tmp/s.md")" \
    has_line "$tmp/s.md" "| 1 | 2 (1–3) | 20 (10–30) | 2.50 (1.00–10.00) | 0.375 (0.123–0.500) | 3.14 | 12346 |"
check "md cells: failed runs counted, — without ok run or not run" "$(sed -n 4p "$tmp/s.md")" \
    has_line "$tmp/s.md" "| 2 | 5 (4–6) [2/3 ok] | 1500 (1000–2000) [2/3 ok] | — [0/1 ok] | — [0/1 ok] | — | — |"
printf '# report: rows=n cols= values=v\nn,status,v\n1,ok,5\n1,ok,5\n1,ok,5\n2,ok,0.25\n2,ok,0.5\n2,ok,0.75\n' >"$tmp/same.csv"
stats -v mode=md "$tmp/same.csv" >"$tmp/same.md" 2>&1
check "md: runs that all agree show the value alone; spread at the median's precision" "$(tail -n 2 "$tmp/same.md" | tr '\n' ' ')" \
    [ "$(tail -n 2 "$tmp/same.md" | tr '\n' ' ')" = "| 1 | 5 | | 2 | 0.500 (0.250–0.750) | " ]
units=$(awk -v mode=units -v values=wall_s,first_max_ms,lat_p99_us,req_per_s,mb_s_recv,srv_rss_kib,srv_cpu_pct,errors -f "$tools/stats.awk" </dev/null)
rps=$(awk -v mode=units -v values=offered_rps,achieved_rps -f "$tools/stats.awk" </dev/null)
check "offered and achieved rates in requests/s" "$rps" [ "$rps" = "offered_rps in requests/s, achieved_rps in requests/s" ]
check "units from column names" "$units" [ "$units" = "wall_s in s, first_max_ms in ms, lat_p99_us in µs, req_per_s in requests/s, mb_s_recv in MB/s, srv_rss_kib in KiB, srv_cpu_pct in %, errors (count)" ]
printf '# report: rows=n values=x\nn,x\n' >"$tmp/bad.csv"
printf '# title: none\na,b\n1,2\n' >"$tmp/bad2.csv"
check "missing report line is an error" "exit 0" \
    bash -c '! awk -F, -f "$1" "$2" >/dev/null 2>&1' _ "$tools/stats.awk" "$tmp/bad2.csv"

###########################################################################
suite=tools/procsample
ps_bin="$bin/procsample"
tree_bin="$bin/tree"
if [ ! -x "$ps_bin" ] || [ ! -x "$tree_bin" ]; then
    fail "built" "no $ps_bin or $tree_bin: run make -C tools first"
else
    # Full tree: 40 MiB, 3 threads, child A burns 0.3 s and is reaped,
    # children B and C held, the root burns 0.2 s.
    "$tree_bin" -w -m 40 -r 300 -b 200 -H 400 -f 10 2>"$tmp/tree.err" &
    tp=$!
    mypids="$mypids $tp"
    timeout -k 5 30 "$ps_bin" -p "$tp" -i 50 -v >"$tmp/ps1.out" 2>"$tmp/ps1.err" &
    sp=$!
    mypids="$mypids $sp"
    wait_for 5 test -s "$tmp/ps1.err" || true
    kill -USR1 "$tp" 2>/dev/null
    rc=0
    wait "$sp" || rc=$?
    wait "$tp" 2>/dev/null || true
    line=$(cat "$tmp/ps1.out")
    check "exits 0 when the process exits" "rc=$rc: $(tail -n 2 "$tmp/ps1.err")" [ "$rc" = 0 ]
    check "one line with the 8 fields" "'$line'" \
        bash -c '[[ $1 =~ ^cpu_s=[0-9.]+\ cpu_pct=[0-9.]+\ rss_kib=[0-9]+\ threads=[0-9]+\ children=[0-9]+\ fds=[0-9]+\ samples=[0-9]+\ wall_s=[0-9.]+$ ]]' _ "$line"
    v=$(field children "$line")
    check "children = 2 (peak descendants)" "children=$v" [ "${v:-x}" = 2 ]
    v=$(field threads "$line")
    check "threads >= 6 (1+3 in the root, 1 in each child)" "threads=$v" [ "${v:-0}" -ge 6 ]
    v=$(field rss_kib "$line")
    check "rss >= 40 MiB" "rss_kib=$v" [ "${v:-0}" -ge 40960 ]
    v=$(field fds "$line")
    check "fds >= 13 (3 + 10 opened)" "fds=$v" [ "${v:-0}" -ge 13 ]
    v=$(field cpu_s "$line")
    check "cpu_s in 0.2..5 (0.5 s burnt)" "cpu_s=$v" float_between "$v" 0.2 5
    v=$(field samples "$line")
    check "several samples" "samples=$v" [ "${v:-0}" -ge 3 ]

    # Only a reaped child burns CPU: it must still be counted.
    "$tree_bin" -w -m 0 -r 400 -b 0 -H 100 -f 0 2>>"$tmp/tree.err" &
    tp=$!
    mypids="$mypids $tp"
    timeout -k 5 30 "$ps_bin" -p "$tp" -i 50 -v >"$tmp/ps2.out" 2>"$tmp/ps2.err" &
    sp=$!
    mypids="$mypids $sp"
    wait_for 5 test -s "$tmp/ps2.err" || true
    kill -USR1 "$tp" 2>/dev/null
    wait "$sp" || true
    wait "$tp" 2>/dev/null || true
    v=$(field cpu_s "$(cat "$tmp/ps2.out")")
    check "a reaped child's CPU is counted (0.4 s)" "cpu_s=$v ($(cat "$tmp/ps2.out"))" float_between "$v" 0.25 5

    # -c: context switches of every thread ever seen, read/write system calls.
    "$tree_bin" -w -m 0 -r 200 -b 100 -H 100 -f 0 2>>"$tmp/tree.err" &
    tp=$!
    mypids="$mypids $tp"
    timeout -k 5 30 "$ps_bin" -p "$tp" -i 50 -c -v >"$tmp/ps4.out" 2>"$tmp/ps4.err" &
    sp=$!
    mypids="$mypids $sp"
    wait_for 5 test -s "$tmp/ps4.err" || true
    kill -USR1 "$tp" 2>/dev/null
    wait "$sp" || true
    wait "$tp" 2>/dev/null || true
    line=$(cat "$tmp/ps4.out")
    check "-c: the 8 fields, then ctx_vol ctx_invol syscr syscw" "'$line'" \
        bash -c '[[ $1 =~ \ wall_s=[0-9.]+\ ctx_vol=[0-9]+\ ctx_invol=[0-9]+\ syscr=[0-9]+\ syscw=[0-9]+$ ]]' _ "$line"
    v=$(( $(field ctx_vol "$line") + $(field ctx_invol "$line") ))
    check "-c: the tree's threads switched context (a reaped child's count kept)" "$line" [ "$v" -gt 0 ]

    # SIGTERM: one last sample, the line, exit 0, promptly.
    sleep 30 &
    slp=$!
    mypids="$mypids $slp"
    "$ps_bin" -p "$slp" -i 100 -o "$tmp/ps3.out" 2>"$tmp/ps3.err" &
    sp=$!
    mypids="$mypids $sp"
    nap 0.3
    t0=$(now_ms)
    kill -TERM "$sp"
    wait_for 3 dead "$sp" || true
    rc=0
    wait "$sp" || rc=$?
    t1=$(now_ms)
    line=$(cat "$tmp/ps3.out" 2>/dev/null)
    ok=0
    [ "$rc" = 0 ] && [ $((t1 - t0)) -lt 2000 ] && ok=1
    check "SIGTERM stops it within 2 s, exit 0" "rc=$rc after $((t1 - t0)) ms" [ "$ok" = 1 ]
    check "-o FILE gets the line" "'$line'" [ -n "$line" ]
    check "a lone sleep: children=0 threads=1 cpu_s=0" "$line" \
        bash -c '[[ $1 == *" threads=1 children=0 "* && $1 == cpu_s=0.00* ]]' _ "$line"
    # -t bounds the duration.
    t0=$(now_ms)
    line=$(timeout -k 5 10 "$ps_bin" -p "$slp" -t 1 2>/dev/null)
    t1=$(now_ms)
    ok=0
    [ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 5000 ] && ok=1
    check "-t 1 stops after about 1 s" "$((t1 - t0)) ms: $line" [ "$ok" = 1 ]
    kill "$slp" 2>/dev/null
    wait "$slp" 2>/dev/null
    # A pid that does not exist, bad usage.
    rc=0
    out=$("$ps_bin" -p 999999999 2>/dev/null) || rc=$?
    check "no such process: exit 1, no line" "rc=$rc out='$out'" [ "$rc/$out" = 1/ ]
    rc=0
    "$ps_bin" -x >/dev/null 2>&1 || rc=$?
    check "bad option: exit 2" "rc=$rc" [ "$rc" = 2 ]
fi

###########################################################################
suite=tools/bench
Q="$tmp/q"
mkdir -p "$Q"
printf '1.0 10 0\n3.0 30 0\n2.0 20 0\n' >"$Q/q1"
printf '4 40 0\n9 90 3\n6 60 0\n' >"$Q/q2"
printf '7 70 0\n8 80 0\n9 90 0\n' >"$Q/q3"
printf '1 1 0\n1 1 0\n1 1 0\n' >"$Q/q4"
printf '1 1 0 3\n1 1 bad\n' >"$Q/q5"
fake="$here/fake_timing.sh"
export QDIR="$Q" BENCH_PLOT=0 BENCH_BANNER_WAIT=1 BENCH_STOP_WAIT=1
if [ ! -x "$ps_bin" ]; then
    fail "procsample built" "no $ps_bin: run make -C tools first"
else
    rc=0
    O="${O:-}" "$fake" --out "$tmp/res" --runs 3 --only t1 >"$tmp/b1.out" 2>"$tmp/b1.err" || rc=$?
    csv="$tmp/res/t1.csv"
    check "a timing script runs, exit 0" "rc=$rc: $(tail -n 3 "$tmp/b1.err")" [ "$rc" = 0 ]
    check "raw CSV header" "$(grep -v '^#' "$csv" 2>/dev/null | head -n 1)" has_line "$csv" \
        "table,model,n,run,status,connections,requests,errors,wall_s,first_max_ms,lat_p50_us,port,host,srv_cpu_s,srv_cpu_pct,srv_rss_kib,srv_threads,srv_children,srv_fds,srv_conns,srv_zc_sends,srv_note,srv_absent"
    missing=""
    for k in machine cpu cores memory kernel os date commit table title command profile runs report; do
        grep -q "^# $k: ." "$csv" 2>/dev/null || missing="$missing $k"
    done
    check "machine header lines" "missing:$missing" [ -z "$missing" ]
    check "report line" "$(grep '^# report' "$csv")" has_line "$csv" "# report: rows=n cols=model values=wall_s,first_max_ms"
    check "command line recorded" "$(grep '^# command' "$csv")" has_re "$csv" "^# command: .*fake_timing\.sh --out .* --runs 3 --only t1$"
    check "command relative to the repository root" "$(grep '^# command' "$csv")" has_re "$csv" "^# command: tools/test/fake_timing\.sh --out /"
    n=$(grep -vc '^#' "$csv")
    check "one row per run, all kept (9 + header)" "$n lines" [ "$n" = 10 ]
    check "ok row: keys, run, client values, {port} and {host} replaced, server fields" \
        "$(grep '^t1,a,1,1,' "$csv")" \
        has_re "$csv" '^t1,a,1,1,ok,4,400,0,1\.0,10,,[0-9]+,127\.0\.0\.1,[0-9.]+,[0-9.]+,[1-9][0-9]*,[1-9][0-9]*,1,[1-9][0-9]*,7,12,a;b,$'
    check "failed client run recorded, not ok" "$(grep '^t1,a,2,2,' "$csv")" \
        has_re "$csv" '^t1,a,2,2,client_exit=3,,,,,,,,,[0-9.]+,'
    check "cell without server: no sampling, no {port}" "$(grep '^t1,none,1,1,' "$csv")" \
        has_line "$csv" 't1,none,1,1,ok,4,400,0,7,70,,{port},{host},,,,,,,,,,'
    md="$tmp/res/t1.md"
    check "md: median row, failed run left out of the median" "$(grep '^| 2 ' "$md")" \
        has_line "$md" "| 2 | 5 (4–6) [2/3 ok] | 50 (40–60) [2/3 ok] | — | — |"
    check "md: medians of three runs" "$(grep '^| 1 ' "$md")" \
        has_line "$md" "| 1 | 2 (1–3) | 20 (10–30) | 8 (7–9) | 80 (70–90) |"
    check "md: header kept as comment lines, title, list" "$(head -n 3 "$md")" \
        bash -c 'grep -qx "<!--" "$1" && grep -q "^# machine: " "$1" && grep -qx "## Fake table one" "$1" && grep -q "^- machine: " "$1"' _ "$md"
    check "md table printed on stdout" "$(head -n 5 "$tmp/b1.out")" \
        has_line "$tmp/b1.out" "| 2 | 5 (4–6) [2/3 ok] | 50 (40–60) [2/3 ok] | — | — |"
    check "progress: first line, no ETA yet" "$(grep '^\[' "$tmp/b1.err" | head -n 1)" \
        has_line "$tmp/b1.err" "[1/9] model=a n=1 run 1/3 eta ?"
    check "progress: ETA once a run is done" "$(grep '^\[2/9\]' "$tmp/b1.err")" \
        has_re "$tmp/b1.err" '^\[2/9\] model=a n=1 run 2/3 eta [0-9]+s$'
    check "progress: last line" "$(grep '^\[9/9\]' "$tmp/b1.err")" \
        has_re "$tmp/b1.err" '^\[9/9\] n=1 model=none run 3/3 eta [0-9]+s$'
    check "--only skips the other tables" "t2.csv exists" [ ! -e "$tmp/res/t2.csv" ]
    n=$(count_alive "$Q/srv.pids")
    check "servers and their children stopped" "$n still alive" [ "$n" = 0 ]

    rc=0
    "$fake" --out "$tmp/res" --runs 1 --only t2 >"$tmp/b2.out" 2>"$tmp/b2.err" || rc=$?
    csv="$tmp/res/t2.csv"
    check "failures do not stop the script" "rc=$rc: $(tail -n 3 "$tmp/b2.err")" [ "$rc" = 0 ]
    for c in "nobanner server_no_banner" "killed server_killed" "exit3 server_exit=3" \
        "timeout timeout" "badcsv client_bad_csv"; do
        read -r cname cstatus <<<"$c"
        check "status $cstatus" "$(grep "^t2,$cname," "$csv")" has_re "$csv" "^t2,$cname,1,$cstatus,"
    done
    n=$(count_alive "$Q/killed.pids")
    check "a server ignoring SIGTERM is killed with its child" "$n still alive" [ "$n" = 0 ]
    check "md without --cols: one column per value" "$(grep '^| case' "$tmp/res/t2.md")" \
        has_line "$tmp/res/t2.md" "| case | wall_s | srv_children |"
    check "md: no ok run gives —" "$(grep '^| killed' "$tmp/res/t2.md")" \
        has_line "$tmp/res/t2.md" "| killed | — [0/1 ok] | — [0/1 ok] |"

    rc=0
    "$fake" --help >"$tmp/h.out" 2>&1 || rc=$?
    check "--help: usage with the script's line, exit 0" "rc=$rc" \
        bash -c '[ "$1" = 0 ] && grep -q "^usage: .*--runs N" "$2" && grep -q "^Fake tables for the tools tests" "$2"' _ "$rc" "$tmp/h.out"
    for bad in "--bogus" "--runs 0" "--runs x" "--profile huge" "--runs"; do
        rc=0
        # shellcheck disable=SC2086  # split on purpose
        "$fake" $bad >/dev/null 2>&1 || rc=$?
        check "bad arguments '$bad': exit 2" "rc=$rc" [ "$rc" = 2 ]
    done

    # SIGTERM while a client runs: the script stops, and so does everything it started.
    rm -f "$Q/q1.n" "$Q/q1.pid" "$Q/srv.pids"
    printf '1 1 0 20\n' >"$Q/q1"
    "$fake" --out "$tmp/res3" --runs 1 --only t1 >"$tmp/b3.out" 2>"$tmp/b3.err" &
    bp=$!
    mypids="$mypids $bp"
    wait_for 10 test -s "$Q/q1.pid" || true
    nap 0.2
    kill -TERM "$bp"
    wait_for 10 dead "$bp" || true
    rc=0
    wait "$bp" || rc=$?
    check "SIGTERM to the timing script: exit 143, says so" "rc=$rc" \
        bash -c '[ "$1" = 143 ] && grep -q "interrupted (TERM)" "$2"' _ "$rc" "$tmp/b3.err"
    n=$(count_alive "$Q/srv.pids" "$Q/q1.pid")
    check "... and stops its server, the server's child and the client" "$n still alive" [ "$n" = 0 ]
fi

###########################################################################
suite=tools/plot
if [ -s "$tmp/res/t1.csv" ]; then
    rc=0
    "$tools/plot.sh" --text "$tmp/res/t1.csv" >"$tmp/p1.out" 2>&1 || rc=$?
    check "--text: exit 0, title" "rc=$rc" bash -c '[ "$1" = 0 ] && grep -qx "Fake table one" "$2"' _ "$rc" "$tmp/p1.out"
    check "--text: value name and unit" "$(sed -n 2p "$tmp/p1.out")" has_re "$tmp/p1.out" '^  wall_s \(s\): median'
    check "--text: bars scaled to the largest median, with min–max" "$(sed -n 3,6p "$tmp/p1.out")" \
        bash -c 'grep -qE "^  n=1  a     #{10} {30} 2 \[1–3\]$" "$1" && grep -qE "^       none  #{40} 8 \[7–9\]$" "$1"' _ "$tmp/p1.out"
    rc=0
    PLOT_PYTHON=none "$tools/plot.sh" "$tmp/res" >"$tmp/p2.out" 2>"$tmp/p2.err" || rc=$?
    check "no matplotlib: text charts of every table and the hint" "rc=$rc" \
        bash -c '[ "$1" = 0 ] && grep -qx "Fake table one" "$2" && grep -qx "Fake table two: failures" "$2" && grep -q "apt-get install python3-matplotlib" "$3"' _ "$rc" "$tmp/p2.out" "$tmp/p2.err"
    mkdir -p "$tmp/empty"
    rc=0
    "$tools/plot.sh" "$tmp/empty" >/dev/null 2>&1 || rc=$?
    check "no results: exit 1" "rc=$rc" [ "$rc" = 1 ]
    py=""
    for cand in python3 /usr/bin/python3; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import matplotlib' >/dev/null 2>&1; then
            py=$cand
            break
        fi
    done
    if [ -n "$py" ]; then
        rc=0
        "$tools/plot.sh" "$tmp/res" >"$tmp/p3.out" 2>&1 || rc=$?
        check "PNG per table" "rc=$rc: $(tail -n 2 "$tmp/p3.out")" \
            bash -c '[ "$1" = 0 ] && [ "$(head -c 4 "$2" | tail -c 3)" = PNG ] && [ "$(head -c 4 "$3" | tail -c 3)" = PNG ]' \
            _ "$rc" "$tmp/res/t1.png" "$tmp/res/t2.png"
    else
        na "PNG per table" "no python3 with matplotlib (apt-get install python3-matplotlib)"
    fi
else
    fail "plot tests" "no bench results to plot"
fi


###########################################################################
suite=tools/check-results
refroot=$(cd "$tools/.." && pwd)/docs/results
refdir=""
for d in "$refroot"/*/; do
    refdir=${d%/}
    break
done
# edit_csv FILE 'key=value ...' COLUMN OP: apply OP ("*3", "=0") to COLUMN
# in the runs whose key columns have those values (keys: first column of
# that name, values: the last, as stats.awk reads them).
edit_csv() {
    awk -F, -v OFS=, -v keys="$2" -v col="$3" -v op="$4" '
        /^#/ { print; next }
        !h {
            for (i = NF; i >= 1; i--) { first[$i] = i }
            for (i = 1; i <= NF; i++) { lastcol[$i] = i }
            n = split(keys, kv, " ")
            h = 1; print; next
        }
        {
            for (k = 1; k <= n; k++) {
                split(kv[k], p, "=")
                if ($(first[p[1]]) != p[2]) { print; next }
            }
            c = lastcol[col]
            if (substr(op, 1, 1) == "*") $c = $c * substr(op, 2)
            else $c = substr(op, 2)
            print
        }' "$1" >"$1.new" && mv -- "$1.new" "$1"
}
# fresh_copy SRC: $tmp/cr, a copy of the CSV files of SRC
fresh_copy() {
    rm -rf -- "$tmp/cr"
    mkdir -p "$tmp/cr"
    cp -- "$1"/*.csv "$tmp/cr/"
}
mkdir -p "$tmp/noref"       # (no reference: the figures beside each line are not tested)
if [ -z "$refdir" ] || [ ! -f "$refdir/part1_b.csv" ]; then
    fail "check-results" "no reference results under docs/results/"
else
    for prof in default full; do
        d=$refdir
        [ "$prof" = default ] || d=$refdir/full
        rc=0
        "$tools/check-results.sh" "$d" >"$tmp/cr.out" 2>&1 || rc=$?
        # MISSING only for a table the reference has not measured yet
        # (part3_e and part3_f until the next reference run): a line of a
        # table the reference has is never MISSING.
        unmeasured=$(awk '/^MISSING / { print $2 }' "$tmp/cr.out" | sort -u)
        notref=""
        for t in $unmeasured; do
            if [ -f "$d/$t.csv" ]; then notref="$notref $t"; fi
        done
        refmissing=$(grep -c '^MISSING ' "$tmp/cr.out")
        check "$prof profile reference: every phenomenon PASS, exit 0" "rc=$rc: $(grep -v '^PASS' "$tmp/cr.out" | head -n 5)" \
            bash -c '[ "$1" = 0 ] && ! grep -qE "^FAIL" "$2" && [ -z "$3" ] && [ "$(grep -c "^PASS" "$2")" -ge 30 ] &&
                grep -qE "^[0-9]+ phenomena: [0-9]+ reproduced \(PASS\), 0 not \(FAIL\), $4 not measured" "$2"' _ "$rc" "$tmp/cr.out" "$notref" "$refmissing"
        if [ -n "$unmeasured" ]; then
            printf '  (the %s reference has no %s yet: those rules are tested when it does)\n' "$prof" "${unmeasured//$'\n'/ }"
        fi
    done
    # (refmissing, from here on: the default reference's unmeasured rules)
    refmissing=$("$tools/check-results.sh" "$refdir" 2>/dev/null | grep -c '^MISSING ')
    # The full profile is compared with full/: part3_b runs 100 to 4000 there.
    check "a full-profile table is compared with the reference's full/" "$(grep 'part3_b .*linearly' "$tmp/cr.out")" \
        has_re "$tmp/cr.out" 'part3_b .*N ×40 \(reference: .*N ×40\)'

    # Each phenomenon broken in turn: "TABLE|line text|edit;edit..." where an
    # edit is "keys|COLUMN|OP" for edit_csv.
    broken=(
        "part1_a|a round trip takes longer|size=64K|lat_p50_us|=1"
        "part1_b|iterative total grows|n=16|wall_s|*2"
        "part1_b|last client waits|n=16|first_max_ms|*0.5"
        "part2_a|iterative grows as N|model=iterative n=20|wall_s|*0.5"
        "part2_a| fork stays flat|model=fork n=20|wall_s|*2"
        "part2_a|thread stays flat|model=thread n=20|wall_s|*2"
        "part2_a|prefork stays flat|model=prefork n=20|wall_s|*2"
        "part2_a|pool stays flat|model=pool n=20|wall_s|*2"
        "part2_b|spends the most server CPU|model=fork|srv_cpu_s|*0.1"
        "part2_b|fewest connections per second|model=fork|req_per_s|*10"
        "part2_b|prefork and pool spend less CPU|model=pool-w4|srv_cpu_s|*10"
        "part2_c|idle sessions cost processes|model=thread|srv_rss_kib|*1000"
        "part3_a|select refuses clients past|case=100/select|conn_failed|=3"
        "part3_a|poll and epoll refuse no client|case=500/epoll|conn_failed|=7"
        "part3_a|keep their RSS|case=1000/poll|srv_rss_kib|*5"
        "part3_a|fork's RSS at the largest N|case=1000/fork|srv_rss_kib|=2000"
        "part3_b|response time grows|conns=1000|lat_avg_us|*0.05"
        "part3_b|completes every connection|conns=500|conn_failed|=3"
        "part3_c|select holds no more than|model=select|connections|=2000"
        "part3_c|hold every connection up to|model=epoll|connections|=1500"
        "part3_c|RSS per connection|model=fork|srv_rss_kib|=2000"
        "part3_d|moves fewer requests|model=thread|req_per_s|*2"
        "part3_d|more CPU per request|model=thread|srv_cpu_pct|*0.4"
        "part3_e|every model keeps the schedule|case=epoll/50|achieved_rps|*0.9"
        "part3_e|past the peak latency climbs|case=epoll/110|lat_p99_us|=100"
        "part3_f|from the schedule at least 50 ms|server=paused loop=open|lat_p99_us|=20000"
        "part3_f|stay 10x below it|server=paused loop=closed|lat_p99_us|=90000"
        "part3_i|every worker accepts some|mode=exclusive load=burst|srv_min_share_pct|=0"
        "part3_i|each worker its 25%|mode=handoff load=heavy|srv_max_share_pct|=100"
        "part3_i|EPOLLEXCLUSIVE's busiest worker|mode=exclusive load=ramp|srv_max_share_pct|=30"
        "part3_g|one epoll loop falls behind|model=epoll work=block1000|achieved_rps|=2000"
        "part3_g|offload pool keep up|model=epoll_offload work=block1000|achieved_rps|*0.5"
        "part3_h|offload: fast clients' p99 stays below|model=epoll_offload|lat_p99_us|=2500"
        "part3_h|epoll: fast clients' p99 is at least|model=epoll|lat_p99_us|=1500"
        "part4_a|one-copy at or above|mode=one-copy size=64K|gbit_s|*0.5"
        "part4_a|zero-copy is not ahead|mode=zero-copy size=1M|gbit_s|*3"
        "part4_b|latency grows with client threads|mode=sendfile threads=8|lat_p50_us|=10"
        "part4_b|p99 grows faster|mode=two-copy threads=8|lat_p99_us|=40"
        "part4_b|one copy or two hardly matters|mode=one-copy threads=4|lat_p50_us|*2"
        "part4_b|skipping the copy buys no latency|mode=zero-copy threads=8|lat_p50_us|*0.5"
        "part4_c|CPU per KiB falls|mode=sendfile size=1M|srv_cpu_per_kib_ns|=99999"
        "part4_c|two-copy pays its extra copy|mode=two-copy size=64K|srv_cpu_per_kib_ns|=100"
        "part4_d|on loopback are copied|link=loopback size=4K|srv_zc_copied_pct|=50"
        "part4_d|gets its completion|link=loopback size=16K|srv_zc_completions|*0.5"
        "part4_d|over veth are copied|link=veth size=1M|srv_zc_copied_pct|=10"
    )
    # (no reference: the figures beside each line are not what is tested here)
    mkdir -p "$tmp/noref"
    nbroken=0 notfailed=""
    nskipped=0
    for b in "${broken[@]}"; do
        IFS='|' read -r table text keys col op <<<"$b"
        if [ ! -f "$refdir/$table.csv" ]; then  # (not measured there yet)
            nskipped=$((nskipped + 1))
            continue
        fi
        fresh_copy "$refdir"
        edit_csv "$tmp/cr/$table.csv" "$keys" "$col" "$op"
        rc=0
        CHECK_REFERENCE="$tmp/noref" "$tools/check-results.sh" "$tmp/cr" >"$tmp/cr.out" 2>&1 || rc=$?
        if [ "$rc" = 1 ] && grep -q "^FAIL    $table .*$text" "$tmp/cr.out" &&
            [ "$(grep -c "$text" "$tmp/cr.out")" = 1 ]; then
            nbroken=$((nbroken + 1))
        else
            notfailed="$notfailed [$table: $text, rc=$rc: $(grep "$text" "$tmp/cr.out" | cut -c1-120)]"
        fi
    done
    check "each phenomenon broken in turn: its line FAILs, exit 1 ($nbroken cases; $nskipped of tables the reference lacks)" "$notfailed" \
        [ "$((nbroken + nskipped))" = "${#broken[@]}" ]
    nrules=$("$tools/check-results.sh" "$refdir" | grep -cE '^(PASS|MISSING) ')
    check "every phenomenon has a broken case ($nrules rules)" "${#broken[@]} cases for $nrules rules" \
        [ "$nrules" = "${#broken[@]}" ]

    fresh_copy "$refdir"
    rm -f -- "$tmp/cr/part3_c.csv"
    awk -F, '$0 ~ /^#/ || $0 ~ /^table,/ || $3 != "veth"' "$refdir/part4_d.csv" >"$tmp/cr/part4_d.csv"
    rc=0
    "$tools/check-results.sh" "$tmp/cr" >"$tmp/cr.out" 2>&1 || rc=$?
    check "a missing table: its lines MISSING, exit 0 when nothing fails" "rc=$rc: $(grep -v '^PASS' "$tmp/cr.out" | head -n 6)" \
        bash -c '[ "$1" = 0 ] && [ "$(grep -c "^MISSING part3_c " "$2")" = 3 ] &&
            grep -q "^MISSING part4_d  zero-copy sends over veth" "$2" && ! grep -q "^FAIL" "$2" &&
            grep -q "$(($3 + 4)) not measured (MISSING)" "$2"' _ "$rc" "$tmp/cr.out" "$refmissing"
    rc=0
    "$tools/check-results.sh" "$tmp/no-such-dir" >/dev/null 2>&1 || rc=$?
    check "no such directory: exit 2" "rc=$rc" [ "$rc" = 2 ]
fi

# part3_i's rules on a table of their own (tools/test/part3_i.csv, one
# default-profile run on a loaded 2-core VM: a fixture, not reference
# figures), while the reference has no part3_i: each rule PASSes on it, and
# FAILs when the table is doctored (every connection in one worker, ...).
if [ -f "$tools/test/part3_i.csv" ]; then
    mkdir -p "$tmp/noref" "$tmp/p3i"
    rm -f -- "$tmp/p3i"/*.csv
    cp -- "$tools/test/part3_i.csv" "$tmp/p3i/"
    CHECK_REFERENCE="$tmp/noref" "$tools/check-results.sh" "$tmp/p3i" >"$tmp/p3i.out" 2>&1 || true
    check "part3_i fixture: its 3 rules PASS" "$(grep 'part3_i' "$tmp/p3i.out" | grep -v '^PASS')" \
        [ "$(grep -c '^PASS    part3_i ' "$tmp/p3i.out")" = 3 ]
    notfailed=""
    for b in "part3_i|every worker accepts some|mode=exclusive load=burst|srv_min_share_pct|=0" \
             "part3_i|each worker its 25%|mode=handoff load=heavy|srv_max_share_pct|=100" \
             "part3_i|EPOLLEXCLUSIVE's busiest worker|mode=exclusive load=ramp|srv_max_share_pct|=30"; do
        IFS='|' read -r table text keys col op <<<"$b"
        cp -- "$tools/test/part3_i.csv" "$tmp/p3i/"
        edit_csv "$tmp/p3i/part3_i.csv" "$keys" "$col" "$op"
        rc=0
        CHECK_REFERENCE="$tmp/noref" "$tools/check-results.sh" "$tmp/p3i" >"$tmp/p3i.out" 2>&1 || rc=$?
        if [ "$rc" != 1 ] || ! grep -q "^FAIL    part3_i .*$text" "$tmp/p3i.out"; then
            notfailed="$notfailed [$text, rc=$rc: $(grep "$text" "$tmp/p3i.out" | cut -c1-120)]"
        fi
    done
    check "part3_i fixture doctored (all in one worker, ...): each rule FAILs, exit 1" "$notfailed" \
        [ -z "$notfailed" ]
    rm -f -- "$tmp/p3i/part3_i.csv"
    rc=0
    CHECK_REFERENCE="$tmp/noref" "$tools/check-results.sh" "$tmp/p3i" >"$tmp/p3i.out" 2>&1 || rc=$?
    check "part3_i absent: its 3 lines MISSING" "rc=$rc: $(grep part3_i "$tmp/p3i.out" | head -n 3)" \
        [ "$(grep -c '^MISSING part3_i ' "$tmp/p3i.out")" = 3 ]
fi

###########################################################################
suite=tools/doctor
# path_without NAME...: a PATH like ours in which those commands are not
# found (each directory holding one becomes a directory of links to the rest).
path_without() {
    local d n i=0 out="" name
    local -a dirs=()
    IFS=: read -r -a dirs <<<"$PATH"
    for d in "${dirs[@]}"; do
        [ -d "$d" ] || continue
        n=0
        for name in "$@"; do
            if [ -e "$d/$name" ]; then n=1; fi
        done
        if [ "$n" = 1 ]; then
            i=$((i + 1))
            mkdir -p "$tmp/path$i"
            ln -s -t "$tmp/path$i" "$d"/* 2>/dev/null
            for name in "$@"; do
                rm -f -- "$tmp/path$i/$name"
            done
            d=$tmp/path$i
        fi
        out="$out${out:+:}$d"
    done
    printf '%s' "$out"
}
rc=0
"$tools/doctor.sh" >"$tmp/doc.out" 2>&1 || rc=$?
check "this machine: exit 0, one ok/limited/missing line per check" "rc=$rc: $(head -c 600 "$tmp/doc.out")" \
    bash -c '[ "$1" = 0 ] && [ "$(grep -cE "^(ok|limited|missing) +[a-z]" "$2")" -ge 13 ] &&
        for w in compiler make kernel io_uring "ulimit -n" "ephemeral ports" namespaces matplotlib perf strace nc iperf3; do
            grep -qE "^(ok|limited|missing) +$w " "$2" || exit 1; done' _ "$rc" "$tmp/doc.out"
check "the compiler and make found, with the lesson that needs them" "$(grep -E ' (compiler|make) ' "$tmp/doc.out")" \
    bash -c 'grep -qE "^ok +compiler .*\[every lesson" "$1" && grep -qE "^ok +make .*\[every lesson" "$1"' _ "$tmp/doc.out"
mpl=missing
for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import matplotlib' >/dev/null 2>&1; then mpl=ok; fi
done
check "matplotlib: $mpl, as python says" "$(grep matplotlib "$tmp/doc.out")" has_re "$tmp/doc.out" "^$mpl +matplotlib .*\[PNG plots"
if [ -x "$bin/uring_probe" ]; then
    urc=0
    "$bin/uring_probe" >/dev/null 2>&1 || urc=$?
    want=ok
    [ "$urc" = 0 ] || want=missing
    check "io_uring: $want, as the probe says" "$(grep io_uring "$tmp/doc.out")" has_re "$tmp/doc.out" "^$want +io_uring "
fi

nopy=$(path_without python3)
rc=0
PATH=$nopy PLOT_PYTHON=none "$tools/doctor.sh" >"$tmp/doc2.out" 2>&1 || rc=$?
check "no python3 on PATH and none with matplotlib: missing, plots as text, exit 0" "rc=$rc: $(grep matplotlib "$tmp/doc2.out")" \
    bash -c '[ "$1" = 0 ] && grep -qE "^missing +matplotlib .*no python with matplotlib.*text charts" "$2"' _ "$rc" "$tmp/doc2.out"
PATH=$nopy "$tools/doctor.sh" >"$tmp/doc3.out" 2>&1 || true
want=missing
if /usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1; then want=ok; fi
check "no python3 on PATH: said, and /usr/bin/python3 asked ($want)" "$(grep matplotlib "$tmp/doc3.out")" \
    has_re "$tmp/doc3.out" "^$want +matplotlib .*python3: not found"

nocc=$(path_without cc gcc clang c99 c89)
rc=0
env -u CC PATH="$nocc" "$tools/doctor.sh" >"$tmp/doc4.out" 2>&1 || rc=$?
check "no compiler: missing, exit 1" "rc=$rc: $(grep -E 'compiler|doctor:' "$tmp/doc4.out")" \
    bash -c '[ "$1" = 1 ] && grep -qE "^missing +compiler " "$2"' _ "$rc" "$tmp/doc4.out"

###########################################################################
suite=tools/netns
check "-h documents NETNS_PREFIX" "$("$tools/netns.sh" -h | grep -c NETNS_PREFIX) mentions" \
    bash -c '"$1" -h | grep -q "NETNS_PREFIX=" && "$1" -h | grep -q "did not create"' _ "$tools/netns.sh"
if ns_why=$(NETNS_PREFIX="tt$$" "$tools/netns.sh" check 2>&1); then
    # Our own prefix; every namespace made here is deleted on the way out.
    nsp="tt$$"
    ns_cleanup() {
        local ns
        for ns in "$nsp-srv" "$nsp-cli"; do
            ip netns del "$ns" 2>/dev/null || true
        done
        rm -f -- "/run/netns-sh/$nsp"
    }
    ns_exists() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"; }
    only() { ns_exists "$nsp-$1" && ! ns_exists "$nsp-$2"; }
    trap 'ns_cleanup; cleanup' EXIT
    netns() { NETNS_PREFIX=$nsp "$tools/netns.sh" "$@"; }

    rc=0
    netns up >"$tmp/ns.out" 2>&1 || rc=$?
    check "up: both namespaces, the server's address on its veth end" "rc=$rc: $(cat "$tmp/ns.out")" \
        bash -c '[ "$1" = 0 ] && ip netns list | grep -q "^$2-srv" && ip netns list | grep -q "^$2-cli" &&
            [ "$(NETNS_PREFIX=$2 "$3" run srv ip -4 -o addr show dev veth-srv | awk "{ print \$4 }")" = "$(NETNS_PREFIX=$2 "$3" addr srv)/24" ]' \
        _ "$rc" "$nsp" "$tools/netns.sh"
    rc=0
    netns up >"$tmp/ns.out" 2>&1 || rc=$?
    check "up again replaces its own namespaces" "rc=$rc: $(cat "$tmp/ns.out")" [ "$rc" = 0 ]
    rc=0
    netns down >"$tmp/ns.out" 2>&1 || rc=$?
    check "down removes what up created" "rc=$rc: $(ip netns list | grep "^$nsp-")" \
        bash -c '[ "$1" = 0 ] && ! ip netns list | grep -q "^$2-" && [ ! -e "/run/netns-sh/$2" ]' _ "$rc" "$nsp"

    # A namespace of that name made by someone else is left alone.
    ip netns add "$nsp-srv"
    rc=0
    netns up >"$tmp/ns.out" 2>&1 || rc=$?
    check "up refuses a namespace it did not create, and leaves it" "rc=$rc: $(cat "$tmp/ns.out")" \
        bash -c '[ "$1" != 0 ] && grep -q "did not create" "$2"' _ "$rc" "$tmp/ns.out"
    check "... and creates nothing" "$(ip netns list | grep "^$nsp-")" only srv cli
    netns down >"$tmp/ns.out" 2>&1 || true
    check "down leaves a namespace it did not create" "$(ip netns list | grep "^$nsp-")" ns_exists "$nsp-srv"
    ip netns del "$nsp-srv"

    # Made by up, then deleted and made again by someone else: not ours.
    netns up >/dev/null 2>&1 || true
    ip netns del "$nsp-cli"
    ip netns add "$nsp-cli"
    netns down >"$tmp/ns.out" 2>&1 || true
    check "down tells a namespace made again under its name from its own" "$(ip netns list | grep "^$nsp-"): $(cat "$tmp/ns.out")" \
        only cli srv
    ns_cleanup
else
    na "netns up/down" "$ns_why"
fi
###########################################################################
suite=tools/lint
if command -v shellcheck >/dev/null 2>&1; then
    out=$(cd "$tools" && shellcheck -x bench.sh machine.sh plot.sh check-results.sh doctor.sh netns.sh test/*.sh 2>&1) && rc=0 || rc=$?
    check "shellcheck clean" "$(printf '%s' "$out" | head -n 5)" [ "$rc" = 0 ]
else
    na "shellcheck clean" "shellcheck not installed"
fi

exit $((failed > 0))

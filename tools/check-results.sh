#!/usr/bin/env bash
# check-results.sh - did your timing tables show what the lessons teach?
#
#   tools/check-results.sh [DIR]     (make check-results RESULTS=DIR)
#
# Reads the tables the lessons' timing.sh wrote into DIR (default: the
# repository's results/), TABLE.csv with every run, and for each phenomenon
# a lesson's "What to notice" claims prints one line:
#   PASS|FAIL|MISSING  TABLE  claim: your figure (reference: its figure)
# then a summary. The reference figure is the same rule applied to the
# reference machine's table of the same profile (docs/results/<machine>/,
# or its full/ for a table run with --profile full; each file's header says
# which). A rule looks only at ratios and shapes: how a column grows with
# N, which model is above which. No rule asks for a speed that only some
# machine reaches. MISSING: no such table in DIR, or no ok run in a cell
# the rule needs (run that lesson's timing.sh).
# Exit status: 0 when no line is FAIL, 1 when one is, 2 on a usage error.
# Environment: CHECK_REFERENCE=DIR compares with DIR instead.
set -u

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$tools")

case "${1:-}" in
-h | --help)
    sed -n '2,18s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
-*)
    printf 'check-results: unknown option %s (see -h)\n' "$1" >&2
    exit 2
    ;;
esac
[ $# -le 1 ] || { printf 'check-results: one directory at most (see -h)\n' >&2; exit 2; }
results=${1:-$repo/results}
[ -d "$results" ] || { printf 'check-results: no directory %s (run make bench first)\n' "$results" >&2; exit 2; }

reference=${CHECK_REFERENCE:-}
if [ -z "$reference" ]; then
    for d in "$repo"/docs/results/*/; do
        reference=${d%/}
        break
    done
fi

###########################################################################
# Reading a table: MED["row|col|value"] is the median of the ok runs,
# ROWS and COLS the row and column keys in the order the script ran them.

declare -A MED=()
ROWS=() COLS=()

# load DIR TABLE: 1 when DIR has no TABLE.csv. stats.awk runs once per file.
declare -A LONG=()
load() {
    local csv="$1/$2.csv" row col value median
    MED=() ROWS=() COLS=()
    [ -f "$csv" ] || return 1
    [ -n "${LONG["$csv"]+set}" ] ||
        LONG["$csv"]=$(awk -F, -v mode=long -f "$tools/stats.awk" "$csv" 2>/dev/null)
    while IFS=, read -r row col value _ _ _ median _; do
        [[ $row == \#* || $row == row ]] && continue
        [ -n "${MED["$row|-|-"]+set}" ] || { ROWS+=("$row"); MED["$row|-|-"]=1; }
        [ -n "${MED["-|$col|-"]+set}" ] || { COLS+=("$col"); MED["-|$col|-"]=1; }
        MED["$row|$col|$value"]=$median
    done <<<"${LONG["$csv"]}"
}

# get VAR ROW COL VALUE: VAR is that median; 1 (and the rule stays
# MISSING) when the table has no ok run there.
get() {
    local got=${MED["$2|$3|$4"]:-}
    if [ -z "$got" ]; then
        FIG="no ok run for ${2}${3:+ $3} $4"
        return 1
    fi
    printf -v "$1" '%s' "$got"
}

# has ROW [COL]: the table has that row (and column).
has() { [ -n "${MED["$1|-|-"]+set}" ] && [ -n "${MED["-|${2:-}|-"]+set}" ]; }

# calc EXPR: the value of an awk expression, to 3 significant digits
# (whole from 1000 up).
calc() { awk "BEGIN { x = ($1); printf (x >= 1000 || x <= -1000) ? \"%.0f\" : \"%.3g\", x }"; }
# holds EXPR: exit 0 if the awk expression is true.
holds() { awk "BEGIN { exit !($1) }"; }

# The first and the last row (the scripts run N, sizes, threads upwards).
first() { printf '%s' "${ROWS[0]}"; }
last() { printf '%s' "${ROWS[${#ROWS[@]} - 1]}"; }

# A rule sets VERDICT (pass, fail, missing) and FIG (the figure shown).
# begin DIR TABLE starts it: MISSING until the rule decides.
begin() {
    VERDICT=missing
    FIG="no $2.csv"
    load "$1" "$2" && [ ${#ROWS[@]} -ge 1 ]
}
# decide EXPR FIG: pass when the awk expression holds.
decide() {
    FIG=$2
    if holds "$1"; then VERDICT=pass; else VERDICT=fail; fi
}

# linear DIR TABLE COL VALUE [BAND]: VALUE grows in proportion to the row
# key N: its growth from the first row to the last is N's within a factor
# BAND (default 1.25).
linear() {
    begin "$1" "$2" || return 0
    local n1 n2 a b band=${5:-1.25}
    n1=$(first) n2=$(last)
    get a "$n1" "$3" "$4" && get b "$n2" "$3" "$4" || return 0
    local g
    g=$(calc "$b / $a")
    decide "$n2 > $n1 && ($b / $a) / ($n2 / $n1) >= 1 / $band && ($b / $a) / ($n2 / $n1) <= $band" \
        "×$g for N ×$(calc "$n2 / $n1")"
}

###########################################################################
# Part 1

p1a_size_costs() {
    begin "$1" part1_a || return 0
    local a b
    get a "$(first)" "" lat_p50_us && get b "$(last)" "" lat_p50_us || return 0
    decide "$b > $a" "p50 ×$(calc "$b / $a") from $(first) B to $(last)"
}

p1b_linear() { linear "$1" part1_b "" wall_s; }

# The last client waits for the N − 1 sessions before it.
p1b_last_waits() {
    begin "$1" part1_b || return 0
    local n wall wait
    n=$(last)
    get wall "$n" "" wall_s && get wait "$n" "" first_max_ms || return 0
    local r="($wait / 1000) / (($n - 1) * $wall / $n)"
    decide "$n > 1 && $r >= 0.8 && $r <= 1.25" "last of $n waits $(calc "$r") × (N − 1) sessions"
}

###########################################################################
# Part 2

p2a_iterative_linear() { linear "$1" part2_a iterative wall_s; }

# flat DIR MODEL: a concurrent model's total stays within 1.5x of its
# smallest N's, however many clients come.
flat() {
    begin "$1" part2_a || return 0
    local a b
    get a "$(first)" "$2" wall_s && get b "$(last)" "$2" wall_s || return 0
    decide "$b / $a <= 1.5" "×$(calc "$b / $a") from N=$(first) to $(last)"
}
p2a_fork_flat() { flat "$1" fork; }
p2a_thread_flat() { flat "$1" thread; }
p2a_prefork_flat() { flat "$1" prefork; }
p2a_pool_flat() { flat "$1" pool; }

# model NAME: the row of that model (prefork-w4 for prefork).
model() {
    local r
    for r in "${ROWS[@]}"; do
        if [ "$r" = "$1" ]; then printf '%s' "$r"; return 0; fi
    done
    for r in "${ROWS[@]}"; do
        if [[ $r == "$1"-* ]]; then printf '%s' "$r"; return 0; fi
    done
    printf '%s' "$1"
}

# fork_beyond DIR COLUMN OP WHAT: in every client column, fork's COLUMN is
# OP every other model's (fork is dearest: most CPU, fewest connections/s).
fork_beyond() {
    begin "$1" part2_b || return 0
    local c r v fork thread ok=1 figs=""
    for c in "${COLS[@]}"; do
        get fork "$(model fork)" "$c" "$2" && get thread "$(model thread)" "$c" "$2" || return 0
        for r in "${ROWS[@]}"; do
            [ "$r" = "$(model fork)" ] && continue
            get v "$r" "$c" "$2" || return 0
            holds "$fork $3 $v" || ok=0
        done
        figs="$figs, ×$(calc "$fork / $thread") (c=$c)"
    done
    decide "$ok" "fork's $4 ${figs#, } thread's"
}
p2b_fork_most_cpu() { fork_beyond "$1" srv_cpu_s ">" CPU; }
p2b_fork_fewest() { fork_beyond "$1" req_per_s "<" "connections/s"; }

# Prefork and pool create nothing per connection: less CPU than a thread each.
p2b_pools_cheapest() {
    begin "$1" part2_b || return 0
    local c thread pre pool ok=1 figs=""
    for c in "${COLS[@]}"; do
        get thread "$(model thread)" "$c" srv_cpu_s && get pre "$(model prefork)" "$c" srv_cpu_s &&
            get pool "$(model pool)" "$c" srv_cpu_s || return 0
        holds "$pre < $thread && $pool < $thread" || ok=0
        figs="$figs, ×$(calc "($pre > $pool ? $pre : $pool) / $thread") (c=$c)"
    done
    decide "$ok" "the dearer of prefork and pool ${figs#, } thread's CPU"
}

# Processes cost memory threads do not: fork and prefork above every
# thread-based model, at every N.
p2c_process_memory() {
    begin "$1" part2_c || return 0
    local c r v low fork thread ok=1 figs=""
    for c in "${COLS[@]}"; do
        get fork fork "$c" srv_rss_kib && get v prefork "$c" srv_rss_kib && get thread thread "$c" srv_rss_kib || return 0
        low=$(calc "$fork < $v ? $fork : $v")
        for r in "${ROWS[@]}"; do
            [[ $r == fork || $r == prefork ]] && continue
            get v "$r" "$c" srv_rss_kib || return 0
            holds "$low > $v" || ok=0
        done
        figs="$figs, ×$(calc "$fork / $thread") (N=$c)"
    done
    decide "$ok" "fork's RSS ${figs#, } thread's"
}

###########################################################################
# Part 3

# The N of each part3_a row ("1000/epoll"), once each, in order.
p3a_ns() {
    local r seen=" "
    for r in "${ROWS[@]}"; do
        [[ $seen == *" ${r%%/*} "* ]] && continue
        seen="$seen${r%%/*} "
        printf '%s\n' "${r%%/*}"
    done
}

# select refuses past FD_SETSIZE (1024) and only there.
p3a_select_wall() {
    begin "$1" part3_a || return 0
    local n f ok=1 below="" above=""
    for n in $(p3a_ns); do
        get f "$n/select" "" conn_failed || return 0
        if [ "$n" -le 1000 ]; then
            holds "$f == 0" || ok=0
            below=$n
        elif [ "$n" -gt 1024 ]; then
            holds "$f > 0" || ok=0
            above="refused $f of $n, "
        fi
    done
    [ -n "$above" ] || above="(no N past 1024 in this profile) "
    decide "$ok" "${above}refused 0${below:+ up to N=$below}"
}

p3a_poll_epoll_hold() {
    begin "$1" part3_a || return 0
    local n m f ok=1 worst=0
    for n in $(p3a_ns); do
        for m in poll epoll; do
            get f "$n/$m" "" conn_failed || return 0
            holds "$f == 0" || ok=0
            worst=$(calc "$f > $worst ? $f : $worst")
        done
    done
    decide "$ok" "at most $worst refused, up to N=$n"
}

# The readiness servers' RSS barely moves with N (within 2x).
p3a_event_rss_flat() {
    begin "$1" part3_a || return 0
    local ns m a b worst=0
    mapfile -t ns < <(p3a_ns)
    for m in select poll epoll; do
        get a "${ns[0]}/$m" "" srv_rss_kib && get b "${ns[${#ns[@]} - 1]}/$m" "" srv_rss_kib || return 0
        worst=$(calc "$b / $a > $worst ? $b / $a : $worst")
    done
    decide "$worst <= 2" "at most ×$worst from N=${ns[0]} to ${ns[${#ns[@]} - 1]}"
}

p3a_fork_rss_above() {
    begin "$1" part3_a || return 0
    local n m v fork top=0
    n=$(p3a_ns | tail -n 1)
    get fork "$n/fork" "" srv_rss_kib || return 0
    for m in select poll epoll; do
        get v "$n/$m" "" srv_rss_kib || return 0
        top=$(calc "$v > $top ? $v : $top")
    done
    decide "$fork >= 10 * $top" "fork ×$(calc "$fork / $top") the largest of theirs at N=$n"
}

p3b_response_grows() { linear "$1" part3_b "" lat_avg_us 2; } # "about linearly"

p3b_none_fail() {
    begin "$1" part3_b || return 0
    local r f ok=1
    for r in "${ROWS[@]}"; do
        get f "$r" "" conn_failed || return 0
        holds "$f == 0" || ok=0
    done
    decide "$ok" "conn_failed at most $(for r in "${ROWS[@]}"; do printf '%s\n' "${MED["$r||conn_failed"]}"; done | sort -g | tail -n 1), up to $(last) connections"
}

# The ceiling: the most connections any model was asked for.
p3c_ceiling() {
    local r c f top=0
    for r in "${ROWS[@]}"; do
        [[ $r == epoll_procs* ]] && continue    # its own scale: CP_CONNS
        c=${MED["$r||connections"]:-0} f=${MED["$r||conn_failed"]:-0}
        top=$(calc "$c + $f > $top ? $c + $f : $top")
    done
    printf '%s' "$top"
}

p3c_select_wall() {
    begin "$1" part3_c || return 0
    local held refused ceiling
    get held select "" connections && get refused select "" conn_failed || return 0
    ceiling=$(p3c_ceiling)
    decide "$ceiling > 1024 && $held >= 900 && $held <= 1024 && $refused > 0" "held $held of $ceiling"
}

p3c_poll_epoll_hold() {
    begin "$1" part3_c || return 0
    local m held ceiling ok=1 figs=""
    ceiling=$(p3c_ceiling)
    for m in poll epoll uring; do
        [ "$m" = uring ] && ! has uring && continue
        get held "$m" "" connections || return 0
        holds "$held == $ceiling" || ok=0
        figs="$figs, $m $held"
    done
    decide "$ok" "${figs#, } of $ceiling"
}

# RSS per connection held: fork's at least 10 times poll's and epoll's.
p3c_rss_per_conn() {
    begin "$1" part3_c || return 0
    local m rss held fork top=0
    get rss fork "" srv_rss_kib && get held fork "" connections || return 0
    fork=$(calc "$rss / $held")
    for m in poll epoll; do
        get rss "$m" "" srv_rss_kib && get held "$m" "" connections || return 0
        top=$(calc "$rss / $held > $top ? $rss / $held : $top")
    done
    decide "$fork >= 10 * $top" "fork $fork KiB, the event servers at most $top KiB: ×$(calc "$fork / $top")"
}

# thread against epoll at every size: less throughput, more CPU per request.
p3d_compare() {
    begin "$1" part3_d || return 0
    local s tr er tc ec ok=1 figs=""
    for s in "${ROWS[@]}"; do
        get tr "$s" thread req_per_s && get er "$s" epoll req_per_s &&
            get tc "$s" thread srv_cpu_pct && get ec "$s" epoll srv_cpu_pct || return 0
        if [ "$2" = cpu ]; then
            holds "$tc / $tr > $ec / $er" || ok=0
            figs="$figs, ×$(calc "($tc / $tr) / ($ec / $er)") ($s B)"
        else
            holds "$tr < $er" || ok=0
            figs="$figs, ×$(calc "$tr / $er") ($s B)"
        fi
    done
    decide "$ok" "thread ${figs#, } epoll's"
}
p3d_thread_slower() { p3d_compare "$1" rate; }
p3d_thread_dearer() { p3d_compare "$1" cpu; }

# The models of part3_e: the rows "MODEL/peak", in order.
p3e_models() {
    local r
    for r in "${ROWS[@]}"; do
        [[ $r == */peak ]] && printf '%s\n' "${r%/peak}"
    done
}

# The median of a column the table's report does not list (part3_e's
# requests, to weigh late against): p3e_extra VAR DIR TABLE ROW COLUMN.
p3e_extra() {
    local got
    got=$(awk -F, -v mode=long -v rows=case -v cols=- -v values="$5" \
              -f "$tools/stats.awk" "$2/$3.csv" 2>/dev/null |
          awk -F, -v r="$4" '$1 == r { print $7 }')
    if [ -z "$got" ]; then
        FIG="no ok run for $4 $5"
        return 1
    fi
    printf -v "$1" '%s' "$got"
}

# At 50% of its peak every model keeps the schedule: achieved within 2%
# of offered, and at most 5% of the requests late (sent more than 1 ms
# after their time). Each point is one 1 s run, and on two cores the
# client shares the CPU with the server's threads: one few-ms stall makes
# hundreds of requests late. A bound of 1% failed a make bench run whose
# epoll_workers point achieved its rate within 0.04% with 4.4% late; past
# the peak (110%) that run had 73% to 94% late (its table is kept in
# docs/results/epyc-2core-vm/bench-2026-12-06/).
p3e_half_kept() {
    begin "$1" part3_e || return 0
    local m off ach late req worst=0 wlate=0 n=0
    for m in $(p3e_models); do
        get off "$m/50" "" offered_rps && get ach "$m/50" "" achieved_rps &&
            get late "$m/50" "" late && p3e_extra req "$1" part3_e "$m/50" requests || return 0
        worst=$(calc "(($ach > $off ? $ach - $off : $off - $ach) / $off) > $worst ? ($ach > $off ? $ach - $off : $off - $ach) / $off : $worst")
        wlate=$(calc "$req > 0 && $late / $req > $wlate ? $late / $req : $wlate")
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { FIG="no MODEL/50 row"; return 0; }
    decide "$worst <= 0.02 && $wlate <= 0.05" \
        "achieved at most $(calc "100 * $worst")% off offered, at most $(calc "100 * $wlate")% of requests late ($n models)"
}

# Past the peak the queue grows: p99 at 110% at least 10x p99 at 50%.
p3e_knee() {
    begin "$1" part3_e || return 0
    local m a b low="" n=0
    for m in $(p3e_models); do
        get a "$m/50" "" lat_p99_us && get b "$m/110" "" lat_p99_us || return 0
        low=$(calc "${low:-$b / $a} < $b / $a ? ${low:-$b / $a} : $b / $a")
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { FIG="no MODEL/50 row"; return 0; }
    decide "$low >= 10" "p99 at 110% at least ×$low p99 at 50% ($n models)"
}

# The paused server, open loop, latency from the schedule: p99 >= 50 ms.
p3f_corrected_sees() {
    begin "$1" part3_f || return 0
    local c
    get c paused open lat_p99_us || return 0
    decide "$c >= 50000" "corrected p99 $(calc "$c / 1000") ms"
}

# ... while the closed-loop p99 and the uncorrected one stay 10x below it.
p3f_others_hide() {
    begin "$1" part3_f || return 0
    local c closed raw
    get c paused open lat_p99_us && get closed paused closed lat_p99_us &&
        get raw paused open raw_p99_us || return 0
    decide "$closed * 10 <= $c && $raw * 10 <= $c" \
        "closed-loop p99 $(calc "$closed / 1000") ms, uncorrected $(calc "$raw / 1000") ms, corrected $(calc "$c / 1000") ms"
}

# (i) new connections over 4 workers. Rows: handoff, reuseport, exclusive;
# columns: burst, ramp, heavy.
# Every worker accepts some of a burst, in every mode.
p3i_every_worker() {
    begin "$1" part3_i || return 0
    local m low ok=1 figs=""
    for m in handoff reuseport exclusive; do
        get low "$m" burst srv_min_share_pct || return 0
        holds "$low > 0" || ok=0
        figs="$figs, $m $low%"
    done
    decide "$ok" "smallest worker's share ${figs#, }"
}

# The hand-off deals in turn: no worker gets more than its 25% (and one).
p3i_handoff_even() {
    begin "$1" part3_i || return 0
    local c top ok=1 figs=""
    for c in "${COLS[@]}"; do
        get top handoff "$c" srv_max_share_pct || return 0
        holds "$top <= 27.5" || ok=0
        figs="$figs, $top% ($c)"
    done
    decide "$ok" "busiest worker ${figs#, }"
}

# Idle workers (connections spread out): EPOLLEXCLUSIVE wakes the first
# waiter, so one worker takes far more than SO_REUSEPORT's busiest.
p3i_exclusive_idle_uneven() {
    begin "$1" part3_i || return 0
    local ex rp
    get ex exclusive ramp srv_max_share_pct && get rp reuseport ramp srv_max_share_pct || return 0
    decide "$ex >= 1.5 * $rp" "busiest worker: exclusive $ex%, reuseport $rp%"
}

# part3_g, open loop at a fixed offer: MODEL's achieved req/s with 1 ms of
# blocking per request, as a fraction of its own without work. A single
# loop serves at most 1,000 such requests a second, below the offer; a
# thread per client or a pool for the work keeps up.
p3g_kept() {
    KEPT=""
    begin "$1" part3_g || return 0
    local none blocked
    get none "$2" none achieved_rps && get blocked "$2" block1000 achieved_rps || return 0
    KEPT=$(calc "$blocked / $none")
}
p3g_loop_falls() {
    p3g_kept "$1" epoll
    [ -z "$KEPT" ] || decide "$KEPT < 0.9" "epoll served ×$KEPT of its rate without work"
}
p3g_keep_up() {
    local m ok=1 figs=""
    for m in thread epoll_offload; do
        p3g_kept "$1" "$m"
        [ -n "$KEPT" ] || return 0
        holds "$KEPT >= 0.9" || ok=0
        figs="$figs, $m ×$KEPT"
    done
    decide "$ok" "of their rate without work: ${figs#, }"
}

# part3_h: the fast clients' p99 against the 2 ms each slow request blocks.
P3H_BLOCK_US=2000
p3h_offload_below() {
    begin "$1" part3_h || return 0
    local p99
    get p99 epoll_offload "" lat_p99_us || return 0
    decide "$p99 < $P3H_BLOCK_US" "offload's fast p99 $p99 µs, blocking $P3H_BLOCK_US µs"
}
p3h_epoll_at_least() {
    begin "$1" part3_h || return 0
    local p99
    get p99 epoll "" lat_p99_us || return 0
    decide "$p99 >= $P3H_BLOCK_US" "epoll's fast p99 $p99 µs, blocking $P3H_BLOCK_US µs"
}

###########################################################################
# Part 4

p4a_one_copy_64k() {
    begin "$1" part4_a || return 0
    local one two
    get one 64K one-copy gbit_s && get two 64K two-copy gbit_s || return 0
    decide "$one >= 0.95 * $two" "one-copy ×$(calc "$one / $two") two-copy's"
}

p4a_zero_copy_behind() {
    begin "$1" part4_a || return 0
    local s zc one two ok=1 worst=0
    for s in "${ROWS[@]}"; do
        get zc "$s" zero-copy gbit_s && get one "$s" one-copy gbit_s && get two "$s" two-copy gbit_s || return 0
        holds "$zc < $one || $zc < $two" || ok=0
        worst=$(calc "$zc / ($one > $two ? $one : $two) > $worst ? $zc / ($one > $two ? $one : $two) : $worst")
    done
    decide "$ok" "zero-copy at most ×$worst the better copying mode"
}

# For every mode, from the fewest threads to the most.
p4b_growth() {
    begin "$1" part4_b || return 0
    local m a b a99 b99 ok=1 figs=""
    for m in "${COLS[@]}"; do
        get a "$(first)" "$m" lat_p50_us && get b "$(last)" "$m" lat_p50_us &&
            get a99 "$(first)" "$m" lat_p99_us && get b99 "$(last)" "$m" lat_p99_us || return 0
        if [ "$2" = p50 ]; then
            holds "$b > $a" || ok=0
            figs="$figs, $m ×$(calc "$b / $a")"
        else
            holds "$b99 / $a99 > $b / $a" || ok=0
            figs="$figs, $m ×$(calc "$b99 / $a99") against ×$(calc "$b / $a")"
        fi
    done
    decide "$ok" "${figs#, } ($(first) to $(last) threads)"
}
p4b_latency_grows() { p4b_growth "$1" p50; }
p4b_tail_grows_faster() { p4b_growth "$1" p99; }

# One copy or two: for a 4 KiB message the copy is a small part of a round
# trip, next to two system calls, wake-ups and the scheduler.
p4b_copies_hardly_matter() {
    begin "$1" part4_b || return 0
    local t one two worst=1
    for t in "${ROWS[@]}"; do
        get one "$t" one-copy lat_p50_us && get two "$t" two-copy lat_p50_us || return 0
        worst=$(calc "$one / $two > $worst ? $one / $two : $worst")
        worst=$(calc "$two / $one > $worst ? $two / $one : $worst")
    done
    decide "$worst <= 1.25" "one-copy's and two-copy's p50 at most ×$worst apart"
}

# The modes that skip the copy (MSG_ZEROCOPY, sendfile, SEND_ZC) are never
# clearly faster: on loopback the receiver copies anyway, and the zero-copy
# ones pay for pinning pages and collecting notifications. A zero-copy p50
# well below the copying modes' is what a spinning server looks like.
p4b_zero_copy_no_faster() {
    begin "$1" part4_b || return 0
    local t m v one two best least=""
    for t in "${ROWS[@]}"; do
        get one "$t" one-copy lat_p50_us && get two "$t" two-copy lat_p50_us || return 0
        best=$(calc "$one < $two ? $one : $two")
        for m in "${COLS[@]}"; do
            case "$m" in two-copy|one-copy) continue ;; esac
            get v "$t" "$m" lat_p50_us || return 0
            [ -n "$least" ] || least=$(calc "$v / $best")
            least=$(calc "$v / $best < $least ? $v / $best : $least")
        done
    done
    [ -n "$least" ] || return 0
    decide "$least >= 0.9" "the fastest zero-copy p50 at least ×$least the faster copying mode's"
}

p4c_cost_falls() {
    begin "$1" part4_c || return 0
    local m a b ok=1 figs=""
    for m in "${COLS[@]}"; do
        get a "$(first)" "$m" srv_cpu_per_kib_ns && get b "$(last)" "$m" srv_cpu_per_kib_ns || return 0
        holds "$b < $a" || ok=0
        figs="$figs, $m ×$(calc "$b / $a")"
    done
    decide "$ok" "${figs#, } from $(first) to $(last)"
}

# two-copy's extra memcpy, at 64 KiB and at the largest size.
p4c_two_copy_dearer() {
    begin "$1" part4_c || return 0
    local s two one ok=1 figs=""
    for s in 64K "$(last)"; do
        get two "$s" two-copy srv_cpu_per_kib_ns && get one "$s" one-copy srv_cpu_per_kib_ns || return 0
        holds "$two > $one" || ok=0
        figs="$figs, ×$(calc "$two / $one") at $s"
        [ "$s" != "$(last)" ] || break
    done
    decide "$ok" "two-copy's server CPU per KiB ${figs#, } one-copy's"
}

# copied LINK: nearly every zero-copy send on LINK was copied after all.
p4d_copied() {
    begin "$1" part4_d || return 0
    local s v low=100
    if ! has "$(first)" "$2"; then
        FIG="no $2 column (it needs root: tools/netns.sh)"
        return 0
    fi
    for s in "${ROWS[@]}"; do
        get v "$s" "$2" srv_zc_copied_pct || return 0
        low=$(calc "$v < $low ? $v : $low")
    done
    decide "$low >= 99" "at least $low% copied at every size"
}
p4d_loopback_copied() { p4d_copied "$1" loopback; }
p4d_veth_copied() { p4d_copied "$1" veth; }

p4d_completions() {
    begin "$1" part4_d || return 0
    local s sends completed low=1
    for s in "${ROWS[@]}"; do
        get sends "$s" loopback srv_zc_sends && get completed "$s" loopback srv_zc_completions || return 0
        low=$(calc "$completed / $sends < $low ? $completed / $sends : $low")
    done
    decide "$low >= 0.99" "completions at least ×$low the sends"
}

###########################################################################
# The phenomena, lesson by lesson: table, rule, what the lesson claims.

PHENOMENA=(
    "part1_a|p1a_size_costs|a round trip takes longer as requests grow"
    "part1_b|p1b_linear|the iterative total grows as N × one session"
    "part1_b|p1b_last_waits|the last client waits for every session before it"
    "part2_a|p2a_iterative_linear|iterative grows as N × one session"
    "part2_a|p2a_fork_flat|fork stays flat (within 1.5x) as N grows"
    "part2_a|p2a_thread_flat|thread stays flat (within 1.5x) as N grows"
    "part2_a|p2a_prefork_flat|prefork stays flat (within 1.5x) as N grows"
    "part2_a|p2a_pool_flat|pool stays flat (within 1.5x) as N grows"
    "part2_b|p2b_fork_most_cpu|fork per client spends the most server CPU"
    "part2_b|p2b_fork_fewest|fork per client serves the fewest connections per second"
    "part2_b|p2b_pools_cheapest|prefork and pool spend less CPU than a thread per client"
    "part2_c|p2c_process_memory|idle sessions cost processes (fork, prefork) more memory than threads"
    "part3_a|p3a_select_wall|select refuses clients past FD_SETSIZE, and only there"
    "part3_a|p3a_poll_epoll_hold|poll and epoll refuse no client"
    "part3_a|p3a_event_rss_flat|select, poll and epoll keep their RSS (within 2x) as N grows"
    "part3_a|p3a_fork_rss_above|fork's RSS at the largest N is at least 10x the event servers'"
    "part3_b|p3b_response_grows|epoll+workers' response time grows about linearly with connections"
    "part3_b|p3b_none_fail|epoll+workers completes every connection"
    "part3_c|p3c_select_wall|select holds no more than FD_SETSIZE (1024) and refuses the rest"
    "part3_c|p3c_poll_epoll_hold|poll, epoll (and io_uring) hold every connection up to the ceiling"
    "part3_c|p3c_rss_per_conn|fork's RSS per connection is at least 10x poll's and epoll's"
    "part3_d|p3d_thread_slower|a thread per client moves fewer requests than epoll"
    "part3_d|p3d_thread_dearer|a thread per client spends more CPU per request than epoll"
    "part3_e|p3e_half_kept|at 50% of its peak every model keeps the schedule (achieved within 2%, at most 5% late)"
    "part3_e|p3e_knee|past the peak latency climbs: p99 at 110% at least 10x p99 at 50%"
    "part3_f|p3f_corrected_sees|a server paused 100 ms/s: open-loop p99 from the schedule at least 50 ms"
    "part3_f|p3f_others_hide|closed-loop and uncorrected p99 stay 10x below it"
    "part3_i|p3i_every_worker|every worker accepts some of a burst, in every mode"
    "part3_i|p3i_handoff_even|the hand-off gives each worker its 25% of the connections"
    "part3_i|p3i_exclusive_idle_uneven|with idle workers EPOLLEXCLUSIVE's busiest worker takes 1.5x SO_REUSEPORT's"
    "part3_g|p3g_loop_falls|one epoll loop falls behind the offered load when each request blocks 1 ms"
    "part3_g|p3g_keep_up|a thread per client and the offload pool keep up with 1 ms of blocking (>= 0.9x)"
    "part3_h|p3h_offload_below|offload: fast clients' p99 stays below the 2 ms a slow request blocks"
    "part3_h|p3h_epoll_at_least|epoll: fast clients' p99 is at least the 2 ms a slow request blocks"
    "part4_a|p4a_one_copy_64k|one-copy at or above two-copy at 64 KiB (within 5%)"
    "part4_a|p4a_zero_copy_behind|zero-copy is not ahead at any size on loopback"
    "part4_b|p4b_latency_grows|latency grows with client threads, in every mode"
    "part4_b|p4b_tail_grows_faster|p99 grows faster than p50, in every mode"
    "part4_b|p4b_copies_hardly_matter|one copy or two hardly matters (p50 within 1.25x)"
    "part4_b|p4b_zero_copy_no_faster|skipping the copy buys no latency (p50 at least 0.9x the copying modes')"
    "part4_c|p4c_cost_falls|server CPU per KiB falls as messages grow"
    "part4_c|p4c_two_copy_dearer|two-copy pays its extra copy at 64 KiB and up"
    "part4_d|p4d_loopback_copied|zero-copy sends on loopback are copied after all (>= 99%)"
    "part4_d|p4d_completions|every zero-copy send gets its completion"
    "part4_d|p4d_veth_copied|zero-copy sends over veth are copied too (>= 99%)"
)

# The reference directory for a results table: full/ for the full profile.
reference_for() {
    local profile
    profile=$(sed -n 's/^# profile: //p' "$results/$1.csv" 2>/dev/null | head -n 1)
    if [ "$profile" = full ]; then
        printf '%s/full' "$reference"
    else
        printf '%s' "$reference"
    fi
}

pass=0 fail=0 missing=0
printf 'Results: %s\nReference: %s (same profile as each table)\n\n' "$results" "${reference:-none}"
for p in "${PHENOMENA[@]}"; do
    IFS='|' read -r table rule claim <<<"$p"
    refdir=$(reference_for "$table")
    reffig="no reference"
    if [ -n "$reference" ] && [ -f "$refdir/$table.csv" ]; then
        "$rule" "$refdir"
        reffig=$FIG
    fi
    "$rule" "$results"
    case $VERDICT in
    pass) pass=$((pass + 1)) word=PASS ;;
    fail) fail=$((fail + 1)) word=FAIL ;;
    *) missing=$((missing + 1)) word=MISSING ;;
    esac
    printf '%-7s %s  %s: %s (reference: %s)\n' "$word" "$table" "$claim" "$FIG" "$reffig"
done
printf '\n%d phenomena: %d reproduced (PASS), %d not (FAIL), %d not measured (MISSING)\n' \
    "$((pass + fail + missing))" "$pass" "$fail" "$missing"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# run.sh - everything `make test` runs; ends with "N passed, M failed".
#
#   tests/run.sh                    all suites
#   tests/run.sh --part DIR         one lesson: its servers' conformance + tests/partN-*.sh
#   tests/run.sh --server NAME      the conformance suite against one server
#   tests/run.sh -j N               N suites at once (TEST_JOBS; default 6, 4 under
#                                   ASan, 3 under TSan)
#   SUITE_TIMEOUT=S                 kill a suite still running after S s (600)
#
# Suites print one line per check: PASS / FAIL / N/A <suite>: <check>.
# Builds nothing: `make test` builds first. O=DIR finds a build made with O=.
set -u
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }

# Sanitized servers use several times the CPU: fewer of them at once.
case "${SANITIZER:-}" in
    tsan) default_jobs=3 ;;
    asan) default_jobs=4 ;;
    *)    default_jobs=6 ;;
esac
PART="" ONLY_SERVER="" JOBS=${TEST_JOBS:-$default_jobs}
while (($#)); do
    case "$1" in
        --part) PART=${2:?--part needs a directory}; PART=${PART%/}; shift 2 ;;
        --server) ONLY_SERVER=${2:?--server needs a name}; shift 2 ;;
        -j) JOBS=${2:?-j needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/tests.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT
ALL="$LOGDIR/all.log"
: >"$ALL"

# Every suite is a job: its output goes to its own log, and up to JOBS jobs
# run at once. The suites wait on sockets and timers far more than they use
# the CPU, so a 2-core machine runs several at a time; their logs are shown
# in a fixed order afterwards. A suite still running after SUITE_TIMEOUT
# seconds is killed with everything it started (timeout(1) signals its whole
# process group) and reported as failed, so a hang cannot stall the run.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}
labels=() logs=()

# add_job LABEL COMMAND...: queue one suite.
add_job() {
    local label=$1
    shift
    labels+=("$label")
    logs+=("$LOGDIR/job.${#logs[@]}.log")
    jobcmds+=("$(printf '%q ' "$@")")
}
jobcmds=()

# run_job I: run queued job I under the time limit; record status and time.
run_job() {
    local i=$1 log=${logs[$1]} t0=$SECONDS rc
    eval "timeout -k 5 $SUITE_TIMEOUT ${jobcmds[$i]}" >"$log" 2>&1 </dev/null
    rc=$?
    echo "$rc $((SECONDS - t0))" >"$log.status"
}

# The long suites are queued first, so that the last ones to start are short.
# ---- each lesson's own checks --------------------------------------------
if [[ -z "$ONLY_SERVER" ]]; then
    for t in "$TESTS_DIR"/part*.sh; do
        [[ -x "$t" ]] || continue
        part=$(basename "$t" .sh)
        # A lesson's checks may be split over several files: part3-*.sh.
        [[ -n "$PART" && "${part%%-*}" != "${PART%%-*}" ]] && continue
        add_job "$part: its own checks" "$t"
    done
fi
# ---- unit checks and tool tests (whole-repository runs only) -------------
if [[ -z "$PART" && -z "$ONLY_SERVER" ]]; then
    add_job "unit checks of common/" "$BUILD/tests/bin/unit_common"
    add_job "the suite fails broken servers" "$TESTS_DIR/meta.sh"
    add_job "docs" "$TESTS_DIR/docs.sh"
    add_job "fuzz corpus" "$TESTS_DIR/fuzz-replay.sh"
    if [[ -x "$REPO/tools/test/run.sh" ]]; then
        add_job "tools" "$REPO/tools/test/run.sh"
    fi
    add_job "fault injection" "$TESTS_DIR/faults.sh"
    add_job "soak (5 s each; make soak runs 60 s)" "$TESTS_DIR/soak.sh" 5
fi

# ---- the conformance suite, against every listed server -------------------
nservers=0
while read -r name traits cmd; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    [[ -n "$PART" && "$cmd" != "$PART/"* ]] && continue
    [[ -n "$ONLY_SERVER" && "$name" != "$ONLY_SERVER" ]] && continue
    read -r -a argv <<<"$cmd"
    add_job "conformance: $name" "$TESTS_DIR/conformance.sh" "$name" "$traits" "${argv[@]}"
    nservers=$((nservers + 1))
done <"$TESTS_DIR/servers.list"

echo "== ${#labels[@]} suites ($nservers servers' conformance), $JOBS at a time, each limited to $SUITE_TIMEOUT s"
running=0
for i in "${!labels[@]}"; do
    run_job "$i" &
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

for i in "${!labels[@]}"; do
    log=${logs[$i]} label=${labels[$i]}
    read -r rc secs <"$log.status" 2>/dev/null || { rc=125 secs="?"; }
    echo "== $label ($secs s)"
    cat "$log"
    cat "$log" >>"$ALL"
    if [[ $rc == 124 || $rc == 137 ]]; then
        report fail limit "$label" "still running after $SUITE_TIMEOUT s: killed" | tee -a "$ALL"
    elif [[ $rc != 0 ]] && ! grep -q '^FAIL ' "$log"; then
        report fail "$label" "suite exit status" "exited $rc without reporting a failure" | tee -a "$ALL"
    fi
done

# ---- summary ------------------------------------------------------------------
echo
echo "== summary per server: scenarios passed, failed, and not applicable (why)"
awk '
    /^(PASS|FAIL|N\/A) / && $2 !~ /^(unit|tools|meta|docs|faults|soak|fuzz|limit|part[0-9])/ {
        suite = $2; sub(/:$/, "", suite)
        rest = $0; sub(/^[^:]*: /, "", rest)
        name = rest; sub(/ - .*$/, "", name)
        why = ""; if (index(rest, " - ")) why = substr(rest, index(rest, " - ") + 3)
        if (!(suite in seen)) { seen[suite] = 1; order[++n] = suite }
        if ($1 == "PASS") ok[suite]++
        else if ($1 == "FAIL") bad[suite] = bad[suite] " " name
        else {
            key = suite SUBSEP why
            if (!(key in na)) { reasons[suite] = reasons[suite] SUBSEP why }
            na[key] = na[key] " " name
        }
    }
    END {
        for (i = 1; i <= n; i++) {
            s = order[i]
            line = sprintf("  %-16s %d ok", s, ok[s] + 0)
            if (s in bad) line = line ";  FAILED:" bad[s]
            print line
            m = split(reasons[s], rs, SUBSEP)
            for (k = 2; k <= m; k++)
                printf "  %-16s   n/a:%s (%s)\n", "", na[s SUBSEP rs[k]], rs[k]
        }
    }
' "$ALL"
failed=$(grep -c '^FAIL ' "$ALL")
passed=$(grep -c '^PASS ' "$ALL")
skipped=$(grep -c '^N/A ' "$ALL")
if ((failed)); then
    echo
    echo "== failures"
    grep '^FAIL ' "$ALL"
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 && $passed -gt 0 ]]

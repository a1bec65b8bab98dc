#!/usr/bin/env bash
# run.sh - everything `make test` runs; ends with "N passed, M failed".
#
#   tests/run.sh                    all suites
#   tests/run.sh --part DIR         one lesson: its servers' conformance + tests/DIR.sh
#   tests/run.sh --server NAME      the conformance suite against one server
#   tests/run.sh -j N               N conformance runs at once (default 2)
#
# Suites print one line per check: PASS / FAIL / N/A <suite>: <check>.
# Builds nothing: `make test` builds first. O=DIR finds a build made with O=.
set -u
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

PART="" ONLY_SERVER="" JOBS=2
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

# run_suite LABEL COMMAND...: run one suite, keep and show its lines.
run_suite() {
    local label=$1 log="$LOGDIR/suite.$RANDOM.log"
    shift
    echo "== $label"
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    cat "$log" >>"$ALL"
    if [[ $rc != 0 ]] && ! grep -q '^FAIL ' "$log"; then
        report fail "$label" "suite exit status" "exited $rc without reporting a failure" | tee -a "$ALL"
    fi
}

# ---- unit checks and tool tests (whole-repository runs only) -------------
if [[ -z "$PART" && -z "$ONLY_SERVER" ]]; then
    run_suite "unit checks of common/" "$BUILD/tests/bin/unit_common"
    run_suite "the suite fails broken servers" "$TESTS_DIR/meta.sh"
    run_suite "docs" "$TESTS_DIR/docs.sh"
    run_suite "fuzz corpus" "$TESTS_DIR/fuzz-replay.sh"
    FAULTS_AFTER=1
    if [[ -x "$REPO/tools/test/run.sh" ]]; then
        run_suite "tools" "$REPO/tools/test/run.sh"
    fi
fi

# ---- the conformance suite, against every listed server -------------------
servers=()
while read -r name traits cmd; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    [[ -n "$PART" && "$cmd" != "$PART/"* ]] && continue
    [[ -n "$ONLY_SERVER" && "$name" != "$ONLY_SERVER" ]] && continue
    servers+=("$name|$traits|$cmd")
done <"$TESTS_DIR/servers.list"

if ((${#servers[@]})); then
    echo "== conformance suite: ${#servers[@]} server(s), $JOBS at a time"
    running=0
    for entry in "${servers[@]}"; do
        IFS='|' read -r name traits cmd <<<"$entry"
        read -r -a argv <<<"$cmd"
        "$TESTS_DIR/conformance.sh" "$name" "$traits" "${argv[@]}" \
            >"$LOGDIR/conf.$name.log" 2>&1 &
        running=$((running + 1))
        if ((running >= JOBS)); then
            wait -n
            running=$((running - 1))
        fi
    done
    wait
    for entry in "${servers[@]}"; do
        name=${entry%%|*}
        cat "$LOGDIR/conf.$name.log"
        cat "$LOGDIR/conf.$name.log" >>"$ALL"
    done
fi

# ---- every server under fault injection ---------------------------------------
if [[ -n "${FAULTS_AFTER:-}" ]]; then
    run_suite "fault injection" "$TESTS_DIR/faults.sh"
    run_suite "soak (5 s each; make soak runs 60 s)" "$TESTS_DIR/soak.sh" 5
fi

# ---- each lesson's own checks ---------------------------------------------
if [[ -z "$ONLY_SERVER" ]]; then
    for t in "$TESTS_DIR"/part*.sh; do
        [[ -x "$t" ]] || continue
        part=$(basename "$t" .sh)
        [[ -n "$PART" && "$part" != "$PART" ]] && continue
        run_suite "$part: its own checks" "$t"
    done
fi

# ---- summary ------------------------------------------------------------------
echo
echo "== summary per server: scenarios passed, failed, and not applicable (why)"
awk '
    /^(PASS|FAIL|N\/A) / && $2 !~ /^(unit|tools|meta|docs|faults|soak|fuzz|part[0-9])/ {
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

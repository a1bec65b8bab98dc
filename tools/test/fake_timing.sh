#!/usr/bin/env bash
# shellcheck disable=SC2034  # the arrays are passed to bench_cell by name
# fake_timing.sh - a timing script like the parts' ones, run by the bench.sh
# tests with the fake server and client. Needs env QDIR (queue files).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../bench.sh
. "$here/../bench.sh"
BENCH_USAGE="Fake tables for the tools tests (QDIR=$QDIR)."
bench_begin "$@"

srv=("$here/fake_server.sh" -p 0 --pidfile "$QDIR/srv.pids")
srv_ign=("$here/fake_server.sh" --ignore-term --pidfile "$QDIR/killed.pids")
srv_nob=("$here/fake_server.sh" --no-banner)
srv_exit=("$here/fake_server.sh" --term-exit 3)

bench_table t1 "Fake table one" --rows n --cols model \
    --values wall_s,first_max_ms --server-fields conns,zc_sends,note,absent --cells 3
cli=("$here/fake_client.sh" "$QDIR/q1" '{port}' '{host}')
bench_cell "model=a n=1" srv cli
cli=("$here/fake_client.sh" "$QDIR/q2" '{port}' '{host}')
bench_cell "model=a n=2" srv cli
cli=("$here/fake_client.sh" "$QDIR/q3" '{port}' '{host}')
bench_cell "n=1 model=none" "" cli
bench_report

bench_table t2 "Fake table two: failures" --rows case --values wall_s,srv_children --timeout 1
cli=("$here/fake_client.sh" "$QDIR/q4" '{port}' '{host}')
bench_cell "case=nobanner" srv_nob cli
bench_cell "case=killed" srv_ign cli
bench_cell "case=exit3" srv_exit cli
cli=("$here/fake_client.sh" "$QDIR/q5" '{port}' '{host}')
bench_cell "case=timeout" srv cli
bench_cell "case=badcsv" srv cli
bench_report

#!/usr/bin/env bash
# fake_server.sh - a stand-in server for the bench.sh tests. It listens on
# nothing: it prints the banner, forks one child (a sleep), and on SIGTERM
# prints 'fake: stopped: conns=7 zc_sends=12 note=a,b', kills its child and
# exits 0. It lives at most 30 s.
#   --no-banner      never print the banner
#   --ignore-term    ignore SIGTERM (bench.sh must SIGKILL it)
#   --term-exit N    exit N after SIGTERM
#   --pidfile F      write "SERVER_PID CHILD_PID" to F
#   other arguments (-p 0 ...) are ignored
set -u
banner=1 ignore=0 code=0 pidfile=""
while [ $# -gt 0 ]; do
    case $1 in
    --no-banner) banner=0 ;;
    --ignore-term) ignore=1 ;;
    --term-exit) code=$2; shift ;;
    --pidfile) pidfile=$2; shift ;;
    esac
    shift
done
sleep 30 &
child=$!
[ -z "$pidfile" ] || printf '%s %s\n' "$$" "$child" >"$pidfile"
# shellcheck disable=SC2317  # called by the trap
stop() {
    kill "$child" 2>/dev/null
    printf 'fake: stopped: conns=7 zc_sends=12 note=a,b\n'
    exit "$code"
}
if [ "$ignore" = 1 ]; then
    trap '' TERM
else
    trap stop TERM
fi
[ "$banner" = 0 ] || printf 'fake: listening on 127.0.0.1:%d pid %d\n' "$((40000 + $$ % 10000))" "$$"
wait "$child"
# reached when the sleep ends (or with --ignore-term, never before)
exit 0

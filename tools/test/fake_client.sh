#!/usr/bin/env bash
# fake_client.sh QUEUE PORT HOST - a stand-in client for the bench.sh tests.
# It writes its call count to QUEUE.n and its pid to QUEUE.pid.
# Each call takes the next line of QUEUE: 'WALL FIRST EXIT [SLEEP]'. With
# EXIT 0 it prints a known --csv header and row (lat_p50_us left empty:
# "not measured"); otherwise it prints nothing on stdout and exits EXIT.
# EXIT 'bad' prints three lines (not a valid --csv output) and exits 0.
set -u
queue=$1 port=$2 host=$3
n=0
[ -f "$queue.n" ] && read -r n <"$queue.n"
n=$((n + 1))
printf '%s\n' "$n" >"$queue.n"
printf "%s\n" "$$" >"$queue.pid"
line=$(sed -n "${n}p" "$queue")
read -r wall first code pause <<<"$line"
echo "fake client: call $n of $queue" >&2
[ -z "${pause:-}" ] || sleep "$pause"
case $code in
0)
    printf 'connections,requests,errors,wall_s,first_max_ms,lat_p50_us,port,host\n'
    printf '4,400,0,%s,%s,,%s,%s\n' "$wall" "$first" "$port" "$host"
    ;;
bad)
    printf 'connections,requests\n4,400\nextra\n'
    ;;
*)
    echo "fake client: failing with $code" >&2
    exit "$code"
    ;;
esac

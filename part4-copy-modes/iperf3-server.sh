#!/usr/bin/env bash
# iperf3-server.sh - iperf3 -s dressed as one of our servers for tools/bench.sh:
# it prints the start line once iperf3 listens, and on SIGTERM stops iperf3
# and exits 0. (timing.sh uses it for the reference column of table (a)
# when iperf3 is installed.)
set -u
child=""
trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; wait 2>/dev/null; echo "iperf3: stopped"; exit 0' TERM INT
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# A random port; if iperf3 cannot have it (taken), another one (bounded).
for _ in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 30000 ))
    listening "$port" && continue
    iperf3 -s -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    child=$!
    for _ in $(seq 50); do                  # up to 5 s for it to listen
        listening "$port" && break
        kill -0 "$child" 2>/dev/null || break
        sleep 0.1
    done
    if listening "$port"; then
        echo "iperf3: listening on 127.0.0.1:$port pid $$"
        wait "$child"
        echo "iperf3: stopped (iperf3 ended by itself)"
        exit 1
    fi
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
    child=""
done
echo "iperf3-server.sh: iperf3 -s did not start" >&2
exit 1

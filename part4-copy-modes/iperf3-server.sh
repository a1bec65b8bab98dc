#!/usr/bin/env bash
# iperf3-server.sh - iperf3 -s dressed as one of our servers for tools/bench.sh:
# it prints the start line, and on SIGTERM stops iperf3 and exits 0.
# (timing.sh uses it for the reference column of table (a) when iperf3 is installed.)
set -u
port=$(( 20000 + RANDOM % 30000 ))
iperf3 -s -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; echo "iperf3: stopped: port=$port"; exit 0' TERM INT
sleep 0.3
echo "iperf3: listening on 127.0.0.1:$port pid $$"
wait "$child"
echo "iperf3: stopped: port=$port (iperf3 ended by itself)"

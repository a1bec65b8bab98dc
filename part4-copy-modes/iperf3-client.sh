#!/usr/bin/env bash
# iperf3-client.sh PORT SIZE SECONDS - iperf3 -c -R -l SIZE (-R: the server
# sends and we receive, the direction of our copy-modes server), reported in
# the CSV columns of our client (only what iperf3 measured is filled: bytes
# received, wall time, Gbit/s), so that tools/bench.sh can put it beside the
# copy modes. iperf3 runs whole seconds: at least 1.
set -u
port=$1 size=$2 secs=$3
secs=$(awk -v s="$secs" 'BEGIN { t = int(s); if (t < s) t++; if (t < 1) t = 1; print t }')
json=$(iperf3 -c 127.0.0.1 -p "$port" -R -l "$size" -t "$secs" -J 2>/dev/null) || exit 1
# The receiver's summary: "sum_received": { ... "bytes": B, "bits_per_second": R ... }
read -r bytes bps < <(sed -n '/"sum_received"/,/}/p' <<<"$json" |
    awk -F'[:,]' '/"bytes"/ {b=$2} /"bits_per_second"/ {r=$2} END {print b+0, r+0}')
[[ "$bps" != 0 ]] || exit 1
echo "connections,conn_failed,requests,errors,timeouts,bytes_sent,bytes_recv,wall_s,req_per_s,mb_s_sent,mb_s_recv,lat_avg_us,lat_p50_us,lat_p90_us,lat_p99_us,lat_p999_us,lat_max_us,first_avg_ms,first_max_ms,sess_avg_s,sess_max_s,cpu_s,gbit_s,cli_cpu_per_kib_ns"
awk -v b="$bytes" -v r="$bps" -v t="$secs" 'BEGIN {
    printf "1,0,0,0,0,0,%.0f,%s,,,%.1f,,,,,,,,,,,,%.4g,\n", b, t, r / 8e6, r / 1e9 }'

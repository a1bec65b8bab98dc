#!/usr/bin/env bash
# soak.sh [SECONDS] - a bounded soak of every event-driven server: 1,000
# connections for SECONDS (default 60; `make test` runs 5) with random
# disconnects and reconnects, every byte checked. The server's memory
# (RSS, after a warm-up) and its descriptors must stay flat: the growth is
# printed, and the descriptors must come back exactly to the baseline.
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

SECONDS_WANTED=${1:-${SOAK_SECONDS:-60}}
CONNS=1000
RSS_SLACK_KIB=4096     # allocator noise; a leak of a few bytes per request is far more
# Under a sanitizer, RSS is not the server's: AddressSanitizer keeps freed
# memory in quarantine (up to 256 MiB) and adds shadow memory. There the
# memory bound is left to LeakSanitizer at exit; descriptors and bytes are
# still checked.
RSS_NOTE=""
[[ -n "${SANITIZER:-}" ]] && RSS_NOTE=" (RSS not bounded under $SANITIZER)"


while read -r name traits cmd; do
    [[ -z "$name" || "$name" == \#* || ",$traits," != *",event,"* ]] && continue
    read -r -a argv <<<"$cmd"
    argv[0]="$BUILD/${argv[0]}"
    if ! start_server "${argv[@]}" -p 0 --idle-timeout 0; then
        report na soak "$name" "server did not start (io_uring refused?)"
        continue
    fi
    "$PROBE" -p "$SRV_PORT" integrity 1 >/dev/null
    base_fds=$(settled_fd_count "$SRV_PID")
    out=$(mktemp)
    "$PROBE" -p "$SRV_PORT" soak "$SECONDS_WANTED" "$CONNS" >"$out" 2>&1 &
    client=$!
    # Memory after the warm-up (a fifth of the run, at least a second),
    # then at the end, with every connection still open.
    warm=$(awk -v s="$SECONDS_WANTED" 'BEGIN { w = s / 5; print (w < 1 ? 1 : w) }')
    sleep "$warm"
    rss_warm=$(rss_kib "$SRV_PID")
    fds_mid=$(fd_count "$SRV_PID")
    wait_exit "$client" $(( ${SECONDS_WANTED%.*} + 60 ))
    rc=$EXIT_STATUS
    rss_end=$(rss_kib "$SRV_PID")
    wait_until 5 fds_are "$SRV_PID" "$base_fds"
    fds_end=$(fd_count "$SRV_PID")
    stop_server 2
    summary="$(tail -n 1 "$out"); RSS ${rss_warm} -> ${rss_end} KiB ($((rss_end - rss_warm)) KiB), descriptors $base_fds -> $fds_mid (during) -> $fds_end"
    if [[ "$rc" != 0 ]]; then
        report fail soak "$name" "$(tr '\n' ' ' <"$out")"
    elif [[ -z "${SANITIZER:-}" ]] && ((rss_end - rss_warm > RSS_SLACK_KIB)); then
        report fail soak "$name" "memory grew: $summary"
    elif [[ "$fds_end" != "$base_fds" ]]; then
        report fail soak "$name" "descriptors did not return: $summary"
    elif [[ "$SRV_STATUS" != 0 ]]; then
        report fail soak "$name" "exit status $SRV_STATUS after SIGTERM"
    else
        report pass soak "$name, ${SECONDS_WANTED} s: $summary$RSS_NOTE"
    fi
    rm -f "$out"
    cleanup_server_files
done <"$TESTS_DIR/servers.list"

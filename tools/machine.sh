#!/usr/bin/env bash
# machine.sh - print the machine header of a results file, one
# '# key: value' line each: machine, cpu, cores, memory, kernel, os, load,
# date (UTC, ISO 8601) and commit (of the repository holding this script,
# '-dirty' when tracked files differ from it). bench.sh writes these lines
# at the top of every results file; anyone else may reuse them:
#   tools/machine.sh > myresults.txt
set -u

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$tools_dir")

cpu=""
if [ -r /proc/cpuinfo ]; then
    # x86: "model name"; arm64 has none, "CPU part"/"Hardware" vary: fall back.
    cpu=$(awk -F: '/^model name/ { sub(/^[ \t]+/, "", $2); print $2; exit }' /proc/cpuinfo)
fi
if [ -z "$cpu" ] && command -v lscpu >/dev/null 2>&1; then
    cpu=$(LC_ALL=C lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^[ \t]+/, "", $2); print $2; exit }')
fi
[ -n "$cpu" ] || cpu="unknown ($(uname -m))"

mem="unknown"
if [ -r /proc/meminfo ]; then
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576; exit }' /proc/meminfo)
fi

os="unknown"
if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    os=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${NAME:-unknown}}")
fi

load="unknown"
if [ -r /proc/loadavg ]; then
    read -r l1 l5 l15 _ < /proc/loadavg && load="$l1 $l5 $l15 (1, 5, 15 min)"
fi

commit="unknown"
if command -v git >/dev/null 2>&1 &&
    c=$(git -C "$repo_dir" rev-parse --short=12 HEAD 2>/dev/null); then
    commit=$c
    if [ -n "$(git -C "$repo_dir" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit-dirty"
    fi
fi

host=$(uname -n)
printf '# machine: %s\n' "$host"
printf '# cpu: %s\n' "$cpu"
printf '# cores: %s\n' "$(nproc 2>/dev/null || echo unknown)"
printf '# memory: %s\n' "$mem"
printf '# kernel: %s\n' "$(uname -r)"
printf '# os: %s\n' "$os"
printf '# load: %s\n' "$load"
printf '# date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '# commit: %s\n' "$commit"

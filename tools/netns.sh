#!/usr/bin/env bash
# netns.sh - two network namespaces joined by a veth pair, for measuring a
# server and a client across a (virtual) link instead of loopback.
#
#   tools/netns.sh up                   create them
#   tools/netns.sh run srv|cli CMD...   run CMD in the server's or the client's namespace
#   tools/netns.sh addr srv|cli         print that side's address
#   tools/netns.sh down                 remove the ones 'up' created (safe to repeat)
#   tools/netns.sh check                exit 0 if this machine can do it, else say why
#
# NETNS_PREFIX names the pair: "$NETNS_PREFIX-srv" and "$NETNS_PREFIX-cli"
# (default prefix cm4). On a shared machine give each user their own, e.g.
#   NETNS_PREFIX=cm4-$USER tools/netns.sh up
# and use the same prefix for run, addr and down.
# 'up' refuses to touch a namespace of that name that it did not create;
# 'down' deletes only the namespaces 'up' created. It records them (name,
# inode and creation time) in /run/netns-sh/PREFIX, so a namespace deleted
# and made again under the same name by someone else is not taken for ours.
# Needs root and iproute2. Everything it creates lives inside the two
# namespaces: the veth pair's two ends and the addresses 10.231.4.1/24
# (server) and 10.231.4.2/24 (client); the host's own interfaces are never
# touched, and deleting a namespace deletes the veth end inside it (and so
# the pair). A script sources nothing from here: it calls it, e.g.
#   tools/netns.sh up && trap 'tools/netns.sh down' EXIT
set -u

PREFIX=${NETNS_PREFIX:-cm4}
NS_SRV="$PREFIX-srv" NS_CLI="$PREFIX-cli"
ADDR_SRV=10.231.4.1 ADDR_CLI=10.231.4.2
STATE_DIR=/run/netns-sh
STATE="$STATE_DIR/$PREFIX"

usage() { sed -n '2,26s/^# \{0,1\}//p' "$0"; }

check() {
    if [[ $(id -u) != 0 ]]; then
        echo "netns.sh: needs root (network namespaces); skipped"
        return 3
    fi
    if ! command -v ip >/dev/null 2>&1; then
        echo "netns.sh: needs iproute2 (the ip command); skipped"
        return 3
    fi
    local probe="$PREFIX-probe$$"
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "netns.sh: this system does not let us create network namespaces; skipped"
        return 3
    fi
    ip netns del "$probe" 2>/dev/null
    return 0
}

exists() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"; }

# What tells one namespace from a later one of the same name: its inode
# (the kernel reuses those) and its creation time, to the nanosecond.
ns_id() { stat -L -c '%i %.9Z' "/run/netns/$1" 2>/dev/null; }

# ours NS: 'up' created NS, and it is still that namespace.
ours() {
    local id
    id=$(ns_id "$1") || return 1
    [ -r "$STATE" ] && grep -qxF -- "$1 $id" "$STATE"
}

# create NS: add it and record it as ours.
create() {
    ip netns add "$1" || return 1
    if ! mkdir -p "$STATE_DIR" || ! printf '%s %s\n' "$1" "$(ns_id "$1")" >>"$STATE"; then
        echo "netns.sh: cannot record $1 in $STATE: removing it" >&2
        ip netns del "$1"
        return 1
    fi
}

down() {
    local ns rc=0
    for ns in "$NS_SRV" "$NS_CLI"; do
        exists "$ns" || continue
        if ours "$ns"; then
            ip netns del "$ns" || rc=1
        else
            echo "netns.sh: left $ns alone: netns.sh did not create it" >&2
        fi
    done
    [ "$rc" != 0 ] || rm -f -- "$STATE"
    return "$rc"
}

up() {
    check || return $?
    local ns
    for ns in "$NS_SRV" "$NS_CLI"; do
        if exists "$ns" && ! ours "$ns"; then
            echo "netns.sh: $ns exists and netns.sh did not create it: not touching it (choose another NETNS_PREFIX, see -h)" >&2
            return 1
        fi
    done
    down || return 1
    if ! create "$NS_SRV" || ! create "$NS_CLI"; then
        down
        return 1
    fi
    # Create the pair inside the server namespace, then move one end over:
    # nothing ever appears in the host's namespace.
    if ! ip -n "$NS_SRV" link add veth-srv type veth peer name veth-cli ||
       ! ip -n "$NS_SRV" link set veth-cli netns "$NS_CLI" ||
       ! ip -n "$NS_SRV" addr add "$ADDR_SRV/24" dev veth-srv ||
       ! ip -n "$NS_CLI" addr add "$ADDR_CLI/24" dev veth-cli ||
       ! ip -n "$NS_SRV" link set lo up || ! ip -n "$NS_CLI" link set lo up ||
       ! ip -n "$NS_SRV" link set veth-srv up || ! ip -n "$NS_CLI" link set veth-cli up; then
        echo "netns.sh: setting up the veth pair failed" >&2
        down
        return 1
    fi
    # Bounded wait until the link answers (a veth is up at once, normally).
    local i
    for ((i = 0; i < 50; i++)); do
        ip netns exec "$NS_CLI" ping -c 1 -W 1 "$ADDR_SRV" >/dev/null 2>&1 && return 0
        command -v ping >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    echo "netns.sh: $ADDR_SRV does not answer from $NS_CLI" >&2
    down
    return 1
}

side() {
    case "${1:-}" in
        srv) NS=$NS_SRV ADDR=$ADDR_SRV ;;
        cli) NS=$NS_CLI ADDR=$ADDR_CLI ;;
        *) usage >&2; exit 2 ;;
    esac
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    check) check ;;
    addr) side "${2:-}"; echo "$ADDR" ;;
    run) side "${2:-}"; shift 2; exec ip netns exec "$NS" "$@" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac

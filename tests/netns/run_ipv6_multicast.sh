#!/bin/sh
# Run a command with two private network namespaces joined by a veth pair
# (v0 in the first, v1 in the second), so IPv6 multicast has a real link to travel
# on (lo carries no IPv6 multicast) and each node has addresses of its own.
# Nothing can leave the machine: the namespaces have no other interface. The
# command runs in the current namespace and learns the two namespace names from
# NETAIO_TEST_NETNS ("a,b"); tests open their sockets inside them with setns().
# Exits 77 (ctest: skipped) when namespaces cannot be created (not root).
#   usage: run_ipv6_multicast.sh COMMAND [ARG...]
a="netaio-a-$$"
b="netaio-b-$$"
if ! command -v ip >/dev/null 2>&1 || ! ip netns add "$a" 2>/dev/null; then
    echo "run_ipv6_multicast.sh: cannot create network namespaces (needs root and iproute2): skipped"
    exit 77
fi
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT INT TERM
set -e
ip netns add "$b"
ip link add v0 netns "$a" type veth peer name v1 netns "$b"
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
done
ip -n "$a" link set v0 up
ip -n "$b" link set v1 up
for i in $(seq 100); do
    if ip -n "$a" -6 addr show dev v0 | grep -q "scope link" && ip -n "$b" -6 addr show dev v1 | grep -q "scope link"; then break; fi
    sleep 0.05
done
set +e
NETAIO_TEST_NETNS="$a,$b" "$@"

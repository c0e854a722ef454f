#!/bin/bash
# natfix lab (newuser62's shape): M 10.77.0.1 -- router R (10.77.0.254 | 10.78.0.254) --
# A 10.78.0.2. R DNATs 10.77.0.254:10000 (the NDMP port alone, or with $1 = forward-range
# the agent range 6001-6100 too) to 10.78.0.2; its forward chain: policy drop;
# ct state established,related accept; ct status dnat accept; new connections from the
# inside (A's callback to the job engine) accept. M routes 10.78.0.0/24 via R. The peers
# are the Backup Exec imitation (python -m flowcheck.lab media / agent), 3 resources.
# $1: own (A announces its own 10.78.0.2), announce-only (A announces 10.77.0.254, only
# the NDMP port forwarded), forward-range (A announces 10.77.0.254, 6001-6100 forwarded).
# $2: the capture file (tcpdump on M's veth m0). Run as root from the repository root.
set -e
MODE=${1:?own, announce-only or forward-range}; OUT=${2:?capture file}
P=nf
trap 'for n in m r a; do ip netns del $P-$n 2>/dev/null; done' EXIT
for n in m r a; do ip netns add $P-$n; ip -n $P-$n link set lo up; done
ip link add m0 netns $P-m type veth peer name r0 netns $P-r
ip link add a0 netns $P-a type veth peer name r1 netns $P-r
ip -n $P-m addr add 10.77.0.1/24 dev m0
ip -n $P-r addr add 10.77.0.254/24 dev r0
ip -n $P-r addr add 10.78.0.254/24 dev r1
ip -n $P-a addr add 10.78.0.2/24 dev a0
for x in m:m0 r:r0 r:r1 a:a0; do
  ip -n $P-${x%%:*} link set ${x#*:} up
  ip netns exec $P-${x%%:*} ethtool -K ${x#*:} tso off gso off gro off tx off >/dev/null
done
ip -n $P-m route add 10.78.0.0/24 via 10.77.0.254
ip -n $P-a route add default via 10.78.0.254
ip netns exec $P-r sysctl -qw net.ipv4.ip_forward=1
ip netns exec $P-m sysctl -qw net.ipv4.ip_local_port_range="5001 5100"
ip netns exec $P-a sysctl -qw net.ipv4.ip_local_port_range="6001 6100"
PORTS=10000; [ "$MODE" = forward-range ] && PORTS="{ 10000, 6001-6100 }"
ip netns exec $P-r nft -f - <<NFT
table ip nf {
  chain prerouting_nat {
    type nat hook prerouting priority dstnat;
    ip daddr 10.77.0.254 tcp dport $PORTS dnat to 10.78.0.2
  }
  chain forward_filter {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct status dnat accept
    iifname "r1" ct state new accept
  }
}
NFT
AGENT=(); [ "$MODE" != own ] && AGENT=(--data-ip 10.77.0.254 --data-bind 0.0.0.0)
ip netns exec $P-a python -m flowcheck.lab agent "${AGENT[@]}" > /tmp/$P-agent.log 2>&1 &
AP=$!
ip netns exec $P-m tcpdump -i m0 -s 0 -U --immediate-mode -B 16384 -w "$OUT" 'tcp or icmp' \
  2> /tmp/$P-tcpdump.log & TP=$!
sleep 1.5
ip netns exec $P-m python -m flowcheck.lab media --agent 10.77.0.254 --resources 3 \
  > /tmp/$P-media.log 2>&1 || echo "media exit $?"
sleep 1
kill -INT $TP; wait $TP || true
kill $AP 2>/dev/null || true; wait $AP 2>/dev/null || true
cat /tmp/$P-tcpdump.log | tail -3; tail -5 /tmp/$P-media.log

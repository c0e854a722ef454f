#!/bin/bash
# Mid-transfer drop on the agent: after 1.5 s the agent's own nftables drops its data ports both ways.
set -u
cd "$(dirname "$0")/../.."  # the repository: python -m flowcheck.lab
ip netns del me-m 2>/dev/null; ip netns del me-a 2>/dev/null
ip netns add me-m; ip netns add me-a
ip link add m0 netns me-m type veth peer name a0 netns me-a
ip -n me-m addr add 10.77.0.1/24 dev m0; ip -n me-a addr add 10.77.0.2/24 dev a0
ip -n me-m link set m0 up; ip -n me-a link set a0 up; ip -n me-m link set lo up; ip -n me-a link set lo up
for n in me-m me-a; do ip netns exec $n ethtool -K ${n#me-}0 tso off gso off gro off tx off >/dev/null 2>&1; done
ip netns exec me-a sh -c 'echo 5 > /proc/sys/net/ipv4/tcp_retries2'
ip netns exec me-a sysctl -qw net.ipv4.ip_local_port_range="6001 6100"
ip netns exec me-m sysctl -qw net.ipv4.ip_local_port_range="5001 5100"
ip netns exec me-m tcpdump -i m0 -s 0 -U --immediate-mode -w "${1:-midjob.pcap}" 'tcp or icmp' > /dev/null 2>&1 &
TP=$!; sleep 1
ip netns exec me-a python -m flowcheck.lab agent --listen 10.77.0.2 --agent-range 6001-6100 --sessions 1 --bytes 2000000 --chunk-delay 0.3 > /dev/null 2>&1 &
AP=$!; sleep 1
ip netns exec me-m python -m flowcheck.lab media --agent 10.77.0.2 --media-range 5001-5100 --resources 1 --bytes 2000000 > /dev/null 2>&1 &
MP=$!
sleep 1.5
printf 'table inet mid {\n  chain i {\n    type filter hook input priority 0; policy accept;\n    tcp dport 6001-6100 drop\n  }\n  chain o {\n    type filter hook output priority 0; policy accept;\n    tcp sport 6001-6100 drop\n  }\n}\n' | ip netns exec me-a nft -f -
wait $MP; echo "media rc=$?"
sleep 2; kill $AP 2>/dev/null; wait $AP 2>/dev/null
sleep 1; kill -INT $TP; wait $TP
ip netns del me-m; ip netns del me-a

set -e
A=review64n-a; B=review64n-b
ip netns add $A; ip netns add $B
ip link add a0 netns $A type veth peer name b0 netns $B
ip link add a1 netns $A type veth peer name b1 netns $B
for l in lo a0 a1; do ip -n $A link set $l up; done
for l in lo b0 b1; do ip -n $B link set $l up; done
ip -n $A addr add 10.64.1.1/24 dev a0
ip -n $A addr add 10.64.2.1/24 dev a1
ip -n $B addr add 10.64.1.2/24 dev b0
ip -n $B addr add 10.64.2.2/24 dev b1
# B's way back to 10.64.1.1 goes by b1 (A's other interface): asymmetric at A
ip -n $B route add 10.64.1.1/32 via 10.64.2.1 dev b1
ip netns exec $B sysctl -qw net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.b1.arp_announce=2
ip netns exec $A sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.a1.rp_filter=1 net.ipv4.conf.a0.rp_filter=1 net.ipv4.tcp_syn_retries=2
sleep 2
ip netns exec $B python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('10.64.1.2',10000)); s.listen(); time.sleep(14)" &
ip netns exec $A tcpdump -i any -y LINUX_SLL2 -w /tmp/review64n-rp.pcap 'tcp or icmp or arp' 2>/dev/null &
TD=$!
sleep 2
ip netns exec $A python3 -c "
import socket
try: socket.create_connection(('10.64.1.2',10000),timeout=10)
except Exception as e: print('connect:', e)
" || true
sleep 1; kill $TD; sleep 1
ip netns exec $A nstat -az TcpExtIPReversePathFilter 2>/dev/null | tail -1 || true
wait || true

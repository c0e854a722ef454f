#!/bin/bash
# words65 lab: M (10.77.0.1, ndmjob DMA with its local tape), A (10.77.0.2, ndmjob daemon);
# A pings M first; tcpdump -i any -y LINUX_SLL on M (all packets). Writes /tmp/w65/m.pcap; cut with tshark as the case's .toml says. Run as root.
set -e
P=w65
trap 'for n in m a br; do ip netns del $P-$n 2>/dev/null; done' EXIT
W=/tmp/w65/ws
NDM=$(command -v ndmjob || echo /usr/lib/amanda/ndmjob)
[ -x "$NDM" ] || NDM=/usr/libexec/amanda/ndmjob
ip netns add $P-br
ip netns exec $P-br ip link add br0 type bridge
ip netns exec $P-br ip link set br0 up
i=1
for h in m a; do
  ip netns add $P-$h
  ip link add w65v$h netns $P-$h type veth peer name w65p$h netns $P-br
  ip netns exec $P-br ip link set w65p$h master br0
  ip netns exec $P-br ip link set w65p$h up
  ip netns exec $P-$h ip addr add 10.77.0.$i/24 dev w65v$h
  ip netns exec $P-$h ip link set w65v$h up
  ip netns exec $P-$h ip link set lo up
  i=$((i+1))
done
ip netns exec $P-m sysctl -qw net.ipv4.ip_local_port_range="5001 5100"
ip netns exec $P-a sysctl -qw net.ipv4.ip_local_port_range="6001 6100"
rm -rf $W; mkdir -p $W/bin $W/source
printf '[butype tar]\n  v2attr 0x0\n  v3attr 0x0\n  v4attr 0x0\n' > $W/ndmjob.conf
cat > $W/bin/wrap_tar <<'SH'
#!/bin/sh
mode=""; filesystem=.
while [ $# -gt 0 ]; do
  case "$1" in
    -c) mode=c ;; -x) mode=x ;;
    -E) shift; case "$1" in FILESYSTEM=*) filesystem="${1#FILESYSTEM=}" ;; esac ;;
  esac
  shift
done
cd "$filesystem" || exit 1
if [ "$mode" = x ]; then exec tar -xf - ; fi
exec tar -cf - .
SH
chmod +x $W/bin/wrap_tar
head -c 200000 /dev/urandom > $W/source/payload.bin; : > $W/tape
export PATH=$W/bin:$PATH
cd $W
ip netns exec $P-a $NDM -o config-file=$W/ndmjob.conf -o daemon -p 10000 >/dev/null 2>&1 & echo $! > $W/da.pid
sleep 1
ip netns exec $P-m tcpdump -i any -y LINUX_SLL -U -w /tmp/w65/m.pcap >/dev/null 2>&1 & echo $! > $W/tcpm.pid
sleep 1.5
ip netns exec $P-a python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"hello\", (\"10.77.0.1\", 9))"
timeout -s KILL 20 ip netns exec $P-m $NDM -v -c -D 10.77.0.2:10000/4t,ndmp,ndmp -T . \
  -f $W/tape -C $W/source -o time-limit=30 . > $W/dma.log 2>&1 || true
sleep 1
kill $(cat $W/tcpm.pid); sleep 0.5
kill $(cat $W/da.pid) 2>/dev/null || true
sleep 0.5

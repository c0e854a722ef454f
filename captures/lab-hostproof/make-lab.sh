#!/bin/bash
# hostproof lab: M (DMA), A (ndmjob daemon: data agent), T (ndmjob daemon: tape agent)
# on one bridge; T's input chain drops pure SYNs to 7001-7100; tcpdump -i any on A and T.
# $1 = with-other: add an unrelated T->A TCP connection (T connects to A:2222, completes);
# with-refused: T's SYN to A's closed port 9, reset; control-drop: T's input drops the
# SYNs to 10000, the DMA's only agent is T (-D T -T .), T connects to A:2222 and the
# captures are M's and T's (a.pcap then holds M's). Writes /tmp/hp/a.pcap, t.pcap; merge
# with `mergecap -F pcap -w merged.pcap a.pcap t.pcap`. Run as root.
set -e
trap 'for n in m a t br; do ip netns del hp-$n 2>/dev/null; done' EXIT
P=hp
W=/tmp/hp/ws
NDM=$(command -v ndmjob || echo /usr/lib/amanda/ndmjob)
[ -x "$NDM" ] || NDM=/usr/libexec/amanda/ndmjob
ip netns add $P-br
ip netns exec $P-br ip link add br0 type bridge
ip netns exec $P-br ip link set br0 up
i=1
for h in m a t; do
  ip netns add $P-$h
  ip link add v$h netns $P-$h type veth peer name p$h netns $P-br
  ip netns exec $P-br ip link set p$h master br0
  ip netns exec $P-br ip link set p$h up
  ip netns exec $P-$h ip addr add 10.77.0.$i/24 dev v$h
  ip netns exec $P-$h ip link set v$h up
  ip netns exec $P-$h ip link set lo up
  i=$((i+1))
done
ip netns exec $P-m sysctl -qw net.ipv4.ip_local_port_range="5001 5100"
ip netns exec $P-a sysctl -qw net.ipv4.ip_local_port_range="6001 6100"
ip netns exec $P-t sysctl -qw net.ipv4.ip_local_port_range="7001 7100"
TPORTS=7001-7100; [ "$1" = control-drop ] && TPORTS=10000
ip netns exec $P-t nft -f - <<NFT
table inet hp {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport $TPORTS tcp flags & (syn | ack) == syn drop
  }
}
NFT
rm -rf $W; mkdir -p $W/bin $W/source
printf '[butype tar]\n  v2attr 0x0\n  v3attr 0x0\n  v4attr 0x0\n' > $W/ndmjob.conf
# the data agent's formatter (as flowcheck/lab/ndmjob.py's WRAP_TAR)
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
ip netns exec $P-t $NDM -o config-file=$W/ndmjob.conf -o daemon -p 10000 >/dev/null 2>&1 & echo $! > $W/dt.pid
sleep 1
CAPHOST=a; [ "$1" = control-drop ] && CAPHOST=m
ip netns exec $P-$CAPHOST tcpdump -i any -y LINUX_SLL -U -w /tmp/hp/a.pcap tcp >/dev/null 2>&1 & echo $! > $W/tcpa.pid
ip netns exec $P-t tcpdump -i any -y LINUX_SLL -U -w /tmp/hp/t.pcap tcp >/dev/null 2>&1 & echo $! > $W/tcpt.pid
sleep 1.5
if [ "$1" = with-other ] || [ "$1" = control-drop ]; then
  ip netns exec $P-a python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("10.77.0.2",2222)); s.listen(1)
c,_=s.accept(); c.sendall(c.recv(100)); c.close()' & OTHER=$!
  sleep 0.5
fi
DMAT="-D 10.77.0.2:10000/4t,ndmp,ndmp -T 10.77.0.3:10000/4t,ndmp,ndmp"
[ "$1" = control-drop ] && DMAT="-D 10.77.0.3:10000/4t,ndmp,ndmp -T ."
timeout -s KILL 14 ip netns exec $P-m $NDM -v -c $DMAT \
  -f $W/tape -C $W/source -o time-limit=30 . > $W/dma.log 2>&1 &
DMA=$!
if [ "$1" = with-other ] || [ "$1" = control-drop ]; then
  sleep 2
  ip netns exec $P-t python3 -c '
import socket
s=socket.create_connection(("10.77.0.2",2222)); s.sendall(b"hello\n"); s.recv(100); s.close()'
  wait $OTHER || true
fi
if [ "$1" = with-refused ]; then
  sleep 2
  ip netns exec $P-t python3 -c '
import socket
try: socket.create_connection(("10.77.0.2",9), timeout=2)
except OSError as e: print(e)'
fi
wait $DMA || true
sleep 1
kill $(cat $W/tcpa.pid) $(cat $W/tcpt.pid); sleep 0.5
kill $(cat $W/da.pid) $(cat $W/dt.pid) 2>/dev/null || true
sleep 0.5
for n in m a t br; do ip netns del $P-$n; done

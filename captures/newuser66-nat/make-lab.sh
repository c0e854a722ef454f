#!/bin/bash
# B: agent 10.66.2.2 behind a NAT router: public 10.66.1.200 DNAT (10000, 6001-6100) -> 10.66.2.2, masquerade out r1;
# the router forwards only NATed connections to 10.66.2.0/24. Capture on media m0.
OUT=$1; CAPNS=${2:-m}; CAPIF=${3:-m0}; PY=/tmp/nu66/.venv/bin/python; W=/tmp/nu66w; cd /tmp/nu66
ip -n nu66-r addr add 10.66.1.200/24 dev r1 2>/dev/null
ip netns exec nu66-r nft -f - <<'N'
table ip nu66nat {
  chain prer { type nat hook prerouting priority -100; ip daddr 10.66.1.200 tcp dport { 10000, 6001-6100 } dnat to 10.66.2.2; }
  chain postr { type nat hook postrouting priority 100; ip saddr 10.66.2.0/24 oifname "r1" masquerade; }
  chain filt { type filter hook forward priority 0; ip daddr 10.66.2.0/24 ct status dnat accept; ip daddr 10.66.2.0/24 ct state established,related accept; ip daddr 10.66.2.0/24 drop; }
}
N
ip netns exec nu66-a $PY -m flowcheck.lab agent --agent-range 6001-6100 > $W/agentA.log 2>&1 & AP=$!
ip netns exec nu66-$CAPNS tcpdump -Z root -i $CAPIF -U -w $OUT > $W/cap.log 2>&1 & CP=$!
sleep 1.5
ip netns exec nu66-m timeout 60 $PY -m flowcheck.lab media --agent 10.66.1.200 --resources 1 --bytes 200000 --connect-timeout 5 > $W/mediaA.log 2>&1; echo media rc=$?
sleep 1; kill $CP; wait $CP 2>/dev/null; kill $AP 2>/dev/null; wait 2>/dev/null
ip netns exec nu66-r nft delete table ip nu66nat
for f in $W/agentA.log $W/mediaA.log; do echo "== $f"; tail -n 4 $f; done

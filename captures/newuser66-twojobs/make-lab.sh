#!/bin/bash
# A: two jobs at once, media 10.66.1.1 -> agents a 10.66.2.2 and b 10.66.3.2; b's firewall drops data SYNs; capture CAPNS:IF
OUT=$1; CAPNS=${2:-m}; CAPIF=${3:-m0}; EXTRA=${4:-}
PY=/tmp/nu66/.venv/bin/python; W=/tmp/nu66w
cd /tmp/nu66
ip netns exec nu66-b nft -f - <<'N'
table inet nu66fw {
  chain in {
    type filter hook input priority 0;
    ct state new tcp dport 6001-6100 drop
  }
}
N
ip netns exec nu66-a $PY -m flowcheck.lab agent --agent-range 6001-6100 > $W/agentA.log 2>&1 & AP=$!
ip netns exec nu66-b $PY -m flowcheck.lab agent --agent-range 6001-6100 --connect-timeout 5 > $W/agentB.log 2>&1 & BP=$!
ip netns exec nu66-$CAPNS tcpdump -i $CAPIF -U $EXTRA -w $OUT > $W/cap.log 2>&1 & CP=$!
sleep 1.5
ip netns exec nu66-m timeout 60 $PY -m flowcheck.lab media --agent 10.66.2.2 --resources 2 --bytes 200000 > $W/mediaA.log 2>&1 & M1=$!
ip netns exec nu66-m timeout 60 $PY -m flowcheck.lab media --agent 10.66.3.2 --resources 2 --bytes 200000 --connect-timeout 5 > $W/mediaB.log 2>&1 & M2=$!
wait $M1; echo mediaA rc=$?; wait $M2; echo mediaB rc=$?
sleep 1; kill $CP; wait $CP 2>/dev/null; kill $AP $BP 2>/dev/null; wait 2>/dev/null
ip netns exec nu66-b nft delete table inet nu66fw
for f in $W/*.log; do echo "== $f"; tail -n 4 $f; done

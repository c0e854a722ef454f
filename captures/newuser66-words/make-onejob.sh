#!/bin/bash
# one job media -> agent a (2 resources), router forward rule RULE (nft statement on tcp to 10.66.2.2), capture CAPNS:CAPIF with EXTRA
OUT=$1; RULE=$2; CAPNS=${3:-m}; CAPIF=${4:-m0}; EXTRA=${5:-}; PY=/tmp/nu66/.venv/bin/python; W=/tmp/nu66w; cd /tmp/nu66
ip netns exec nu66-r nft -f - <<N
table inet nu66r {
  chain f {
    type filter hook forward priority 0;
    $RULE
  }
}
N
ip netns exec nu66-a $PY -m flowcheck.lab agent --agent-range 6001-6100 --connect-timeout 5 > $W/agentA.log 2>&1 & AP=$!
ip netns exec nu66-$CAPNS tcpdump -Z root -i $CAPIF -U $EXTRA -w $OUT > $W/cap.log 2>&1 & CP=$!
sleep 1.5
ip netns exec nu66-m timeout 60 $PY -m flowcheck.lab media --agent 10.66.2.2 --resources 2 --connect-timeout 5 > $W/mediaA.log 2>&1; echo media rc=$?
sleep 1; kill $CP; wait $CP 2>/dev/null; kill $AP 2>/dev/null; wait 2>/dev/null
ip netns exec nu66-r nft delete table inet nu66r
for f in $W/agentA.log $W/mediaA.log; do echo "== $f"; tail -n 3 $f; done

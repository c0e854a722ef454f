#!/bin/bash
# F: one job (2 resources, 4 MB each, slow) to agent a; dumpcap on the router's r1 and r2 (one pcapng, two interfaces),
# stopped 1.5 s into the job, which then goes on and succeeds. Then gzip'd (a colleague's file).
OUT=$1; PY=/tmp/nu66/.venv/bin/python; W=/tmp/nu66w; cd /tmp/nu66
ip netns exec nu66-a $PY -m flowcheck.lab agent --agent-range 6001-6100 --bytes 4000000 --chunk-delay 0.03 > $W/agentA.log 2>&1 & AP=$!
ip netns exec nu66-r dumpcap -q -i r1 -i r2 -w $OUT > $W/cap.log 2>&1 & CP=$!
sleep 2
ip netns exec nu66-m timeout 60 $PY -m flowcheck.lab media --agent 10.66.2.2 --resources 2 > $W/mediaA.log 2>&1 & MP=$!
sleep 1.5; kill -INT $CP; wait $CP
wait $MP; echo media rc=$?; kill $AP 2>/dev/null; wait 2>/dev/null
for f in $W/agentA.log $W/mediaA.log $W/cap.log; do echo "== $f"; tail -n 4 $f; done

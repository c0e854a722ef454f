"""Reading a capture makes no cyclic garbage: what it frees, reference counting frees.

flowcheck.connections reads with the garbage collector off and runs no collection
(`_collection_off`): a collection would walk every record read to find nothing. This
holds that: a capture read a second time (the first read's module set-up aside: its
imports and caches) leaves nothing for the collector, whichever path the read takes
(control streams decoded, tunnels, pcapng, two capture points read again)."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowcheck.config import build_config
from flowcheck.errors import FlowcheckError
from flowcheck.pipeline import read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
READS = ["ndmjob/v4-backup.pcap",  # NDMP control streams decoded
         "field38-matrix/agent-killed-snap96-two-points.pcap",  # two points: read again
         "lab/clean-dumpcap.pcapng",
         "lab-trial22-tunnels/data-port-in-use.vxlanasym.pcap.gz"]


@pytest.fixture
def collector_off() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        (gc.enable if collecting else gc.disable)()


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("capture", READS)
def test_a_read_leaves_no_cyclic_garbage(capture: str) -> None:
    path = str(CAPTURES / capture)
    config = build_config({}, {}, None)
    assert read_traffic([path], config).connections  # the module set-up, once
    gc.collect()
    traffic = read_traffic([path], config)
    assert traffic.connections
    del traffic
    assert gc.collect() == 0


CORPUS = Path(__file__).resolve().parent / "data" / "tcpdump-tests"
# Others' captures that take the decoder's odd paths: fuzzed and cut records (tcpdump's
# out-of-bounds-read and heap-overflow regressions), tunnels, MPLS, offload super-frames.
ODD = re.compile(r"oobr|overflow|crash|erspan|mpls|gre|vxlan|tso|trunc")


@pytest.mark.usefixtures("collector_off")
def test_reads_of_odd_captures_leave_no_cyclic_garbage() -> None:
    """The decoder's error and tunnel paths make no cyclic garbage either: a read goes
    on through a fuzzed or cut record, so garbage made there would grow with the
    capture. The files that cannot be read at all (an error, exit 3) end the read."""
    config = build_config({}, {}, None)
    files = sorted(p for p in CORPUS.iterdir() if ODD.search(p.name))
    assert len(files) > 50
    read_traffic([str(CAPTURES / READS[0])], config)  # the module set-up, once
    gc.collect()
    read = 0
    for path in files:
        try:
            traffic = read_traffic([str(path)], config)
        except FlowcheckError:
            continue
        read += 1
        del traffic
    assert read > 40
    assert gc.collect() == 0

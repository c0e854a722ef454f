"""Reading a capture makes no cyclic garbage: what it frees, reference counting frees.

flowcheck.connections reads with the garbage collector off and runs no collection
(`_collection_off`): a collection would walk every record read to find nothing. This
holds that: a capture read a second time (the first read's module set-up aside: its
imports and caches) leaves nothing for the collector, whichever path the read takes
(control streams decoded, tunnels, pcapng, two capture points read again)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowcheck.config import build_config
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

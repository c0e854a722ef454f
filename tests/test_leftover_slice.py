"""A leftover's late connect goes to the leftover in a slice of the agent's packets too
(newuser61 4).

captures/ndmjob-ended/v4-leftover-retry-into-live-job-media: a killed job's agent retried
its data connection 2.5 s into the next job's capture (C3 10.77.0.2:6093 ->
10.77.0.1:5042, refused by RST), and its CONNECT_ERR on the old control connection came
0.16 ms after the SYN. The full capture gives C3 to that leftover (S2). Sliced to the
agent's packets (`tcpdump 'src host 10.77.0.2'`: no RST, no announcement of the live job
S1), C3 was matched to S1 by direction and ports, S1's step 3 unknown and listing it,
though S2's CONNECT_ERR, in the slice, answers it. Now S2 takes it there too.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

ENDED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-ended"
NAME = "v4-leftover-retry-into-live-job-media"


def _analysis(path: Path) -> Analysis:
    config = build_config(load_file(ENDED / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _data(analysis: Analysis) -> dict[str, list[str]]:
    """Session id -> its data connections' endpoints (orig port -> resp port)."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    return {s.id: [f"{by_uid[u].orig_p}->{by_uid[u].resp_p}" for u in s.data_connections]
            for s in analysis.sessions}


@pytest.fixture(scope="module")
def full() -> Analysis:
    return _analysis(ENDED / f"{NAME}.pcap.gz")


def test_the_full_capture_gives_the_retry_to_the_leftover(full: Analysis) -> None:
    assert full.verdict == "pass"
    assert _data(full) == {"S1": ["6087->5082"], "S2": ["6093->5042"]}
    assert [s.status for s in full.sessions[1].steps] == ["ok"] + ["not_applicable"] * 3


def test_the_agent_only_slice_gives_it_to_the_leftover_too(tmp_path: Path) -> None:
    whole, sliced = tmp_path / "whole.pcap", tmp_path / "agent.pcap"
    whole.write_bytes(gzip.decompress((ENDED / f"{NAME}.pcap.gz").read_bytes()))
    subprocess.run(["tcpdump", "-r", str(whole), "-w", str(sliced),
                    "src host 10.77.0.2"], check=True, capture_output=True)
    analysis = _analysis(sliced)
    assert _data(analysis) == {"S1": ["6087->5082"], "S2": ["6093->5042"]}
    live, leftover = analysis.sessions
    # The live job's steps no longer hold the leftover's SYN: all ok.
    assert [s.status for s in live.steps] == ["ok"] * 4
    assert not any("5042" in step.detail for step in live.steps)
    # The leftover: whether its job still ran cannot be seen from the agent's side.
    assert [s.status for s in leftover.steps] == ["ok"] + ["unknown"] * 3
    assert "its SYN (C3, to 10.77.0.1:5042) got no answer the capture could hold" in \
        leftover.steps[2].detail
    assert analysis.verdict == "inconclusive"

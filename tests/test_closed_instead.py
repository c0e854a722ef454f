"""A listen request's receiver closing the control connection "instead" of answering
(flowcheck.verify.listen_unanswered.closed_instead) only when its FIN is the
connection's first close: not when the requester's FIN came first and the sniffer lost
it (review 51b).

On bytes: lab matrix seed 118 run 2 (both hosts' `tcpdump -i any` merged: the agent's
FIN, frames 895-896, 0.2 ms after the third DATA_LISTEN, then the media server's), and
the same capture as if the media server had closed first and both copies of its FIN
were lost: the agent's FIN acknowledges one sequence number more (the media server's
FIN), frames 897-898 left out. Before, both read "fd77::2 closed the control connection
instead".
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field55-matrix"
STEM = "restore-range-small-listen-unanswered-agent-closes-stopped-merged-sll2-ipv6"
CLOSED = HERE / f"{STEM}.pcap.gz"
AGENT_FIN, MEDIA_FIN = (895, 896), (897, 898)  # each packet's two copies (both hosts)
SLL2_HEADER, IPV6_HEADER = 20, 40
TCP_ACK = 8  # the acknowledgement number's offset in the TCP header


def _missing(analysis: Analysis) -> Finding:
    [missing] = [f for f in analysis.findings if f.code == "step_missing"
                 and "DATA_LISTEN" in f.message]
    return missing


def _media_fin_first_and_lost(tmp_path: Path) -> Analysis:
    """The stored pcapng (little-endian, LINKTYPE_LINUX_SLL2, packets in enhanced
    packet blocks) with the media server's FIN left out and the agent's acknowledging it:
    its blocks copied, those two edited."""
    data = gzip.decompress(CLOSED.read_bytes())
    out, offset, frame = bytearray(), 0, 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        block = bytearray(data[offset:offset + length])
        offset += length
        if kind == 1:  # interface description: the link type the edit reads
            assert struct.unpack_from("<H", block, 8)[0] == 276  # LINKTYPE_LINUX_SLL2
        if kind == 6:  # enhanced packet block: frame data from byte 28
            frame += 1
            if frame in MEDIA_FIN:
                continue  # the sniffer lost both copies of the media server's FIN
            if frame in AGENT_FIN:  # it acknowledges that FIN too
                at = 28 + SLL2_HEADER + IPV6_HEADER + TCP_ACK
                ack = struct.unpack_from(">I", block, at)[0]
                struct.pack_into(">I", block, at, ack + 1)
        out += block
    path = tmp_path / "media-fin-lost.pcapng"
    path.write_bytes(bytes(out))
    config = build_config(load_file(HERE / f"{STEM}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_the_agents_fin_after_the_request_is_a_close_instead_of_a_reply() -> None:
    missing = _missing(shared_analysis(CLOSED))
    assert "fd77::2 closed the control connection instead (its FIN, frame 895" in \
        missing.message, missing.message


def test_not_when_the_requesters_own_fin_came_first(tmp_path: Path) -> None:
    missing = _missing(_media_fin_first_and_lost(tmp_path))
    assert "closed the control connection instead" not in missing.message, missing.message
    assert "rather than answer the request" not in missing.fix, missing.fix
    assert "it received the request but never answered it" in missing.fix, missing.fix

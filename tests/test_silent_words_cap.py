"""Past the cap of host pairs whose packets that are not TCP are counted
(decode.other_ways.MAX_WAYS), a pair may hold a ping reply all the same: arrival's
silent_words and way_back's asked_toward_words said "no packet at all" from the
responder to the originator anyway (review 56k left them; task silentwords). Stored
cases (field58-matrix's merged one with a real-shaped echo reply from the agent added)
read with the cap at 0, so every pair is past it: the words must hedge as
Census.none_words does."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_factory import write_pcap
from test_connections_util import internet_checksum
from test_field58_matrix import _records

from flowcheck.config import build_config, load_file
from flowcheck.decode import other_ways
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
MERGED = (CAPTURES / "field58-matrix" /
          "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz")
MERGED_TOML = MERGED.with_name(MERGED.name[:-len(".pcap.gz")] + ".toml")
LINUX_SLL2 = 276
ASYMMETRIC = (CAPTURES / "review54d" / "ipv6-asymmetric-return-synacks-dropped-by-second-"
              "router-on-first-router.pcap.gz")
ASYMMETRIC_TOML = ASYMMETRIC.with_name(ASYMMETRIC.name[:-len(".pcap.gz")] + ".toml")
HEDGE = "host pairs whose packets that are not TCP were counted first (later pairs' were not)"


def _unanswered(capture: Path, toml: Path) -> Finding:
    """The capture's control_unanswered, read in this process with its settings file."""
    settings = build_config(load_file(toml))
    analysis = analyze(read_traffic([str(capture)], settings), settings)
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding


def _merged_with_reply(tmp_path: Path) -> Path:
    """field58-matrix's merged `tcpdump -i any` captures (the agent's firewall dropping
    the SYNs) with one ICMP echo reply from the agent to the media server after them
    (frame 19, cooked header marking it leaving the agent), as pcap."""
    records = _records(MERGED, LINUX_SLL2)
    icmp = bytearray(struct.pack("!BBHHH", 0, 0, 0, 0x1234, 1) + b"flowcheck-ping")
    icmp[2:4] = internet_checksum(bytes(icmp)).to_bytes(2, "big")
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0x4000, 64,
                               1, 0, bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1])))
    ip[10:12] = internet_checksum(bytes(ip)).to_bytes(2, "big")
    # SLL2: IPv4, interface 2, Ethernet, PACKET_OUTGOING, a 6-byte address
    sll2 = bytes.fromhex("0800000000000002000104060200000000020000")
    records.append((records[-1][0] + 0.5, sll2 + bytes(ip) + bytes(icmp)))
    return write_pcap(tmp_path / "merged-echo-reply.pcap", records, LINUX_SLL2)


def test_silent_words_name_the_reply_or_hedge_past_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's echo reply is named (b66393ce; no other test reaches it); with the
    cap at 0 the reply's pair is past it and left uncounted: the words hedge instead of
    "no packet at all" (they said that before)."""
    path = _merged_with_reply(tmp_path)
    finding = _unanswered(path, MERGED_TOML)
    assert "the SYNs reached a capture point on 10.77.0.2" in finding.message
    assert ("and the capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, only an ICMP "
            "echo reply (frame 19): unless") in finding.message
    monkeypatch.setattr(other_ways, "MAX_WAYS", 0)
    finding = _unanswered(path, MERGED_TOML)
    assert "the SYNs reached a capture point on 10.77.0.2" in finding.message
    assert "no packet at all" not in finding.message
    assert ("and the capture holds no TCP packet from 10.77.0.2 to 10.77.0.1, nor any other "
            "among the ") in finding.message
    assert HEDGE in finding.message


def test_asked_toward_words_hedge_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 54d's asymmetric route: the router's probe of the media server."""
    monkeypatch.setattr(other_ways, "MAX_WAYS", 0)
    finding = _unanswered(ASYMMETRIC, ASYMMETRIC_TOML)
    assert "though it holds one travelling toward fd77::1" in finding.message
    assert "no packet at all" not in finding.message
    assert "The capture holds no TCP packet from fd77:1::2 to fd77::1, nor any other " \
        "among the " in finding.message
    assert HEDGE in finding.message

"""Past the cap of host pairs whose packets that are not TCP are counted
(decode.other_ways.MAX_WAYS), a pair may hold a ping reply all the same: arrival's
silent_words and way_back's asked_toward_words said "no packet at all" from the
responder to the originator anyway (review 56k left them; task silentwords). Stored
cases read with the cap at 0, so every pair is past it: the words must hedge as
Census.none_words does."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.decode import other_ways
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
MERGED = (CAPTURES / "field58-matrix" /
          "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz")
ASYMMETRIC = (CAPTURES / "review54d" / "ipv6-asymmetric-return-synacks-dropped-by-second-"
              "router-on-first-router.pcap.gz")
HEDGE = "host pairs whose packets that are not TCP were counted first (later pairs' were not)"


def _unanswered(capture: Path) -> Finding:
    """The capture's control_unanswered, read in this process with its .toml if any."""
    toml = capture.with_name(capture.name[:-len(".pcap.gz")] + ".toml")
    settings = build_config(load_file(toml) if toml.exists() else {})
    analysis = analyze(read_traffic([str(capture)], settings), settings)
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding


def test_silent_words_hedge_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both hosts' `tcpdump -i any` merged, the agent's firewall dropping the SYNs. It
    holds no packet that is not TCP, so no cap is reached: every pair is said uncounted
    (what Ways.uncounted answers past MAX_WAYS) to reach the words."""
    monkeypatch.setattr(other_ways.Ways, "uncounted", lambda self, source, destination: True)
    finding = _unanswered(MERGED)
    assert "the SYNs reached a capture point on" in finding.message
    assert "no packet at all" not in finding.message
    assert HEDGE in finding.message


def test_asked_toward_words_hedge_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 54d's asymmetric route: the router's probe of the media server."""
    monkeypatch.setattr(other_ways, "MAX_WAYS", 0)
    finding = _unanswered(ASYMMETRIC)
    assert "though it holds one travelling toward fd77::1" in finding.message
    assert "no packet at all" not in finding.message
    assert "The capture holds no TCP packet from fd77:1::2 to fd77::1, nor any other " \
        "among the " in finding.message
    assert HEDGE in finding.message

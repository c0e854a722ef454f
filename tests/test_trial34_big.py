"""Session 34's trial B: large real jobs and awkward inputs (captures/trial34-big)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "trial34-big"


def test_acks_lost_on_the_way_to_the_sender_name_the_senders_firewall() -> None:
    """The agent's input chain dropped the media server's ACKs mid-transfer; the capture,
    on the media server, holds the ACKs and the agent's resends. The host firewall to
    look at is the agent's; it named the media server's, and asked for a capture there
    (where this one was taken) to see whether the resends reach it."""
    name = "agent-input-drops-mid-transfer"
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    [stalled] = [f for f in result.findings if f.code == "data_stalled"]
    assert "its ACKs are in the capture but never reached 10.88.0.2" in stalled.message
    assert "host firewall or IPS on 10.88.0.2 that blocks this flow" in stalled.message
    assert "a capture on 10.88.0.2 shows whether 10.88.0.1's ACKs reach it" in stalled.message
    assert "on 10.88.0.1 that blocks" not in stalled.message
    assert "security software on 10.88.0.2" in stalled.fix

"""An abortive close of a data connection before an abnormal halt (new-user trial 19,
D12): captures/lab-trial19-refuse/w3-both-rst-close.pcap.gz (README). The agent sent the
whole image and its FIN, the media server answered with a RST (SO_LINGER 0, its own TTL),
and the agent halted with CONNECT_ERROR. Before: only "CONNECT_ERROR points at ... a
firewall, the dynamic port ranges, a device that resets it", the RST never named.
"""

from __future__ import annotations

from pathlib import Path

from stored import failed_errors

from flowcheck.config import build_config
from flowcheck.model import Connection, Finding, Session, SideEvidence
from flowcheck.profiles import load_profile
from flowcheck.verify.abortive_close import abortive_fix, abortive_words, closed_then_reset
from flowcheck.verify.context import Context

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "lab-trial19-refuse"


def _errors(name: str) -> list[Finding]:
    return failed_errors(FOLDER / f"{name}.toml", FOLDER / f"{name}.pcap.gz")


def test_an_abortive_close_before_connect_error_names_the_reset() -> None:
    errors = _errors("w3-both-rst-close")
    assert [f.code for f in errors] == ["data_halted_abnormally"] * 3
    first = errors[0]
    assert "reset by the media server 10.77.0.1 (RST, frame 238;" in first.message, \
        first.message
    assert "after the agent 10.77.0.2's FIN (frame 237)" in first.message
    assert "every byte the agent sent (200,000 B) acknowledged" in first.message
    assert "its TTL 128, that of 10.77.0.1's own packets" in first.message
    assert "abortive close" in first.message
    assert "a firewall, the dynamic port ranges" not in first.fix, first.fix
    assert "abortive close" in first.message and "SO_LINGER 0" in first.fix
    assert len(first.fix) < 400, first.fix  # the reasons are in the message (recheck N2)
    assert 238 in first.frames and 237 in first.frames


def test_a_reset_after_the_close_from_a_device_names_the_device() -> None:
    """The RST after the agent's FIN with another TTL than the media server's own packets:
    a device between them in its name, its log the fix (no abortive close claimed)."""
    conn = Connection("C3", "10.77.0.1", 5002, "10.77.1.2", 6001, 1.0, history="ShAdfR",
                      orig_pkts=40, resp_pkts=40, resp_bytes=200000, fin_frames=[237],
                      rst_frames=[238], orig_rst=True, orig_ttl=63, resp_ttl=63)
    conn.set_evidence("orig", SideEvidence(rst_ttl=64))
    session = Session("S1", "C1", "10.77.0.1", "10.77.1.2", 4, "backup",
                      data_connections=["C3"])
    ctx = Context([conn], [], [session], build_config({}), load_profile("ndmp"))
    found = closed_then_reset(ctx, conn)
    assert found is not None and found.forged and found.unacked == 0
    words = abortive_words(found, session, "the data agent")
    assert "in the name of the host 10.77.0.1" in words or \
        "in the name of the media server 10.77.0.1" in words, words
    assert "its TTL 64, where 10.77.0.1's own packets arrive with 63" in words
    assert "abortive close" not in words
    assert abortive_fix(found, session).startswith("Look for the firewall, NAT or IPS")

"""One direction of a capture that holds packets twice: a SYN-ACK and its copy at the
capture's start are no resend (flowcheck.sessions.unheard_ack.synack_resent)."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial36-firewall-devices"
AGENT = socket.inet_aton("10.77.1.2")


def _agent_side(tmp_path: Path, shift_from: int = 0, shift: int = 0) -> Path:
    """fwmon-clean-securexl's packets sent by the agent only (a SPAN session of one
    direction), the records from `shift_from` on `shift` microseconds later."""
    linktype, records = read_records(FOLDER / "fwmon-clean-securexl.pcap")
    kept: list[Record] = [r for r in records if r.data[26:30] == AGENT]  # IPv4 source
    kept = [replace(r, micros=r.micros + shift) if i >= shift_from else r
            for i, r in enumerate(kept)]
    return write_records(tmp_path / "agent-side.pcap", linktype, kept)


def test_a_synack_and_its_copy_at_the_start_are_no_unanswered_handshake(
        tmp_path: Path) -> None:
    """`fw monitor` (SecureXL on: handshakes only) of a job that worked, cut to the
    agent's packets: the control connection's SYN-ACK and its copy 3 us apart (IP ID 0,
    same TSval), taken as sent twice because the capture had shown no copy of an
    identified packet yet, read 'handshake_incomplete: its SYN-ACK resent' (FAIL); the
    media server's ACK travels the uncaptured way, so step 1 is unknown."""
    analysis = stored_analysis(_agent_side(tmp_path),
                               config_path=FOLDER / "flowcheck.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert session.steps[0].status == "unknown"
    assert "one direction only" in " ".join(session.steps[0].detail.split())


def test_a_synack_resent_a_second_later_is_still_an_unanswered_handshake(
        tmp_path: Path) -> None:
    """The same cut with the second SYN-ACK a second after the first (the listener's
    retransmission timeout, RFC 6298 2.1): a resend, so the handshake never completed at
    the listener."""
    analysis = stored_analysis(_agent_side(tmp_path, shift_from=1, shift=1_000_000),
                               config_path=FOLDER / "flowcheck.toml")
    assert analysis.verdict == "fail"
    assert "handshake_incomplete" in {f.code for f in errors(analysis)}

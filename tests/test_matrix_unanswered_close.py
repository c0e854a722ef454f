"""Lab matrix seed 67 run 24 (captures/field38-matrix/range-small-agent-closed-one-direction-in):
a 5-resource Backup Exec backup whose agent range (6001-6005, the callback holding 6001)
had no port left for the fifth DATA_LISTEN: the agent closed the session without
answering it. Captured `-Q in` on the media server (the agent's packets only), the
request is not in the capture, and the job read PASS. The agent's ACK numbers show 32 B
of the media server's after its last reply, answered by nothing but its FIN; a
CONNECT_CLOSE, the one request NDMP leaves unanswered, is 28 B: step 3 `unknown`
(flowcheck.verify.unanswered_close), inconclusive.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
CASE = CAPTURES / "field38-matrix" / "range-small-agent-closed-one-direction-in.pcap.gz"
CONFIG = CASE.with_name("range-small-agent-closed-one-direction-in.toml")
CLEAN = CAPTURES / "lab" / "one-direction-in.pcap"  # a clean job, the same side captured


def test_an_agent_closing_on_an_unseen_request_leaves_step_3_unknown() -> None:
    analysis = stored_analysis(CASE, config_path=CONFIG)
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "ok", "ok"]
    detail = " ".join(session.steps[2].detail.split())
    assert "the DATA_STOP reply (frame 602), 10.77.0.2 acknowledged 32 B more" in detail
    assert "closed the control connection (FIN, frame 604)" in detail
    assert "not a CONNECT_CLOSE (28 B)" in detail


def test_a_clean_job_seen_from_the_agents_side_still_passes() -> None:
    """The agent's FIN acknowledges the media server's CONNECT_CLOSE (28 B) after its
    last reply: a job's normal end."""
    assert stored_analysis(CLEAN).verdict == "pass"


def _ack_moved(records: list, by: int) -> list:
    """The records with the ACK numbers of the agent's control packets after its last
    reply (its FIN and the ACK after it, frames 604 and 605) moved by `by`."""
    out = []
    for number, record in enumerate(records, start=1):
        data = bytearray(record.data)
        if number in (604, 605):
            ack = struct.unpack_from(">I", data, 42)[0]  # Ethernet 14 + IPv4 20 + 8
            struct.pack_into(">I", data, 42, (ack + by) & 0xFFFFFFFF)
        out.append(replace(record, data=bytes(data)))
    return out


def test_a_connect_close_sized_end_passes(tmp_path: Path) -> None:
    """The same capture with the FIN acknowledging 28 B after the last reply (a
    CONNECT_CLOSE): nothing hidden to judge, the job passes as before."""
    linktype, records = read_records(CASE)
    capture = write_records(tmp_path / "closed.pcap", linktype, _ack_moved(records, -4))
    analysis = stored_analysis(capture, config_path=CONFIG)
    assert analysis.verdict == "pass"
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] * 5

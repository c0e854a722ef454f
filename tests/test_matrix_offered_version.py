"""Lab matrix seed 65 run 19 (captures/field38-matrix/v3-job-v4-greeting-one-direction-out):
a clean ndmjob NDMP v3 backup whose agent greets with NOTIFY_CONNECTED protocol_version 4
(its own version; the DMA opened v3 with CONNECT_OPEN), captured `-Q out` on the agent, so
the CONNECT_OPEN request is not in the capture. The collector decoded every later body
as v4, the greeting's version: the v3 DATA_GET_STATE replies read `ndmp_undecodable`
("body does not follow the message's layout", a peer bug) and the session NDMP v4. A
whole body that fits only a lower version than the greeting's, while no captured
CONNECT_OPEN request settled the version, is that version's (flowcheck.ndmp.offered).
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis
from test_ndmp_messages import MOVER_LISTEN, Session
from test_ndmp_wire import REPLY, REQUEST, greeting, msg, u32, v3_tcp_addr

CASE = (Path(__file__).resolve().parents[1] / "captures" / "field38-matrix"
        / "v3-job-v4-greeting-one-direction-out.pcap")
CONNECT_OPEN = 0x900


def test_a_v3_job_greeted_v4_seen_from_the_agent_decodes_as_v3() -> None:
    analysis = stored_analysis(CASE)
    assert analysis.verdict == "pass"
    assert {f.code for f in analysis.findings} == {"capture_one_direction"}
    [stream] = analysis.traffic.streams
    assert (stream.version, stream.version_source) == (3, "inferred")
    states = [m for m in stream.messages if m.name == "NDMP_DATA_GET_STATE"]
    assert len(states) == 5
    assert states[-1].body["halt_reason"] == "SUCCESSFUL"
    [session] = analysis.sessions
    assert session.version == 3


def _v3_listen_after(*opening: bytes) -> Session:
    """A v4 greeting, then `opening` (the agent's CONNECT_OPEN reply, or the exchange),
    then a MOVER_LISTEN reply in v3's layout (error, type TCP, ip, port)."""
    s = Session()
    s.send("resp", greeting(4))
    for part in opening:
        s.send("orig" if part[12:16] == u32(REQUEST) else "resp", part)
    s.send("resp", msg(3, REPLY, MOVER_LISTEN, u32(0) + v3_tcp_addr("10.0.0.1", 5001),
                       reply_sequence=2))
    return s


def test_a_lower_versions_listen_reply_announces_its_endpoint() -> None:
    """Only the CONNECT_OPEN reply: the MOVER_LISTEN reply fits v3 (and v2) exactly, not
    the greeting's v4. Its endpoint is announced; before, it read ndmp_undecodable and
    announced nothing."""
    stream = _v3_listen_after(msg(2, REPLY, CONNECT_OPEN, u32(0), reply_sequence=1)).stream()
    assert not stream.findings
    assert [(a.ip, a.port) for a in stream.announcements] == [("10.0.0.1", 5001)]
    assert stream.version in (None, 3) and stream.version_source != "notify_connected"


def test_a_captured_connect_open_keeps_its_version() -> None:
    """The CONNECT_OPEN request asked v4 and the reply accepted it: a body in another
    version's layout is a peer bug, as before."""
    stream = _v3_listen_after(msg(1, REQUEST, CONNECT_OPEN, u32(4)),
                              msg(2, REPLY, CONNECT_OPEN, u32(0), reply_sequence=1)).stream()
    assert (stream.version, stream.version_source) == (4, "connect_open")
    assert [f.code for f in stream.findings] == ["ndmp_undecodable"]
    assert not stream.announcements

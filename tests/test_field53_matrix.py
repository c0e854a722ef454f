"""Field check 53's lab matrix (captures/field53-matrix, README.md there), seed 116.

Run 1: a backup whose agent's first data port was held by a bound socket (its kernel
answers the data SYN with a RST), captured `-Q in` on the agent: the media server's
packets only. The media server sent one data SYN and CONNECT_CLOSE 0.145 ms later,
closing the session; it read inconclusive, step 4 "the answer could not be seen",
though a connector that stops the job before TCP's first resend shows the connection
never opened (verify.gave_up).
Run 20: two jobs over IPv6, the agent host's output chain dropping job 1's control
SYN-ACKs, captured on the agent: fd77::2 sent no TCP packet, but its neighbour
advertisement (frame 6) is in the capture; it read "fd77::2 sent not a single packet in
the whole capture ... is down, is not at that address", fix "Check that fd77::2 is up".
Run 22: a 5-resource backup whose agent range fitted 4, captured `-Q in` on the router's
side toward the media server (its packets only): the fifth DATA_LISTEN got no reply, the
agent closing the control connection; the media server's FIN acknowledged one sequence
number past its ACK at the request. It read inconclusive, step 3 "the replies are in
the direction the capture lacks".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import moved_back, read_records, write_records
from stored import shared_analysis, stored_analysis

from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "field53-matrix"
PORT_IN_USE = HERE / "port-in-use-routed-captured-in-on-agent.pcap.gz"
CONFIG = HERE / "port-in-use-routed-captured-in-on-agent.toml"
LISTEN_CLOSED = HERE / "range-small-agent-closes-on-listen-router-in-pcapng.pcapng.gz"
LISTEN_CONFIG = HERE / "range-small-agent-closes-on-listen-router-in-pcapng.toml"
SYNACKS_DROPPED = HERE / "two-jobs-control-synacks-dropped-by-agent-ipv6.pcap.gz"
# Frame 11: the data SYN; 12: the media server's CONNECT_CLOSE; 13, 14: its FINs.
CLOSE_INDEX = 11


def _edited(tmp_path: Path, name: str, keep: int | None = None,
            later_us: int = 0) -> Analysis:
    """The port-in-use capture with its frames from CONNECT_CLOSE on left out (keep) or
    moved `later_us` microseconds later, analysed with its sidecar configuration."""
    linktype, records = read_records(PORT_IN_USE)
    if keep is not None:
        records = records[:keep]
    if later_us:
        records = moved_back(records, CLOSE_INDEX, -later_us)
    path = write_records(tmp_path / f"{name}.pcap", linktype, records)
    return stored_analysis(path, config_path=CONFIG)


def test_a_connector_that_stops_before_tcp_would_resend_shows_the_step_failed() -> None:
    analysis = shared_analysis(PORT_IN_USE)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    step = session.steps[3]
    assert step.status == "failed"
    assert step.detail == (
        "10.77.1.2:6001: unanswered: 1 SYN, no SYN-ACK, RST or ICMP in the "
        "capture, which holds no packet from 10.77.1.2 to 10.77.0.1 (one direction only), "
        "the way one would travel")
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert finding.frames == [11]
    assert ("never opened: its one SYN (frame 11) got no answer in the capture, and the "
            "media server 10.77.0.1 closed the session (CONNECT_CLOSE, frame 12) 0.145 ms "
            "after it with no data moved, before TCP would have resent the SYN (within 3 "
            "s; TCP gives a dropped SYN up only after resending it, for a minute or more on "
            "the systems whose TTL starts at 64 as this SYN's (63) does, two minutes or more "
            "on Linux): a connect fails that fast "
            "on a reject, a RST or an ICMP unreachable (the capture holds no packet from "
            "10.77.1.2 to 10.77.0.1 (one direction only), the way one would travel), or "
            "when its program gives it up on its own; most likely rejected, so the job "
            "cannot move data.") in finding.message
    assert "sniffer lost" not in finding.message
    # The reject's fix, not the drop's or the sniffer's.
    assert finding.fix.startswith("If the port was in use: on 10.77.1.2 find what holds "
                                  "TCP port 6001 and stop it")
    assert "A capture of both directions holds the reject and what sent it." in finding.fix
    assert "larger buffer" not in finding.fix and "If dropped" not in finding.fix


def test_no_stop_in_the_capture_leaves_the_step_unknown(tmp_path: Path) -> None:
    analysis = _edited(tmp_path, "no-close", keep=CLOSE_INDEX)
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[3]
    assert step.status == "unknown"
    assert not [f for f in analysis.findings if f.code == "data_unanswered"]


def test_a_stop_after_the_retransmission_timeout_is_no_give_up(tmp_path: Path) -> None:
    # 4 s after the SYN (the configuration's retransmission timeout is 3 s): TCP would
    # have resent a dropped SYN by then, and the capture lacks the way back.
    analysis = _edited(tmp_path, "late-close", later_us=4_000_000)
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[3]
    assert step.status == "unknown"
    assert "could not be seen" in step.detail


def test_an_agent_that_advertised_its_address_is_not_said_down() -> None:
    analysis = shared_analysis(SYNACKS_DROPPED)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert finding.session == "S1"
    assert ("fd77::2 sent no TCP packet in the whole capture, though it sent a neighbour "
            "discovery packet from that address (frame 6), so it is up and at that address "
            "on the capture's network") in finding.message
    assert "not a single packet" not in finding.message
    assert "is down" not in finding.message
    assert finding.fix.startswith("Allow TCP from fd77::1 to fd77::2 port 10000 (NDMP port)")
    assert "Check that" not in finding.fix
    # The other job, to fd77::3 on the same host, ran.
    assert [s.status for s in analysis.sessions[1].steps] == ["ok"] * 5


def test_a_listen_the_requesters_fin_shows_unanswered_is_missing() -> None:
    analysis = shared_analysis(LISTEN_CLOSED)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    step = session.steps[2]
    assert step.status == "missing"
    # The agent's 5 ports held by the callback and 4 data connections as the fifth
    # DATA_LISTEN came: the range the likely cause (task rangesmall).
    assert step.detail.startswith(
        "the DATA_LISTEN request (frame 305) was never answered by fd77:1::2, likely "
        "because its agent range 6001-6005 had no port left; the "
        "control connection went on after it (later messages, or its close): the capture "
        "holds none of fd77:1::2's packets on the control connection, but fd77::1's FIN "
        "(frame 306) acknowledged one sequence number of it past the request's ACK, its "
        "FIN, no reply (an NDMP reply is 28 bytes or more, a record never 1 byte); the "
        "capture shows all 5 ports of 6001-6005 (agent range) in use or held")
    [missing] = [f for f in analysis.findings if f.code == "step_missing"]
    assert missing.frames == [305]
    assert missing.fix.startswith("Widen the agent range 6001-6005 (agent range) first, "
                                  "to at least 6 ports")
    assert ("If the job still fails with the range widened: see the log of the NDMP "
            "service on fd77:1::2 at that time: it closed the control connection with no "
            "reply to the request reaching fd77::1 (its FIN, which fd77::1's acknowledged, "
            "so it did not hang)") in missing.fix
    assert "it hung" not in missing.fix
    assert "received the request" not in missing.fix
    assert [f.code for f in analysis.findings if f.code == "range_too_small"]


def test_without_the_requesters_fin_the_listen_stays_unknown(tmp_path: Path) -> None:
    # Frame 306, the media server's FIN: nothing then shows what reached it.
    linktype, records = read_records(LISTEN_CLOSED)
    path = write_records(tmp_path / "no-fin.pcap", linktype, records[:305] + records[306:])
    analysis = stored_analysis(path, config_path=LISTEN_CONFIG)
    assert analysis.verdict == "inconclusive"
    assert analysis.sessions[0].steps[2].status == "unknown"
    assert not [f for f in analysis.findings if f.code == "step_missing"]


def test_a_requesters_fin_acknowledging_nothing_past_the_request_leaves_it_unknown(
        tmp_path: Path) -> None:
    # Frame 306's ACK number set back to the one frame 305 (the DATA_LISTEN) carried:
    # nothing of the agent's acknowledged past the request, which proves nothing (a
    # reply may come after the media server's FIN). Ethernet, IPv6 (no extension
    # header): the TCP acknowledgement number at bytes 62-65.
    linktype, records = read_records(LISTEN_CLOSED)
    request, fin = records[304], records[305]
    assert fin.data[67] & 0x01  # FIN
    past = int.from_bytes(fin.data[62:66], "big") - int.from_bytes(request.data[62:66], "big")
    assert past == 1
    edited = replace(fin, data=fin.data[:62] + request.data[62:66] + fin.data[66:])
    path = write_records(tmp_path / "fin-acks-nothing.pcap", linktype,
                         records[:305] + [edited] + records[306:])
    analysis = stored_analysis(path, config_path=LISTEN_CONFIG)
    assert analysis.verdict == "inconclusive"
    assert analysis.sessions[0].steps[2].status == "unknown"
    assert not [f for f in analysis.findings if f.code == "step_missing"]

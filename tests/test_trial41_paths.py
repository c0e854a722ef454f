"""Field check 41: return paths and route changes (captures/trial41-paths, README). The
whole results are regress expectations; here the words, and what the engine keeps for
them (Connection.icmp_to, SideEvidence.ttl_moved).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import errors, sidecar, stored_analysis

from flowcheck.sessions.syn_proxy import proxied_unreachable

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial41-paths"
AGENT, SECOND, ROUTER = "10.77.2.2", "10.77.3.2", "10.77.1.254"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_an_unreachable_quoting_the_synack_names_the_route_back() -> None:
    analysis = stored_analysis(FOLDER / "synack-net-unreachable-second-address.pcap")
    [data] = [c for c in analysis.traffic.connections if c.orig_h == SECOND]
    assert data.icmp_to == "10.77.1.1" == data.resp_h and data.icmp_sender == ROUTER
    assert not proxied_unreachable(data)  # the responder answered: no SYN proxy
    [error] = errors(analysis)
    assert error.code == "handshake_incomplete"
    message = _words(error.message)
    assert (f"an ICMP network unreachable (code 0) from {ROUTER} answered 10.77.1.1's "
            f"SYN-ACK to {SECOND}") in message
    assert f"{ROUTER} has no route back to {SECOND}" in message
    assert (f"{SECOND} is not the address the session's control connection reached the "
            f"agent at ({AGENT})") in message
    assert "stateless rule" not in message
    fix = _words(error.fix)
    assert fix.startswith(f"Give {ROUTER} a route to {SECOND}")
    assert f"such as {AGENT}" in fix and "input chain" not in fix
    assert data.icmp_frames[0] in error.frames


def test_a_filter_rejecting_the_synack_is_named_on_its_device() -> None:
    [error] = errors(stored_analysis(FOLDER / "synack-prohibited-second-address.pcap"))
    assert error.code == "handshake_incomplete"
    message = _words(error.message)
    assert ('unreachable "communication administratively prohibited by filtering" '
            '(code 13)') in message
    assert f"a filter on {ROUTER} rejects the return traffic to {SECOND}" in message
    assert _words(error.fix).startswith(f"On {ROUTER}, accept the return traffic")


def test_an_own_reset_after_a_route_change_on_another_connection() -> None:
    """The control connection idle while the route changed: its last packet of the agent
    came with 63, the RST with 62, the TTL the data connection's packets moved to."""
    analysis = stored_analysis(FOLDER / "control-reset-agent-firewall-rerouted.pcap.gz")
    [data] = [c for c in analysis.traffic.connections if c.orig_h == AGENT]
    moved = data.evidence("orig").ttl_moved
    assert data.orig_ttl == 63 and moved is not None and moved[1:] == (63, 62)
    [error] = errors(analysis)
    assert error.code == "control_reset"
    message = _words(error.message)
    assert "a device between them (a firewall or NAT) sent it" not in message
    assert (f"its TTL 62, that of {AGENT}'s own packets then, so most likely the agent's own "
            "system sent it (its TCP, which no longer had the connection, or its host "
            "firewall)") in message


def test_a_reset_the_sender_outlived_at_its_own_ttl_names_its_host_firewall() -> None:
    [error] = errors(stored_analysis(FOLDER / "data-reset-agent-firewall-rerouted.pcap.gz"))
    assert error.code == "data_reset"
    message = _words(error.message)
    assert f"But {AGENT} went on sending data on it after the RST in its name" in message
    assert (f"The RST's TTL 62 is that of {AGENT}'s own packets then, so it came from "
            f"{AGENT}'s distance") in message
    assert f"or {AGENT}'s own host firewall sent it" in message
    assert "or a device between them sent that RST" not in message
    fix = _words(error.fix)
    assert f"arping -D {AGENT}" in fix and f"see {AGENT}'s own firewall rules" in fix


def _rst_ttl(tmp_path: Path, name: str, frame: int, ttl: int) -> Path:
    """The stored capture `name` with frame `frame` (a RST of the agent's) given `ttl`."""
    linktype, records = read_records(FOLDER / name)
    data = records[frame - 1].data
    assert data[47] & 0x04 and data[26:30] == bytes([10, 77, 2, 2])  # the agent's RST
    records[frame - 1] = type(records[frame - 1])(records[frame - 1].micros,
                                                  records[frame - 1].wirelen,
                                                  data[:22] + bytes([ttl]) + data[23:])
    return write_records(tmp_path / name.removesuffix(".gz"), linktype, records)


@pytest.mark.parametrize(("ttl", "own"), [(62, True), (64, False), (61, False), (63, False)])
def test_an_unprompted_reset_is_read_by_the_agents_ttl_after_the_change(
        tmp_path: Path, ttl: int, own: bool) -> None:
    """The agent's TCP aborted the idle control connection (RST+ACK, answering nothing)
    after its route changed (62 on the data connection since, 63 before, as the control
    connection's last packet): 62 is its own, 64, 61 or 63 a device's."""
    name = "control-reset-by-agent-rerouted.pcap.gz"
    capture = _rst_ttl(tmp_path, name, 2332, ttl)
    [error] = errors(stored_analysis(capture, config_path=sidecar(FOLDER / name)))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert (f"The RST's TTL {ttl} is that of {AGENT}'s own packets then, so most likely the "
            "agent's own system sent it" in message) is own, message
    assert (f"The RST carries its TTL {ttl}, where {AGENT}'s own packets arrive with 62: a "
            f"device between them (a firewall or NAT) sent it in {AGENT}'s name"
            in message) is not own, message


def test_concurrent_jobs_keep_their_own_data_connections() -> None:
    """Five jobs at once, one blocked: only its session fails, each data connection in
    the session that announced its endpoint (the announcement's port is the one it
    reached, no other session's)."""
    analysis = stored_analysis(FOLDER / "concurrent-jobs-one-blocked.pcap.gz")
    assert [f.code for f in errors(analysis)] == ["data_unanswered"]
    failed = [s for s in analysis.sessions if s.id == errors(analysis)[0].session]
    assert len(analysis.sessions) == 5 and len(failed) == 1
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    for session in analysis.sessions:
        assert session.data_connections, session.id
        ports = {a.port for a in session.announced}
        assert all(by_uid[uid].resp_p in ports for uid in session.data_connections)
    linked = [uid for s in analysis.sessions for uid in s.data_connections]
    assert len(linked) == len(set(linked))


def test_a_stray_retry_taken_by_the_next_jobs_listener() -> None:
    analysis = stored_analysis(FOLDER / "stray-retry-taken-by-next-job.pcap")
    first, second = errors(analysis)
    assert (first.code, first.session, second.code, second.session) == (
        "data_unanswered", "S1", "data_aborted", "S2")
    message = _words(first.message)
    assert "was never answered while the job ran" in message
    assert ("was answered with a SYN-ACK (frame 35) by the listener session S2 announced at "
            "the same endpoint (DATA_CONNECT, frame 32)") in message
    s1 = next(s for s in analysis.sessions if s.id == "S1")
    assert [s.status for s in s1.steps[2:]] == ["failed", "missing"]  # it read 3 ok
    message = _words(second.message)
    assert ("reset it because its listener had already taken another connection: C2 from "
            "10.77.0.2:6049, session S1's connect still retrying after that job ended, "
            "answered at frame 35") in message
    assert "a device between them" not in message


@pytest.mark.parametrize(("name", "own"), [
    ("control-reset-device-on-new-path.pcap.gz", False),  # R2's RST at 63, the agent 62
    ("control-reset-device-route-moves-after.pcap.gz", False),  # the change after the RST
    ("control-reset-agent-firewall-route-back.pcap.gz", True),  # the route came back: 63
])
def test_a_reset_is_read_by_the_agents_ttl_at_its_time(name: str, own: bool) -> None:
    """The TTL the agent's packets had when the RST came, by the route changes every
    connection between the hosts saw (SideEvidence.ttl_moved), not by the control
    connection's own last packet, which came before them."""
    [error] = errors(stored_analysis(FOLDER / name))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert ("so most likely the agent's own system sent it" in message) is own, message
    assert (f"its TTL 63, where {AGENT}'s own packets arrive with 62" in message) is not own


def test_a_synack_the_agents_own_firewall_rejects() -> None:
    [error] = errors(stored_analysis(FOLDER / "synack-rejected-by-agent-firewall.pcap"))
    message = _words(error.message)
    assert (f"(code 13) from {AGENT} answered 10.77.1.1's SYN-ACK to {AGENT}" in message
            and "to itself" not in message)
    assert f"{AGENT}'s own firewall rejects 10.77.1.1's answers (its input rules)" in message
    assert _words(error.fix).startswith(f"On {AGENT}, accept the return traffic")


def test_a_synack_a_nat_in_front_of_the_agent_rejects() -> None:
    [error] = errors(stored_analysis(FOLDER / "synack-rejected-by-nat-in-front.pcap"))
    message = _words(error.message)
    assert ("10.77.1.254, the address the agent's connection came from but not its own "
            f"({AGENT}: a NAT device in front of it") in message
    assert "in the table and chain on the forward hook that hold the reject" in _words(error.fix)


def test_a_synack_lost_without_icmp_names_the_second_address() -> None:
    [error] = errors(stored_analysis(FOLDER / "synack-silently-lost-second-address.pcap"))
    message = _words(error.message)
    assert "the return traffic is blocked, typically by a stateless rule" in message
    assert (f"{SECOND} is not the address the session's control connection reached the "
            f"agent at ({AGENT})") in message


@pytest.mark.parametrize(("name", "code"), [
    ("halt-then-control-reset-by-path-firewall-media.pcap.gz", "control_reset"),
    ("halt-then-control-reset-by-path-firewall-agent.pcap.gz", "data_reset"),
])
def test_a_session_reset_after_the_halt_fails_the_job(name: str, code: str) -> None:
    """A firewall on the control connection's path reset it right after the halt; the
    DMA failed the job and its mover cut the data short: it passed, from either host."""
    analysis = stored_analysis(FOLDER / name)
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == code
    message = _words(error.message)
    if code == "control_reset":
        assert ("after the job halted (NOTIFY_DATA_HALTED, frame 2207) and before the "
                "session's CONNECT_CLOSE") in message
        assert ("The agent went on sending on it after the RST in its name (its last packet "
                "with data: frame 2335), so its own TCP had not reset it") in message
    else:
        assert ("the media server 10.77.1.1 closed it mid-transfer (FIN, frame 2316) while "
                "the agent 10.77.2.2 was still sending") in message


def test_a_reset_at_either_of_two_paths_ttls_is_the_agents_own() -> None:
    [error] = errors(stored_analysis(FOLDER / "control-reset-agent-firewall-two-paths.pcap.gz"))
    message = _words(error.message)
    assert (f"its TTL 62, that of {AGENT}'s own packets then, so most likely the agent's own "
            "system sent it") in message
    assert "a device between them (a firewall or NAT) sent it" not in message


def test_an_outage_both_ways_is_not_a_black_hole() -> None:
    """The control connection's small messages lost from the data's gap on: the path
    went down, not a size-based drop (it read a path MTU black hole)."""
    [error] = errors(stored_analysis(FOLDER / "failover-outage-both-ways.pcap.gz"))
    assert error.code == "data_stalled"
    message = _words(error.message)
    assert "The control connection stopped delivering too" in message
    assert "not a drop by size" in message and "black hole" not in message
    assert _words(error.fix).startswith("Look at the path between 10.77.2.2 and 10.77.1.1")


def _agent_side_only(tmp_path: Path, name: str) -> Path:
    """The stored capture `name` with only the agent's packets (no IPv4 source 10.77.1.1,
    the media server): a SPAN port that sees one way, `tcpdump -Q in` on the media
    server."""
    linktype, records = read_records(FOLDER / name)
    kept = [r for r in records if r.data[26:30] != bytes([10, 77, 1, 1])]
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / name.replace(".pcap.gz", "-agent.pcap"), linktype, kept)


@pytest.mark.parametrize("name", ["control-reset-by-agent-rerouted.pcap.gz",
                                  "control-reset-agent-firewall-rerouted.pcap.gz",
                                  "control-reset-device-on-new-path.pcap.gz"])
def test_a_reset_in_the_agents_name_fails_a_capture_of_its_side_only(
        tmp_path: Path, name: str) -> None:
    """The agent's direction holds its reply to DATA_START_BACKUP, the halts it would
    notify, and the RST in its name: the job's end failed, one direction or not (it read
    PASS with only capture_one_direction)."""
    capture = _agent_side_only(tmp_path, name)
    analysis = stored_analysis(capture, config_path=sidecar(FOLDER / name))
    assert analysis.verdict == "fail"
    assert [f.code for f in errors(analysis)] == ["control_reset"]
    assert "while the job was running (DATA_START_BACKUP" in _words(errors(analysis)[0].message)
    assert "capture_one_direction" in {f.code for f in analysis.findings}


def _media_side_only(tmp_path: Path, name: str) -> Path:
    """The stored capture `name` with only the media server's packets (IPv4 source
    10.77.1.1): `tcpdump -Q out` on it. The RST in the agent's name, its halts and its
    data travel the other way."""
    linktype, records = read_records(FOLDER / name)
    kept = [r for r in records if r.data[26:30] == bytes([10, 77, 1, 1])]
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / name.replace(".pcap.gz", "-media.pcap"), linktype, kept)


@pytest.mark.parametrize("name", ["control-reset-agent-firewall-rerouted.pcap.gz",
                                  "control-reset-agent-firewall-route-back.pcap.gz",
                                  "control-reset-device-on-new-path.pcap.gz",
                                  "control-reset-device-route-moves-after.pcap.gz",
                                  "data-reset-agent-firewall-rerouted.pcap.gz",
                                  "halt-then-control-reset-by-path-firewall-agent.pcap.gz"])
def test_the_movers_reset_of_unseen_data_is_no_pass_from_its_side_only(
        tmp_path: Path, name: str) -> None:
    """From the media server's side only, the data connection's bytes show in its ACKs
    alone (acked_unseen), and its mover then closed or reset the connection: whether the
    job halted normally after it is in the agent's direction, which the capture lacks, so
    the transfer is unknown, not a pass (it read PASS: a connection with no payload in
    the capture was taken to carry nothing) and not a failure (a mover may tear a
    finished transfer down with a RST)."""
    capture = _media_side_only(tmp_path, name)
    analysis = stored_analysis(capture, config_path=sidecar(FOLDER / name))
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    step = session.steps[-1]
    assert step.status == "unknown"
    detail = _words(step.detail)
    assert ("whether the job halted normally after it is in the agent's direction of the "
            "control connection, which the capture lacks") in detail
    assert "but the media server's ACKs acknowledge" in detail  # not "0 B agent -> ..."
    assert "data_reset" not in {f.code for f in analysis.findings}


@pytest.mark.parametrize("name", ["control-reset-agent-firewall-two-paths.pcap.gz",
                                  "halt-then-control-reset-by-path-firewall-media.pcap.gz"])
def test_a_halt_resent_after_the_reset_in_its_name_fails_the_agents_side_only(
        tmp_path: Path, name: str) -> None:
    """The agent's side only: its reply to DATA_START_BACKUP starts the job (the
    request is in the other direction), its NOTIFY_DATA_HALTED, a RST in its name and
    its halt resent after it: control_reset after the halt, as the whole capture reads
    it (it read PASS: a job whose start request the capture lacks was not judged)."""
    capture = _agent_side_only(tmp_path, name)
    analysis = stored_analysis(capture, config_path=sidecar(FOLDER / name))
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == "control_reset"
    message = _words(error.message)
    assert "after the job halted (NOTIFY_DATA_HALTED, frame" in message
    assert "The agent went on sending on it after the RST in its name" in message


def test_a_halt_resent_when_the_capture_ended_is_unknown(tmp_path: Path) -> None:
    """Captured on the agent, its direction only: its NOTIFY_DATA_HALTED resent three
    times over 2 s, no ACK reaching it, and the capture ends: too soon to tell a stall
    from an ACK on its way, so the job's end is unknown (it read PASS)."""
    name = "halt-then-control-reset-by-path-firewall-agent.pcap.gz"
    analysis = stored_analysis(_agent_side_only(tmp_path, name),
                               config_path=sidecar(FOLDER / name))
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    detail = _words(session.steps[-1].detail)
    assert session.steps[-1].status == "unknown"
    assert "the agent 10.77.2.2's NOTIFY_DATA_HALTED (frame" in detail
    assert "was resent 3 times" in detail and "whether the halt reached the DMA" in detail
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "resent 3 times with no ACK reaching its sender" in _words(early.message)

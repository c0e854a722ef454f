"""Field check 48's lab matrix (captures/field48-matrix, README.md there): seed 106 run
16, two Backup Exec backups at once in TLS between dual-stack hosts, captured `-Q out` on
the media server (its packets only). The second job's session shows no sign of a job
(its data connections fit both sessions: matched to none), so its kind is unknown
(sessions.unseen.job_unseen). Why: its control connection went on in TLS, so even the
side the capture holds cannot be read. It read "the agent's replies are not in it, and
one of them may have refused the job (a CONNECT_CLIENT_AUTH refused, say)", though the
media server went on in TLS after that exchange (peers do once they trust each other).
Seed 105 run 7: two TLS backups at once, job 1's callback refused with an ICMP
reject, the capture stopped 0.4 s after that job's control connection opened. Seed 108
run 29: a backup whose data connections A rejects, the reply to its first DATA_LISTEN
lost by the sniffer. Seed 108 run 33: a backup whose data SYNs A's own input chain
drops, captured `-Q out` on A. Seed 109 run 32: an IPv6 backup whose agent announces
0.0.0.0, its data SYNs dropped by a router, captured on the agent. Seed 109 run 44: a
dual-stack job's IPv4 callback reset by the media server, captured `-Q in` on it.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import Config, build_config, load_file
from flowcheck.pipeline import Traffic, analyze, read_traffic
from flowcheck.sessions import message_op
from flowcheck.sessions.unseen import job_unseen

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "captures" / "field48-matrix" / "two-tls-jobs-dual-stack-one-direction-out"
STOPPED = ROOT / "captures" / "field48-matrix" / "two-tls-jobs-stopped-callback-refused"
LOST_LISTEN = ROOT / "captures" / "field48-matrix" / "lost-listen-reply-data-refused"
ANY_V6 = ROOT / "captures" / "field48-matrix" / "ipv6-any-announced-data-syns-dropped-by-router"
CALLBACK_RESET = (ROOT / "captures" / "field48-matrix"
                  / "dual-stack-callback-reset-captured-in-on-media")
ACK_DROPPED = ROOT / "captures" / "lab" / "data-ack-dropped"
CONTROL_DROPPED = ROOT / "captures" / "field48-matrix" / "dual-stack-control-syns-dropped-by-agent"
PORT_IN_USE = ROOT / "captures" / "field48-matrix" / "tls-start-restore-port-in-use-router-snap128"
V6_ANY_ONE_WAY = ROOT / "captures" / "field46-matrix" / "data-synack-dropped-v6-any-one-direction"
DROPPED_IN = ROOT / "captures" / "field48-matrix" / "data-syns-dropped-by-agent-captured-out-on-it"
TLS_CLEAN = ROOT / "captures" / "lab" / "tls-clean"
TLS_WORDS = ("its control connection carries TLS from frame {frame} (ndmp_undecodable): "
             "the requests in it, a DATA_* request that started a job among them, cannot "
             "be read")


def _read(capture: Path, toml: Path) -> tuple[Traffic, Config]:
    config = build_config(load_file(toml))
    return read_traffic([str(capture)], config), config


def _why(traffic: Traffic, agent: str) -> str:
    """job_unseen of the control connection to `agent`'s NDMP port."""
    [control] = [c for c in traffic.connections if c.resp_h == agent and c.resp_p == 10000]
    [stream] = [s for s in traffic.streams if s.uid == control.uid]
    return job_unseen(control, stream)


def test_a_tls_session_captured_one_way_is_unknown_for_its_tls_not_a_refused_auth() -> None:
    traffic, config = _read(CASE.with_name(CASE.name + ".pcap.gz"), CASE.with_suffix(".toml"))
    why = _why(traffic, "fd77:1::3")
    assert why == (TLS_WORDS.format(frame=131) + ", and the capture holds only the media "
                   "server's side of its control connection (nothing from fd77:1::3 to "
                   "fd77::1, though fd77::1 acknowledged 2,065 B of it): a limit of this "
                   "capture (capture_one_direction), where one of both directions would "
                   "show a job's data connections, if it opened any, judged by their TCP")
    assert "CONNECT_CLIENT_AUTH" not in why
    analysis = analyze(traffic, config)
    [second] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::3"]
    # Its agent called back from 10.77.1.3, so the five unanswered data connections to
    # 10.77.1.3 are its own (sessions.callback_ties; they were tied to both sessions):
    # a job shows, its data connections failed.
    assert not second.kind_unknown
    # Step 5 unknown, not missing: the capture ended 445 ms after the fifth endpoint's
    # last resent SYN, the control connection open (verify.flow_cut).
    assert [s.status for s in second.steps[3:]] == ["failed", "unknown"]
    unanswered = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert len(unanswered) == 5 and {f.session for f in unanswered} == {second.id}


def test_a_tls_session_captured_both_ways_names_its_tls_alone() -> None:
    traffic, _ = _read(TLS_CLEAN.with_suffix(".pcap"), TLS_CLEAN.with_suffix(".toml"))
    [stream] = [s for s in traffic.streams if s.tls_from]
    assert _why(traffic, "10.77.0.2") == TLS_WORDS.format(frame=stream.tls_start)


def test_a_capture_stopped_after_a_refused_callback_says_what_it_cannot_see() -> None:
    """capture_ended_early for a control connection still open at the capture's end said
    "whether it was answered cannot be seen": the control connection was answered (it
    opened), and what the capture lacks is whether the session stopped after its refused
    callback, whose refusal is in the capture (steps._control_ended_early)."""
    traffic, config = _read(STOPPED.with_name(STOPPED.name + ".pcap.gz"),
                            STOPPED.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.session == refused.session
    [session] = [s for s in analysis.sessions if s.id == early.session]
    callback = session.steps[1]
    assert callback.status == "failed" and callback.frames == refused.frames
    frames = ", ".join(map(str, refused.frames))
    assert (f"whether the session stopped after step 2 ({callback.name}) failed (frames "
            f"{frames}), as a job does, or went on to a backup or restore cannot be seen"
            in early.message)
    assert "whether it was answered" not in early.message


def test_a_data_connection_tried_after_a_lost_listen_reply_shows_the_reply_announced() -> None:
    """The sniffer lost the agent's reply to the first DATA_LISTEN; the media server then
    tried the announced port (refused by A's firewall) and asked the next resource's
    DATA_LISTEN. That second request read as "asked DATA_LISTEN again right after, as it
    does after an error reply" and step 3 unknown, though a DMA connects only to an
    endpoint a successful reply gave (lost_reply.failure_signs)."""
    traffic, config = _read(LOST_LISTEN.with_name(LOST_LISTEN.name + ".pcap.gz"),
                            LOST_LISTEN.with_suffix(".toml"))
    [stream] = traffic.streams
    [lost] = stream.lost_replies
    assert message_op(lost) == "DATA_LISTEN"
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    assert [f.code for f in analysis.findings if f.severity.value == "error"] == \
        ["data_refused"] * 3
    [session] = analysis.sessions
    [tried] = [c for c in traffic.connections if c.resp_p == 6001]
    assert tried.ts > lost.ts and tried.uid in session.data_connections
    announcement = session.steps[2]
    assert announcement.status == "ok", announcement.detail
    assert "what a refusal brings" not in announcement.detail


def test_data_syns_unanswered_in_the_listeners_packets_name_its_own_inbound_rules() -> None:
    """A capture of the agent's packets only (-Q out on it) holds no answer to the data
    connections its own input chain dropped: announced_not_used named the media server's
    outbound rules and the firewalls or NAT between the hosts as the only droppers, and
    its fix opened those alone (data_links._one_way_not_used)."""
    traffic, config = _read(DROPPED_IN.with_name(DROPPED_IN.name + ".pcap.gz"),
                            DROPPED_IN.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    found = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert len(found) == 5
    for finding in found:
        assert ("or its own outbound rules, a firewall or NAT between the hosts, or the "
                "inbound rules of 10.77.0.2 itself dropped its SYNs") in finding.message
        assert finding.fix.startswith("Allow TCP from 10.77.0.1 to 10.77.0.2:60")
        assert " inbound on 10.77.0.2 and on every firewall between the hosts" in finding.fix


def test_any_announced_over_ipv6_unused_on_the_listeners_side_is_not_the_address() -> None:
    """0.0.0.0 announced over an IPv6 control connection stands for the control
    connection's address (NDMP v4 announces no IPv6 address). Captured on the agent, a
    router between, no data SYN reached the capture: it read announced_address_mismatch,
    "a connect to it reaches the connecting host itself ... the attempt stays on its own
    host, off the wire", though the SYNs went to the agent and the router dropped them
    (data_links: the address is evidence only where the capture was taken on the
    connector)."""
    traffic, config = _read(ANY_V6.with_name(ANY_V6.name + ".pcapng.gz"),
                            ANY_V6.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert {a.ip for a in session.announced} == {"0.0.0.0"}
    errors = [f for f in analysis.findings if f.severity.value == "error"]
    assert {f.code for f in errors} == {"announced_not_used"}
    assert len(errors) == len(session.announced) == 5
    for finding, ann in zip(errors, session.announced, strict=True):
        assert (f"announced 0.0.0.0:{ann.port} (over IPv6 the control connection's address "
                "fd77:1::2 stands for it) for the data connection, but the capture holds no "
                "connection to it") in finding.message
        assert "taken on the listener's side" in finding.message
        assert "off the wire" not in finding.message
        assert f"[fd77:1::2]:{ann.port}" in finding.fix


def test_a_lone_callback_syn_in_a_one_direction_capture_names_the_missing_way() -> None:
    """The callback (IPv4) of a session whose control connection runs over IPv6, its SYN
    reset by the media server, captured `-Q in` on it: one SYN, never resent. It read "the
    sniffer lost packets here (the resends, or a RST or ICMP reject that stopped them)",
    though the capture holds nothing from the media server to the agent, under either
    address (unresent.answer_way_unseen)."""
    traffic, config = _read(CALLBACK_RESET.with_name(CALLBACK_RESET.name + ".pcap.gz"),
                            CALLBACK_RESET.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [found] = [f for f in analysis.findings if f.severity.value == "error"]
    assert found.code == "callback_unanswered"
    assert ("the capture holds no packet from fd77::1 to fd77::2 (one direction only), "
            "nor any from 10.77.0.1 to 10.77.0.2, the same hosts' "
            "other addresses, the way a RST or ICMP reject that stopped the resends would "
            "travel; or the sniffer lost packets here") in found.message
    assert any(f.code == "capture_one_direction" and "from fd77::1 to fd77::2" in f.message
               for f in analysis.findings)


def test_an_unheard_handshakes_resent_fin_is_named_the_connectors() -> None:
    """handshake_incomplete's "... and acknowledged nothing of 10.77.0.1's; its FIN was
    resent" read as the listener's FIN (the sentence's subject); the resent FINs are the
    connector's (seed 109 run 49 said so of an IPv6 data connection: ack_unheard)."""
    traffic, config = _read(ACK_DROPPED.with_suffix(".pcap"), ACK_DROPPED.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    [found] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    [conn] = [c for c in traffic.connections if c.uid == found.uid]
    assert conn.orig_h == "10.77.0.1"
    fins = [f for f in conn.fin_frames if f > conn.synack_frames[0]]
    assert len(fins) >= 2
    assert (f"acknowledged nothing of 10.77.0.1's; 10.77.0.1's FIN was resent, never "
            f"acknowledged (frames {', '.join(map(str, fins))})") in found.message


def test_a_dual_stack_agent_configured_by_both_addresses_may_be_its_ipv6_jobs() -> None:
    """The configuration names the agent by 10.77.0.2 and fd77::2 alone (as for one
    dual-stack host: stack_addresses.config_pair); its job over IPv6 failed at the
    control connection, so no IPv4 connection ran. agent_not_seen said of 10.77.0.2 "no
    job with it is judged here, so the verdict says nothing of its jobs"; the two may
    be two hosts, so it still notes the address, saying whose job it may be
    (absent_agents)."""
    traffic, config = _read(CONTROL_DROPPED.with_name(CONTROL_DROPPED.name + ".pcap.gz"),
                            CONTROL_DROPPED.with_suffix(".toml"))
    assert sorted(config.remote_agents) == ["10.77.0.2", "fd77::2"]
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert session.remote_agent == "fd77::2"
    assert [f.code for f in analysis.findings] == ["control_unanswered", "agent_not_seen"]
    note = analysis.findings[1].message
    assert ("No control connection to the configured agent 10.77.0.2 (--remote-agent) in "
            f"the capture: unless it is session {session.id}'s agent fd77::2 under its other "
            "IP version's address") in note
    assert "the verdict says nothing of its jobs" not in note



def test_step_3_names_only_the_connections_that_reached_an_endpoint() -> None:
    """A TLS restore (no announcement readable) whose first data connection was refused
    (port in use): step 3 said "no DATA_GET_STATE or MOVER_GET_STATE reply in the capture
    names the endpoint C3, C4, C5, C6 reached", C3 the refused one (lost_announcement);
    now "whether it named the address C4, C5, C6 reached cannot be checked"."""
    traffic, config = _read(PORT_IN_USE.with_name(PORT_IN_USE.name + ".pcap.gz"),
                            PORT_IN_USE.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    [refused] = [f for f in analysis.findings if f.code == "data_refused"]
    opened = [uid for uid in session.data_connections if uid != refused.uid]
    assert refused.uid in session.data_connections and len(opened) == 3
    step = session.steps[2]
    assert step.status == "unknown"
    assert f"whether it named the address {', '.join(opened)} reached cannot be checked" \
        in " ".join(step.detail.split())


def test_any_over_ipv6_in_the_listeners_packets_keeps_the_announced_words() -> None:
    """announced_not_used for 0.0.0.0 announced over IPv6, captured on the listener's
    packets only: the announcement as announced, the control connection's address the
    endpoint the answer would come from, and the listener's own inbound rules among the
    causes (data_links._one_way_not_used)."""
    traffic, config = _read(V6_ANY_ONE_WAY.with_suffix(".pcap"),
                            V6_ANY_ONE_WAY.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    found = next(f for f in analysis.findings if f.code == "announced_not_used")
    assert ("announced 0.0.0.0:6001 (over IPv6 the control connection's address fd77::2 "
            "stands for it), but no answer from it") in found.message
    assert "no answer from [fd77::2]:6001, a SYN-ACK" in found.message
    assert "or the inbound rules of fd77::2 itself dropped its SYNs" in found.message


CALLBACKS_TIED = ROOT / "captures" / "field48-matrix" / "two-tls-jobs-dual-stack-callback-dropped"


def test_callbacks_that_fit_two_tls_sessions_are_named_in_both_steps_not_unannounced() -> None:
    """Seed 110 run 2: two TLS jobs between dual-stack hosts, callbacks over IPv4 from
    10.77.0.2 (C3, dropped) and 10.77.0.3 (C4, job 2's, answered), each fitting both
    IPv6 sessions (Session.callback_ambiguous). Step 2 named C3 alone and C4 read
    unannounced_connection ("no control session announced"); the configured IPv4 agents
    read "no job with them is judged here", though the failure of one of them is."""
    capture = CALLBACKS_TIED.with_name(CALLBACKS_TIED.name + ".pcap.gz")
    traffic, config = _read(capture, CALLBACKS_TIED.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert [s.callback_ambiguous for s in analysis.sessions] == [["C3", "C4"], ["C3", "C4"]]
    for session in analysis.sessions:
        step = session.steps[1]
        assert step.status == "unknown" and step.uids == ["C3", "C4"]
        assert step.detail.startswith(
            "unknown: C3 from 10.77.0.2 to 10.77.0.1:5001 or C4 from 10.77.0.3 to "
            "10.77.0.1:5051 may be this session's callback under another address of the "
            "agent, but each fits another session's as well")
    codes = [f.code for f in analysis.findings]
    assert "unannounced_connection" not in codes and "callback_unanswered" in codes
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert note.message.startswith(
        "No control connection to the configured agents 10.77.0.2 and 10.77.0.3 "
        "(--remote-agent) in the capture: unless one of them is the agent of session S1 "
        "or S2 under its other IP version's address (the configuration names agents of "
        "both versions")
    assert "the verdict says nothing of their jobs" not in note.message


def test_a_callback_two_sessions_fit_is_allowed_by_the_media_range() -> None:
    """The same run: C3, which fits both IPv6 sessions, runs at IPv4 addresses neither
    session's hosts have, so its ends had no role and its rule read "to 10.77.0.1 port
    5001 on both hosts and any firewall between them", the one port this job drew; the
    configuration names 10.77.0.1 a media server and 10.77.0.2 an agent, so the rule is the
    media range's, inbound on the media server, as `flowcheck firewall` prints it
    (review61b; allow_rules._host_ends)."""
    capture = CALLBACKS_TIED.with_name(CALLBACKS_TIED.name + ".pcap.gz")
    traffic, config = _read(capture, CALLBACKS_TIED.with_suffix(".toml"))
    [error] = [f for f in analyze(traffic, config).findings if f.code == "callback_unanswered"]
    assert error.fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 (media "
                                "range) inbound on the media server and on any firewall "
                                "between the hosts")
    assert "on both hosts" not in error.fix


def test_snap_cut_tls_from_the_first_byte_does_not_blame_the_snap_length_for_matching() -> None:
    """Seed 109 run 23 (alike seed 110 run 19): TLS from the first byte under `-s 128`.
    ndmp_partial said "Because the announcement of the data endpoint was cut, ... matched
    by direction and ports": the announcements were inside the TLS, which no snap length
    shows (ndmp_undecodable says so); a capture with -s 0 would match them no better."""
    traffic, config = _read(PORT_IN_USE.with_name(PORT_IN_USE.name + ".pcap.gz"),
                            PORT_IN_USE.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    [session] = analysis.sessions
    assert session.port_matched == ["C3", "C4", "C5", "C6"]
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial.message.startswith("The capture's snap length cut this NDMP control")
    assert "announcement" not in partial.message
    [tls] = [f for f in analysis.findings if f.code == "ndmp_undecodable"]
    assert "matched to the session by direction and ports" in tls.message


LOST_HOST_INFO = ROOT / "captures" / "field48-matrix" / "lost-host-info-reply-callback-dropped"


def test_a_lost_reply_the_sequence_numbers_name_hides_no_job_after_a_failed_callback() -> None:
    """Seed 110 run 32: the sniffer lost the agent's CONFIG_GET_HOST_INFO reply (92 B, a
    hole whose one message the NDMP sequence numbers name), then the callback went
    unanswered. Steps 3-5 read "whether the session started a backup or restore cannot
    be seen: the sniffer missed 92 bytes": no job's message can hide in that hole
    (hidden_ends.job_missed), so they read as in a whole capture."""
    traffic, config = _read(LOST_HOST_INFO.with_name(LOST_HOST_INFO.name + ".pcap.gz"),
                            LOST_HOST_INFO.with_suffix(".toml"))
    [stream] = traffic.streams
    assert [h.held for h in stream.holes] == [("NDMP_CONFIG_GET_HOST_INFO",)]
    analysis = analyze(traffic, config)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == [
        "ok", "failed", "not_applicable", "not_applicable", "not_applicable"]
    assert all(s.detail == "not reached: the job stopped after step 2 failed"
               for s in session.steps[2:])
    assert "capture loss" not in session.kind_words()
    assert [f.code for f in analysis.findings if f.severity.value == "error"] == [
        "callback_unanswered"]


STOPPED_TIED = (ROOT / "captures" / "field48-matrix"
                / "two-tls-jobs-dual-stack-stopped-callback-ack-dropped")


def test_a_session_whose_capture_ended_early_still_names_the_callbacks_that_fit_it() -> None:
    """Seed 110 run 44: two TLS jobs between dual-stack hosts, the capture stopped 0.98 s
    after job 1's callback. Both callbacks (C3, C4) fit both sessions; S1's step 2 named
    them, S2's (its control connection 0.165 s old at the capture's end) said only "the
    callback may have come later", though two connections in the capture may be it."""
    capture = STOPPED_TIED.with_name(STOPPED_TIED.name + ".pcap.gz")
    traffic, config = _read(capture, STOPPED_TIED.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "inconclusive"
    first, second = analysis.sessions
    for session in (first, second):
        assert session.steps[1].status == "unknown"
        assert session.steps[1].uids == ["C3", "C4"]
        assert session.steps[1].detail.startswith("unknown: C3 from 10.77.0.2 to "
                                                  "10.77.0.1:5001 or C4 from 10.77.0.3 to")
    assert second.steps[1].detail.endswith(
        "; or the capture ended 165 ms after the control connection opened, while it was "
        "still open: the callback may have come later")
    assert [f.session for f in analysis.findings if f.code == "capture_ended_early"] == ["S2"]


BEFORE_GREETING = (ROOT / "captures" / "field48-matrix"
                   / "control-ack-dropped-router-stopped-before-greeting")


def test_a_capture_that_ended_before_the_greeting_does_not_say_the_session_stopped() -> None:
    """Seed 110 run 15: the capture stopped 0.216 s after the control connection opened,
    the media server waiting for the agent's greeting. Steps 3-5 read "the session
    stopped before a backup or restore could start": the capture stopped, not the
    session (verify.steps)."""
    capture = BEFORE_GREETING.with_name(BEFORE_GREETING.name + ".pcap.gz")
    traffic, config = _read(capture, BEFORE_GREETING.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    for step in session.steps[2:]:
        assert step.status == "unknown"
        assert step.detail == (
            "unknown: whether a backup or restore started cannot be seen: the capture ended "
            "while the media server waited for the agent's NDMP greeting "
            "(NDMP_NOTIFY_CONNECTED) (capture_ended_early)")


TLS_START_IN = ROOT / "captures" / "field48-matrix" / "two-tls-start-jobs-one-direction-in"


def test_bytes_shown_by_the_receivers_acks_leave_out_the_senders_fins_they_prove() -> None:
    """Seed 107 run 54 (alike seed 110 run 46): only the receivers' ACKs show the data,
    each ACK one past the data at the end: the sender's FIN (orig/resp_fin_unseen). Step
    3 said "C4, C7, C9, C11, C13 carried 1000005 bytes": five FINs counted as data
    (data_flow.job_bytes); step 5 said 1,000,000 B of data."""
    capture = TLS_START_IN.with_name(TLS_START_IN.name + ".pcap.gz")
    traffic, config = _read(capture, TLS_START_IN.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    for session in analysis.sessions:
        detail = session.steps[2].detail
        assert "carried 1,000,000 B to the media server (acknowledged by the receiver's " \
               "ACKs, less the 5 FINs of the sender they also acknowledge: the capture " \
               "holds one direction)" in detail, detail
        assert "1000005" not in detail

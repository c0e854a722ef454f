"""Field check 65's lab matrix (captures/field65-matrix, README.md there), seed 128.

Run 28: an ndmjob control connection rejected by the agent's own input chain with an
ICMP network unreachable (code 0), `tcpdump -i any` on the media server. The reading
named "such as nft's `reject with icmp type host-unreachable`", a rule that sends code 1:
the example rule is now the one of the code the capture holds
(flowcheck.verify.prohibited_rules.routing_rule, verify.refusals).

Run 5: a Backup Exec backup in TLS from the control connection's first byte, both
hosts' dumpcap with -s 96. ndmp_partial's fix said "Capture with the full snap length
... so the NDMP messages are whole", which TLS records never make them: it now says the
cut packets are TLS records and asks for no snap length (flowcheck.ndmp.findings).

Run 7: a 3-resource restore captured `-Q out` on the media server, the first data port
held by a bound socket on the agent (its RST not captured). data_unanswered said the
media server closed the session "87.5 ms after it with no data moved" and "so the job
cannot move data", while the next two data connections moved 400000 B in between
(flowcheck.verify.gave_up.moved_between, verify.failed_data). review58h: a data
connection opened before the stop names data moved in between only when it carried some
before the stop; and a peer's NDMP record cut before the other side's TLS is NDMP in the
clear: not TLS from the first byte, so the snap length is still the fix.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import stored_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

from flowcheck.model import Finding
from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.stream_events import DecodeProblem
from flowcheck.verify.prohibited_rules import routing_rule

HERE = Path(__file__).resolve().parents[1] / "captures" / "field65-matrix"
NET_UNREACHABLE = HERE / ("ndmjob-control-rejected-net-unreachable-by-agent-any-on-media-"
                          "sll2.pcap.gz")
TLS_SNAP = HERE / ("tls-start-dual-data-rejected-net-prohibited-by-agent-both-hosts-merged-"
                   "pcapng-snap96.pcapng.gz")
IN_USE = HERE / "restore-first-data-port-in-use-out-on-media-sll2.pcap.gz"
SNAP_FIX = "Capture with the full snap length: tcpdump -s 0"


def _one(path: Path, code: str) -> Finding:
    [finding] = [f for f in shared_analysis(path).findings if f.code == code]
    return finding


def test_a_net_unreachable_from_the_agent_names_the_rule_that_sends_it() -> None:
    """Code 0 from 10.77.0.2's own address: nft's net-unreachable reject, not the
    host-unreachable one (code 1)."""
    analysis = shared_analysis(NET_UNREACHABLE)
    assert analysis.verdict == "fail"
    [refused] = analysis.findings
    assert refused.code == "control_refused"
    assert refused.frames == [1, 2, 3, 4]
    assert "with an ICMP network unreachable (code 0)" in refused.message
    assert ("comes from a reject rule, such as nft's `reject with icmp net-unreachable` (as "
            "`nft list ruleset` prints it; iptables' `REJECT --reject-with "
            "icmp-net-unreachable`)" in refused.message)
    assert "host-unreachable" not in refused.message


@pytest.mark.parametrize(("version", "code", "words"), [
    (4, 1, "`reject with icmp host-unreachable` (as `nft list ruleset` prints it; "
           "iptables' `REJECT --reject-with icmp-host-unreachable`)"),
    (6, 0, "`reject with icmpv6 no-route` (as `nft list ruleset` prints it; ip6tables' "
           "`REJECT --reject-with icmp6-no-route`)"),
    (6, 3, "`reject with icmpv6 addr-unreachable` (as `nft list ruleset` prints it; "
           "ip6tables' `REJECT --reject-with icmp6-addr-unreachable`)"),
    # Destination host unknown: no reject rule sends it; both rules that a filter has.
    (4, 7, "`reject with icmp host-unreachable` or `reject with icmp net-unreachable` (as "
           "`nft list ruleset` prints them)"),
    (6, None, "`reject with icmpv6 no-route` or `reject with icmpv6 addr-unreachable` (as "
              "`nft list ruleset` prints them)"),
])
def test_each_routing_code_names_its_own_rule(version: int, code: int | None,
                                               words: str) -> None:
    assert routing_rule(version, code) == f"such as nft's {words}"


def test_a_tls_start_connection_cut_by_the_snap_length_asks_for_no_snap_length() -> None:
    """Every cut packet of the control connection is a TLS record (TLS from frame 17):
    a full snap length keeps them whole, not the NDMP messages readable."""
    analysis = shared_analysis(TLS_SNAP)
    assert analysis.verdict == "fail"
    assert [f.code for f in analysis.findings].count("data_refused") == 4
    partial = _one(TLS_SNAP, "ndmp_partial")
    assert ("it kept only the first 10 bytes of TCP payload of each packet (25 packets, "
            "2,990 B not captured). No message could be read." in partial.message)
    assert ("The packets it cut are TLS records: the connection is TLS from its first byte "
            "(ndmp_undecodable), whose NDMP messages no snap length makes readable."
            in partial.message)
    assert partial.fix.startswith("Nothing to change for the NDMP messages: the connection "
                                  "is TLS from its first byte (ndmp_undecodable)")
    assert SNAP_FIX not in partial.fix
    assert "so the NDMP messages are whole" not in partial.fix


def test_a_tls_start_cut_in_a_dumpcap_file_adds_no_snap_length_setting() -> None:
    """dumpcap wrote field check 48's file: the snap length's fix gets dumpcap's own
    setting (verify.tool_fixes), which TLS from the first byte makes no fix either."""
    capture = (HERE.parent / "field48-tls-start-matrix" /
               "dual-stack-data-ack-dropped-tls-start.pcapng")
    partial = _one(capture, "ndmp_partial")
    assert "The packets it cut are TLS records" in partial.message
    assert partial.fix.startswith("Nothing to change for the NDMP messages")
    assert "snapshot length" not in partial.fix
    assert "dumpcap" not in partial.fix


def test_a_tls_connection_with_ndmp_before_it_keeps_the_snap_length_fix() -> None:
    """TLS after CONNECT_CLIENT_AUTH (field check 55): the snap length cut NDMP messages
    in the clear, so the full snap length is still the fix."""
    capture = (HERE.parent / "field55-matrix" / "restore-callback-syns-dropped-by-media-"
               "both-hosts-merged-pcapng-snap128-ipv6-tls.pcapng.gz")
    partial = _one(capture, "ndmp_partial")
    assert partial.fix.startswith(SNAP_FIX)
    assert "TLS records" not in partial.message


def test_a_lone_syn_given_up_names_the_data_the_later_connections_moved() -> None:
    """C3's one SYN, the media server's next data connections C4 and C5 carrying the
    other two resources' data, then CONNECT_CLOSE: still most likely rejected (failed),
    but not "with no data moved" nor a job that cannot move data."""
    analysis = shared_analysis(IN_USE)
    assert analysis.verdict == "fail"
    unanswered = _one(IN_USE, "data_unanswered")
    assert unanswered.uid == "C3" and unanswered.frames == [11]
    assert ("the media server 10.77.0.1 closed the session (CONNECT_CLOSE, frame 312) 87.5 "
            "ms after it (the session's data connections opened after it, C4, C5, carried "
            "data in between), before TCP would have resent the SYN" in unanswered.message)
    assert "no data moved" not in unanswered.message
    assert ("most likely rejected, so the job cannot move this connection's data (its "
            "other data connections, C4, C5, carried theirs)." in unanswered.message)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "ok", "failed", "ok"]


def test_a_connection_whose_data_came_after_the_stop_moved_none_in_between(
        tmp_path: Path) -> None:
    """Run 7 with C4's data packets (frames 16-158, after its handshake) moved 0.2 s
    later, past CONNECT_CLOSE (0.0958 s): C4 opened before the stop but carried nothing
    before it; C5 (opened 52 ms, data from 52.6 ms) alone moved data in between."""
    linktype, records = stored_records(IN_USE)
    moved = [replace(r, micros=r.micros + 200_000) if 15 <= i < 158 else r
             for i, r in enumerate(records)]
    capture = write_records(tmp_path / "c4-data-after-close.pcap", linktype,
                            sorted(moved, key=lambda r: r.micros))
    analysis = stored_analysis(capture, config_path=sidecar(IN_USE))
    [unanswered] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert unanswered.uid == "C3"
    assert ("after it (the session's data connection opened after it, C5, carried data in "
            "between), before TCP would have resent the SYN" in unanswered.message)


def test_a_peer_greeting_cut_before_the_other_side_tls_keeps_the_snap_length_fix() -> None:
    """The agent's greeting (frame 4) cut to its first 10 bytes, then the media server's
    ClientHello (frame 5) and the agent's answer (frame 6) in TLS: the greeting is NDMP in
    the clear, which the full snap length makes readable, so the connection is not TLS
    from its first byte (both findings say so) and ndmp_partial keeps its fix."""
    findings = StreamFindings("C1")
    for frame in (4, 5, 6):
        findings.snap.packet(10)
        findings.snap.cut(90, frame, frame / 10)
    findings.problem("resp", DecodeProblem("lost", "record header cut", [4], 0.4))
    findings.problem("orig", DecodeProblem("tls", "a TLS record", [5], 0.5))
    findings.problem("resp", DecodeProblem("tls", "a TLS record", [6], 0.6))
    assert not findings.tls_from_start([])
    partial, out = findings.build([])
    assert partial is not None and partial.fix.startswith(SNAP_FIX)
    assert "TLS records" not in partial.message
    [undecodable] = [f for f in out if f.code == "ndmp_undecodable"]
    assert "TLS from its first byte" not in undecodable.message
    assert ("after 1 NDMP record(s) whose header the snap length cut (the last in frame 4)"
            in undecodable.message)

"""Every reading that says where a capture was taken reads the Linux cooked marks as well
as the TTLs (flowcheck.verify.capture_host.proven_host), and the marks are kept per
connection and per host pair as they should be (flowcheck.connections.syn_ways,
cooked_hosts).

Session 50 read the marks for the unanswered openings alone: in the same `tcpdump -i any`
capture a stall, a reset's SYN-ACKs, an announcement no connection tried, a missing
callback or a translated address still said "if this capture was taken on ..." or
nothing. The captures here are stored lab captures taken with tcpdump on one host's
interface, rewritten as `tcpdump -i any` on that host writes them (tests/cooked_rewrite:
the host's packets marked outgoing, its peers' host); where the lab had a router between
the hosts, their TTLs are set to 64 as well (the same exchange on one segment), so that
only the marks can tell the capture host. Each message checked here read otherwise
before (session 51's branch `cookeddepth`: the old words are named in each test).
"""

from __future__ import annotations

from pathlib import Path

from capture_factory import write_pcap
from cooked_rewrite import as_cooked, with_ttls
from pcap_records import Record, read_records, write_records
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from test_syn_ways import HOST, OUTGOING, A, M, _capture, _sll2

import flowcheck.connections.cooked_hosts as cooked_hosts
from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.connections.syn_ways import ARRIVED, SENT
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.regress import find_cases

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
# What the marks' words begin with (verify.cooked_host.words_by_marks).
MARKED = "its Linux cooked headers mark each SYN, FIN and RST of "


def _findings(tmp_path: Path, case: str, host: str, flat_ttl: int | None = None
              ) -> list[Finding]:
    """The findings of stored case `case` rewritten as `tcpdump -i any` on host."""
    [found] = find_cases([str(CAPTURES / case)])
    capture = as_cooked(found.capture, tmp_path / "any.pcap", host, flat_ttl)
    config = found.config()
    return analyze(read_traffic([str(capture)], config), config).findings


def _one(findings: list[Finding], code: str) -> Finding:
    [finding] = [f for f in findings if f.code == code]
    return finding


def test_a_stall_captured_on_the_sender_says_so(tmp_path: Path) -> None:
    # The agent's firewall drops the media server's data mid-restore; tcpdump on the
    # media server, one segment. It read "If this capture was taken on 10.77.0.2 itself,
    # the resends reached it and it never answered".
    stalled = _one(_findings(tmp_path, "ndmjob-firewall/v4-restore-midjob-drop-at-agent.pcap",
                             "10.77.0.1"), "data_stalled")
    assert (f"This capture was taken on 10.77.0.1 ({MARKED}10.77.0.1's to 10.77.0.2 sent by "
            "the capture host (outgoing), at TTL 64") in stalled.message
    assert stalled.message.endswith(
        "addressed to the capture host): a capture on 10.77.0.2 shows whether the resends "
        "reach it.")
    assert "If this capture was taken on 10.77.0.2 itself" not in stalled.message


def test_a_control_stall_captured_on_the_sender_says_so(tmp_path: Path) -> None:
    # Trial 26 D8's router dropping the idle control connection, captured on the media
    # server, the router taken out of the TTLs (64 both ways): it read "If this capture
    # was taken on 10.88.0.2 itself, the resends reached it".
    stalled = _one(_findings(tmp_path, "lab-trial26-words/idle-drop-media.pcap.gz",
                             "10.77.0.1", 64), "control_stalled")
    assert (f"This capture was taken on 10.77.0.1 ({MARKED}10.77.0.1's to 10.88.0.2 sent "
            "by the capture host (outgoing), at TTL 64") in stalled.message
    assert "If this capture was taken on 10.88.0.2 itself" not in stalled.message


def test_both_proofs_give_the_marks_words(tmp_path: Path) -> None:
    # With the router's TTLs kept, the TTLs show the media server too ("or on its network
    # segment: ... a router between them", as it read): the marks prove the host itself.
    stalled = _one(_findings(tmp_path, "lab-trial26-words/idle-drop-media.pcap.gz",
                             "10.77.0.1"), "control_stalled")
    assert f"This capture was taken on 10.77.0.1 ({MARKED}10.77.0.1's" in stalled.message
    assert "or on its network segment" not in stalled.message


def test_an_announcement_no_syn_left_for_on_the_connector(tmp_path: Path) -> None:
    # Field check 38: the media server's output chain drops its data SYNs; tcpdump on
    # it, one segment. It read "the side that should connect could not ..., or the
    # media server 10.77.0.1 did try and its SYNs were dropped before they reached the
    # capture point".
    unused = [f for f in _findings(tmp_path, "field38-matrix/data-dropped-media-egress.pcap",
                                   "10.77.0.1") if f.code == "announced_not_used"]
    assert len(unused) == 2  # its two resources
    for finding in unused:
        assert (f"this capture was taken on the media server 10.77.0.1 ({MARKED}10.77.0.1's "
                "to 10.77.0.2") in finding.message
        assert "and no SYN to it left that host" in finding.message
        assert "did try and its SYNs were dropped before they reached" not in finding.message


def test_an_announcement_no_syn_reached_on_the_listener(tmp_path: Path) -> None:
    # Trial 26: a router drops the data SYNs; captured on the agent (the listener), the
    # router taken out of the TTLs. It read "the side that should connect could not ...,
    # or the media server 10.77.0.1 did try and its SYNs were dropped before they reached
    # the capture point: seen from the listener's side, ...".
    unused = _one(_findings(tmp_path, "lab-trial26-words/data-drop-agent.pcap", "10.88.0.2",
                            64), "announced_not_used")
    assert ("either the media server 10.77.0.1 did try and a firewall or NAT between the "
            "hosts dropped or rejected its SYNs before they reached this capture, taken on "
            "the listener's side (its Linux cooked headers show it), the common cause"
            ) in unused.message
    assert "the side that should connect could not" not in unused.message


def test_a_stall_captured_on_the_receiver_says_the_resends_reached_it(
        tmp_path: Path) -> None:
    # Trial 11: the agent came back from a link loss without its default route; tcpdump
    # on the agent, the router taken out of the TTLs. It read "If this capture was taken
    # on 10.77.1.2 itself, the resends reached it", the fix "Check that the agent
    # 10.77.1.2 is up and reachable".
    stalled = _one(_findings(tmp_path, "ndmjob-hostdown/v4-ifdown-back-agent.pcap.gz",
                             "10.77.1.2", 64), "data_stalled")
    assert (f"This capture was taken on 10.77.1.2 ({MARKED}10.77.1.2's to 10.77.0.1 sent by "
            "the capture host (outgoing), at TTL 64") in stalled.message
    assert ("addressed to the capture host): the resends reached it and it never answered"
            ) in stalled.message
    assert stalled.fix.startswith("Look on the agent 10.77.1.2, where this capture was taken")


def test_synacks_lost_after_leaving_the_capture_host(tmp_path: Path) -> None:
    # Trial 37's callback SYN-ACKs lost on their way back, captured on the media server,
    # the router taken out of the TTLs: it read "between the capture point and
    # 10.77.1.2".
    incomplete = _one(_findings(tmp_path, "trial37-impairments/callback-synacks-lost-media.pcap",
                                "10.77.0.1", 64), "handshake_incomplete")
    assert ("they were lost on the way back, after they left 10.77.0.1 (the capture was "
            f"taken on 10.77.0.1: {MARKED}10.77.0.1's to 10.77.1.2") in incomplete.message
    assert "between the capture point and 10.77.1.2" not in incomplete.message


def test_a_callback_that_never_reached_the_media_servers_capture(tmp_path: Path) -> None:
    # Trial 26: a router drops the callback; captured on the media server, the router
    # taken out of the TTLs. It read as a capture whose point nothing shows (the fix
    # "inbound on the media server" among the rest).
    missing = _one(_findings(tmp_path, "trial26-middlebox/cb-drop-at-M.pcap.gz",
                             "10.77.0.1", 64), "step_missing")
    assert (f"This capture was taken on the media server 10.77.0.1 ({MARKED}10.77.0.1's to "
            "10.88.0.2") in missing.message
    assert "none reached it and the media server's firewall is not the cause" \
        in missing.message  # unless a filter kept only the NDMP port (review64g)
    assert "inbound on the media server" not in missing.fix


def test_a_translated_data_connection_on_the_listeners_side(tmp_path: Path) -> None:
    # Trial 26 D1: the agent behind a DNAT announcing its public address, captured on
    # the agent, the router taken out of the TTLs: it read "This capture does not show
    # which address the media server 10.77.0.1 uses for the agent".
    mismatches = [f for f in _findings(tmp_path, "lab-trial26-nat/nat-dnat-ok-at-A.pcap.gz",
                                       "10.88.0.2", 64)
                  if f.code == "announced_address_mismatch"]
    assert mismatches
    for mismatch in mismatches:
        assert (f"This capture was taken on the agent's side ({MARKED}10.88.0.2's to "
                "10.77.0.1") in mismatch.message
        assert "This capture does not show which address" not in mismatch.message


def test_the_routers_counted_by_the_ttls_stay_beside_the_marks(tmp_path: Path) -> None:
    # Trial 17's router dropping the data SYNs, captured on the media server: both
    # proofs name it. The fix read "This capture was taken on 10.77.0.1 or on its network
    # segment: ..."; the TTLs' router count stays.
    findings = [f for f in _findings(tmp_path, "lab-router/fwd-drop-media.pcap", "10.77.0.1")
                if f.code == "data_unanswered"]
    assert findings
    for finding in findings:
        assert ("This capture was taken on 10.77.0.1 (its Linux cooked headers show it): a "
                "capture on 10.77.1.2 shows which way they are lost; with a router between "
                "them, allow them in its forward chain too") in finding.fix
        assert "or on its network segment" not in finding.fix



def test_the_ttl_words_on_the_connectors_side_name_both_hosts(tmp_path: Path) -> None:
    # Trial 26 D1's DNAT case with its TTLs as a point on the media server's segment
    # sees them (the media server's 64, the agent's 63): the connector's side, by the
    # TTLs alone. Its words named the media server twice ("10.77.0.1's packets arrive
    # with TTL 64, an initial value, and 10.77.0.1's with 63"): proven_host names the
    # other host of the pair (review 51a).
    [found] = find_cases([str(CAPTURES / "lab-trial26-nat/nat-dnat-ok-at-A.pcap.gz")])
    capture = with_ttls(found.capture, tmp_path / "at-m.pcap",
                        {"10.77.0.1": 64, "10.88.0.2": 63})
    config = found.config()
    mismatches = [f for f in analyze(read_traffic([str(capture)], config), config).findings
                  if f.code == "announced_address_mismatch"]
    assert mismatches
    for mismatch in mismatches:
        assert ("This capture was taken on the media server's side (or on its network "
                "segment: 10.77.0.1's packets arrive with TTL 64, an initial value, and "
                "10.88.0.2's with 63: a router between them)") in mismatch.message

def _unanswered_control(path: Path) -> Finding:
    config_path = path.with_name("flowcheck.toml")
    config_path.write_text(f'media_servers = ["{M}"]\nremote_agents = ["{A}"]\n')
    config = build_config(load_file(config_path))
    return _one(analyze(read_traffic([str(path)], config), config).findings,
                "control_unanswered")


def test_proofs_that_disagree_claim_no_host(tmp_path: Path) -> None:
    # A's `-i any` whose connection to M's port 22 it joined mid-stream: A's first
    # packet on it came with hop limit 63, M's with 64 (the TTLs name M), while A's
    # FIN is marked outgoing at 64 and M's packets host (the marks name A). Neither holds:
    # it read "fd77::3's own firewall drops them: this capture was taken on fd77::3".
    packets: list[tuple[float, bytes]] = []
    now = 1000.0

    def put(src: str, sport: int, dport: int, flags: str, seq: int, ack: int,
            hlim: int, payload: bytes = b"") -> None:
        nonlocal now
        data = bytes(IPv6(src=src, dst=A if src == M else M, hlim=hlim)
                     / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack) / payload)
        packets.append((now, _sll2(data, OUTGOING if src == A else HOST)))
        now += 0.01

    put(M, 40000, 22, "PA", 101, 501, 64, b"x" * 100)
    put(A, 22, 40000, "PA", 501, 201, 63, b"y" * 50)
    for wait in (1.0, 2.0, 4.0):
        put(M, 5001, 10000, "S", 9000, 0, 64)
        now += wait
    put(M, 40000, 22, "FA", 201, 551, 64)
    put(A, 22, 40000, "FA", 551, 202, 64)
    put(M, 40000, 22, "A", 202, 552, 64)
    path = write_pcap(tmp_path / "disagree.pcap", packets, 276)
    finding = _unanswered_control(path)
    assert "own firewall drops them" not in finding.message
    assert "Linux cooked" not in finding.message
    assert f"unless it was taken on {A} itself" in finding.message


def test_a_reused_four_tuple_keeps_its_own_syn_marks(tmp_path: Path) -> None:
    # Both hosts' `-i any` merged: M's connection to port 22 of A and its control SYNs
    # each captured leaving M and arriving at A; then A's capture stops and M opens the
    # 4-tuple to port 22 again (a new initial sequence number): its SYN is captured
    # leaving M only. It took the first connection's "arrived" from the 4-tuple.
    def merged(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
        return [(0, OUTGOING, 64), (20, HOST, 64)]
    first = _capture(tmp_path / "first.pcap", merged)
    linktype, records = read_records(first)
    end = records[-1].micros + 2_000_000
    again = bytes(IPv6(src=M, dst=A, hlim=64) / TCP(sport=40000, dport=22, flags="S",
                                                    seq=777000))
    records += [Record(end + i * 1_000_000, len(again) + 20, _sll2(again, OUTGOING))
                for i in range(2)]
    path = write_records(tmp_path / "reused.pcap", linktype, records)
    by_start = sorted((c for c in track_connections([str(path)]).connections
                       if c.resp_p == 22), key=lambda c: c.ts)
    assert len(by_start) == 2
    assert by_start[0].orig_syn_ways & (SENT | ARRIVED) == SENT | ARRIVED
    assert by_start[1].orig_syn_ways & (SENT | ARRIVED) == SENT


def test_host_pairs_past_the_cap_are_left_out_whole(tmp_path: Path, monkeypatch) -> None:
    # Past HOST_PAIRS_CAP a new host pair is not noted at all (a pair kept in part would
    # prove what its lost marks might have denied), and so proves no capture host.
    path = _capture(tmp_path / "agent.pcap", lambda by_m, _syn: [(0, HOST if by_m else
                                                                   OUTGOING, 64)])
    assert set(track_connections([str(path)]).host_marks) == {(M, A), (A, M)}
    monkeypatch.setattr(cooked_hosts, "HOST_PAIRS_CAP", 1)
    marks = track_connections([str(path)]).host_marks
    assert list(marks) == [(M, A)]  # M's SYN came first; A's answer was past the cap
    assert marks[(M, A)] & 0xFF == 1 << HOST
    # Without A's marks nothing places the capture on A (it did, below the cap:
    # test_cooked_marks.test_marks_prove_the_capture_was_taken_on_the_agent).
    finding = _unanswered_control(path)
    assert "Linux cooked" not in finding.message
    assert f"unless it was taken on {A} itself" in finding.message


def test_each_of_many_reuses_of_a_four_tuple_keeps_its_own_marks(tmp_path: Path) -> None:
    # Both hosts' `-i any` merged; M opens the 4-tuple to A's port 22 seven times (a
    # client binding one source port), each with a new initial sequence number. A's
    # capture held the even ones' SYNs and SYN-ACKs, so only those are marked arriving
    # too: each connection reads its own, the first, last and middle ones alike
    # (syn_ways.attach finds them by bisection, not by a scan of the 4-tuple's).
    packets: list[tuple[float, bytes]] = []
    now = 1000.0
    for i in range(7):
        for src, flags, seq, ack in ((M, "S", 1000 + 7919 * i, 0),
                                     (A, "SA", 5000 + 104729 * i, 1001 + 7919 * i),
                                     (M, "R", 1001 + 7919 * i, 0)):
            data = bytes(IPv6(src=src, dst=A if src == M else M, hlim=64)
                         / TCP(sport=40000 if src == M else 22, dport=22 if src == M else 40000,
                               flags=flags, seq=seq, ack=ack))
            packets.append((now, _sll2(data, OUTGOING)))
            if i % 2 == 0 or flags == "R":  # the RSTs copied both ways: copies in every batch
                packets.append((now + 20e-6, _sll2(data, HOST)))
            now += 0.01
        now += 0.5 * (i + 1)  # uneven gaps: the nearest is not always the next one
    path = write_pcap(tmp_path / "reuses.pcap", packets, 276)
    by_start = sorted((c for c in track_connections([str(path)]).connections
                       if c.resp_p == 22), key=lambda c: c.ts)
    assert len(by_start) == 7
    for i, conn in enumerate(by_start):
        both = SENT | ARRIVED if i % 2 == 0 else SENT
        assert conn.orig_syn_ways & (SENT | ARRIVED) == both, i
        assert conn.resp_syn_ways & (SENT | ARRIVED) == both, i

"""Trial 26: firewalls and middleboxes between the media server 10.77.0.1 and the agent
10.88.0.2 (a router R, nftables), captured on the media server (at-M), on the agent
(at-A), and both points merged with mergecap (merged-M-A): captures/trial26-middlebox,
the merged ones in tests/data/trial26-middlebox (tshark flags their copies from the two
capture points as retransmissions: test_connections_fills compares captures/ with it).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = (ROOT / "captures" / "trial26-middlebox", ROOT / "tests" / "data" / "trial26-middlebox")


def _analyze(name: str) -> Analysis:
    folder = next(f for f in FOLDERS if (f / f"{name}.pcap.gz").exists())
    sidecar = folder / f"{name}.toml"
    config = build_config(load_file(sidecar if sidecar.exists() else folder / "flowcheck.toml"))
    return analyze(read_traffic([str(folder / f"{name}.pcap.gz")], config), config)


def _one(analysis: Analysis, code: str) -> Finding:
    [found] = [f for f in analysis.findings if f.code == code]
    return found


def test_d3_forged_reset_then_the_media_servers_close_is_the_devices() -> None:
    # An IPS reset the data connection both ways; at A the RST in M's name has TTL 64
    # (M's own packets arrive with 63); M then closed its control connection: its
    # reaction to the reset, not a job engine crash nobody else caused.
    reset = _one(_analyze("ips-rst-both-at-A"), "data_reset")
    assert "reset by a device between them, in the name of the media server" in reset.message
    assert "crashed" not in reset.message
    assert "No device between the hosts" not in reset.fix
    assert reset.fix.startswith("Look for the firewall, NAT or IPS between")
    assert "(FIN, frame 167)" in reset.message


def test_d6_a_callback_that_never_reached_the_media_servers_capture_is_not_its_firewall() -> None:
    # R dropped (or rejected) the callback; the capture on M holds no callback packet:
    # the SYN never reached M, whose tap sees packets before its input chain.
    for name in ("cb-drop-at-M", "cb-rst-at-M", "cb-adminprohib-at-M",
                 "cb-portunreach-at-M", "nat-snat-cbblocked-at-M"):
        missing = _one(_analyze(name), "step_missing")
        assert "inbound on the media server" not in missing.fix, name
        assert "outbound on the agent and in the forward rules" in missing.fix, name
        assert "the media server's firewall is not the cause" in missing.message, name
        # The job stopped at the callback: the filter hint does not lead, but the
        # capture holds nothing but the NDMP port's TCP, as a 'port 10000' filter writes
        # it, and a filter that hid a callback dropped past the capture point stops the
        # job too, so the reading holds on that condition (review64g's filtered-media).
        assert "The capture holds only connections to the NDMP port" not in \
            missing.message, name
        assert "no SYN of the callback is in it, so, unless a capture filter kept only " \
               "the NDMP port 10000" in missing.message, name


def test_d5_a_reset_to_a_syn_that_never_reached_the_other_point_is_the_devices() -> None:
    # R's `reject with tcp reset`; merged at-M + at-A: the SYN is in the set once (its
    # sender's point), so the responder never saw it and its "RST" is R's.
    cases = {"cb-rst-merged-M-A": ("callback_refused", "10.77.0.1"),
             "data-rst-merged-M-A": ("data_refused", "10.88.0.2"),
             "ndm-data-rst-merged-M-A": ("data_refused", "10.77.0.1")}
    for name, (code, responder) in cases.items():
        refused = _one(_analyze(name), code)
        assert f"that {responder} did not send" in refused.message, name
        assert "port was already in use" not in refused.message, name
        assert "in the forward chain of the router or firewall between the two capture " \
               "points" in refused.fix, name
        assert "find what holds" not in refused.fix, name


def test_d5_syn_acks_that_never_reached_the_originators_point_are_lost_between() -> None:
    # R drops the SYN-ACKs statelessly: each SYN twice in the merged set, each SYN-ACK
    # once (the responder's point): the originator's input chain never saw them.
    for name in ("ctl-return-merged-M-A", "cb-return-merged-M-A", "data-return-merged-M-A"):
        incomplete = _one(_analyze(name), "handshake_incomplete")
        assert "never reached the capture point on" in incomplete.message, name
        assert incomplete.fix.startswith("In the forward chain of the router or firewall "
                                         "between the two capture points"), name
        assert "(its input chain)" not in incomplete.fix, name


def test_d4_resets_each_at_one_capture_point_of_two_are_a_devices() -> None:
    # An IPS reset the data connection both ways; merged at-M + at-A: each end's RSTs
    # are in the set once (one TTL), while the control connection's own RST of M is
    # there twice (TTL 64 at M, 63 at A): none of the data RSTs crossed the router.
    reset = _one(_analyze("ips-rst-both-merged-M-A"), "data_reset")
    assert "reset by a device between them, in the name of both ends" in reset.message
    assert "none crossed from one point to the other" in reset.message
    assert reset.fix.startswith("Look for the firewall, NAT or IPS between")


def test_d5_resends_that_never_reached_the_receivers_point_are_lost_between() -> None:
    # A PMTU black hole on R: the full-size resends are in the merged set once (the
    # sender's point), the small packets twice: not "the cause is on the receiver".
    for name, receiver in (("pmtu-merged-M-A", "10.77.0.1"),
                           ("pmtu-restore-merged-M-A", "10.88.0.2")):
        stalled = _one(_analyze(name), "data_stalled")
        assert "the cause is on" not in stalled.message, name
        assert "a capture on 10.88.0.2 shows" not in stalled.message, name
        assert f"lost between the two points, not on {receiver}" in stalled.message, name
        assert "path MTU black hole" in stalled.message, name
        assert stalled.fix.startswith("Let ICMP 'fragmentation needed'"), name
        # Re-check of trial 26, N5: the two points' proof leads, before the state-table
        # reading, and the fix does not ask for the capture the user made.
        proof = stalled.message.index("only full-size segments were lost")
        assert proof < stalled.message.index("lost the flow's state"), name
        assert "capture on both hosts" not in stalled.fix, name


def test_n2a_a_callback_lost_between_the_points_is_the_devices_between() -> None:
    # Re-check of trial 26, N2a: R's forward chain dropped the callback SYNs; merged
    # at-M + at-A holds each once with TTL 64 (A's point): they never reached M's point,
    # which sees them before M's firewall, so the fix is R's forward chain, not M's
    # inbound rules (as data_unanswered already says for the data connection).
    unanswered = _one(_analyze("cb-drop-merged-M-A"), "callback_unanswered")
    assert "never reached the other capture point" in unanswered.message
    assert unanswered.fix.startswith("Allow TCP from 10.88.0.2 to 10.77.0.1 ports 5001-5100 "
                                     "(media range) in the forward chain of the router or "
                                     "firewall between the two capture points")
    assert "inbound on the media server" not in unanswered.fix

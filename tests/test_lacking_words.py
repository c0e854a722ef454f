"""The hedges built on a direction whose TCP the capture lacks say "no TCP packet" and
name what came back when the capture holds that direction's packets that are not TCP
(verify.way_back.lacking_words, task words58 after nontcpback).

Each stored case below holds no TCP packet from one host to the other (a capture of
one direction); a real-shaped ICMP echo reply from that host (scapy, Ethernet) merged in
before its first frame makes that direction held by the capture: the hedges of
unresent (a lone SYN never resent), gave_up (a connector that stopped at once), details
(the data connection step's "unanswered" detail) and attempts (an endpoint's connector
unseen) said "no packet from S to R (one direction only)" beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scapy.all import ICMP, IP, UDP, Ether, ICMPv6EchoReply, IPv6, Packet, wrpcap
from stored import sidecar, stored_analysis

from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parents[1] / "captures"
CALLBACK_RESET = ROOT / "field48-matrix" / "dual-stack-callback-reset-captured-in-on-media.pcap.gz"
PORT_IN_USE = ROOT / "field53-matrix" / "port-in-use-routed-captured-in-on-agent.pcap.gz"
TWO_JOBS_OUT = (ROOT / "field52-matrix"
                / "two-tls-jobs-dual-stack-data-rejected-router-out-on-media.pcap.gz")


def _first_time(capture: Path) -> float:
    out = subprocess.run(["tshark", "-r", str(capture), "-c", "1", "-T", "fields", "-e",
                          "frame.time_epoch"], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def _with_reply(tmp_path: Path, capture: Path, sender: str, receiver: str,
                layer: Packet | None = None) -> Analysis:
    """`capture` with an echo reply from `sender` to `receiver` (or `layer`, an IP
    packet) 10 ms before its first frame (frame 1 of the merged pcapng), analysed with
    the case's sidecar."""
    if layer is None and ":" in sender:
        layer = IPv6(src=sender, dst=receiver) / ICMPv6EchoReply(id=7, seq=1)
    elif layer is None:
        layer = IP(src=sender, dst=receiver) / ICMP(type=0, id=7, seq=1)
    reply = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / layer
    reply.time = _first_time(capture) - 0.01
    alone = tmp_path / "reply.pcap"
    wrpcap(str(alone), [reply])
    merged = tmp_path / "with-reply.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(alone), str(capture)],
                   check=True, capture_output=True)
    return stored_analysis(merged, config_path=sidecar(capture))


def _held(sender: str, receiver: str, what: str) -> str:
    return (f"no TCP packet from {sender} to {receiver} (only {what}, frame 1: its TCP left "
            "out by a filter or another path, not the direction)")


def test_a_lone_syns_unresent_hedge_names_the_echo_reply(tmp_path: Path) -> None:
    """field48's callback captured `-Q in` on the media server: "the capture holds no
    packet from fd77::1 to fd77::2 (one direction only: capture_one_direction)"."""
    analysis = _with_reply(tmp_path, CALLBACK_RESET, "fd77::1", "fd77::2")
    [found] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    held = _held("fd77::1", "fd77::2", "an ICMPv6 echo reply")
    assert f"the capture holds {held}, nor any from 10.77.0.1 to 10.77.0.2" in found.message
    assert "no packet from fd77::1" not in found.message
    assert f"which holds {held}, the way one would travel" in analysis.sessions[0].steps[1].detail


def test_a_connector_that_gave_up_and_its_step_name_the_echo_reply(tmp_path: Path) -> None:
    """field53's port in use captured `-Q in` on the agent: gave_up's "(the capture holds
    no packet from 10.77.1.2 to 10.77.0.1, the way one would travel: one direction
    only)" and the data connection step's detail."""
    analysis = _with_reply(tmp_path, PORT_IN_USE, "10.77.1.2", "10.77.0.1")
    held = _held("10.77.1.2", "10.77.0.1", "an ICMP echo reply")
    [found] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert f"an ICMP unreachable (the capture holds {held}, the way one would travel)" \
        in found.message
    step = analysis.sessions[0].steps[3]
    assert step.detail.endswith(f"in the capture, which holds {held}, the way one would travel")


def test_an_unseen_connectors_hedge_names_the_echo_reply(tmp_path: Path) -> None:
    """field52's two jobs captured `-Q out` on the media server: the callback step's
    "the capture holds no packet from fd77:1::2 to fd77::1 (one direction only), so the
    agent's SYN from fd77:1::2 could not be seen" (attempts.one_way_words)."""
    analysis = _with_reply(tmp_path, TWO_JOBS_OUT, "fd77:1::2", "fd77::1")
    held = _held("fd77:1::2", "fd77::1", "an ICMPv6 echo reply")
    step = analysis.sessions[0].steps[1]
    assert step.detail.endswith(f"; the capture holds {held}, so the agent's SYN from "
                                "fd77:1::2 could not be seen")


def test_an_unreachable_about_no_tcp_connection_is_said_so(tmp_path: Path) -> None:
    """field53's port in use captured `-Q in` on the agent, with an ICMP port unreachable
    from the agent about a UDP query of the media server's (a closed DNS port) merged
    in: the hedges said "(only an ICMP destination unreachable, frame 1: ...), the way
    one would travel" beside unanswered SYNs, as if it might be their reject
    (review58c); now what it is about."""
    quote = IP(src="10.77.0.1", dst="10.77.1.2") / UDP(sport=40000, dport=53)
    layer = IP(src="10.77.1.2", dst="10.77.0.1") / ICMP(type=3, code=3) / quote
    analysis = _with_reply(tmp_path, PORT_IN_USE, "10.77.1.2", "10.77.0.1", layer)
    held = _held("10.77.1.2", "10.77.0.1", "an ICMP destination unreachable").replace(
        "frame 1:", "frame 1, about no TCP connection of the capture:")
    step = analysis.sessions[0].steps[3]
    assert step.detail.endswith(f"in the capture, which holds {held}, the way one would travel")


def test_the_data_steps_acked_bytes_name_the_echo_reply(tmp_path: Path) -> None:
    """lab's one-direction-out.pcap (the media server's packets only): step 5 said "no
    byte agent -> media server in the capture (it holds no packet from the agent: one
    direction only)" beside an echo reply from the agent, the hedge words58 left out of
    lacking_words' phrase (review58c)."""
    analysis = _with_reply(tmp_path, ROOT / "lab" / "one-direction-out.pcap",
                           "10.77.0.2", "10.77.0.1")
    held = _held("10.77.0.2", "10.77.0.1", "an ICMP echo reply")
    step = analysis.sessions[0].steps[4]
    assert (f"no byte agent -> media server in the capture, which holds {held}, but the "
            "media server's ACKs acknowledge 400,002 B of it") in step.detail, step.detail


def test_an_echo_reply_in_a_file_days_before_is_not_the_unseen_syns_way(
        tmp_path: Path) -> None:
    """field52's two jobs captured `-Q out` on the media server, with a file of an echo
    reply from fd77:1::2 three days before: step 2's hedge reads the jobs' piece of the
    set (the control connection's time, as unseen_way found the way lacking), "no packet
    from fd77:1::2 to fd77::1 (one direction only)"; it named the other file's reply
    (tiecap: attempts.one_way_words asked lacking_words with no time)."""
    reply = (Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
             / IPv6(src="fd77:1::2", dst="fd77::1") / ICMPv6EchoReply(id=7, seq=1))
    reply.time = _first_time(TWO_JOBS_OUT) - 3 * 86400
    alone = tmp_path / "reply.pcap"
    wrpcap(str(alone), [reply])
    analysis = stored_analysis(alone, TWO_JOBS_OUT, config_path=sidecar(TWO_JOBS_OUT))
    step = analysis.sessions[0].steps[1]
    assert step.detail.endswith("; the capture holds no packet from fd77:1::2 to fd77::1 "
                                "(one direction only), so the agent's SYN from "
                                "fd77:1::2 could not be seen"), step.detail

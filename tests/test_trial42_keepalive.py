"""Field check 42: a control connection reset by its own side's TCP after its keepalive
probes went unanswered (captures/trial42-keepalive, README). The whole results are
regress expectations; here the words, and the probe tracking they rest on
(flowcheck.ndmp.keepalive: Linux's empty probes, Windows' one byte, the sequence wrap).
"""

from __future__ import annotations

from pathlib import Path

from stored import errors, stored_analysis

from flowcheck.ndmp.keepalive import ProbeTracker

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial42-keepalive"
ACK, PSH, FIN = 0x10, 0x08, 0x01


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_media_servers_keepalive_timeout_is_no_cancelled_job() -> None:
    [error] = errors(stored_analysis(FOLDER / "keepalive-reset-media.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert ("the media server 10.77.0.1 sent 3 TCP keepalive probes (frames 1782, 2036, "
            "2291") in message
    assert "10.77.0.1's TCP gave the connection up after its last probe" in message
    assert "10.77.1.2 was most likely up and reachable then: C3" in message
    assert "gave the session up" not in message and "cancelled" not in message
    assert "own system sent it" not in message  # no "its service closing the session"
    assert {1782, 2036, 2291, 2545} <= set(error.frames)
    assert _words(error.fix).startswith("Set the TCP keepalive time on 10.77.0.1")


def test_the_agents_keepalive_timeout_on_its_own_capture() -> None:
    [error] = errors(stored_analysis(FOLDER / "keepalive-reset-agent.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert "the agent 10.77.1.2 sent 3 TCP keepalive probes" in message
    assert "the media server 10.77.0.1 answered none" in message
    assert _words(error.fix).startswith("Set the TCP keepalive time on 10.77.1.2")


def test_answered_probes_pass() -> None:
    analysis = stored_analysis(FOLDER / "keepalive-answered-media.pcap.gz")
    assert analysis.verdict == "pass" and not errors(analysis)


def _tracker_after_data(isn: int, data: int) -> ProbeTracker:
    tracker = ProbeTracker()
    tracker.packet("orig", isn, 0x02, 0, 1, 0.0)  # SYN
    tracker.packet("orig", (isn + 1) % 2**32, ACK | PSH, data, 2, 0.1)
    return tracker


def test_empty_and_one_byte_probes_across_the_sequence_wrap() -> None:
    isn = 2**32 - 10  # the data's end wraps past zero
    for length in (0, 1):  # Linux probes carry nothing, Windows' the last byte again
        tracker = _tracker_after_data(isn, 20)
        probe_seq = (isn + 1 + 20 - 1) % 2**32
        tracker.packet("orig", probe_seq, ACK, length, 3, 7.0)
        tracker.packet("orig", probe_seq, ACK, length, 4, 8.0)
        assert [p.frame for p in tracker.unanswered("orig")] == [3, 4]
        tracker.packet("resp", 500, ACK, 0, 5, 8.1)  # the peer answered
        assert tracker.unanswered("orig") == []


def test_a_retransmitted_segment_or_a_fin_is_no_probe() -> None:
    tracker = _tracker_after_data(1000, 20)
    tracker.packet("orig", 1001, ACK | PSH, 20, 3, 1.0)  # the data resent
    tracker.packet("orig", 1021, ACK, 0, 4, 2.0)  # a pure ACK at SND.NXT
    tracker.packet("orig", 1020, ACK | FIN, 0, 5, 3.0)  # a FIN is never a probe
    assert tracker.unanswered("orig") == []


def test_windows_one_byte_probes_are_no_stalled_message() -> None:
    """The same job with its probes one byte each (as Windows sends them): no
    control_stalled "its ACKs ... never reached" for the byte the agent had ACKed."""
    [error] = errors(stored_analysis(FOLDER / "keepalive-reset-1byte-media.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert "sent 3 TCP keepalive probes (frames 1782, 2036, 2291" in message
    assert "never reached" not in message


def test_a_reset_answering_a_keepalive_probe_names_it() -> None:
    [error] = errors(stored_analysis(FOLDER / "keepalive-probe-reset-media.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert ("The RST answered the media server 10.77.0.1's TCP keepalive probe (frame "
            "1874") in message
    assert "a device between them (a firewall or NAT) sent it in 10.77.1.2's name" in message
    assert "gave the session up" not in message
    assert 1874 in error.frames
    assert _words(error.fix).startswith("Set the TCP keepalive time on 10.77.0.1")

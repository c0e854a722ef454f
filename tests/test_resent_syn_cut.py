"""A capture that ends at or near a resent SYN (new user trial 58, task resentsyn).

captures/lab/data-port-dropped.pcap cut after frame 24 (`editcap -r ... 1-24`: the
capture ends at the data connection's resent SYN) read FAIL data_unanswered "was never
answered" with no word that the capture ended 0 ms after that SYN. The resend stays the
step's evidence (contract: "retransmitted SYNs"), but the words now say how long the
capture ran after the last SYN and that whether it, or a later resend, got through
cannot be seen. Cut after frame 23 (one SYN, 41.9 ms of capture after it) it read
"before TCP would have retried (3 s retransmission timeout)", where the job's own SYN
was resent 1.02 s after the first: the words give the usual timeouts instead. The whole
capture, whose job closed the session 438 ms after the fourth SYN, keeps its words.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from frame_cuts import CAPTURES, cut_analysis, frame_range, stored_capture
from pcap_records import read_records, write_records
from stored import case_config, stored_analysis

from flowcheck.config import Config
from flowcheck.pipeline import Analysis
from flowcheck.verify.retry_wait import before_retry_words

CUT_WORDS = "so whether that one or a later resend got through cannot be seen"
USUAL = "(TCP's first retransmission timeout is 1 s on Linux, 3 s on older Windows)"


def _cut(tmp_path: Path, name: str, last: int) -> Analysis:
    """captures/lab/NAME's frames 1..last, analyzed with the case's configuration."""
    cut = frame_range(stored_capture("lab", name), tmp_path / f"{name}-1-{last}.pcap", 1, last)
    return cut_analysis(cut, "lab", name)


def _texts(analysis: Analysis) -> list[str]:
    """Every step detail, finding message and fix of the analysis."""
    return ([step.detail for s in analysis.sessions for step in s.steps]
            + [text for f in analysis.findings for text in (f.message, f.fix)])


def test_a_capture_ending_at_the_resent_data_syn_says_so(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "data-port-dropped", 24)
    assert analysis.verdict == "fail"  # the resend is the evidence (contract)
    step = analysis.sessions[0].steps[3]
    assert step.status == "failed"
    assert step.detail == ("10.77.0.2:6001: unanswered: 2 SYNs over 1.02 s, no SYN-ACK, RST "
                           "or ICMP; the capture ends with the last SYN, " + CUT_WORDS)
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert finding.message.startswith(
        "The data connection from 10.77.0.1 to the announced endpoint 10.77.0.2:6001 got no "
        "answer in the capture (2 SYNs over 1.02 s; it ends with the last, "
        f"{CUT_WORDS}): something drops its SYNs"), finding.message
    assert finding.message.endswith("so the job could not move data while the capture ran.")
    assert "never" not in finding.message
    # The file's last packet is that SYN: no wait after it is named (field check 71 runs
    # 7 and 17 read "the capture ended 0 ms after the last SYN").
    assert not any(" 0 ms after" in text for text in _texts(analysis))


def test_a_lone_syn_cut_before_its_resend_gives_the_usual_timeouts(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "data-port-dropped", 23)
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[3]
    assert step.status == "unknown"
    assert f"the capture ended 41.9 ms after its last SYN, before TCP would have retried {USUAL}" \
        in step.detail, step.detail
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert f"41.9 ms after the SYN of the data connection 10.77.0.1:5002 -> 10.77.0.2:6001, " \
        f"before TCP would have retried {USUAL}: " in early.message, early.message
    assert not any("3 s retransmission timeout" in text for text in _texts(analysis))


def test_the_waits_after_an_announcement_are_flowchecks(tmp_path: Path) -> None:
    """Cut after the DATA_LISTEN request (frame 20) and after its reply (frame 21): the
    3 s is how long flowcheck waits, not a timeout of the hosts'."""
    for last, waits in ((20, "before its reply could be seen"),
                        (21, "before the connection to it could be seen")):
        analysis = _cut(tmp_path, "data-port-dropped", last)
        [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
        assert f"{waits} (flowcheck waits 3 s: --retransmission-timeout): " in early.message, \
            early.message
        assert not any("retransmission timeout 3 s" in text for text in _texts(analysis))


def test_the_control_syns_of_a_capture_ending_at_the_fourth(tmp_path: Path) -> None:
    """control-dropped's capture ends at its fourth SYN, a job that never started: said.
    The same cut after the second SYN says the same of it."""
    for last, span in ((4, "3.08 s"), (2, "1.02 s")):
        analysis = _cut(tmp_path, "control-dropped", last)
        assert analysis.verdict == "fail"
        [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
        assert (f"and got no answer in the capture (over {span}; it ends with the last, "
                f"{CUT_WORDS}): ") in finding.message, finding.message
        assert "the connection never opened while the capture ran." in finding.message


def test_a_callback_cut_at_its_resend_and_one_whose_job_stopped(tmp_path: Path) -> None:
    """callback-blocked cut after the callback's second SYN: said; cut after the job
    closed the session (frame 22 on), or whole: the job stopped, nothing to say."""
    cut = _cut(tmp_path, "callback-blocked", 19)
    [finding] = [f for f in cut.findings if f.code == "callback_unanswered"]
    assert ("(step 2) and got no answer in the capture (2 SYNs over 1.03 s; it ends with "
            f"the last, {CUT_WORDS}): ") in finding.message, finding.message
    assert cut.sessions[0].steps[1].detail.endswith(f"ends with the last SYN, {CUT_WORDS}")
    for stopped in (_cut(tmp_path, "callback-blocked", 22), _cut(tmp_path, "callback-blocked", 25)):
        assert stopped.verdict == "fail"
        assert not any(CUT_WORDS in text for text in _texts(stopped))


def test_a_synack_resent_after_the_ack_at_the_captures_end(tmp_path: Path) -> None:
    """control-ack-dropped cut after frame 6, the listener's second SYN-ACK resend: what
    the resends show, and that a later ACK cannot be seen; the whole capture (the media
    server's FIN 14.6 s after the last resend) keeps its words."""
    cut = _cut(tmp_path, "control-ack-dropped", 6)
    assert cut.verdict == "fail"
    [finding] = [f for f in cut.findings if f.code == "handshake_incomplete"]
    later = ("so whether a later ACK from 10.77.0.1 reached 10.77.0.2 cannot be seen (the "
             "resent SYN-ACKs show none had until then)")
    assert finding.message.endswith(
        f" The capture ends with this connection's last packet (frame 6), {later}."), \
        finding.message
    assert cut.sessions[0].steps[0].detail.endswith(
        f"which never reached it; the capture ends with this connection's last "
        f"packet (frame 6), {later}")
    whole = cut_analysis(stored_capture("lab", "control-ack-dropped"), "lab",
                         "control-ack-dropped")
    assert not any("a later ACK" in text for text in _texts(whole))


def test_the_whole_capture_whose_job_stopped_keeps_its_words() -> None:
    """The job closed the session 438 ms after the fourth SYN: no cut to speak of."""
    analysis = cut_analysis(stored_capture("lab", "data-port-dropped"), "lab",
                            "data-port-dropped")
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert " was never answered: something drops its SYNs" in finding.message
    assert finding.message.endswith("so the job cannot move data.")
    assert not any(CUT_WORDS in text for text in _texts(analysis))


def test_before_retry_words_hedge_past_the_shorter_timeout() -> None:
    """Past 1 s (Linux's) a Windows host may not have retried yet: "perhaps"; a timeout
    the user set is theirs to state."""
    assert before_retry_words(Config(), 0.999) == f"before TCP would have retried {USUAL}"
    assert before_retry_words(Config(), 1.5) == (
        "perhaps before TCP would have retried (TCP's first retransmission timeout is 1 s "
        "on Linux, 3 s on older Windows; flowcheck waits 3 s, --retransmission-timeout)")
    mine = replace(Config(), retransmission_timeout=5.0,
                   explicit=frozenset({"retransmission_timeout"}))
    assert before_retry_words(mine, 4.0) == \
        "before TCP would have retried (5 s retransmission timeout)"


def _field_cut(tmp_path: Path, folder: str, name: str, last: int) -> Analysis:
    """captures/FOLDER/NAME's frames 1..last, analyzed with the case's configuration."""
    cut = frame_range(stored_capture(folder, name), tmp_path / f"{name}-1-{last}.pcap", 1,
                      last, "-F", "pcap")
    return cut_analysis(cut, folder, name)


def _unanswered(analysis: Analysis, code: str, port: str) -> str:
    """The message of the `code` finding naming `port` (":6004")."""
    [message] = [f.message for f in analysis.findings if f.code == code and port in f.message]
    return message


def test_a_data_connection_the_job_moved_on_from_is_not_hedged(tmp_path: Path) -> None:
    """field54's ipv6-data-synacks-dropped-by-agent-router-any-sniffer-loss cut after
    frame 119: port 6004's 4 SYNs end at frame 110 and the job asked for a new
    DATA_LISTEN 440 ms later (frame 111): it gave 6004 up, no later resend to wait for.
    The new endpoint 6005, 2 SYNs at the capture's end, keeps the words."""
    analysis = _field_cut(tmp_path, "field54-matrix",
                          "ipv6-data-synacks-dropped-by-agent-router-any-sniffer-loss", 119)
    assert analysis.verdict == "fail"
    assert CUT_WORDS not in _unanswered(analysis, "data_unanswered", ":6004 ")
    assert "(2 SYNs over 1.03 s; it ends with the last, " + CUT_WORDS in \
        _unanswered(analysis, "data_unanswered", ":6005 ")


def test_a_connect_error_reply_after_the_syns_is_not_hedged(tmp_path: Path) -> None:
    """field59's ndmjob-data-rejected-admin-prohibited-by-media-any-on-media-in-sll2 cut
    after frame 9: the agent's DATA_CONNECT reply, NDMP_CONNECT_ERR, 0.135 ms after the
    second SYN: its connect gave up, so no later resend got through."""
    analysis = _field_cut(tmp_path, "field59-matrix",
                          "ndmjob-data-rejected-admin-prohibited-by-media-any-on-media-in-sll2", 9)
    assert analysis.verdict == "fail"
    assert any(step.status == "failed" and "unanswered: 2 SYNs over 1.02 s" in step.detail
               for step in analysis.sessions[0].steps)
    assert not any(CUT_WORDS in text for text in _texts(analysis))


def test_a_silent_agents_control_syns_say_the_cut_as_the_step_does(tmp_path: Path) -> None:
    """field53's two-jobs-control-synacks-dropped-by-agent-ipv6 cut after frame 270 (576
    ms after the second SYN): the step said it, control_unanswered (the agent sent no TCP
    packet in the whole capture) "never got an answer". The whole capture, 2.11 s after
    4 SYNs 1 s apart, with no fifth when the SYNs' spacing had it due: TCP gave up, and
    neither says it."""
    name = "two-jobs-control-synacks-dropped-by-agent-ipv6"
    cut = _field_cut(tmp_path, "field53-matrix", name, 270)
    message = _unanswered(cut, "control_unanswered", "[fd77::2]:10000")
    assert ("sent 2 SYNs to the agent's NDMP port [fd77::2]:10000 and got no answer in the "
            f"capture (over 1.01 s; it ended 576 ms after the last, {CUT_WORDS}): ") in message, \
        message
    assert message.endswith("the connection never opened while the capture ran."), message
    assert cut.sessions[0].steps[0].detail.endswith(CUT_WORDS)
    whole = cut_analysis(stored_capture("field53-matrix", name), "field53-matrix", name)
    assert whole.sessions[0].steps[0].status == "failed"
    assert not any(CUT_WORDS in text for text in _texts(whole))


def test_a_timeout_the_user_set_is_not_advised_again(tmp_path: Path) -> None:
    """capture_ended_early's fix asked a user who set --retransmission-timeout 1 to set
    it if the hosts retry sooner (Linux: 1 s)."""
    cut = frame_range(stored_capture("lab", "data-port-dropped"),
                      tmp_path / "data-port-dropped-1-23.pcap", 1, 23)
    config = case_config(CAPTURES / "lab", "data-port-dropped")
    for settings, advised in (({}, True), ({"retransmission_timeout": 1.0}, False)):
        analysis = stored_analysis(cut, config_path=config, **settings)
        [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
        assert ("set --retransmission-timeout to match" in early.fix) is advised, early.fix


def test_a_control_connection_the_dma_tried_again_after_is_not_hedged(tmp_path: Path) -> None:
    """lab/control-dropped's 4 SYNs, then the same SYN from a new port 500 ms after the
    fourth (the DMA gave the connection up and tried again) and the capture's end: the
    first attempt's resends are over, so nothing is said of a later one of its."""
    linktype, records = read_records(stored_capture("lab", "control-dropped"))
    first = records[0]
    port = 14 + (first.data[14] & 0x0F) * 4  # the TCP source port's offset
    again = replace(first, micros=records[3].micros + 500_000,
                    data=first.data[:port] + struct.pack(">H", 5044) + first.data[port + 2:])
    capture = write_records(tmp_path / "control-dropped-again.pcap", linktype,
                            [*records[:4], again])
    analysis = cut_analysis(capture, "lab", "control-dropped")
    [old] = [f for f in analysis.findings
             if f.code == "control_unanswered" and "sent 4 SYNs" in f.message]
    assert "never got an answer" in old.message, old.message
    assert not any(CUT_WORDS in text for text in _texts(analysis))

"""An ndmp_partial for a hole the sniffer left names the messages the hole held, by the
NDMP sequence numbers around it and the requests never answered, and gives no snap
length advice for a capture that cut no frame (trial 25 D10: the lost DATA_LISTEN reply,
an announcement, went unnamed, and "tcpdump -s 0" was advised for a full snap length).

Built from captures/lab/clean-3-resources.pcap without frame 21, the agent's reply to
DATA_LISTEN (frame 20) that announced 10.77.0.2:6001; frame 25 of the cut file (26 of the
whole) is the agent's next packet, its reply to DATA_START_BACKUP.
"""

from __future__ import annotations

from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write
from stored import stored_analysis, without_frame

from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.stream_events import DecodeProblem

NAME = "clean-3-resources"


def test_the_lost_announcement_is_named(tmp_path: Path) -> None:
    packets = lab_packets(NAME)
    path = write(tmp_path, "no-announce", [*packets[:20], *packets[21:]])
    analysis = analyze_lab(path, NAME)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial.frames == [25]
    assert ("The bytes never captured held 1 whole message of the responder, between its "
            "messages in frames 16 and 25 (NDMP sequence numbers 6 and 8): the reply to "
            "DATA_LISTEN (frame 20)") in partial.message
    assert "an announcement: the address it gave is not in the capture" in partial.message
    assert [s.holes_unchecked for s in analysis.traffic.streams] == [True]
    assert "-s 0" not in partial.fix and "snap length" not in partial.fix
    assert "tcpdump -B 65536" in partial.fix


def test_a_snap_length_cut_keeps_its_advice() -> None:
    findings = StreamFindings("C1")
    findings.snap.packet(40)
    findings.problem("resp", DecodeProblem("cut", "48 B never captured", [9], 0.5,
                                           missing=48))
    _, built = findings.build()
    hole = next(f for f in built if "never captured" in f.message)
    assert "tcpdump -s 0" in hole.fix


def test_the_announcing_replies_are_the_collectors() -> None:
    from flowcheck.ndmp.collector import ANNOUNCERS
    from flowcheck.ndmp.lost import ANNOUNCED_BY_REPLY, ANNOUNCED_BY_REQUEST

    assert {name for name, reply in ANNOUNCERS if reply} == ANNOUNCED_BY_REPLY
    assert {name for name, reply in ANNOUNCERS if not reply} == ANNOUNCED_BY_REQUEST


def test_a_lost_announcement_beside_read_ones_leaves_the_step_to_them(
        tmp_path: Path) -> None:
    """Lab matrix seed 111 run 12: the third DATA_LISTEN reply lost (here frame 409 of
    clean-3-resources), the first two read: step 3 is ok on them, and ndmp_partial said
    "the announcement step is unknown". It names the announcements the step is judged
    on; the capture's only announcement lost (announced-address-nat without frame 21),
    the step rests on the data that flowed (ok, the address unchecked: new-user trial 54), and
    it says so."""
    packets = lab_packets(NAME)
    path = write(tmp_path, "no-third-announce", [*packets[:408], *packets[409:]])
    analysis = analyze_lab(path, NAME)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    step = analysis.sessions[0].steps[2]
    assert step.status == "ok" and step.frames == [21, 215]
    assert "the reply to DATA_LISTEN (frame 408)" in partial.message
    assert partial.message.endswith(
        "(a NAT device between the hosts), which only a DATA_GET_STATE or MOVER_GET_STATE "
        "reply naming the endpoint shows; the announcement step is judged on the "
        "announcements the capture holds (frames 21, 215).")
    assert "step is unknown" not in partial.message

    nat = lab_packets("announced-address-nat")
    alone = analyze_lab(write(tmp_path, "nat-no-announce", [*nat[:20], *nat[21:]]),
                        "announced-address-nat")
    [partial] = [f for f in alone.findings if f.code == "ndmp_partial"]
    assert alone.sessions[0].steps[2].status == "ok"
    assert partial.message.endswith(
        "the announcement step rests on that data (ok when it flowed: the announcement "
        "reached the connector), and whether the address given is the one reached cannot "
        "be checked unless a DATA_GET_STATE or MOVER_GET_STATE reply names the endpoint.")


def test_each_hole_names_the_reply_it_held_not_an_earlier_hole_s() -> None:
    """Recheck 25 N1: with the reply to CONNECT_OPEN lost in a first hole, every later
    hole named "the reply to CONNECT_OPEN (frame 7)" too."""
    from flowcheck.model import NdmpMessage
    from flowcheck.ndmp.lost import lost_words

    def message(frame: int, direction: str, sequence: int, kind: str, name: str,
                reply_to: int = 0) -> NdmpMessage:
        return NdmpMessage(frame, float(frame), direction, sequence, kind, 0, name, 0,
                           reply_to)

    messages = [
        message(5, "resp", 1, "post", "NDMP_NOTIFY_CONNECTED"),
        message(7, "orig", 1, "request", "NDMP_CONNECT_OPEN"),
        # resp 2 (the reply to CONNECT_OPEN) lost: the first hole
        message(11, "orig", 2, "request", "NDMP_DATA_START_BACKUP"),
        message(12, "resp", 3, "post", "NDMP_LOG_MESSAGE"),
        # resp 4 (the reply to DATA_START_BACKUP) lost: the second hole
        message(15, "orig", 3, "request", "NDMP_DATA_STOP"),
        message(17, "resp", 5, "post", "NDMP_NOTIFY_DATA_HALTED"),
    ]
    words, unchecked = lost_words("resp", [9, 16], messages)
    assert not unchecked  # no announcement among them
    first, second = words.split(". The bytes never captured")[1:3]
    assert "the reply to CONNECT_OPEN (frame 7)" in first
    assert "the reply to DATA_START_BACKUP (frame 11)" in second
    assert "CONNECT_OPEN" not in second


def test_a_hole_before_the_first_message_is_counted_from_one_with_the_start(
        tmp_path: Path) -> None:
    """callback-blocked without the agent's greeting and its reply to CONNECT_OPEN
    (frames 4 and 8), its first messages: the capture holds the connection's start, so
    the hole held its messages 1 and 2, the reply among them named and the post not
    (review63d: the words said nothing of it while NdmpStream.holes counted from 1)."""
    packets = lab_packets("callback-blocked")
    cut = [p for i, p in enumerate(packets, 1) if i not in (4, 8)]
    analysis = analyze_lab(write(tmp_path, "no-greeting", cut), "callback-blocked")
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial.message.endswith(
        "The bytes never captured held 2 whole messages of the responder, before its first "
        "message read, in frame 8 (NDMP sequence number 3; each side numbers its messages "
        "from 1, and the capture holds the connection's start): the reply to CONNECT_OPEN "
        "(frame 5) and 1 more.")
    # The hole held a post (the greeting): its contents stay unknown to the steps.
    [stream] = analysis.traffic.streams
    assert [(h.direction, h.held) for h in stream.holes] == [("resp", None)]


def test_a_hole_before_the_first_message_is_named_only_from_the_start() -> None:
    """The media server's CONNECT_OPEN request (sequence 1) lost, its reply captured: the
    hole before its first message read held it only when the capture holds the
    direction's start (from_start); else what came before is unknown (field check 75
    run 28; review63d: nothing checked the start's absence)."""
    from flowcheck.model import NdmpMessage
    from flowcheck.ndmp.lost import hole_contents, lost_words

    messages = [NdmpMessage(4, 4.0, "resp", 1, "post", 0, "NDMP_NOTIFY_CONNECTED", 0, 0),
                NdmpMessage(7, 7.0, "resp", 2, "reply", 0, "NDMP_CONNECT_OPEN", 0, 1),
                NdmpMessage(8, 8.0, "orig", 2, "request", 0, "NDMP_CONNECT_CLIENT_AUTH", 0,
                             0)]
    assert hole_contents("orig", [8], messages, from_start=True) == [("NDMP_CONNECT_OPEN",)]
    assert hole_contents("orig", [8], messages) == [None]
    assert "the CONNECT_OPEN request (sequence 1, answered in frame 7)" in lost_words(
        "orig", [8], messages, from_start=True)[0]
    assert lost_words("orig", [8], messages) == ("", False)


def test_the_bytes_never_captured_count_every_hole() -> None:
    """Recheck 25 N2: "32 bytes never captured (3 times)" for three holes of 96 bytes in
    all, beside capture_loss's 188 for the connection."""
    from flowcheck.ndmp.findings import StreamFindings
    from flowcheck.ndmp.stream_events import DecodeProblem

    findings = StreamFindings("C1")
    for frame, size in ((9, 32), (192, 28), (198, 36)):
        findings.problem("resp", DecodeProblem("cut", f"{size} B never captured",
                                               [frame], float(frame), missing=size))
    _, [partial] = findings.build()
    assert "From the responder, 96 B were never captured, in 3 holes" in partial.message
    single = StreamFindings("C2")
    single.problem("orig", DecodeProblem("cut", "52 B never captured", [5], 5.0,
                                         missing=52))
    assert "52 B were never captured, in 1 hole" in single.build()[1][0].message


def test_a_lost_data_connect_of_a_failed_job_still_fails_on_its_syns(tmp_path: Path) -> None:
    """captures/ndmjob/v4-backup-media-firewall-drop.pcap without frame 11, the DMA's
    DATA_CONNECT (48 bytes, acknowledged by the agent; the control stream's last request,
    so no later message shows a hole): the session read as a browse by its rule, nothing
    was matched to it, and the agent's 9 unanswered SYNs to the mover were only an
    `unannounced_connection` warning, verdict inconclusive (second new-user trial). The
    bytes the sniffer lost may hold the announcement: the connection is matched by
    direction and ports and fails on its SYNs, as in the whole capture."""
    import subprocess

    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    ndmjob = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
    cut = tmp_path / "no-data-connect.pcap"
    subprocess.run(["editcap", str(ndmjob / "v4-backup-media-firewall-drop.pcap"), str(cut),
                    "11"], check=True, capture_output=True)
    config = build_config(load_file(ndmjob / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert session.match_reason == "capture_loss"
    assert [s.status for s in session.steps] == ["ok", "unknown", "failed", "missing"]
    [unanswered] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert "its announcement was lost by the sniffer; matched to this session by " \
           "direction and ports" in unanswered.message
    assert not [f for f in analysis.findings if f.code == "unannounced_connection"]



def test_a_lost_request_its_reply_answers_is_named(tmp_path: Path) -> None:
    """A hole holding a request whose reply the capture has: the reply carries its
    request's code and names its sequence number (newuser55: a lost DATA_START_BACKUP was
    only "1 whole message of the originator"). clean-3-resources without frame 25, the
    media server's first DATA_START_BACKUP (sequence 7), answered in frame 25 of the cut
    file; ndmjob's v4-backup without frame 11, its DATA_CONNECT, an announcement."""
    packets = lab_packets(NAME)
    path = write(tmp_path, "no-start", [*packets[:24], *packets[25:]])
    [partial] = [f for f in analyze_lab(path, NAME).findings if f.code == "ndmp_partial"]
    assert ("held 1 whole message of the originator, between its messages in frames 20 "
            "and 211 (NDMP sequence numbers 6 and 8): the DATA_START_BACKUP request "
            "(sequence 7, answered in frame 25).") in partial.message, partial.message
    assert "an announcement" not in partial.message
    ndmjob = Path(__file__).resolve().parents[1] / "captures" / "ndmjob"
    cut = without_frame(tmp_path, ndmjob, "v4-backup", 11)
    [partial] = [f for f in stored_analysis(cut, config_path=ndmjob / "flowcheck.toml")
                 .findings if f.code == "ndmp_partial"]
    assert ("(NDMP sequence numbers 2 and 4): the DATA_CONNECT request (sequence 3, "
            "answered in frame 14); that request is an announcement: the address it gave "
            "is not in the capture") in partial.message, partial.message


def test_of_two_lost_requests_only_the_connect_is_an_announcement(tmp_path: Path) -> None:
    """ndmjob's v4-backup without frames 11 (DATA_CONNECT, sequence 3) and 16
    (DATA_START_BACKUP, sequence 4): one hole of the originator holding both, each named
    by its reply; the DATA_CONNECT alone announces an address (review56b: words56 said
    "those requests are an announcement" of both)."""
    ndmjob = Path(__file__).resolve().parents[1] / "captures" / "ndmjob"
    cut = without_frame(tmp_path, ndmjob, "v4-backup", 16)  # frame 11 keeps its number
    cut = without_frame(tmp_path, tmp_path, cut.name.removesuffix(".pcap"), 11)
    [partial] = [f for f in stored_analysis(cut, config_path=ndmjob / "flowcheck.toml")
                 .findings if f.code == "ndmp_partial"]
    assert ("(NDMP sequence numbers 2 and 5): the DATA_CONNECT request (sequence 3, "
            "answered in frame 14), the DATA_START_BACKUP request (sequence 4, answered in "
            "frame 15); the DATA_CONNECT request is an announcement: the address it gave "
            "is not in the capture") in partial.message, partial.message
    assert "those requests are" not in partial.message

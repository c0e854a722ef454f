"""A file's packets that are not TCP are no evidence for another file apart in time
(review58f).

Census.other_words told capture_one_direction (and the opening and way-back words) that
the missing direction "passed the capture point and only its TCP is missing: a capture
filter left it out" from an ICMP echo reply anywhere in the set: given after
captures/nontcpback/control-dropped-echo-reply (26 Nov, its echo reply from 10.77.0.2
frame 2), captures/lab/one-direction-out (1 Dec, tcpdump -Q out: nothing from 10.77.0.2)
read "The file one-direction-out.pcap of the capture set holds no TCP packet from
10.77.0.2 to 10.77.0.1 ... It holds an ICMP echo reply (frame 2)", another file's, and
its step 5 "which holds no TCP packet from 10.77.0.2 to 10.77.0.1 (only an ICMP echo
reply, frame 2: its TCP left out ...)" (verify.way_back.lacking_words).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.json_doc import analysis_document

ECHO = CAPTURES / "nontcpback" / "control-dropped-echo-reply.pcap"
ONE_WAY = CAPTURES / "lab" / "one-direction-out.pcap"
CONTROL_DROPPED = CAPTURES / "lab" / "control-dropped.pcap"
CONTROL_DROPPED_TS = 1795653774.0  # its first packet, 2026-11-26T00:42:54Z


@pytest.mark.parametrize("first", [True, False])
def test_an_echo_reply_days_before_is_not_this_files_way_back(first: bool) -> None:
    """The one-direction file's warning says it holds no packet from 10.77.0.2, as it
    reads alone, whichever file comes first; no "passed the capture point"."""
    config = build_config(load_file(ONE_WAY.with_suffix(".toml")))
    inputs = [str(ECHO), str(ONE_WAY)] if first else [str(ONE_WAY), str(ECHO)]
    merged = analyze(read_traffic(inputs, config), config)
    said = [f.message for f in merged.findings if f.code == "capture_one_direction"
            and "one-direction-out.pcap" in f.message]
    assert len(said) == 1, said
    assert said[0].startswith("The file one-direction-out.pcap of the capture set holds no "
                              "packet from 10.77.0.2 to 10.77.0.1, although 4 connection(s)")
    assert "passed the capture point" not in said[0]
    # The echo file's own words keep its reply; none of the other file's do.
    echo = analyze(read_traffic([str(ECHO)], config), config)
    phrase = "(only an ICMP echo reply, frame 2"
    assert json.dumps(analysis_document(merged)).count(phrase) == \
        json.dumps(analysis_document(echo)).count(phrase)
    [job] = [s for s in merged.sessions if any("400,002 B" in (t.detail or "")
                                                for t in s.steps)]
    [bytes_step] = [t for t in job.steps if "400,002 B" in (t.detail or "")]
    assert "which holds no packet from 10.77.0.2 to 10.77.0.1 (one direction only)" in \
        bytes_step.detail, bytes_step.detail


def test_control_unanswered_asks_its_own_files_way_back(tmp_path: Path) -> None:
    """captures/lab/control-dropped (its control SYNs to 10.77.0.2 never answered, 26
    Nov) given after a file of a day before holding two echo replies from 10.77.0.2 to
    10.77.0.1 (built here): control_unanswered's fix said "This capture holds no packet
    from 10.77.0.2 to 10.77.0.1" of a set that holds two (verify.links asked
    Census.none_words without the connection's time). Asked at its time, as opening's
    words are, the replies begun in an earlier file may go on in this one: "no TCP
    packet"."""
    from scapy.all import ICMP, IP, Ether, wrpcap

    replies = []
    for seq in (1, 2):
        reply = Ether() / IP(src="10.77.0.2", dst="10.77.0.1") / ICMP(type=0, id=7, seq=seq)
        reply.time = CONTROL_DROPPED_TS - 86400.0 + seq
        replies.append(reply)
    before = tmp_path / "echo-day-before.pcap"
    wrpcap(str(before), replies)
    config = build_config(load_file(CONTROL_DROPPED.with_suffix(".toml")))
    merged = analyze(read_traffic([str(before), str(CONTROL_DROPPED)], config), config)
    [unanswered] = [f for f in merged.findings if f.code == "control_unanswered"]
    assert "holds no TCP packet from 10.77.0.2 to 10.77.0.1, so not whether 10.77.0.2 " \
           "answered" in unanswered.fix, unanswered.fix
    assert "holds no packet from 10.77.0.2" not in unanswered.fix
    # Alone, the file holds no packet at all from 10.77.0.2: the words as they were.
    alone = analyze(read_traffic([str(CONTROL_DROPPED)], config), config)
    [unanswered] = [f for f in alone.findings if f.code == "control_unanswered"]
    assert "holds no packet from 10.77.0.2 to 10.77.0.1, so not whether" in unanswered.fix

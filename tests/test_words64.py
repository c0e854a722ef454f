"""Words that said more than the capture shows (task words64).

- A one-direction capture on Ethernet (captures/words64: ndmjob's clean backup, `tcpdump
  -Q out` on the agent, `-Q in` on the media server) carries no mark placing it, yet
  capture_one_direction's fix sent the user "on the media server itself", where the
  second had been taken (verify.one_way_point.plain_fix).
- With `-s 96` (field check 76 run 9) the DATA_GET_STATE replies that would name the
  data endpoint are in the capture, cut before their address: "no ... reply in the
  capture names that endpoint" read as if there were none (verify.lost_announcement).
- As many SYN copies as SYNs is no proof that each SYN is in the capture twice
  (verify.arrival.twice_words).
- Two packets with one timestamp read "0 ms later", and a transfer whose last packet
  ends the capture "0 ms before the end" (durations.later_words, verify.open_transfer).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import Record, read_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
HERE = CAPTURES / "words64"


def _one_direction_fix(name: str) -> str:
    [fix] = [f.fix for f in shared_analysis(HERE / name).findings
             if f.code == "capture_one_direction"]
    return fix


def test_an_ethernet_one_direction_capture_is_sent_to_no_point_it_may_be_at() -> None:
    """Frames of one direction, Ethernet, one segment: neither the marks nor the TTLs
    place either capture, so the fix names both hosts alike."""
    for name in ("ndmjob-clean-dir-out-agent.pcap.gz", "ndmjob-clean-dir-in-media.pcap.gz"):
        fix = _one_direction_fix(name)
        assert fix == ("Capture both directions: tcpdump without -Q (-Q in/out keeps one) "
                       "on the media server 10.77.0.1 or the agent 10.77.0.2, or a SPAN "
                       "session of both received and sent traffic, on a path both "
                       "directions take."), (name, fix)
        assert "itself" not in fix


def test_get_state_replies_cut_before_their_address_are_said_cut() -> None:
    """Frames 19, 466, 470, 475, 480: DATA_GET_STATE replies, 162 B on the wire, 96
    captured (tshark: "NDMP truncated"), the address 40 B past the 30 kept."""
    analysis = shared_analysis(CAPTURES / "field76-matrix"
                               / "ndmjob-clean-snap96-dumpcap-media.pcapng.gz")
    cut = ("the snap length cut the 5 DATA_GET_STATE replies in the capture (frames 19, "
           "466, 470, 475, 480) before the endpoint they give, so none can be read to name "
           "that endpoint")
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert cut in partial.message
    step = analysis.sessions[0].steps[1]
    assert cut in step.detail
    for words in (partial.message, step.detail):
        assert "no DATA_GET_STATE or MOVER_GET_STATE reply in the capture names" not in words



def _holed(record: Record, keep: int) -> Record:
    """record's IPv4/TCP frame with only the first `keep` bytes of its TCP payload, the
    IP length and checksum made to match: the rest never in the capture (a hole before
    the direction's next segment), not cut by the snap length (wire length = captured)."""
    data = record.data
    ihl = (data[14] & 0xF) * 4
    start = 14 + ihl + (data[14 + ihl + 12] >> 4) * 4
    frame = bytearray(data[:start + keep])
    struct.pack_into("!H", frame, 16, len(frame) - 14)
    struct.pack_into("!H", frame, 24, 0)
    total = sum(struct.unpack(f"!{ihl // 2}H", bytes(frame[14:14 + ihl])))
    total = (total & 0xFFFF) + (total >> 16)
    struct.pack_into("!H", frame, 24, ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF)
    return replace(record, data=bytes(frame), wirelen=len(frame))


@pytest.mark.parametrize("cut", ["holes", "gone"])
def test_get_state_replies_not_cut_by_the_snap_length_are_not_said_cut(
        tmp_path: Path, cut: str) -> None:
    """ndmjob's v3 backup at full snap length (captures/ndmjob/v3-backup), its
    DATA_CONNECT request (frame 11) and its 5 DATA_GET_STATE replies (19, 1902, 1906,
    1911, 1916) each with only its first 30 B of TCP payload, the rest never captured
    (holes), or those frames gone: the announcement unread either way. With holes the
    replies are in the capture, partial, and were said "the snap length cut" (words64),
    where no frame is shorter than the wire's; gone, none is in the capture."""
    capture = CAPTURES / "ndmjob" / "v3-backup.pcap"
    linktype, records = read_records(capture)
    edited = {11, 19, 1902, 1906, 1911, 1916}
    kept = [(_holed(r, 30) if n in edited else r) if cut == "holes" else r
            for n, r in enumerate(records, 1) if cut == "holes" or n not in edited]
    path = write_records(tmp_path / f"{cut}.pcap", linktype, kept)
    analysis = stored_analysis(path, config_path=capture.parent / "flowcheck.toml")
    detail = analysis.sessions[0].steps[1].detail
    assert "the snap length cut" not in detail, detail
    if cut == "holes":
        assert ("the 5 DATA_GET_STATE replies in the capture (frames 19, 1902, 1906, 1911, "
                "1916) break off before the endpoint they give, the rest of their bytes not "
                "in the capture, so none can be read to name that endpoint") in detail, detail
    else:
        assert "no DATA_GET_STATE or MOVER_GET_STATE reply in the capture names that " \
            "endpoint" in detail, detail

def test_as_many_copies_as_syns_is_not_each_syn_twice(tmp_path: Path) -> None:
    """field58-matrix's merged capture (9 control SYNs, each captured leaving M and
    arriving at A) with the first SYN's outgoing copy captured once more and the second
    SYN's outgoing copy deleted: 18 copies of 9 SYNs, read "each is in the capture
    twice"."""
    capture = (CAPTURES / "field58-matrix"
               / "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz")
    linktype, records = read_records(capture)
    moved = [copy for number, record in enumerate(records, 1) if number != 3
             for copy in ([record, replace(record, micros=record.micros + 5)]
                          if number == 1 else [record])]
    assert len(moved) == len(records)
    path = write_records(tmp_path / "moved.pcap", linktype, moved)
    [finding] = [f for f in stored_analysis(path, config_path=sidecar(capture)).findings
                 if f.severity == "error"]
    assert finding.code == "control_unanswered"
    assert ("which passed none of them on (the 9 are in the capture 18 times at one TTL, "
            "64") in finding.message
    assert "twice" not in finding.message


def test_a_reset_stamped_with_its_syn_ack_is_not_said_0_ms_later() -> None:
    """Frames 80-81 share one microsecond (1796635327.810987): the reset came within the
    clock's resolution, not "0 ms later"; frames 71-72, 1 us apart, are said to the
    microsecond (a float's epoch seconds read the span 0.000954 ms)."""
    analysis = shared_analysis(CAPTURES / "verdicts56" / "traceroute-probes-beside-job.pcap")
    details = [step.detail for session in analysis.sessions for step in session.steps
               if "half-open port check (a SYN" in step.detail]
    assert any("reset it less than a microsecond later (RST, frame 81)" in d
               for d in details), details
    assert any("(SYN-ACK 0.004 ms after the SYN, frame 71) and 10.56.1.1's TCP reset it "
               "0.001 ms later (RST, frame 72)" in d for d in details), details
    assert not any(" 0 ms later" in d or "0.000954" in d for d in details)


def test_a_last_data_packet_that_ends_the_capture_is_not_0_ms_before_the_end() -> None:
    """lab-trial22's listener-side capture ends on the data's last packet, frame 40."""
    analysis = shared_analysis(CAPTURES / "lab-trial22" / "clean-listener-only.pcap")
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "its last data packet frame 40, with no capture time after it)" in early.message
    assert "0 ms before the end" not in early.message


def test_a_data_arrow_below_a_millisecond_is_not_0_ms() -> None:
    """The ladder's data arrow ("data 1.4 kB in 0 ms" of data whose packets came within
    a millisecond, or share one timestamp)."""
    from flowcheck.report.ladder_build import human_seconds

    assert human_seconds(0.0) == "less than a microsecond"
    assert human_seconds(0.0004) == "0.4 ms"
    assert human_seconds(0.25) == "250 ms"


def test_no_control_session_names_no_host_as_the_capture_point_to_go_to() -> None:
    """field55-matrix's `-i any` capture on the media server fd77::1 (its cooked marks
    place it there): the fix said "capture on the media server's interface toward the
    agent", where it had been taken."""
    case = (CAPTURES / "field55-matrix" / "tls-start-dual-stack-control-acks-dropped-by-"
            "media-input-routed-any-on-media.pcap.gz")
    [found] = [f for f in shared_analysis(case).findings if f.code == "no_control_session"]
    assert found.fix.endswith("check --ndmp-port (the agent's NDMP port, 10000 here) and "
                              "capture where the job's traffic passes, on the media "
                              "server's or the agent's interface toward the other, while "
                              "the job starts."), found.fix

"""Step.cites, the finding codes a step's detail cites, is the detail's own (stepcodes63:
report.verdict_notes decided from the words, a regex over each unknown step's detail):
over every stored case, each "(snake_code)" a step's detail shows is in its cites and
each of its cites is shown, so a detail builder that writes a code without citing it,
or cites one it does not write, fails here."""

from __future__ import annotations

import pickle
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from scapy.all import IP, TCP, Ether
from scapy_files import read_packets, write_packets
from step_codes import shown
from stored import case_analysis, stored_analysis, stored_cases

from flowcheck.model import Said, Step, cited, cites_of
from flowcheck.pipeline import Analysis
from flowcheck.regress import Case

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


@pytest.mark.parametrize("case", stored_cases(),
                         ids=lambda case: str(case.capture.relative_to(CAPTURES)))
def test_a_steps_cites_are_the_codes_its_detail_shows(case: Case) -> None:
    analysis = case_analysis(case.capture, case.config_path)  # shared: read only
    wrong = [(session.id, step.step, sorted(shown(step)), list(step.cites), step.detail)
             for session in analysis.sessions for step in session.steps
             if shown(step) != set(step.cites) or list(step.cites) != sorted(set(step.cites))]
    assert not wrong


@pytest.mark.cites_unchecked  # its step shows codes it does not cite, as it means to
def test_the_pattern_sees_each_way_a_code_is_written() -> None:
    """The test's pattern finds a finding code however the words write it, and no other
    snake_case word (a status, a setting, a longer code's part)."""
    step = Step(1, "control", "unknown", detail=(
        "a (capture_loss), b (missed: ndmp_undecodable; c), d (capture_ring_gap says why) "
        "(not_applicable) (ndmp_port) (frame 3) (C1) capture_filtered_x control_closed"))
    assert shown(step) == {"capture_loss", "ndmp_undecodable", "capture_ring_gap",
                           "control_closed"}


def test_said_carries_its_cites_as_a_str() -> None:
    """Said is its words wherever a str goes (a finding's message), its cites sorted and
    once each, kept through a pickle (tests/stored copies analyses so); cited refuses a
    str, whose letters are no codes."""
    said = Said("lost (capture_loss) (capture_filtered)", ["capture_loss", "capture_filtered",
                                                           "capture_loss"])
    assert said == "lost (capture_loss) (capture_filtered)" and isinstance(said, str)
    assert said.cites == ("capture_filtered", "capture_loss")
    again = pickle.loads(pickle.dumps(said))
    assert again == said and again.cites == said.cites
    assert cites_of(said, "plain", None) == said.cites
    assert cited(["b", "a"], ("a",)) == ("a", "b")
    with pytest.raises(TypeError):
        cited("capture_loss")  # type: ignore[arg-type]


# Inputs no stored case holds (review63c): a detail builder that interpolates a Said into
# an f-string loses its cites unless its site passes them on (model.said), which the
# stored cases above check only where they reach.
NDMJOB = CAPTURES / "ndmjob-late-synack"
FILTERED = CAPTURES / "ndmjob-filtered-packets"


def _steps_agree(analysis: Analysis) -> list[tuple[str, int, list[str], list[str]]]:
    """Each step whose detail's codes are not its cites: (session, step, shown, cites)."""
    return [(session.id, step.step, sorted(shown(step)), list(step.cites))
            for session in analysis.sessions for step in session.steps
            if shown(step) != set(step.cites)]


def test_a_connect_given_up_in_a_rings_hole_cites_it(tmp_path: Path) -> None:
    """late-synack-badpw-media (a late SYN-ACK of a connect given up before the capture,
    then a refused job) as the newest file of a ring whose middle file is gone, r.pcap0
    holding one earlier connection's handshake: the given-up session's steps say the
    connect was given up "in the gap between ring files r.pcap0 and r.pcap2
    (capture_ring_gap)" (verify.stale.given_up_where), and cite it."""
    job = read_packets(NDMJOB / "late-synack-badpw-media.pcap")
    template, start = job[0], Decimal(str(job[0].time))
    media, agent = ("10.77.0.1", 5055), ("10.77.1.2", 6050)
    earlier = []
    for index, (src, dst, flags) in enumerate(
            [(media, agent, "S"), (agent, media, "SA"), (media, agent, "A")]):
        packet = Ether(src=template[Ether].src, dst=template[Ether].dst) / IP(
            src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags,
                                          seq=0 if "S" in flags else 1,
                                          ack=0 if flags == "S" else 1)
        packet.time = start - 60 + Decimal(index) / 1000
        earlier.append(packet)
    ring = tmp_path / "ring"
    ring.mkdir()
    write_packets(ring / "r.pcap0", earlier)
    write_packets(ring / "r.pcap2", job)  # r.pcap1 gone
    analysis = stored_analysis(ring / "r.pcap0", ring / "r.pcap2",
                               config_path=NDMJOB / "late-synack-badpw-media.toml")
    given_up = [step for session in analysis.sessions for step in session.steps
                if "given up in the gap between ring files" in step.detail]
    assert len(given_up) == 4, [s.detail for s in analysis.sessions[0].steps]
    assert _steps_agree(analysis) == []


def test_a_cut_announcement_under_a_protocol_filter_cites_it(tmp_path: Path) -> None:
    """yndmp-media (tshark -Y ndmp: NDMP-port packets that carry data, nothing else) cut
    to 96 bytes a frame, as `tcpdump -s 96` would have: DATA_CONNECT's address is cut,
    and step 3 says why no connection to it proves nothing: "the capture holds only
    packets that carry data, all of NDMP-port connections (capture_filtered)"
    (verify.cut_unjudged), and cites it."""
    linktype, records = read_records(FILTERED / "yndmp-media.pcap")
    cut = write_records(tmp_path / "yndmp-media-s96.pcap", linktype,
                        [replace(r, data=r.data[:96]) for r in records])
    analysis = stored_analysis(cut, config_path=FILTERED / "yndmp-media.toml")
    [session] = analysis.sessions
    step = session.steps[2]
    assert "(its address cut by the snap length)" in step.detail, step.detail
    assert "(capture_filtered)" in step.detail, step.detail
    assert _steps_agree(analysis) == []


@pytest.mark.parametrize("kept", [(721, 1442), (1081, 2162)],
                         ids=["hole-mid-transfer", "hole-after-last-data"])
def test_a_rings_hole_across_the_data_is_cited(tmp_path: Path, kept: tuple[int, int]) -> None:
    """ndmjob/v4-backup (2,163 frames) as a ring whose middle file is gone: frames up to
    kept[0] in r.pcap0, from kept[1] on in r.pcap2. The data flowed across the hole
    (verify.hole_flow, verify.acked_missed's bytes sent then), or its connection's end lies
    in it (verify.open_transfer): the data step (4, ndmp profile) names capture_ring_gap by
    RingGap.words, a chain no stored case reaches (review63c), and cites it. Dropping
    open_transfer's cites fails hole-after-last-data; hole_flow's alone are also
    acked_missed's (the same code) in hole-mid-transfer."""
    linktype, records = read_records(CAPTURES / "ndmjob" / "v4-backup.pcap")
    ring = tmp_path / "ring"
    ring.mkdir()
    files = [write_records(ring / "r.pcap0", linktype, records[:kept[0]]),
             write_records(ring / "r.pcap2", linktype, records[kept[1]:])]
    analysis = stored_analysis(*files, config_path=CAPTURES / "ndmjob" / "flowcheck.toml")
    [session] = analysis.sessions
    assert "capture_ring_gap" in session.steps[-1].cites, session.steps[-1].detail
    assert _steps_agree(analysis) == []

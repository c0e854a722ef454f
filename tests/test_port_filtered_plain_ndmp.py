"""Plain NDMP jobs (ndmjob: no callback) captured through a port filter: stored failing
and passing captures cut at test time with `tcpdump -r X -w Y 'port 10000'`.

Such a capture holds the control connection and nothing else, so "no connection ever
tried the endpoint" is no evidence: a filter leaves the data connection out whatever
became of it. What the control connection says still is: a CONNECT request answered
with a connect error, or left unanswered while the job went on, fails the job
(announced_not_used says it rests on that and names the filter); one answered
NDMP_NO_ERR, or a mover that went ACTIVE, says the connection was made (capture_filtered,
the step unknown); with neither, the step is unknown and the verdict inconclusive.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether
from stored import errors, stored_analysis

from flowcheck.config import build_config
from flowcheck.model import CaptureInfo
from flowcheck.pipeline import Analysis
from flowcheck.verify.capture_filter import port_only_capture

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
FIREWALL = CAPTURES / "ndmjob-firewall"
THREE_WAY = CAPTURES / "trial27-three-way"


def _cut(tmp_path: Path, capture: Path, expression: str = "port 10000") -> Path:
    """The capture as tcpdump with `expression` would have taken it (gzip read first)."""
    source = capture
    if capture.suffix == ".gz":
        source = tmp_path / capture.stem
        source.write_bytes(subprocess.run(["gzip", "-dc", str(capture)], check=True,
                                          capture_output=True).stdout)
    out = tmp_path / f"{capture.name.split('.')[0]}-cut.pcap"
    subprocess.run(["tcpdump", "-r", str(source), "-w", str(out), expression], check=True,
                   capture_output=True)
    return out


def _analysis(tmp_path: Path, folder: Path, name: str, suffix: str = ".pcap",
              expression: str = "port 10000") -> Analysis:
    return stored_analysis(_cut(tmp_path, folder / f"{name}{suffix}", expression),
                           config_path=folder / f"{name}.toml")


def _only(analysis: Analysis, code: str) -> str:
    [found] = [f for f in analysis.findings if f.code == code]
    return " ".join(f"{found.message} {found.fix}".split())


def test_a_connect_error_reply_is_the_evidence_and_the_filter_is_named(
        tmp_path: Path) -> None:
    """v4-media-reject-adminprohib: the media server rejects the agent's data SYN with
    ICMP code 13; the agent answers DATA_CONNECT with CONNECT_ERR. Cut, the reject is
    gone: the failure rests on the reply, and the words say the capture holds only the
    NDMP port (it read "no connection ever tried it", nothing of the filter)."""
    analysis = _analysis(tmp_path, FIREWALL, "v4-media-reject-adminprohib")
    assert analysis.verdict == "fail"
    assert [f.code for f in errors(analysis)] == ["announced_not_used"]
    words = _only(analysis, "announced_not_used")
    assert ("announced 10.77.0.1:5080 for the data connection, and it was answered "
            "NDMP_CONNECT_ERR (frame 13) by the agent") in words
    assert "has the NDMP port 10000 on one side" in words
    assert "capture_filtered" in words and "ever tried it" not in words
    assert "If the capture holds every packet, no connection tried it" in words
    assert "capture again without a port filter" in words


def test_a_connect_left_unanswered_is_the_evidence(tmp_path: Path) -> None:
    """v4-restore-data-syn-drop-at-media: the media server drops the agent's data SYNs,
    ndmjob killed 15 s later; DATA_CONNECT was never answered. The same cut keeping
    ICMPv6 (the capture's router solicitations) could hold other ports' packets: its
    absence stays evidence, in the old words."""
    analysis = _analysis(tmp_path, FIREWALL, "v4-restore-data-syn-drop-at-media")
    assert analysis.verdict == "fail"
    words = _only(analysis, "announced_not_used")
    assert ("DATA_CONNECT (frame 11) announced 10.77.0.1:5014 for the data connection, and "
            "it was never answered by the agent in the 15 s") in words
    assert "the connect did not complete" in words and "capture_filtered" in words
    kept = _analysis(tmp_path, FIREWALL, "v4-restore-data-syn-drop-at-media",
                     expression="port 10000 or icmp6")
    assert kept.verdict == "fail"
    assert "capture_filtered" not in _only(kept, "announced_not_used")
    assert "the capture holds no connection to it" in _only(kept, "announced_not_used")


def test_a_connection_the_reply_says_was_made_is_left_out_not_untried(
        tmp_path: Path) -> None:
    """v4-restore-midjob-drop-at-agent: the data connection opened (DATA_CONNECT answered
    NDMP_NO_ERR) and stalled mid-restore. Cut, it read announced_not_used, as if never
    tried: now capture_filtered names the reply, the step is unknown, and the failure the
    control connection shows (its stall) stays."""
    analysis = _analysis(tmp_path, FIREWALL, "v4-restore-midjob-drop-at-agent")
    codes = {f.code for f in analysis.findings}
    assert "announced_not_used" not in codes
    assert "DATA_CONNECT (frame 11) was answered NDMP_NO_ERR (frame 12)" in _only(
        analysis, "capture_filtered")
    assert analysis.sessions[0].steps[2].status == "unknown"
    assert analysis.verdict == "fail"  # control_stalled: the control connection's own


def test_a_mover_gone_active_says_the_connection_was_made(tmp_path: Path) -> None:
    """3w-kill-t: the tape agent's capture of a three-way job (the DATA_CONNECT is on
    the other agent's session, not here); MOVER_GET_STATE says the mover went ACTIVE."""
    analysis = _analysis(tmp_path, THREE_WAY, "3w-kill-t", ".pcap.gz")
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    assert "the mover is ACTIVE: its data connection was made" in _only(
        analysis, "capture_filtered")


def test_no_word_from_the_control_connection_is_inconclusive(tmp_path: Path) -> None:
    """3w-ddrop2-t: the tape agent drops the data SYNs; its control connection holds only
    MOVER_LISTEN and polls (the DATA_CONNECT is on the other session). Cut, nothing in
    the capture says whether the connect was tried: unknown, not a failure."""
    analysis = _analysis(tmp_path, THREE_WAY, "3w-ddrop2-t", ".pcap.gz")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    step = " ".join(analysis.sessions[0].steps[2].detail.split())
    assert analysis.sessions[0].steps[2].status == "unknown"
    assert "the control connection does not say whether the connect was made" in step
    assert "capture holds no other packet" in _only(analysis, "capture_filtered")


def test_a_cut_announcement_left_unanswered_says_so(tmp_path: Path) -> None:
    """v3-snap96-media-drop (tcpdump -s 96: the DATA_CONNECT's address cut) cut to the
    NDMP port: the unanswered DATA_CONNECT is the evidence there too."""
    analysis = _analysis(tmp_path, FIREWALL, "v3-snap96-media-drop")
    assert analysis.verdict == "fail"
    words = _only(analysis, "announced_not_used")
    assert ("its address was cut by the capture's snap length), and it was never answered by "
            "the agent") in words and "capture_filtered" in words


def _from_port(tmp_path: Path, capture: Path, sport: int, to: int) -> Path:
    """The capture with the source port `sport` of every TCP segment made `to` (its
    checksum computed again), as if that connection had been opened from that port."""
    linktype, records = read_records(capture)
    edited = []
    for record in records:
        frame = Ether(record.data)
        if TCP in frame and frame[TCP].sport == sport:
            frame[TCP].sport = to
            del frame[TCP].chksum
            record = replace(record, data=bytes(frame))
        edited.append(record)
    return write_records(tmp_path / f"{capture.stem}-from-{to}.pcap", linktype, edited)


def test_a_connection_read_as_the_callback_is_no_filter_the_fix_names(
        tmp_path: Path) -> None:
    """v3-snap96-media-drop (DATA_CONNECT's address cut, its SYNs from the agent dropped
    at the media server, never answered) under the default profile, the agent's data
    connection opened from port 10000: every TCP connection has the NDMP port on one side
    and the capture holds nothing but TCP, yet the agent's connection after DATA_CONNECT
    is in it, read as the callback (plain NDMP's data connection). The message said so
    and nothing of a port filter; the fix still asked to capture again without a port
    filter to see whether the SYNs were sent: they are in the capture."""
    capture = _from_port(tmp_path, FIREWALL / "v3-snap96-media-drop.pcap", 6037, 10000)
    analysis = stored_analysis(capture, config_path=FIREWALL / "v3-snap96-media-drop.toml",
                               profile="backup-exec-9")
    assert all(10000 in (c.orig_p, c.resp_p) for c in analysis.traffic.connections)
    [found] = [f for f in analysis.findings if f.code == "announced_not_used"]
    message, fix = " ".join(found.message.split()), " ".join(found.fix.split())
    assert "after it was read as the callback (step 2): C2 10.77.0.2:10000 -> " in message
    assert "capture_filtered" not in message
    assert "--profile ndmp" in fix
    assert "without a port filter" not in fix and "holds only the NDMP port" not in fix


@pytest.mark.parametrize(("recorded", "non_tcp", "only"), [
    ("port 10000", 5, True),  # the recorded filter keeps only the NDMP port
    ("tcp port 10000 or icmp", 5, True),
    ("tcp", 0, False),  # live's own default keeps every TCP port: absence is evidence
    (None, 0, True),  # nothing recorded, nothing but TCP
    (None, 3, False),  # ARP, ICMP or UDP in it: no port filter
])
def test_which_captures_could_hold_only_the_ndmp_port(recorded: str | None, non_tcp: int,
                                                       only: bool) -> None:
    """port_only_capture tries a recorded filter with libpcap itself (a data SYN and
    SYN-ACK kept or not), else reads the packets that are not TCP."""
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"]})
    info = CaptureInfo("x.pcapng", capture_filter=recorded, non_tcp=non_tcp)
    assert bool(port_only_capture([info], config, [])) is only

"""One sniffer's files rotated by time (tcpdump -G, named by strftime, not as a ring) leave
no uncovered time between them: the time from one file's last packet to the next one's
first is idle time the sniffer watched. A handshake it lost then is not "missing because
nothing of that time is in the set" (review56j: callbackmatch's file_gaps said so).

tests/data/review56j: a lab job (flowcheck.lab, netns r56j, agent --first-callback-delay 2,
media --resources 1 --bytes 20000) under `tcpdump -Z root -U -G 1 -w job-%H%M%S.pcap tcp`;
job-101714.pcap without its first two frames (`editcap ... 1-2`), the callback's SYN and
SYN-ACK, as a sniffer that lost them. See its README.md. A ring's files (tcpdump -C -W,
numbered) are one sniffer's in any order: a wrapped ring leaves no file gap, and a ring's
hole is said as the ring's (capture_ring_gap)."""

from __future__ import annotations

from pathlib import Path

from frame_cuts import frame_range, stored_capture

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "review56j"
LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def test_rotated_files_gap_is_hedged() -> None:
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    files = [str(DATA / "job-101712.pcap"), str(DATA / "job-101714.pcap")]
    analysis = analyze(read_traffic(files, config), config)
    [session] = analysis.sessions
    assert session.callback_uid is not None
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    # Before review56j: "sent in time that lies between two of its files ...: missing
    # because nothing of that time is in the set, not shown lost by the sniffer".
    assert "missing because nothing of that time is in the set" not in loss.message
    assert "which may have been sent in time that lies between two of its files" \
        in loss.message, loss.message
    # Two -G files alone: no period to tell a missing file between them, so still
    # hedged (gwords: three or more are one sniffer's, tests/test_rotated_gap.py).
    assert "if the files are one sniffer's, rotated without a pause under names that do " \
        "not tell so (-C files renamed, or two tcpdump -G files alone)" \
        in loss.message, loss.message
    assert "perhaps in the time between the files job-101712.pcap and job-101714.pcap" \
        in loss.message, loss.message
    assert "rotated without a pause, it missed the packets" in loss.fix, loss.fix


def _ring(tmp_path: Path, parts: dict[str, tuple[int, int]]) -> Analysis:
    """clean-3-resources cut into ring files (name -> frames first..last), analyzed."""
    capture = stored_capture("lab", "clean-3-resources")
    files = [str(frame_range(capture, tmp_path / name, first, last))
             for name, (first, last) in parts.items()]
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    return analyze(read_traffic(files, config), config)


def test_wrapped_ring_is_one_sniffers(tmp_path: Path) -> None:
    # tcpdump -C -W 3 wrapped: ring.pcap1, ring.pcap2, then ring.pcap0 (newest); the
    # second data connection's SYN and SYN-ACK (frames 216-217) lost by the sniffer.
    analysis = _ring(tmp_path, {"ring.pcap1": (1, 100), "ring.pcap2": (101, 215),
                                "ring.pcap0": (218, 10**6)})
    assert analysis.traffic.file_gaps == []
    [loss] = [f.message for f in analysis.findings if f.code == "capture_loss"]
    assert "so the sniffer lost them, not the network" in loss, loss
    assert "between two of its files" not in loss, loss


def test_ring_hole_is_said_as_the_rings(tmp_path: Path) -> None:
    # ring.pcap1 gone (frames 22-23, the first data connection's SYN and SYN-ACK).
    analysis = _ring(tmp_path, {"ring.pcap0": (1, 21), "ring.pcap2": (24, 10**6)})
    [step] = [s for s in analysis.sessions[0].steps if s.step == 4]
    assert ("it may have gone in the gap between ring files ring.pcap0 and ring.pcap2 "
            "(capture_ring_gap)") in step.detail, step.detail
    assert "between the files" not in step.detail, step.detail

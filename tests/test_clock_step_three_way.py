"""A three-way job's capture whose clock was set back (or forward) between two steps.

captures/ndmjob-threeway's good v4 and v2 three-way backups (the DMA 10.77.0.1, the data
agent 10.77.1.2, the tape agent 10.77.1.3, all on the router's bridge capture) with every
timestamp from one frame on moved: the file still holds the packets in the order the
sniffer wrote them. The data connection written after the tape agent's MOVER_LISTEN
reply and the DMA's DATA_CONNECT (v2: DATA_START_BACKUP) reached both announcements, in
the tape server's session too, whatever the timestamps say
(flowcheck.sessions.threeway with flowcheck.sessions.file_order). A new-user trial
read INCONCLUSIVE with a false capture_filtered on the mover's side for the clock set
back 1 s at the data connection's SYN. The job reads as without the step: PASS, every
step ok, no capture_filtered (capture_clock_stepped beside it when the step is NTP's).
"""

from __future__ import annotations

import functools
import gzip
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from pcap_records import moved_back, read_records, tcp_of, write_records
from scapy.all import TCP, rdpcap, wrpcap

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"
TAPE_AGENT = "10.77.1.3"


def _analyze(path: Path, version: str) -> Analysis:
    config = build_config(load_file(STORED / f"C-{version}-3way-bridge.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _unpacked(tmp_path: Path, version: str) -> Path:
    out = tmp_path / f"{version}.pcap"
    with gzip.open(STORED / f"C-{version}-3way-bridge.pcap.gz") as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


@functools.cache
def _steady(version: str) -> tuple[Analysis, dict[str, int]]:
    """The unshifted capture's analysis and step frames (`_frames`), once per version
    (read only by the tests)."""
    with tempfile.TemporaryDirectory() as tmp:
        original = _unpacked(Path(tmp), version)
        steady = _analyze(original, version)
        return steady, _frames(original, steady)


def _frames(path: Path, steady: Analysis) -> dict[str, int]:
    """The frames (1-based) the clock steps at: the tape agent's control SYN, the
    MOVER_LISTEN reply and the DMA's CONNECT request (the sessions' announcements, read
    off the unshifted capture), the data connection's SYN and SYN-ACK."""
    segments = [tcp_of(r.data) for r in read_records(path)[1]]
    syns = [i + 1 for i, t in enumerate(segments) if t and t.flags & 0x02]
    data_syn = next(i for i in syns if segments[i - 1].dport != 10000
                    and not segments[i - 1].flags & 0x10)
    control = {s.id: c for s in steady.sessions for c in steady.traffic.connections
               if c.uid == s.control_uid}
    listen, = (a.frame for s in steady.sessions for a in s.announced
               if a.message.endswith("MOVER_LISTEN"))
    connect, = (a.frame for s in steady.sessions for a in s.announced
                if not a.message.endswith("MOVER_LISTEN"))
    tape_control = next(c for c in control.values() if c.resp_h == TAPE_AGENT)
    return {"control SYN": tape_control.first_frame, "MOVER_LISTEN reply": listen,
            "CONNECT request": connect, "data SYN": data_syn,
            "data SYN-ACK": data_syn + 1}


def _moved(path: Path, frame: int, back: str) -> Path:
    """The capture with every timestamp from `frame` on moved back `back` seconds
    (forward when negative), frame order unchanged (as scapy's rdpcap/wrpcap wrote it:
    pcap_records)."""
    linktype, records = read_records(path)
    out = path.with_name(f"{path.stem}-back-{back}-at-{frame}.pcap")
    micros = int(Decimal(back) * 1_000_000)
    return write_records(out, linktype, moved_back(records, frame - 1, micros))


def _reading(analysis: Analysis) -> tuple[str, list[str], list[tuple[list[str], int]]]:
    """The verdict, the findings' codes but the clock step's, each session's step
    statuses and data connection count, sorted (where the frames are no write order
    sessions are numbered by time: a control connection stamped earlier by the step
    is S1)."""
    return (analysis.verdict,
            sorted(f.code for f in analysis.findings if f.code != "capture_clock_stepped"),
            sorted(([s.status for s in session.steps], len(session.data_connections))
                   for session in analysis.sessions))


@pytest.mark.parametrize("version", ["v4", "v2"])
@pytest.mark.parametrize("back", ["1", "0.05", "10", "-1"])
@pytest.mark.parametrize("at", ["data SYN", "control SYN", "MOVER_LISTEN reply",
                                "CONNECT request", "data SYN-ACK"])
def test_three_way_job_reads_the_same_with_its_clock_stepped(
        tmp_path: Path, version: str, back: str, at: str) -> None:
    original = _unpacked(tmp_path, version)
    steady, frames = _steady(version)
    assert steady.verdict == "pass"
    frame = frames[at]
    stepped = _analyze(_moved(original, frame, back), version)
    codes = {f.code for f in stepped.findings}
    assert "capture_filtered" not in codes, [f.message for f in stepped.findings]
    assert _reading(stepped) == _reading(steady)
    assert ("capture_clock_stepped" in codes) == (float(back) >= 0.128)
    (held,) = [s for s in stepped.sessions if s.data_connections]
    (tape,) = [s for s in stepped.sessions if not s.data_connections]
    assert all(a.used_by == held.data_connections[0] for a in tape.announced)


@pytest.mark.parametrize("version", ["v4", "v2"])
def test_a_pause_after_the_clock_set_back_is_not_records_written_late(
        tmp_path: Path, version: str) -> None:
    """Set back 1 s at the data SYN, the clock reaches the time it had again over the
    job's 1 s poll pause: by the times alone that is a stretch of records written out of
    time order (the file then ordered by time: the data connection before its
    DATA_CONNECT). The agent's reply to DATA_CONNECT, written after it, acknowledges its
    bytes stamped 1 s before them: the clock was set back, the frames are the order."""
    original = _unpacked(tmp_path, version)
    config = build_config(load_file(STORED / f"C-{version}-3way-bridge.toml"))
    frame = _steady(version)[1]["data SYN"]
    traffic = read_traffic([str(_moved(original, frame, "1"))], config)
    assert traffic.one_stream
    (stepped,) = [f for f in traffic.findings if f.code == "capture_clock_stepped"]
    assert "clock was set back" in stepped.message and "acknowledges the bytes" in \
        stepped.message
    assert "written out of time order" not in stepped.message
    assert "reordercap" not in stepped.fix


@pytest.mark.parametrize("version", ["v4", "v2"])
@pytest.mark.parametrize("back", ["1", "0.05"])
@pytest.mark.parametrize("at", ["data SYN", "CONNECT request", "MOVER_LISTEN reply"])
def test_cut_announcements_read_the_same_with_the_clock_stepped(
        tmp_path: Path, version: str, back: str, at: str) -> None:
    """The same captures cut to 96 bytes a packet (editcap -s 96: the announcements'
    addresses cut): the data connection, matched to no session, was open after both
    announcements in the file's order, so whether it is theirs cannot be told (steps 3-4
    unknown, INCONCLUSIVE), however it is stamped. It read FAIL, announced_not_used on
    both sessions: "no connection followed" (verify.cut_unjudged compared times)."""
    original = _unpacked(tmp_path, version)
    frame = _steady(version)[1][at]
    cut = tmp_path / f"{version}-96.pcap"
    subprocess.run(["editcap", "-s", "96", str(original), str(cut)], check=True,
                   capture_output=True)
    steady = _analyze(cut, version)
    assert steady.verdict == "inconclusive"
    stepped = _analyze(_moved(cut, frame, back), version)
    assert "announced_not_used" not in {f.code for f in stepped.findings}
    assert _reading(stepped) == _reading(steady)


TRIAL27 = STORED.parent / "trial27-three-way"


@pytest.mark.parametrize("name", ["3w-full-t", "3w-kill-t"])
@pytest.mark.parametrize("back", ["1", "10"])
@pytest.mark.parametrize("handshake", [0, 1], ids=["data SYN", "data SYN-ACK"])
def test_tape_agent_capture_reads_the_same_with_the_clock_stepped(
        tmp_path: Path, name: str, back: str, handshake: int) -> None:
    """Trial 27's three-way jobs captured on the tape agent (its control connection from
    the DMA and the data connection from the data agent), the clock set back in the data
    connection's handshake: the data connection begins with its SYN, stamped before the
    step, and every later packet is stamped earlier. The halt written after the data
    connection opened and after its reset is its resource's (verify.resource_halt): it
    read data_reset, "no normal halt of its job after it", for the tape's MEDIA_ERROR
    halt (3w-full-t) and the DMA's close of the mover's control connection
    (3w-kill-t)."""
    config = build_config(load_file(TRIAL27 / f"{name}.toml"))
    original = tmp_path / f"{name}.pcap"
    with gzip.open(TRIAL27 / f"{name}.pcap.gz") as src, original.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    steady = analyze(read_traffic([str(original)], config), config)
    (data,) = [c for c in steady.traffic.connections if c.role == "data"]
    stepped_file = _moved(original, data.first_frame + handshake, back)
    stepped = analyze(read_traffic([str(stepped_file)], config), config)
    assert "data_reset" not in {f.code for f in stepped.findings}
    assert _reading(stepped) == _reading(steady)


def _second_job(path: Path, listen_port: int, out: Path) -> Path:
    """The capture followed by itself again 0.5 s after its end, as a second job on the
    same mover endpoint (the ephemeral ports moved by one, the listen port and NDMP's
    kept)."""
    first = rdpcap(str(path))
    second = rdpcap(str(path))
    later = Decimal(first[-1].time) - Decimal(first[0].time) + Decimal("0.5")
    for packet in second:
        tcp = packet[TCP]
        tcp.sport += tcp.sport not in (10000, listen_port)
        tcp.dport += tcp.dport not in (10000, listen_port)
        del tcp.chksum
        packet.time = Decimal(packet.time) + later
    wrpcap(str(out), list(first) + list(second))
    return out


@pytest.mark.parametrize("version", ["v4", "v2"])
def test_two_jobs_on_one_endpoint_with_the_clock_set_back_between(
        tmp_path: Path, version: str) -> None:
    """Two three-way jobs, the second on the same mover endpoint, the clock set back 2 s
    at the first job's data SYN: the second job's LISTEN reply, written after the first
    job's CONNECT request, is stamped before it. Each job's CONNECT request hands on its
    own job's LISTEN reply, the latest one written before it. It read INCONCLUSIVE, the
    first job's MOVER_LISTEN reached by nothing (capture_filtered)."""
    original = _unpacked(tmp_path, version)
    steady, frames = _steady(version)
    (listen,) = [a for s in steady.sessions for a in s.announced
                 if a.message.endswith("MOVER_LISTEN")]
    two = _second_job(original, listen.port, tmp_path / "two.pcap")
    both = _analyze(_moved(two, frames["data SYN"], "2"), version)
    assert both.traffic.one_stream
    (request,) = [a for s in both.sessions for a in s.announced
                  if a.frame < len(read_records(original)[1]) and not a.message.endswith("LISTEN")]
    assert any(a.ts < request.ts for s in both.sessions for a in s.announced
               if a.frame > request.frame and a.message.endswith("MOVER_LISTEN"))
    codes = {f.code for f in both.findings}
    assert not codes & {"capture_filtered", "announced_not_used"}, \
        [f.message for f in both.findings]
    assert both.verdict == "pass"
    held = [s for s in both.sessions if s.data_connections]
    tape = [s for s in both.sessions if not s.data_connections]
    assert len(held) == len(tape) == 2
    assert sorted(a.used_by for s in tape for a in s.announced) == \
        sorted(s.data_connections[0] for s in held)

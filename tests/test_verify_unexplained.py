"""A required step that failed always comes with an error finding (the verdict reads
only the findings: a failed step without one would pass the job).

Over every stored capture and copies of each cut at its middle (the end, and the start:
editcap's files, written by tests/capture_edit.py), kept to one host's packets (tshark),
with the upper half of its frames shifted an hour back (an NTP step) and without frames
21-22 (the data connection's first SYN and the reply before it in the lab captures).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_edit import editcap, mergecap_append
from stored import case_analysis
from tshark_tcp import tcp_fields

from flowcheck.config import Config, build_config, load_file
from flowcheck.findings import verdict
from flowcheck.model import Connection, Session, Severity, Step
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.unexplained import NOT_WORKING, UNEXPLAINED, check_unexplained

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
STORED = sorted(p for p in CAPTURES.glob("*/*.pcap*") if p.suffix in (".pcap", ".pcapng"))


def _config_of(capture: Path) -> Path:
    own = capture.with_suffix(".toml")
    return own if own.exists() else capture.parent / "flowcheck.toml"


_PACKET_BLOCKS = (2, 3, 6)  # pcapng's packet, simple packet and enhanced packet blocks
_STATISTICS_BLOCK = 5


def _host_frames(data: bytes, keep: set[int], path: Path) -> Path:
    """The frames of a capture file's bytes `data` numbered in `keep` (from 1), written to
    `path`: a pcap file's records copied as they are (header, snap length and times
    unchanged); a pcapng file's packet blocks too, with its other blocks but the
    interface statistics, which `tshark -Y 'ip.src == HOST' -w` leaves out (this was
    that run: the same analysis on every stored pcapng and host, without tshark's start,
    about half a second on a loaded CI)."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        blocks, offset, number, order = [], 0, 0, "<"
        while offset + 12 <= len(data):
            if data[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":  # a section: its byte order
                order = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            kind, length = struct.unpack_from(f"{order}II", data, offset)
            if kind in _PACKET_BLOCKS:
                number += 1
            if (number in keep if kind in _PACKET_BLOCKS else kind != _STATISTICS_BLOCK):
                blocks.append(data[offset:offset + length])
            offset += length
        path.write_bytes(b"".join(blocks))
        return path
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                        b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"), path
    order = "<" if data[0] in (0xD4, 0x4D) else ">"
    kept, offset, number = [data[:24]], 24, 0
    while offset + 16 <= len(data):
        length = struct.unpack_from(f"{order}I", data, offset + 8)[0]
        number += 1
        if number in keep:
            kept.append(data[offset:offset + 16 + length])
        offset += 16 + length
    path.write_bytes(b"".join(kept))
    return path


def _variants(capture: Path, tmp_path: Path) -> list[Path]:
    # Each host's packets, as tshark's ip.src selects them (inner headers too: tunnels,
    # ICMP quotes): the tshark run the connection-count tests keep per capture (a line
    # per frame, in frame order; its TCP desegmentation setting changes no frame's
    # ip.src: the same frames as this test's own run with tshark's defaults on every
    # stored capture), instead of a start of its own (about a second on a loaded CI).
    # Its lines are the frames capinfos counts (every stored capture, when the count
    # was taken from it instead of a capinfos start).
    sources = [line.split(",") for line in tcp_fields(capture, ["ip.src"]).splitlines()]
    total = len(sources)
    half = max(1, total // 2)
    out: list[Path] = [capture]
    data = capture.read_bytes()

    def cut(name: str, frames: range, *, keep: bool) -> Path:
        # `editcap [-r] capture NAME FRAMES`'s file, written here (tests/capture_edit.py:
        # byte for byte, test_capture_edit)
        path = tmp_path / name
        path.write_bytes(editcap(data, frames, keep=keep))
        return path

    low = cut("end.pcap", range(1, half + 1), keep=True)  # editcap -r 1-HALF
    out.append(low)
    out.append(cut("start.pcap", range(half, total + 1), keep=True))  # -r HALF-TOTAL
    out.append(cut("no21-22.pcap", range(21, 23), keep=False))  # editcap 21-22
    for host in ("10.77.0.1", "10.77.0.2"):
        keep = {frame for frame, addresses in enumerate(sources, 1) if host in addresses}
        if keep:
            out.append(_host_frames(data, keep, tmp_path / f"from-{host}.pcap"))
    stepped = tmp_path / "stepped.pcap"
    # editcap -S 0 keeps the order; -t shifts every frame, so shift the upper half alone
    # and join the halves in file order (mergecap -a -F pcap). The lower half is end.pcap.
    # editcap -t -3600 -r capture high.pcap HALF+1-TOTAL, kept in memory
    high = editcap(data, range(half + 1, total + 1), keep=True, shift_seconds=-3600)
    stepped.write_bytes(mergecap_append(low.read_bytes(), high))
    out.append(stepped)
    return out


def _explained_elsewhere(analysis: Analysis, session: Session, errors: set[str | None],
                         data_steps: set[int]) -> bool:
    """A three-way job's tape session: its only bad steps are the data steps, and the
    session holding its data connection has an error finding (flowcheck.verify.shared)."""
    owner = {c.uid: c.session for c in analysis.traffic.connections}
    holders = {owner.get(a.used_by) for a in session.announced if a.used_by} - {session.id}
    bad = {st.step for st in session.steps if st.status in NOT_WORKING}
    return not session.data_connections and bool(holders & errors) and bad <= data_steps


def _unexplained(analysis: Analysis, config: Config) -> list[str]:
    """Sessions with a failed, missing or violated step and no error finding of theirs
    (nor, for a three-way job's tape session, of the session holding its data
    connection), and safety-net findings (the checks before left a step unexplained)."""
    errors = {f.session for f in analysis.findings if f.severity == Severity.ERROR}
    data_steps = {spec.number for spec in load_profile(config.profile).steps
                  if spec.kind in ("data_connection", "data_flow")}
    bad = [f"{s.id}: {[(st.step, st.status) for st in s.steps]}" for s in analysis.sessions
           if any(st.status in NOT_WORKING for st in s.steps) and s.id not in errors
           and not _explained_elsewhere(analysis, s, errors, data_steps)]
    return bad + [f.message for f in analysis.findings if UNEXPLAINED in f.message]


@pytest.mark.parametrize("capture", STORED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_failed_step_has_its_error_finding(tmp_path: Path, capture: Path) -> None:
    config = build_config(load_file(_config_of(capture)))
    judged: set[bytes] = set()
    for variant in _variants(capture, tmp_path):
        # A variant byte for byte one judged before (one host's packets of a capture of
        # that host's alone, no frame 21 in a shorter capture, the halves of 2 frames:
        # 46 of 1,372 files) is the same input: read and judged again, the same analysis.
        data = variant.read_bytes()
        if data in judged:
            continue
        judged.add(data)
        if variant == capture:  # the stored capture itself: its shared analysis
            analysis = case_analysis(capture, _config_of(capture))
        else:
            try:
                traffic = read_traffic([str(variant)], config)
            except Exception:  # noqa: BLE001 - a variant with no packet left: nothing to judge
                continue
            analysis = analyze(traffic, config)
        assert _unexplained(analysis, config) == [], variant.name


def test_a_failed_step_without_its_finding_fails_the_verdict() -> None:
    """The safety net itself: a step judged missing that no check explained."""
    control = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, ts=0.0)
    session = Session("S1", "C1", "10.0.0.1", "10.0.0.2", 4, "backup")
    session.steps = [Step(1, "control", "ok"), Step(3, "announcement", "missing",
                                                    detail="no endpoint announced")]
    ctx = Context([control], [], [session], build_config({}), load_profile("backup-exec-9"))
    check_unexplained(ctx)
    [finding] = ctx.findings
    assert finding.code == "step_missing" and finding.session == "S1"
    assert "no endpoint announced" in finding.message
    assert verdict(ctx.findings, [session]) == "fail"

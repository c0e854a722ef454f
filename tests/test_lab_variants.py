"""The lab's jobs made by other capture tools and topologies (captures/lab, captures/lab-ring).

flowcheck was written against tcpdump on one veth; these captures were not: two jobs at
once against one agent, 802.1Q-tagged frames, `tcpdump -i any` (LINUX_SLL2), dumpcap's
pcapng, a tcpdump ring buffer read as one capture set, and the other NDMP pairing (the
agent opens the data connection). Facts are checked against the wire itself (tshark and
the lab's own NDMP records), not against flowcheck's output.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import tshark_fork
from test_tshark_counts import assert_matches_tshark, track

from flowcheck.config import build_config, load_file
from flowcheck.lab.capture import ring_files
from flowcheck.lab.scenarios import SCENARIOS
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.regress import find_cases

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
RING = ROOT / "captures" / "lab-ring"
_EXPECT = re.compile(r"#\s*expect:\s*verdict (pass|fail); findings (.+)")

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")


def _analyze(capture: Path | list[Path], config_path: Path, **overrides: object) -> Analysis:
    config = build_config({**load_file(config_path), **overrides})
    paths = capture if isinstance(capture, list) else [capture]
    return analyze(read_traffic([str(p) for p in paths], config), config)


def _expected(config_path: Path) -> tuple[str, set[str]]:
    match = next(m for line in config_path.read_text().splitlines()
                 if (m := _EXPECT.search(line)))
    findings = match.group(2).strip()
    codes = set() if findings.startswith("none") else {c.strip() for c in findings.split(",")}
    return match.group(1), codes


def _reported(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings if str(f.severity) in ("error", "warning")}


def _tshark(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    return [row for row in tshark_fork.fields(path, display_filter, *fields)
            if "\t".join(row).strip()]


def _records(payload: bytes) -> list[tuple[int, int, bytes]]:
    """(message type, code, body) of each whole NDMP record in one TCP payload."""
    records = []
    while len(payload) >= 28:
        (mark,) = struct.unpack_from(">I", payload)
        length = mark & 0x7FFFFFFF
        _seq, _stamp, message_type, code, _reply, _error = struct.unpack_from(
            ">IIIIII", payload, 4)
        records.append((message_type, code, payload[28:4 + length]))
        payload = payload[4 + length:]
    return records


def job_engine_ports(path: Path) -> dict[int, int]:
    """Control connection's media-side port -> the job engine port its 0xF001 names.

    Read from the lab's vendor request on the wire (Wireshark does not dissect it):
    the independent truth of which callback belongs to which control session.
    """
    ports = {}
    for src_port, payload in _tshark(path, "tcp.dstport == 10000 && tcp.len > 0",
                                     "tcp.srcport", "tcp.payload"):
        for message_type, code, body in _records(bytes.fromhex(payload.replace(":", ""))):
            if message_type == 0 and code == 0xF001:
                ports[int(src_port)] = struct.unpack_from(">I", body, 4)[0]
    return ports


def announced_ports(path: Path) -> dict[int, set[int]]:
    """Control's media-side port -> agent data ports its DATA_LISTEN replies announce
    (Wireshark's NDMP dissector)."""
    announced: dict[int, set[int]] = {}
    for dst_port, port in _tshark(path, "ndmp.msg == 0x409 && ndmp.msg_type == 1",
                                  "tcp.dstport", "ndmp.addr.tcp_port"):
        announced.setdefault(int(dst_port), set()).add(int(port))
    return announced


# concurrent-jobs ------------------------------------------------------------------------

CONCURRENT = LAB / "concurrent-jobs.pcap"
LATE_CALLBACK = LAB / "concurrent-jobs-late-callback.pcap"


@needs_tshark
@pytest.mark.parametrize("capture", [CONCURRENT, LATE_CALLBACK], ids=lambda p: p.stem)
def test_concurrent_jobs_each_session_owns_its_callback_and_data(capture: Path) -> None:
    analysis = _analyze(capture, capture.with_suffix(".toml"))
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    assert _reported(analysis) == set()
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    sessions = analysis.sessions
    assert len(sessions) == 2
    controls = [by_uid[s.control_uid] for s in sessions]
    # The two control connections overlap in time: two jobs at once.
    first, second = sorted(controls, key=lambda c: c.ts)
    assert second.ts < first.last_ts

    engine = job_engine_ports(capture)
    announced = announced_ports(capture)
    assert len(engine) == 2 and len(announced) == 2
    for session, control in zip(sessions, controls, strict=True):
        assert session.kind == "backup"
        assert all(step.status == "ok" for step in session.steps)
        # Its own callback: to the job engine port its own vendor message named.
        callback = by_uid[session.callback_uid]
        assert callback.orig_h == "10.77.0.2"
        assert callback.resp_p == engine[control.orig_p]
        # Its own two data connections: to the ports its own DATA_LISTEN replies announced.
        data = [by_uid[uid] for uid in session.data_connections]
        assert len(data) == 2
        assert {c.resp_p for c in data} == announced[control.orig_p]
        assert all(c.session == session.id and c.role == "data" for c in data)
    callbacks = [by_uid[s.callback_uid] for s in sessions]
    if capture == LATE_CALLBACK:
        # The scenario's point: the callbacks arrive in the other order than their
        # control connections, so taking "the next one" per session would cross them.
        assert callbacks[0].ts > callbacks[1].ts
    # Their data connections interleave: one job's data runs while the other's does.
    spans = [[(by_uid[u].ts, by_uid[u].last_ts) for u in s.data_connections]
             for s in sessions]
    assert any(a_start < b_end and b_start < a_end
               for a_start, a_end in spans[0] for b_start, b_end in spans[1])


# clean-vlan -----------------------------------------------------------------------------

VLAN = LAB / "clean-vlan.pcap"


@needs_tshark
def test_vlan_capture_every_frame_tagged_and_counts_equal_tshark() -> None:
    tags = _tshark(VLAN, "frame", "vlan.id")
    assert tags and all(tag == ["77"] for tag in tags)
    assert_matches_tshark(VLAN)  # also run for every capture by test_tshark_counts
    analysis = _analyze(VLAN, VLAN.with_suffix(".toml"))
    assert analysis.verdict == "pass" and _reported(analysis) == set()
    assert [len(s.data_connections) for s in analysis.sessions] == [2]


# data-port-dropped-any ------------------------------------------------------------------

ANY = LAB / "data-port-dropped-any.pcap"


def test_any_capture_is_linux_sll2_and_finds_the_dropped_data_port() -> None:
    header = ANY.read_bytes()[:24]
    assert header[:4] == bytes.fromhex("d4c3b2a1")
    assert int.from_bytes(header[20:24], "little") == 276  # LINKTYPE_LINUX_SLL2
    analysis = _analyze(ANY, ANY.with_suffix(".toml"))
    assert analysis.verdict == "fail"
    assert _reported(analysis) == {"data_unanswered"}
    steps = {step.step: step.status for step in analysis.sessions[0].steps}
    assert steps[4] == "failed"


# clean-dumpcap.pcapng (test_verify_lab_captures globs *.pcap only) -----------------------

DUMPCAP = LAB / "clean-dumpcap.pcapng"


def test_dumpcap_pcapng_meets_its_expectation() -> None:
    assert DUMPCAP.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng section header
    config_path = LAB / "clean-dumpcap.toml"
    verdict, codes = _expected(config_path)
    analysis = _analyze(DUMPCAP, config_path)
    assert analysis.verdict == verdict
    assert _reported(analysis) == codes
    assert [len(s.data_connections) for s in analysis.sessions] == [2]


# the ring buffer: one capture set of several files --------------------------------------

RING_FILES = ring_files(RING / "ring.pcap")


def test_ring_directory_is_one_capture_set() -> None:
    assert len(RING_FILES) >= 2, "the ring should span several files"
    config_path = RING / "flowcheck.toml"
    verdict, codes = _expected(config_path)
    # The directory as a whole, as `flowcheck analyze --config ... captures/lab-ring/`.
    analysis = analyze(read_traffic([str(RING)], build_config(load_file(config_path))),
                       build_config(load_file(config_path)))
    assert analysis.verdict == verdict == "pass"
    assert _reported(analysis) == codes
    assert len(analysis.sessions) == 1
    session = analysis.sessions[0]
    assert session.kind == "backup" and session.callback_uid is not None
    assert len(session.data_connections) == 3
    assert all(step.status == "ok" for step in session.steps)
    # The files named one by one give the same set.
    again = _analyze(list(RING_FILES), config_path)
    assert [c.uid for c in again.traffic.connections] == [
        c.uid for c in analysis.traffic.connections]
    # A connection straddles a file boundary: that is what the set has to mend.
    per_file = [{(c.orig_h, c.orig_p, c.resp_h, c.resp_p) for c in track(part)}
                for part in RING_FILES]
    assert any(a & b for a, b in zip(per_file, per_file[1:], strict=False))


@needs_tshark
def test_ring_counts_equal_tshark_on_the_merged_files(tmp_path: Path) -> None:
    merged = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), *map(str, RING_FILES)],
                   check=True)
    connections = _analyze(RING, RING / "flowcheck.toml").traffic.connections
    assert_matches_tshark(merged, connections)


def test_regress_does_not_take_ring_parts_as_cases() -> None:
    cases = find_cases([str(ROOT / "captures")])
    assert not [c for c in cases if c.capture.parent == RING]
    assert all(not p.name.endswith((".pcap", ".pcapng", ".cap", ".gz")) for p in RING_FILES)


# agent-connects-data --------------------------------------------------------------------

REVERSED = LAB / "agent-connects-data.pcap"


def test_agent_opened_data_is_wrong_way_for_backup_exec_and_fine_for_ndmp() -> None:
    config_path = REVERSED.with_suffix(".toml")
    analysis = _analyze(REVERSED, config_path)
    assert analysis.verdict == "fail"
    assert _reported(analysis) == {"step_out_of_order"}
    session = analysis.sessions[0]
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    data = [by_uid[uid] for uid in session.data_connections]
    assert len(data) == 2 and all(c.orig_h == "10.77.0.2" for c in data)
    assert {step.step: step.status for step in session.steps}[4] == "violated"

    plain = _analyze(REVERSED, config_path, profile="ndmp")
    assert plain.verdict == "pass"
    # No callback in plain NDMP: the agent's connection to the job engine port, whose
    # address travels only in the undecoded vendor message, is explained by nothing.
    assert _reported(plain) == {"unannounced_connection"}
    assert len(plain.sessions[0].data_connections) == 2


def test_variant_scenarios_are_stored_with_their_sidecars() -> None:
    for name, capture, config in [
            ("concurrent-jobs", CONCURRENT, LAB / "concurrent-jobs.toml"),
            ("concurrent-jobs-late-callback", LATE_CALLBACK,
             LAB / "concurrent-jobs-late-callback.toml"),
            ("clean-vlan", VLAN, LAB / "clean-vlan.toml"),
            ("data-port-dropped-any", ANY, LAB / "data-port-dropped-any.toml"),
            ("clean-dumpcap", DUMPCAP, LAB / "clean-dumpcap.toml"),
            ("clean-ring", RING_FILES[0], RING / "flowcheck.toml"),
            ("agent-connects-data", REVERSED, LAB / "agent-connects-data.toml")]:
        assert name in SCENARIOS
        assert capture.is_file() and config.is_file()
        text = config.read_text()
        assert f"python -m flowcheck.lab capture {name} " in text
        assert name in (LAB / "README.md").read_text()

"""Captures of Windows tools that log each packet at several places of one host's stack
(trial 24 D2, D3, D7): pktmon (one appearance per component, each named by pktmon's
comment) and netsh trace + etl2pcapng (one interface per NDIS binding). Their copies are
one capture point's: not retransmissions or SYN retries however far apart pktmon logged
them, not two capture points, not a duplicating network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from windows_captures import etl2pcapng, interface, netsh_cut, packet, pktmon, section

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources import iter_batches
from flowcheck.sources.host_tools import NETSH, PKTMON

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
L2FW = ROOT / "captures" / "windows-tools" / "l2fw-dropped-etl2pcapng.pcapng"


def run(capture: Path | list[Path], toml: Path) -> Analysis:
    config = build_config(load_file(toml), {})
    files = capture if isinstance(capture, list) else [capture]
    return analyze(read_traffic([str(f) for f in files], config), config)


def totals(analysis: Analysis) -> tuple[int, int]:
    """(retransmits, syn_retries) over every connection."""
    conns = analysis.traffic.connections
    return sum(c.retransmits for c in conns), sum(c.syn_retries for c in conns)


def duplicates(analysis: Analysis) -> str:
    found = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert len(found) == 1
    return f"{found[0].message} Fix: {found[0].fix}"


@pytest.mark.parametrize("gap_us", [3, 700])
def test_pktmon_appearances_are_copies_at_any_spacing(tmp_path: Path, gap_us: int) -> None:
    """D7: the three appearances of each packet 700 us apart (a loaded host) are no
    retransmissions or SYN retries, and the data volume counts each byte once."""
    name = "clean-3-resources"
    plain = run(LAB / f"{name}.pcap", LAB / f"{name}.toml")
    logged = run(pktmon(LAB / f"{name}.pcap", tmp_path / "pktmon.pcapng", gap_us),
                 LAB / f"{name}.toml")
    assert logged.verdict == plain.verdict == "pass"
    assert totals(logged) == totals(plain) == (0, 0)
    assert [c.orig_pkts for c in logged.traffic.connections] == [
        3 * c.orig_pkts for c in plain.traffic.connections]
    flows = [s for s in logged.sessions[0].steps if s.step == 5][0]
    plain_flows = [s for s in plain.sessions[0].steps if s.step == 5][0]
    assert flows.detail.split(";")[0] == plain_flows.detail.split(";")[0]


def test_pktmon_syn_retries_of_a_dropped_callback_are_counted_once(tmp_path: Path) -> None:
    """D7: the callback's SYNs, each logged three times 700 us apart, are the SYNs the
    agent sent: the finding names as many frames as the plain capture's."""
    name = "callback-blocked"
    plain = run(LAB / f"{name}.pcap", LAB / f"{name}.toml")
    logged = run(pktmon(LAB / f"{name}.pcap", tmp_path / "pktmon.pcapng", 700),
                 LAB / f"{name}.toml")
    assert totals(logged) == totals(plain)
    mine = [f for f in logged.findings if f.code == "callback_unanswered"]
    theirs = [f for f in plain.findings if f.code == "callback_unanswered"]
    assert len(mine) == len(theirs) == 1
    assert len(mine[0].frames) == len(theirs[0].frames)


def test_pktmon_copies_are_named_as_the_tool_s(tmp_path: Path) -> None:
    """D3: pktmon's appearances are its own per-component logging, with pktmon's way to
    have each packet once; no SPAN session, no duplicating network device."""
    name = "clean-3-resources"
    text = duplicates(run(pktmon(LAB / f"{name}.pcap", tmp_path / "pktmon.pcapng"),
                          LAB / f"{name}.toml"))
    assert "pktmon logged each packet at every network-stack component" in text
    assert "--component-id" in text and "--comp nics" in text
    assert "SPAN" not in text and "duplicating packets" not in text


def test_etl2pcapng_copies_are_named_as_the_tool_s(tmp_path: Path) -> None:
    """D3: netsh trace's copies are its per-binding logging (etl2pcapng's interfaces)."""
    name = "clean-3-resources"
    text = duplicates(run(etl2pcapng(LAB / f"{name}.pcap", tmp_path / "netsh.pcapng"),
                          LAB / f"{name}.toml"))
    assert "netsh trace logged each packet at every NDIS layer" in text
    assert "frame.interface_id" in text
    assert "SPAN" not in text and "duplicating packets" not in text


def test_etl2pcapng_copies_are_one_capture_point() -> None:
    """D2: each SYN twice (miniport and filter, 2 us apart) on the media server's own
    capture is no capture point on the agent: a layer-2 firewall between the hosts
    dropped them, not the agent's own firewall."""
    analysis = run(L2FW, L2FW.with_suffix(".toml"))
    assert analysis.verdict == "fail"
    unanswered = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert len(unanswered) == 1
    text = f"{unanswered[0].message} {unanswered[0].fix}"
    assert "own firewall drops them" not in text
    assert "a capture point on each" not in text
    assert "something drops its SYNs on the way to 10.77.0.2" in text


def test_pktmon_drop_file_beside_its_flow_file_is_one_capture_point(tmp_path: Path) -> None:
    """D2: pktmon's drop file (`etl2pcap --drop-only`) holds further appearances of the
    flow file's packets, with the same PktGroupId: one host, one tool, not two capture
    points' captures of the same traffic."""
    source = LAB / "callback-blocked.pcap"
    flow = pktmon(source, tmp_path / "log-capture.pcapng")
    # The drop file: the callback SYNs (to the job engine port 5001) once more, 6 us on.
    data = flow.read_bytes()
    batches = list(iter_batches([str(flow)]))
    drop = [section(b"PktMon etl2pcap"), interface(tsresol=9)]
    for batch in batches:
        for row in range(len(batch)):
            frame = bytes(batch.buf[int(batch.data_off[row]):
                                    int(batch.data_off[row]) + int(batch.caplen[row])])
            if frame[36:38] == (5001).to_bytes(2, "big") and frame[47] == 0x02 and \
                    batch.identity is not None:
                group = int(batch.identity[row]) >> 16
                ticks = int(round(float(batch.ts[row]) * 1e9)) + 6000
                drop.append(packet(0, ticks, frame, len(frame),
                                   f"PktGroupId {group}, PktNumber 1, Appearance 4, "
                                   "Direction Rx , Type Ethernet , Component 12, "
                                   "DropReason WFP filter drop"))
    assert len(drop) > 2 and data
    dropped = tmp_path / "log-drop.pcapng"
    dropped.write_bytes(b"".join(drop))
    text = duplicates(run([flow, dropped], LAB / "callback-blocked.toml"))
    assert "two capture points" not in text
    assert "pktmon logged each packet" in text


def test_pktmon_identities_are_read_only_from_pktmon_comments(tmp_path: Path) -> None:
    """The reader: pktmon's PktGroupId/PktNumber as each packet's identity, the tool from
    the section header or the interfaces; a file without comments has none (no work per
    packet)."""
    source = LAB / "clean-3-resources.pcap"
    batches = list(iter_batches([str(pktmon(source, tmp_path / "p.pcapng"))]))
    identity = np.concatenate([b.identity for b in batches])
    assert (identity >= 0).all() and np.unique(identity).shape[0] * 3 == identity.shape[0]
    reader = iter_batches([str(etl2pcapng(source, tmp_path / "n.pcapng"))])
    assert all(b.identity is None for b in reader)
    assert reader.captures[0].tool == NETSH
    reader = iter_batches([str(tmp_path / "p.pcapng")])
    list(reader)
    assert reader.captures[0].tool == PKTMON
    reader = iter_batches([str(LAB / "clean-dumpcap.pcapng")])
    assert all(b.identity is None for b in reader)
    assert reader.captures[0].tool is None


def test_json_captures_keep_their_keys(tmp_path: Path) -> None:
    """CaptureInfo.tool is not in the JSON (contract: captures[] keys unchanged)."""
    from flowcheck.model import CaptureInfo

    info = CaptureInfo(path="x", tool=PKTMON)
    assert "tool" not in json.dumps(info.as_dict())


@pytest.mark.parametrize("zero_length", [False, True])
def test_netsh_truncation_recorded_as_whole_is_no_sniffer_loss(tmp_path: Path,
                                                               zero_length: bool) -> None:
    """D5: netsh trace's packettruncatebytes=128 on the agent, converted by etl2pcapng
    (caplen = original length = 128 for its large sends): the gaps after them are the
    cut, not "the sniffer lost them"; the fix is to capture without truncation."""
    name = "clean-3-resources"
    cut = netsh_cut(LAB / f"{name}.pcap", tmp_path / "cut.pcapng", bytes([10, 77, 0, 2]),
                    zero_length=zero_length)
    analysis = run(cut, LAB / f"{name}.toml")
    assert analysis.verdict == "pass"
    loss = [f for f in analysis.findings if f.code == "capture_loss"]
    assert len(loss) == 1
    assert "the capture tool cut" in loss[0].message and "to 128 bytes" in loss[0].message
    assert "the sniffer lost them" not in loss[0].message
    assert "packettruncatebytes" in loss[0].fix and "tcpdump -B" not in loss[0].fix


def test_netsh_truncation_is_no_ndmp_stream_loss(tmp_path: Path) -> None:
    """D5: the agent's NDMP replies cut the same way leave holes in the control stream:
    its ndmp_partial says they are the tool's cuts, not the snap length or the sniffer."""
    name = "clean-3-resources"
    cut = netsh_cut(LAB / f"{name}.pcap", tmp_path / "cut.pcapng", bytes([10, 77, 0, 2]),
                    snap=90)
    analysis = run(cut, LAB / f"{name}.toml")
    holes = [f for f in analysis.findings if f.code == "ndmp_partial"
             and "never captured" in f.message]
    assert holes
    for finding in holes:
        assert "the missing bytes are those cuts" in finding.message
        assert "packettruncatebytes" in finding.fix and "tcpdump -B" not in finding.fix


def test_netsh_truncation_keeps_the_data_volume(tmp_path: Path) -> None:
    """D5: step 5 adds the bytes the tool cut to those it holds: the job's volume."""
    name = "clean-3-resources"
    plain = run(LAB / f"{name}.pcap", LAB / f"{name}.toml")
    cut = run(netsh_cut(LAB / f"{name}.pcap", tmp_path / "cut.pcapng", bytes([10, 77, 0, 2])),
              LAB / f"{name}.toml")
    step = [s for s in cut.sessions[0].steps if s.step == 5][0].detail
    whole = int([s for s in plain.sessions[0].steps if s.step == 5][0].detail.split(" B")[0]
                .replace(",", ""))
    held = int(step.split(" B")[0].replace(",", ""))
    more = int(step.split("; and ")[1].split(" B")[0].replace(",", ""))
    assert held < whole and held + more == whole


def test_other_comments_stop_being_read(tmp_path: Path) -> None:
    """Packets with other tools' comments (or only flags) are read for pktmon's for a
    while only, then no more (no Python work per packet for the rest of the file)."""
    from flowcheck.sources.pcapng import PcapngParser

    frame = bytes(14) + bytes([0x45]) + bytes(45)
    blocks = [section(b"Dumpcap (Wireshark) 4.2.2"), interface(r"\Device\NPF_{X}")]
    blocks += [packet(0, n, frame, len(frame), f"comment {n}", 1) for n in range(200)]
    data = b"".join(blocks)
    parser = PcapngParser()
    located = parser.locate(data, 0)
    assert len(located.records) == 200 and located.records.identity is None
    assert parser.tool.pktmon_comments is False and parser.tool.name is None


def test_frames_sliced_before_a_tcpdump_capture_are_named_as_such(tmp_path: Path) -> None:
    """Trial 22 D4: a packet broker's 128-byte slicing (pcap's original length = the cut
    length) in a tcpdump file was called netsh trace's, with its fix."""
    import struct

    name = "clean-3-resources"
    source = (LAB / f"{name}.pcap").read_bytes()
    out, pos = [source[:24]], 24
    while pos + 16 <= len(source):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", source, pos)
        frame = source[pos + 16:pos + 16 + caplen][:128]
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
        pos += 16 + caplen
    sliced = tmp_path / "sliced.pcap"
    sliced.write_bytes(b"".join(out))
    analysis = run(sliced, LAB / f"{name}.toml")
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "were cut to 128 bytes before the capture recorded them" in loss.message
    assert "a packet broker's slicing or a mirror session's truncation" in loss.message
    assert loss.fix.startswith("Capture whole frames: turn off packet slicing on the packet "
                               "broker, or the truncation (MTU) of the mirror session")
    assert "the capture tool cut" not in loss.message


def test_pktmon_comments_are_read_in_bulk_as_the_pattern_reads_them() -> None:
    """Recheck N4: the comments were read one packet at a time in Python (a pktmon
    capture of 263k packets read 40% slower); the bulk reading gives what the regular
    expression gives, on pktmon's comments and on others."""
    import random
    import re

    import numpy as np

    from flowcheck.sources.host_tools import NO_IDENTITY, _pktmon_identities

    pattern = re.compile(rb"PktGroupId (\d+), PktNumber (\d+)")  # pktmon's comment

    rng = random.Random(7)
    comments = [b"", b"PktGroupId 1, PktNumber 2", b"PktGroupId , PktNumber 2",
                b"PktGroupId 12, PktNumber", b"pktgroupid 1, PktNumber 2",
                b"PktGroupId 4294967295, PktNumber 65537, Appearance 3, Direction Tx",
                b"PktGroupId 7,PktNumber 8", b"Dumpcap comment", b"PID=4"]
    for _ in range(300):
        group, number = rng.randrange(10 ** rng.randrange(1, 10)), rng.randrange(70000)
        text = f"PktGroupId {group}, PktNumber {number}, Appearance {rng.randrange(4)}"
        cut = rng.choice([len(text), rng.randrange(len(text) + 1)])
        comments.append(text.encode()[:cut])
    blob, at, length = b"", [], []
    for comment in comments:
        at.append(len(blob))
        length.append(len(comment))
        blob += comment + bytes(rng.randrange(8))  # what follows in the block
    got = _pktmon_identities(np.frombuffer(blob, np.uint8), np.array(at), np.array(length))
    expected = []
    for comment in comments:
        match = pattern.match(comment[:64])
        expected.append(NO_IDENTITY if match is None else
                        (int(match[1]) << 16) + (int(match[2]) & 0xFFFF))
    assert got.tolist() == expected

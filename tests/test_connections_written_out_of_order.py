"""Records written out of time order by less than NTP's step threshold (D3 rest).

A multi-queue NIC, merged rings or a tap can write a pcap's record N+1 with an earlier
timestamp than record N while the packets were fine on the wire. Each test swaps pairs of
adjacent records of stored good captures, each record keeping its own timestamp (the file
order disagrees with the time order by under 1 ms), and compares the analysis with the
same file sorted by Wireshark's `reordercap`: the verdict, the finding codes, each
connection's retransmissions and history must be the sorted file's, tshark's counts stay
the file's, and an info finding says the records were written out of time order.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_tshark_counts import assert_matches_tshark

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CODE = "capture_written_out_of_order"
_FLOWS = {0x0800: (9, 12, 4), 0x86DD: (6, 8, 16)}  # ethertype: protocol, source, address


def _records(data: bytes) -> tuple[bytes, int, list[bytes]]:
    """A little-endian pcap's file header, link type and records (header + bytes)."""
    assert struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D)
    records, offset = [], 24
    while offset < len(data):
        length = struct.unpack("<I", data[offset + 8:offset + 12])[0]
        records.append(data[offset:offset + 16 + length])
        offset += 16 + length
    return data[:24], struct.unpack("<I", data[20:24])[0], records


def _tcp(record: bytes, link: int) -> tuple[bytes, int, int, bool] | None:
    """(source and destination addresses and ports, payload bytes, flags, ACK only) of
    an Ethernet or Linux cooked record's TCP segment; None for anything else."""
    frame = record[16:]
    at = 14 if link == 1 else 16
    kind = struct.unpack(">H", frame[at - 2:at])[0]
    if kind not in _FLOWS:
        return None
    ip = frame[at:]
    protocol, source, size = _FLOWS[kind]
    if ip[protocol] != 6:
        return None
    if kind == 0x0800:
        header = (ip[0] & 15) * 4
        payload = struct.unpack(">H", ip[2:4])[0] - header
    else:
        header, payload = 40, struct.unpack(">H", ip[4:6])[0]
    tcp = ip[header:]
    flags = tcp[13]
    return (ip[source:source + 2 * size] + tcp[:4], payload - (tcp[12] >> 4) * 4, flags,
            flags & 0x17 == 0x10)


def _stamp(record: bytes) -> float:
    seconds, fraction = struct.unpack("<II", record[:8])
    return seconds + fraction / 1e6


def _same_direction(a: tuple, b: tuple) -> bool:
    """Two data segments of one direction of one connection (a multi-queue NIC)."""
    return a[0] == b[0] and a[1] > 0 and b[1] > 0


def _data_then_answer(a: tuple, b: tuple) -> bool:
    """A segment with payload and the other direction's answer (its ACK or RST: the
    receive and send queues written in turn)."""
    flow = a[0]
    half = len(flow) // 2 - 2
    other = flow[half:2 * half] + flow[:half] + flow[-2:] + flow[-4:-2]
    return b[0] == other and a[1] > 0 and b[1] == 0


def swapped(source: Path, out: Path, pair: Callable[[tuple, tuple], bool]) -> int:
    """source's records with each pair of adjacent records that `pair` accepts, stamped
    less than 1 ms apart, written in the other order (their timestamps kept); the
    number of pairs swapped."""
    data = source.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    header, link, records = _records(data)
    at, count = 0, 0
    while at + 1 < len(records):
        a, b = _tcp(records[at], link), _tcp(records[at + 1], link)
        if a and b and pair(a, b) and abs(_stamp(records[at + 1]) - _stamp(records[at])) < 1e-3:
            records[at], records[at + 1] = records[at + 1], records[at]
            count += 1
            at += 2
        else:
            at += 1
    out.write_bytes(header + b"".join(records))
    return count


def in_blocks(source: Path, out: Path, window: int) -> int:
    """source's records with, in each `window` records stamped less than 1 ms apart,
    those from the higher address written first (a NIC's queues written in turn), each
    keeping its timestamp; the number of windows reordered."""
    header, link, records = _records(source.read_bytes())
    written, count = [], 0
    for at in range(0, len(records), window):
        part = records[at:at + window]
        if len(part) < 2 or _stamp(part[-1]) - _stamp(part[0]) >= 1e-3:
            written += part
            continue
        flows = [_tcp(record, link) for record in part]
        first = [r for r, f in zip(part, flows, strict=True)
                 if f and f[0][:len(f[0]) // 2 - 2] > f[0][len(f[0]) // 2 - 2:-4]]
        rest = [r for r in part if r not in first]
        count += first + rest != part
        written += first + rest
    out.write_bytes(header + b"".join(written))
    return count


def _analyze(path: Path, config_file: Path) -> Analysis:
    config = build_config(load_file(config_file))
    return analyze(read_traffic([str(path)], config), config)


def _summary(analysis: Analysis) -> tuple:
    """What must not depend on the order the records were written in."""
    return (analysis.verdict, sorted(f.code for f in analysis.findings if f.code != CODE),
            [(c.uid, c.orig_pkts, c.resp_pkts, c.orig_bytes, c.resp_bytes, c.retransmits,
              c.history, c.missed_bytes, c.gaps) for c in analysis.traffic.connections])


def _sorted(path: Path) -> Path:
    out = path.with_name(path.stem + "-sorted.pcap")
    subprocess.run(["reordercap", str(path), str(out)], check=True, capture_output=True)
    return out


CASES = [
    ("ndmjob/v4-backup.pcap", "ndmjob/flowcheck.toml", _same_direction),
    ("ndmjob/v4-three-resources.pcap", "ndmjob/flowcheck.toml", _same_direction),
    ("lab-trial28-addresses/allv6-wire.pcap.gz", "lab-trial28-addresses/allv6-wire.toml",
     _same_direction),
    ("ndmjob/v4-backup.pcap", "ndmjob/flowcheck.toml", _data_then_answer),
    ("lab-trial28-addresses/allv6-wire.pcap.gz", "lab-trial28-addresses/allv6-wire.toml",
     _data_then_answer),
    # The agent's RST written before the NOTIFY_DATA_HALTED it answers (26 us later).
    ("ndmjob-idle/idle-rst-agent.pcap.gz", "ndmjob-idle/idle-rst-agent.toml",
     _data_then_answer),
]


@pytest.mark.parametrize(("capture", "config", "pair"), CASES,
                         ids=[f"{c}-{p.__name__}" for c, _, p in CASES])
def test_records_written_out_of_order_are_judged_as_the_sorted_file(
        tmp_path: Path, capture: str, config: str, pair: Callable) -> None:
    written = tmp_path / "written.pcap"
    assert swapped(CAPTURES / capture, written, pair) > 0
    config_file = CAPTURES / config
    analysis, reference = _analyze(written, config_file), _analyze(_sorted(written), config_file)
    assert _summary(analysis) == _summary(reference)
    assert_matches_tshark(written, analysis.traffic.connections)  # the unsorted file's
    assert CODE not in [f.code for f in reference.findings]
    [finding] = [f for f in analysis.findings if f.code == CODE]
    assert "reordercap" in finding.fix and finding.frames


def test_the_sorted_file_has_no_retransmission(tmp_path: Path) -> None:
    """The good job's data segments written in pairs the other way round: no
    retransmission, no gap letter, no loss words in the data step."""
    written = tmp_path / "written.pcap"
    swaps = swapped(CAPTURES / "ndmjob/v4-backup.pcap", written, _same_direction)
    analysis = _analyze(written, CAPTURES / "ndmjob/flowcheck.toml")
    assert analysis.verdict == "pass"
    data = max(analysis.traffic.connections, key=lambda c: c.orig_bytes)
    assert data.retransmits == 0 and "T" not in data.history and "G" not in data.history
    step = next(s for s in analysis.sessions[0].steps if s.step == 4)
    assert "retransmitted" not in step.detail
    [finding] = [f for f in analysis.findings if f.code == CODE]
    assert f"{swaps} " in finding.message


def test_queues_written_in_blocks_are_judged_as_the_sorted_file(tmp_path: Path) -> None:
    """The agent's packets written before the media server's in each 6 records (a NIC's
    queues in turn): the data connection's SYN-ACK before its SYN, ACKs before the data
    they acknowledge. Before: FAIL (the connection's roles flipped, step 3 missing)."""
    written = tmp_path / "blocks.pcap"
    assert in_blocks(CAPTURES / "ndmjob/v4-backup.pcap", written, 6) > 0
    config_file = CAPTURES / "ndmjob/flowcheck.toml"
    analysis, reference = _analyze(written, config_file), _analyze(_sorted(written), config_file)
    assert _summary(analysis) == _summary(reference)
    assert_matches_tshark(written, analysis.traffic.connections)
    assert analysis.verdict == "pass"
    assert CODE in [f.code for f in analysis.findings]

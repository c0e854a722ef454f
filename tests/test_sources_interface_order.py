"""A pcapng file of several interfaces written in blocks (dumpcap), read in time order,
and frame numbers as Wireshark gives them (new-user trial 24, D1 and D8).

D1: a job captured on a Windows NIC team: the media server sends on one member and
receives on the other; dumpcap writes each interface's packets in blocks of 32, so a
SYN-ACK or an NDMP reply can come before its SYN or request in the file. The job must
get the plain capture's verdict, with the file's frame numbers.
D8: tshark 4.0.17 numbers custom blocks (and systemd journal, sysdig event blocks) as
frames of their own.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from capture_factory import _block, epb, idb, shb
from lab_edits import lab_records

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources import iter_batches

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
BLOCK = 32  # packets dumpcap writes of one interface at a time (the trial's files)


def _team_file(name: str, tmp_path: Path) -> tuple[Path, list[tuple[int, float, bytes]]]:
    """The lab capture as dumpcap writes a NIC team's two members: what the media server
    sends on interface 0, what it receives on 1, in per-interface blocks of 32 (each block
    written when its first packet is the earliest waiting, as gen4.py of the trial)."""
    packets = lab_records(name)
    media_mac = packets[0][1][6:12]
    queues: dict[int, list[tuple[int, float, bytes]]] = {0: [], 1: []}
    for ts, data in packets:
        interface = 0 if data[6:12] == media_mac else 1
        queues[interface].append((interface, ts, data))
    written: list[tuple[int, float, bytes]] = []
    at = {0: 0, 1: 0}
    while any(at[i] < len(queues[i]) for i in queues):
        i = min((i for i in queues if at[i] < len(queues[i])), key=lambda i: queues[i][at[i]][1])
        written += queues[i][at[i]:at[i] + BLOCK]
        at[i] += BLOCK
    path = tmp_path / f"{name}-team.pcapng"
    path.write_bytes(b"".join([shb(), idb(1, tsresol=9), idb(1, tsresol=9)]
                              + [epb(i, ts, data, tsresol=9) for i, ts, data in written]))
    return path, written


def _verdict(name: str, inputs: list) -> tuple[str, list[str], list[dict[str, str]]]:
    config = build_config(load_file(LAB / f"{name}.toml"))
    analysis = analyze(read_traffic(inputs, config), config)
    steps = [{str(step.step): step.status for step in session.steps}
             for session in analysis.sessions]
    return analysis.verdict, sorted(f.code for f in analysis.findings), steps


@pytest.mark.parametrize("name", ["clean-3-resources", "data-port-dropped",
                                  "callback-blocked"])
def test_team_capture_gets_the_plain_captures_verdict(name: str, tmp_path: Path) -> None:
    path, written = _team_file(name, tmp_path)
    stamps = [ts for _i, ts, _d in written]
    assert stamps != sorted(stamps)  # the file is not in time order
    assert _verdict(name, [str(path)]) == _verdict(name, [str(LAB / f"{name}.pcap")])


def test_team_capture_on_standard_input_passes(tmp_path: Path) -> None:
    path, _written = _team_file("clean-3-resources", tmp_path)
    verdict, codes, _steps = _verdict("clean-3-resources", [io.BytesIO(path.read_bytes())])
    assert verdict == "pass", codes


def test_team_capture_keeps_the_files_frame_numbers(tmp_path: Path) -> None:
    """Handshakes and NDMP replies paired by time; frames named as Wireshark shows them."""
    path, written = _team_file("clean-3-resources", tmp_path)
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    traffic = read_traffic([str(path)], config)
    for conn in traffic.connections:
        assert conn.syn_seen and conn.established, conn.history
        assert not conn.history.startswith("^")
        # its first frame is its SYN, at the place the file has it
        assert written[conn.first_frame - 1][1] == conn.ts
    [stream] = traffic.streams
    requests = {m.sequence: m for m in stream.messages if m.type == "request"}
    replies = [m for m in stream.messages if m.type == "reply"]
    assert replies and all(m.body.get("request_frame") == requests[m.reply_sequence].frame
                           for m in replies)
    assert any(m.frame < requests[m.reply_sequence].frame for m in replies)  # file order
    for message in stream.messages:
        assert written[message.frame - 1][1] == message.ts
    assert [m.ts for m in stream.messages] == sorted(m.ts for m in stream.messages)


@pytest.mark.parametrize("chunk_size", [2048, 4096, 65536, 8 << 20])
def test_interfaces_merge_by_time_across_chunks(tmp_path: Path, chunk_size: int) -> None:
    """Whatever the chunk size, every packet once, in time order, with its file frame."""
    path, written = _team_file("clean-3-resources", tmp_path)
    ts, frames = [], []
    for batch in iter_batches([str(path)], chunk_size=chunk_size, read_ahead=False):
        ts.append(batch.ts)
        frames.append(batch.frame_numbers(np.arange(len(batch))))
    stamps, numbers = np.concatenate(ts), np.concatenate(frames)
    assert sorted(numbers.tolist()) == list(range(1, len(written) + 1))
    assert np.all(np.diff(stamps) >= 0)
    assert np.array_equal(stamps, np.array([written[n - 1][1] for n in numbers]))


def test_one_interface_file_is_read_as_written(tmp_path: Path) -> None:
    """A clock step back inside one interface keeps the file's order (no sort by time)."""
    path = tmp_path / "one.pcapng"
    packets = [(0, 10.0, b"\x00" * 60), (0, 9.0, b"\x01" * 60), (0, 11.0, b"\x02" * 60)]
    path.write_bytes(shb() + idb(1) + b"".join(epb(i, t, d) for i, t, d in packets))
    [batch] = list(iter_batches([str(path)]))
    assert batch.ts.tolist() == [10.0, 9.0, 11.0] and batch.frames is None


def test_joined_sections_stay_in_the_order_joined(tmp_path: Path) -> None:
    """Files joined with cat (two sections) are not merged by time: joined order."""
    path = tmp_path / "joined.pcapng"
    later = shb() + idb(1) + b"".join(epb(0, t, b"\x00" * 60) for t in (20.0, 21.0))
    earlier = shb() + idb(1) + b"".join(epb(0, t, b"\x00" * 60) for t in (10.0, 11.0))
    path.write_bytes(later + earlier)
    ts = np.concatenate([b.ts for b in iter_batches([str(path)])])
    assert ts.tolist() == [20.0, 21.0, 10.0, 11.0]


# -- D8: blocks Wireshark numbers as frames --------------------------------------------

def _record_block(block_type: int) -> bytes:
    if block_type in (0x00000BAD, 0x40000BAD):
        return _block("<", block_type, struct.pack("<I", 32473) + b"abcd")
    if block_type == 0x9:
        return _block("<", block_type, b"__REALTIME_TIMESTAMP=1700000000000000\nMESSAGE=x\n")
    return _block("<", block_type, struct.pack("<HQQIH", 0, 1, 1700000000000000000, 1, 0)
                  + bytes(16))


# What tshark 4.0.17 showed for SHB, IDB, EPB, <block>, EPB: the second packet's frame.
@pytest.mark.parametrize(("block_type", "frame"), [
    (0x00000BAD, 3), (0x40000BAD, 3), (0x00000009, 3), (0x00000204, 3), (0x00000216, 3),
    (0x00000221, 3), (0x00000004, 2), (0x00000005, 2), (0x0000000A, 2), (0x00000208, 2),
    (0x80000001, 2), (0x00000123, 2)])
def test_frame_numbers_count_the_blocks_wireshark_numbers(
        tmp_path: Path, block_type: int, frame: int) -> None:
    path = tmp_path / "blocks.pcapng"
    packet = b"\x00" * 60
    path.write_bytes(shb() + idb(1) + epb(0, 1.0, packet) + _record_block(block_type)
                     + epb(0, 2.0, packet))
    [batch] = list(iter_batches([str(path)]))
    assert batch.frame_numbers(np.arange(2)).tolist() == [1, frame]


def test_custom_blocks_across_chunks_number_on(tmp_path: Path) -> None:
    """dumpcap on Windows: custom blocks among the packets; frames as tshark's."""
    path = tmp_path / "custom.pcapng"
    packet = b"\x00" * 200
    blocks, expected, frame = [shb(), idb(1)], [], 0
    for n in range(300):
        if n % 7 == 3:
            blocks.append(_record_block(0x00000BAD))
            frame += 1
        blocks.append(epb(0, 1.0 + n / 1000, packet))
        frame += 1
        expected.append(frame)
    path.write_bytes(b"".join(blocks))
    frames = [batch.frame_numbers(np.arange(len(batch)))
              for batch in iter_batches([str(path)], chunk_size=4096, read_ahead=False)]
    assert np.concatenate(frames).tolist() == expected

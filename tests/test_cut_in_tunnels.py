"""Frames cut before the capture inside tunnels and tags (trial 22 D4): an ERSPAN mirror
session with a truncation MTU (the ERSPAN header's T bit), a VXLAN or GRE collector fed
sliced frames, a sliced VLAN-tagged, MPLS or IPv6 frame. Their inner IP length says the
packet was longer than the bytes the capture holds: cut frames, read exactly as a plain
Ethernet capture sliced the same way, not as the sniffer's loss.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np
import pytest
from test_connections_util import ACK, PSH, ethernet, ipv6, read_batches, tcp, write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.decode import decode_batch
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
NAME = "clean-3-resources"
CUT = 128
MACS = bytes.fromhex("020000aa0001020000bb0002")


def _ipv4(proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                       socket.inet_aton("10.9.0.1"), socket.inet_aton("10.9.0.2")) + payload


def _ipv6(next_header: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 64,
                       socket.inet_pton(socket.AF_INET6, "fd00::1"),
                       socket.inet_pton(socket.AF_INET6, "fd00::2")) + payload


def _erspan2(frame: bytes, seq: int) -> bytes:
    """GRE with a sequence number, ERSPAN type II, T bit set when the frame was cut."""
    t = 1 if len(frame) > CUT else 0
    return (struct.pack("!HHI", 0x1000, 0x88BE, seq)
            + struct.pack("!HHI", 1 << 12, (t << 10) | (3 << 11) | 77, 0) + frame[:CUT])


def _wrap(mode: str, frame: bytes, seq: int) -> bytes:
    """The frame cut to CUT bytes as `mode` carries it to the capture."""
    cut = frame[:CUT]
    if mode == "erspan2":
        return MACS + b"\x08\x00" + _ipv4(47, _erspan2(frame, seq))
    if mode == "erspan2-ipv6":
        return MACS + b"\x86\xdd" + _ipv6(47, _erspan2(frame, seq))
    if mode == "erspan3":
        t = 1 if len(frame) > CUT else 0
        header = struct.pack("!HHIHH", 2 << 12, (t << 10) | 77, seq * 1000, 0, 0)
        return MACS + b"\x08\x00" + _ipv4(47, struct.pack("!HHI", 0x1000, 0x22EB, seq)
                                          + header + cut)
    if mode == "vxlan":
        vxlan = struct.pack("!II", 0x08000000, 5001 << 8) + cut
        udp = struct.pack("!HHHH", 49152, 4789, 8 + len(vxlan), 0) + vxlan
        return MACS + b"\x08\x00" + _ipv4(17, udp)
    if mode == "gre":  # IP in GRE: the IP packet cut (to CUT - 14 bytes)
        return MACS + b"\x08\x00" + _ipv4(47, struct.pack("!HH", 0, 0x0800) + cut[14:])
    if mode == "vlan":  # the frame cut, then tagged: CUT + 4 bytes
        return cut[:12] + struct.pack("!HH", 0x8100, 30) + cut[12:]
    if mode == "mpls":  # the frame cut, then labelled: CUT + 8 bytes
        labels = struct.pack("!II", (16001 << 12) | 64, (299 << 12) | (1 << 8) | 64)
        return cut[:12] + b"\x88\x47" + labels + cut[14:]
    assert mode == "slice"
    return cut


def _capture(tmp_path: Path, mode: str) -> Path:
    """The lab job with every frame cut to CUT bytes before the capture, as `mode`."""
    source = (LAB / f"{NAME}.pcap").read_bytes()
    out, pos, seq = [source[:24]], 24, 0
    while pos + 16 <= len(source):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", source, pos)
        seq += 1
        frame = _wrap(mode, source[pos + 16:pos + 16 + caplen], seq)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
        pos += 16 + caplen
    path = tmp_path / f"{mode}.pcap"
    path.write_bytes(b"".join(out))
    return path


def _run(capture: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"), {})
    return analyze(read_traffic([str(capture)], config), config)


def _said(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(code, message, fix) of the findings about the capture, and step 5's detail."""
    step = [s for s in analysis.sessions[0].steps if s.step == 5][0].detail
    kept = [f for f in analysis.findings if f.code in ("capture_loss", "ndmp_partial")]
    return [(f.code, f.message, f.fix) for f in kept] + [("step 5", step, "")]


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    return _said(_run(_capture(tmp_path_factory.mktemp("slice"), "slice")))


@pytest.mark.parametrize("mode", ["erspan2", "erspan2-ipv6", "erspan3", "vxlan", "gre",
                                  "vlan", "mpls"])
def test_frames_cut_inside_a_tunnel_read_as_a_sliced_capture(
        tmp_path: Path, mode: str, sliced: list[tuple[str, str, str]]) -> None:
    """The same findings, words and step 5 volume as the plain capture sliced the same
    way: "no packet was lost: N frames were cut to 128 bytes", the mirror's fix, and
    step 5's "and 573774 B more that the capture tool cut" (600,000 B in all)."""
    analysis = _run(_capture(tmp_path, mode))
    assert analysis.verdict == "pass"
    said = _said(analysis)
    length = {"gre": CUT - 14, "vlan": CUT + 4, "mpls": CUT + 8}.get(mode, CUT)
    said = [(code, message.replace(f"to {length} bytes", f"to {CUT} bytes"), fix)
            for code, message, fix in said]
    assert said == sliced
    loss = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "no packet was lost" in loss[0].message
    assert "the sniffer lost them" not in loss[0].message


def test_an_ipv6_packet_cut_in_a_tag_has_its_frame_length_as_cut(tmp_path: Path) -> None:
    """An IPv6 packet whose payload length says more than the frame holds (VLAN-tagged,
    so the general decode reads it): its recorded frame length is what it was cut to."""
    segment = tcp(5001, 10000, 101, 901, PSH | ACK, b"x" * 1400)
    frame = ethernet(ipv6("fd00::1", "fd00::2", 6, segment), 0x86DD, vlans=(0x8100,))
    whole = ethernet(ipv6("fd00::1", "fd00::2", 6, segment[:100]), 0x86DD, vlans=(0x8100,))
    path = write_pcap(tmp_path / "v6.pcap", 1, [frame[:CUT], whole])
    [batch] = list(read_batches(path))
    decoded = decode_batch(batch)
    assert decoded.tcp_cut_frame.tolist() == [CUT, 0]
    assert np.array_equal(decoded.tcp_payload_len, [CUT - 18 - 40 - 20, 80])


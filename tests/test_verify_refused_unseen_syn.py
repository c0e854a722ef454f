"""A refusal RST whose SYN the capture lacks is a refusal (new-user trial 4, #4 and #8).

A capture of what one host sent (`tcpdump 'src host X'`, a SPAN port that sees one way)
holds the RST that host sent to refuse a SYN, not the SYN. The RST's shape (RST+ACK, no
payload, seq 0: RFC 9293 3.10.7.1) says it answers a SYN, so its receiver
opened the connection: the same `*_refused` finding, fix and steps as the full capture,
the RST frame as evidence, words saying the SYN is not captured, and no
`unannounced_connection`. Each copy is cut from a stored lab capture with tcpdump.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
import tshark_fork
from lab_edits import sent_by
from test_connections_util import ACK, RST, ethernet, ipv4, tcp
from test_tshark_counts import assert_matches_tshark

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.ladder_build import build_ladders

ROOT = Path(__file__).resolve().parent.parent / "captures"
M, A = "10.77.0.1", "10.77.0.2"

# (capture under captures/, the refusing host whose packets are kept, code, step)
CASES = [
    ("lab/data-port-in-use", A, "data_refused", 4),  # A's RST to M's data SYN (#4)
    ("lab/control-refused", A, "control_refused", 1),  # A's RST on the NDMP port (#8)
    ("ndmjob-lab/v4-control-refused", A, "control_refused", 1),  # the ndmp profile
]


def _analyze(capture: Path, name: str) -> Analysis:
    config = build_config(load_file(ROOT / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _rst_frames(capture: Path) -> list[int]:
    return [int(frame) for (frame,) in tshark_fork.fields(capture, "tcp.flags.reset == 1",
                                                          "frame.number")]


def _refused(analysis: Analysis) -> Connection:
    [conn] = [c for c in analysis.traffic.connections if c.rst_frames]
    return conn


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_refusal_of_a_syn_the_capture_lacks_is_the_full_captures_finding(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    one_way = sent_by(tmp_path, ROOT / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    full = _analyze(ROOT / f"{name}.pcap", name)
    [refused] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert refused.code == code and refused.frames == _rst_frames(one_way)
    assert "unannounced_connection" not in {f.code for f in analysis.findings}
    # The full capture's words and fix, and where the evidence is.
    [whole] = [f for f in full.findings if f.code == code]
    # Less the condition only the full capture's SYN allows (trial 19 D4: its TTL places
    # the capture on the media server's segment, the RST's initial TTL on it too).
    assert refused.fix == re.sub(r" If \S+ is reached through a router: .*?its return "
                                 r"traffic\.", "", whole.fix)
    assert refused.message.startswith(re.sub(r" The RST's TTL \d+ is an initial value.*?"
                                             r"lowered TTL\)\.", "", whole.message))
    assert "does not hold the SYN" in refused.message
    # The steps as on the full capture (a refused control connection: 2-5 not_applicable).
    [session], [full_session] = analysis.sessions, full.sessions
    assert session.kind == full_session.kind
    assert [s.status for s in session.steps] == [s.status for s in full_session.steps]
    [judged] = [s for s in session.steps if s.step == step]
    assert judged.status == "failed" and set(refused.frames) <= set(judged.frames)
    assert "does not hold the SYN it answers" in judged.detail
    assert analysis.verdict == full.verdict == "fail"
    assert cli(["analyze", "--config", str(ROOT / f"{name}.toml"), str(one_way)]) == 1


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_refusal_is_a_connection_from_the_rsts_receiver(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    """The connection list stays tshark's; its originator is the SYN's sender, as on
    the full capture (the 4-tuple reversed from the RST's)."""
    one_way = sent_by(tmp_path, ROOT / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    assert_matches_tshark(one_way, analysis.traffic.connections)
    conn, full = _refused(analysis), _refused(_analyze(ROOT / f"{name}.pcap", name))
    ends = (conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p)
    assert ends == (full.orig_h, full.orig_p, full.resp_h, full.resp_p)
    assert conn.resp_h == sender and conn.history == "^r" and conn.refusal_first


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_ladder_draws_the_refusal(tmp_path: Path, name: str, sender: str, code: str,
                                  step: int) -> None:
    """The RST is the step's arrow, from the refusing host, saying the SYN was not
    captured; no "(open before the capture)" arrow for a connection that never opened."""
    one_way = sent_by(tmp_path, ROOT / f"{name}.pcap", sender)
    [ladder] = build_ladders(_analyze(one_way, name))
    [arrow] = [a for a in ladder.arrows if a.kind == "rst"]
    assert (arrow.src, arrow.step, arrow.status) == (sender, step, "failed")
    assert "not captured" in arrow.label and [m.code for m in arrow.findings] == [code]
    assert not any("open before the capture" in a.label for a in ladder.arrows
                   if a.uid == arrow.uid)


def test_source_side_of_the_refused_data_connection_reads_its_give_up(tmp_path: Path) -> None:
    """The media server's side of data-port-in-use holds the data SYN, not the RST: the answer
    travelled the way the capture lacks. The DATA_LISTEN replies did too; the data the
    second resource's connection carried shows them reached (step 3 ok, the address
    unchecked: verify.lost_announcement, new-user trial 54). Step 4 was unknown until
    field check 53: the media server closed the session 48.2 ms after that one SYN,
    before TCP would have sent it again, with no byte on it, as a connect fails at once
    only on a reject (verify.gave_up): failed, data_unanswered "most likely rejected",
    the verdict fail (the whole capture's: data_refused). C4's 200,000 B, which the media
    server's ACKs acknowledge before that close, are data moved in between, not "with no
    data moved" (field check 76: verify.gave_up read captured payload alone)."""
    one_way = sent_by(tmp_path, ROOT / "lab/data-port-in-use.pcap", M)
    analysis = _analyze(one_way, "lab/data-port-in-use")
    assert analysis.verdict == "fail"
    assert [s.status for s in analysis.sessions[0].steps] == [
        "ok", "ok", "ok", "failed", "ok"]
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "data_unanswered"
    assert ("CONNECT_CLOSE, frame 58) 48.2 ms after it (the session's data connection "
            "opened after it, C4, carried data in between)") in error.message
    assert error.message.endswith("so the job cannot move this connection's data (its "
                                  "other data connection, C4, carried its own).")
    assert "most likely rejected" in error.message


def _reshaped(path: Path, seq: int, window: int) -> Path:
    """The capture with its RSTs given another seq and window (Ethernet, IPv4): an
    abort's RST rather than a refusal's. Checksums are not checked."""
    data = bytearray(path.read_bytes())
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    at = 24
    while at < len(data):
        kept = struct.unpack(order + "I", data[at + 8:at + 12])[0]
        tcp_at = at + 16 + 14 + (data[at + 16 + 14] & 0x0F) * 4
        if data[tcp_at + 13] & RST:
            data[tcp_at + 4:tcp_at + 8] = struct.pack("!I", seq)
            data[tcp_at + 14:tcp_at + 16] = struct.pack("!H", window)
        at += 16 + kept
    out = path.with_name(f"{path.stem}-reshaped.pcap")
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(("name", "step"), [("lab/control-refused", 1),
                                            ("lab/data-port-in-use", 4)])
def test_lone_rst_of_another_shape_stays_unknown(tmp_path: Path, name: str,
                                                 step: int) -> None:
    """A lone RST+ACK with its own seq and a window (an abort, seen alone when the
    capture starts at it) may end a connection that had opened as well as refuse a SYN:
    the step stays unknown, with no refusal and no open control connection."""
    one_way = _reshaped(sent_by(tmp_path, ROOT / f"{name}.pcap", A), 3_000_000, 512)
    analysis = _analyze(one_way, name)
    assert analysis.verdict == "inconclusive"
    assert not [f for f in analysis.findings if str(f.severity) == "error"]
    [judged] = [s for s in analysis.sessions[0].steps if s.step == step]
    assert judged.status == "unknown"
    if step == 1:
        assert "only a RST" in judged.detail
        assert "capture_started_mid_session" not in {f.code for f in analysis.findings}


def _with_frame(source: Path, target: Path, number: int, frame: bytes) -> Path:
    """A copy of a classic pcap with frame `number` (1-based) replaced, its time kept."""
    data = source.read_bytes()
    out, at, index = [data[:24]], 24, 0
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    while at < len(data):
        seconds, fraction, kept, _wire = struct.unpack(order + "IIII", data[at:at + 16])
        index += 1
        body = frame if index == number else data[at + 16:at + 16 + kept]
        out.append(struct.pack(order + "IIII", seconds, fraction, len(body), len(body)) + body)
        at += 16 + kept
    target.write_bytes(b"".join(out))
    return target


def test_callback_refused_by_a_rst_the_capture_holds_alone(tmp_path: Path) -> None:
    """callback-rejected with the media server's ICMP reject (frame 18) made a RST, as a
    closed job engine port answers the callback SYN (frame 17: 10.77.0.2:6031 -> :5001,
    seq 141752998); the media server's side of it holds the RST, not the SYN."""
    rst = ethernet(ipv4(M, A, 6, tcp(5001, 6031, 0, 141752999, RST | ACK, window=0)))
    full = _with_frame(ROOT / "lab/callback-rejected.pcap", tmp_path / "rst.pcap", 18, rst)
    whole = _analyze(full, "lab/callback-rejected")
    assert [f.code for f in whole.findings if str(f.severity) == "error"] == [
        "callback_refused"]
    analysis = _analyze(sent_by(tmp_path, full, M), "lab/callback-rejected")
    [refused] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert refused.code == "callback_refused" and "does not hold the SYN" in refused.message
    assert "unannounced_connection" not in {f.code for f in analysis.findings}
    assert [s.status for s in analysis.sessions[0].steps] == [
        s.status for s in whole.sessions[0].steps]
    assert analysis.sessions[0].steps[1].frames == refused.frames

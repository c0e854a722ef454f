"""A control connection that goes on in TLS after its first NDMP messages (a session
secured in band, STARTTLS-like): one finding that says so, the data connections matched
by direction and ports, their TCP outcomes still judged, the announcement step unknown.

The captures are the lab's (flowcheck.lab.tls: a real TLS handshake by Python's ssl
after the CONNECT_CLIENT_AUTH reply): stored ones, and one made afresh and checked
against tshark's TLS dissector."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from lab_edits import analyze_lab, lab_packets, segment, write
from scapy.all import TCP
from test_ndmp_stream import events
from test_ndmp_wire import REPLY, REQUEST, msg, u32

from flowcheck.config import build_config, load_file
from flowcheck.lab.capture import capture_scenario
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import DecodeProblem, RawMessage
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
FIELD47 = LAB.parent / "field47-tls-matrix"
CLIENT_HELLO = bytes.fromhex("160301020001")  # TLS record: handshake, 3.1, 512 B, type 1
CONNECT_CLIENT_AUTH = 0x901


def tls_hellos(capture: Path) -> list[str]:
    """tshark's TLS dissector on port 10000: frame number and handshake type (1
    ClientHello, 2 ServerHello) of each hello, flattened in frame order."""
    rows = tshark_fork.fields(capture, "tls.handshake.type == 1 || tls.handshake.type == 2",
                              "frame.number", "tls.handshake.type",
                              options=("-d", "tcp.port==10000,tls"))
    return [value for row in rows for value in row]


def hello_frames(capture: Path) -> tuple[int, int]:
    """tshark's frames of the first ClientHello and the first ServerHello on port 10000
    (a resent one, under load, comes later), the ClientHello first. A lab run's frame
    numbers are timing's: the agent's ACK of the ClientHello goes alone or rides on its
    ServerHello, so a live test takes them from here rather than from the stored
    capture."""
    hellos = tls_hellos(capture)
    pairs = list(zip(hellos[::2], hellos[1::2], strict=True))  # kinds: "2" or "2,11,14"
    client = next(int(frame) for frame, kinds in pairs if "1" in kinds.split(","))
    server = next(int(frame) for frame, kinds in pairs if "2" in kinds.split(","))
    assert client < server, hellos
    return client, server


def ndmp_reply_frame(capture: Path, code: int) -> int:
    """tshark's NDMP dissector on port 10000: the frame of the one reply to message
    `code` in the clear."""
    [(frame,)] = tshark_fork.fields(capture, f"ndmp.msg == {code:#x} && ndmp.msg_type == 1",
                                    "frame.number", options=("-d", "tcp.port==10000,ndmp"))
    return int(frame)


def _analyze(capture: Path) -> Analysis:
    config = build_config(load_file(capture.with_name(capture.name.split(".")[0] + ".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def test_decoder_stops_at_tls_after_a_record() -> None:
    """A record, then a TLS handshake record where the next mark should be: the
    message, one "tls" problem, then nothing however the stream goes on."""
    decoder = NdmpStreamDecoder()
    decoder.receive_data(msg(1, REQUEST, 0x900, u32(4)), 1, 1.0)
    decoder.receive_data(CLIENT_HELLO + bytes(506), 2, 2.0)
    found = events(decoder)
    assert isinstance(found[0], RawMessage) and found[0].code == 0x900
    assert [(p.kind, p.frames) for p in found[1:] if isinstance(p, DecodeProblem)] == [
        ("tls", [2])]
    decoder.receive_data(msg(2, REPLY, 0x900, u32(0), reply_sequence=1), 3, 3.0)
    decoder.receive_gap(100, 4, 4.0)
    decoder.receive_cut(10, 5, 5.0)
    decoder.receive_eof()
    assert events(decoder) == []
    assert decoder.bytes_received == len(msg(1, REQUEST, 0x900, u32(4))) + 512 + len(
        msg(2, REPLY, 0x900, u32(0), reply_sequence=1))


def _clean_job_read(analysis: Analysis, auth_reply: int = 10, client_hello: int = 11,
                    server_hello: int = 12, sniffer: frozenset[str] = frozenset()) -> None:
    """What tls-clean reads: one finding naming the TLS (from the ClientHello's frame,
    after the CONNECT_CLIENT_AUTH reply's; the stored capture's frames by default), the
    three data connections the session's, steps 4-5 ok on their TCP outcome, the
    announcement step unknown: inconclusive. sniffer: codes of the sniffer's own doing
    that a live run may add, left out."""
    assert analysis.verdict == "inconclusive"
    [told] = [f for f in analysis.findings if f.code not in sniffer]
    assert told.code == "ndmp_undecodable"
    assert told.message.startswith(
        f"The control connection carries TLS from frame {client_hello}: the media "
        f"server's bytes after the CONNECT_CLIENT_AUTH reply (frame {auth_reply}) are TLS "
        f"records, and the agent's from frame {server_hello}.")
    assert told.frames == [client_hello, server_hello]
    (session,) = analysis.sessions
    assert session.kind == "backup" and not session.kind_unknown
    assert len(session.data_connections) == 3 and session.match_reason == "encrypted"
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "ok", "ok"]
    assert f"carries TLS from frame {client_hello}" in session.steps[2].detail
    assert "sniffer lost" not in session.steps[2].detail


def test_a_clean_job_secured_in_band_is_inconclusive_not_unannounced() -> None:
    """Stored tls-clean. Before: four "record fragment of 369296128 bytes" warnings with
    a "check --ndmp-port" fix, a session that "closed without a single request", three
    unannounced connections."""
    _clean_job_read(_analyze(LAB / "tls-clean.pcap"))


def test_a_refused_data_connection_fails_inside_tls() -> None:
    """Stored tls-data-port-in-use: the refusal is TCP's, so the job fails with
    data_refused (it read inconclusive: the session's data connections unannounced)."""
    analysis = _analyze(LAB / "tls-data-port-in-use.pcap")
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings} == {"data_refused", "ndmp_undecodable"}
    assert [s.status for s in analysis.sessions[0].steps][3] == "failed"


def test_the_lab_job_in_tls_reads_the_same_and_tshark_sees_the_handshake(
        tmp_path: Path) -> None:
    """tls-clean made afresh in network namespaces: flowcheck names the frames tshark's
    NDMP and TLS dissectors (port 10000) find the CONNECT_CLIENT_AUTH reply, the
    ClientHello and the ServerHello in, and reads the run as the stored capture."""
    capture = tmp_path / "tls-clean.pcap"
    capture_scenario("tls-clean", capture)
    # A loaded run's tcpdump -i any may write a few packets out of time order (one full
    # suite run did): the sniffer's doing, an info finding, not the job's reading.
    _clean_job_read(_analyze(capture), ndmp_reply_frame(capture, CONNECT_CLIENT_AUTH),
                    *hello_frames(capture),
                    sniffer=frozenset({"capture_written_out_of_order"}))


def test_the_frames_named_follow_the_capture_not_the_stored_run(tmp_path: Path) -> None:
    """Stored tls-clean with the agent's ACK of the ClientHello sent alone before its
    ServerHello (as a loaded lab run once wrote it: the ServerHello in frame 13, and the
    live test, which asserted frame 12, failed): the same reading, the agent's TLS from
    frame 13."""
    packets = lab_packets("tls-clean")
    client_hello, server_hello = packets[10], packets[11]
    ack = segment(server_hello, "A", server_hello[TCP].seq,
                  client_hello[TCP].seq + len(client_hello[TCP].payload),
                  (client_hello.time + server_hello.time) / 2)
    capture = write(tmp_path, "tls-clean-acked", [*packets[:11], ack, *packets[11:]])
    assert hello_frames(capture) == (11, 13)
    _clean_job_read(analyze_lab(capture, "tls-clean"),
                    ndmp_reply_frame(capture, CONNECT_CLIENT_AUTH), *hello_frames(capture))


def test_a_restore_in_tls_captured_one_way_is_told_by_the_acknowledged_bytes() -> None:
    """Field check 47 (seed 100 run 44): a restore whose DATA_START_RECOVER is encrypted,
    captured -Q in on the media server (the agent's packets only). Its kind came from
    the captured bytes, none toward the agent, and a guessed backup read step_missing
    ("no bytes agent to media server"); the agent's ACKs acknowledge the restore's data,
    so the kind is a restore and step 5 ok."""
    analysis = _analyze(FIELD47 / "restore-tls-one-direction-in.pcap")
    (session,) = analysis.sessions
    assert session.kind == "restore" and not session.kind_guessed
    assert analysis.verdict == "inconclusive"
    assert "step_missing" not in {f.code for f in analysis.findings}
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "ok", "ok"]


def test_callbacks_that_fit_two_jobs_leave_step_2_unknown_not_missing() -> None:
    """Field check 47 (seed 103 run 42): two jobs at once in TLS between dual-stack
    hosts, control over IPv6, callbacks over IPv4. The encrypted vendor message names
    no job engine port and the configuration pairs no addresses, so each callback fits
    both sessions: it read step_missing twice ("no connection from the agent"); each
    session's step 2 is unknown now, naming the callback it may be."""
    analysis = _analyze(FIELD47 / "two-jobs-dual-stack-callbacks-tls.pcap.gz")
    assert "step_missing" not in {f.code for f in analysis.findings}
    assert len(analysis.sessions) == 2
    for session in analysis.sessions:
        assert session.callback_uid is None and session.callback_ambiguous
        step = session.steps[1]
        assert step.status == "unknown" and "fits another session's as well" in step.detail


@pytest.mark.parametrize("snap", [70, 76, 80])
def test_tls_after_records_whose_header_the_snap_length_cut_is_still_in_band(
        tmp_path: Path, snap: int) -> None:
    """tls-clean cut to a snap length that keeps 4-14 bytes of payload: every NDMP
    record's header is cut (no message read), yet their marks framed the stream, so the
    TLS record after them is the session secured in band, not "record fragment of
    369295618 bytes (over 16 MiB): not NDMP" with a check-the-port fix (matrix seed 105
    run 5, IPv6 at -s 96), nor TLS "from its first byte". TLS from the first byte cut
    alike stays so."""
    def cut(name: str) -> Analysis:
        out = tmp_path / f"{name}-{snap}.pcap"
        subprocess.run(["editcap", "-s", str(snap), str(LAB / f"{name}.pcap"), str(out)],
                       check=True)
        config = build_config(load_file(LAB / f"{name}.toml"))
        return analyze(read_traffic([str(out)], config), config)

    analysis = cut("tls-clean")
    texts = [f.message for f in analysis.findings]
    assert not any("over 16 MiB" in text for text in texts)
    (tls,) = [f for f in analysis.findings if f.code == "ndmp_undecodable"]
    assert tls.message.startswith("The control connection carries TLS from frame 11: the "
                                  "media server's bytes after 2 NDMP record(s) whose header "
                                  "the snap length cut (the last in frame 9) are TLS records")
    step3 = analysis.sessions[0].steps[2]
    assert step3.status == "unknown" and "TLS from frame 11 (" in step3.detail
    start = cut("tls-start-clean")
    (tls,) = [f for f in start.findings if f.code == "ndmp_undecodable"]
    assert tls.message.startswith("The control connection is TLS from its first byte")

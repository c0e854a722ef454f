"""Another protocol on the NDMP port is no NDMP session (new-user trial 23, D1).

captures/trial23-other-protocol: a Webmin-like HTTP server on port 10000. Each HTTP
fetch was a FAILED Backup Exec session ("step 2 ... is missing: no connection from the
agent 10.77.0.9 ...", a firewall fix, four ndmp_undecodable warnings); a night with 46
of them listed none of its 8 real failures in the summary. Both sides opening with
bytes that cannot start an NDMP record, not one NDMP message decoded: other traffic,
told once per pair of hosts.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from scapy_files import read_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.other_protocol import (
    answered_protocol,
    client_protocol,
    could_start_ndmp,
    other_protocol,
)

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "trial23-other-protocol"
# The first bytes of an NDMP v4 NOTIFY_CONNECTED post: record mark (last fragment, 40
# bytes), sequence 1, time stamp, message type 0 (request), code 0x502.
NOTIFY_CONNECTED = (bytes.fromhex("80000028") + (1).to_bytes(4, "big") + bytes(4)
                    + bytes(4) + (0x502).to_bytes(4, "big"))


def _analyze(name: str) -> Analysis:
    config = build_config(load_file(FOLDER / f"{Path(name).name.split('.')[0]}.toml"))
    return analyze(read_traffic([str(FOLDER / name)], config), config)


def _codes(analysis: Analysis, severity: Severity) -> list[str]:
    return sorted(f.code for f in analysis.findings if f.severity == severity)


def test_http_alone_on_the_ndmp_port_is_no_session() -> None:
    """Three HTTP fetches, no NDMP: no session, no step_missing and no callback or
    firewall advice; no_control_session says what the NDMP port carried instead."""
    analysis = _analyze("webmin-only.pcap")
    assert analysis.sessions == []
    assert {c.role for c in analysis.traffic.connections} == {"other"}
    assert _codes(analysis, Severity.ERROR) == ["no_control_session"]
    assert _codes(analysis, Severity.WARNING) == ["ndmp_undecodable"]
    missing = next(f for f in analysis.findings if f.code == "no_control_session")
    assert "the 3 connections to the NDMP port (10.77.0.1 -> 10.77.0.9:10000) carried " \
        "HTTP, not NDMP" in missing.message
    told = next(f for f in analysis.findings if f.code == "ndmp_undecodable")
    assert told.message.startswith("3 connections from 10.77.0.1 to 10.77.0.9:10000 (the "
                                   "NDMP port) carried HTTP, not NDMP")
    assert '"GET / HTTP/1.1"' in told.message and '"HTTP/1.1 200 OK"' in told.message
    assert "not judged" in told.message and "Webmin" in told.message
    assert told.frames == [4, 6, 14, 16, 24, 26]  # the GET and the answer of each
    assert not any("Allow TCP" in f.fix or "allow TCP" in f.fix for f in analysis.findings)


def test_tls_alone_on_the_ndmp_port_may_be_the_job_encrypted() -> None:
    """TLS on the NDMP port and nothing else: the job's own control connection encrypted
    (NDMP servers can secure theirs) looks the same as Webmin's HTTPS. It read FAIL,
    "another program answers on port 10000": inconclusive now, both said."""
    analysis = _analyze("tls-on-ndmp-port.pcap")
    assert analysis.sessions == [] and analysis.verdict == "inconclusive"
    assert _codes(analysis, Severity.ERROR) == []
    assert _codes(analysis, Severity.WARNING) == ["ndmp_undecodable", "no_control_session"]
    missing = next(f for f in analysis.findings if f.code == "no_control_session")
    assert "carried TLS, not NDMP" in missing.message
    assert "either the job's NDMP control connection, encrypted" in missing.message
    assert missing.fix.startswith("If that is the job's control connection, capture a run "
                                  "of the job with TLS off")
    told = next(f for f in analysis.findings if f.code == "ndmp_undecodable")
    assert "or the NDMP server there encrypts its control connections with TLS" in told.message
    assert "either its NDMP server encrypts the control connection" in told.fix


def test_http_on_the_media_servers_port_beside_a_good_job_passes() -> None:
    """The HTTP server on the media server's own port 10000: the job passes, the two
    fetches are one warning that names 10.77.0.1 as the job's media server (it failed
    with step_missing calling the media server an agent)."""
    analysis = _analyze("webmin-on-media.pcap.gz")
    assert analysis.verdict == "pass"
    assert [(s.media_server, s.remote_agent) for s in analysis.sessions] == [
        ("10.77.0.1", "10.77.0.2")]
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] * 5
    assert _codes(analysis, Severity.WARNING) == ["ndmp_undecodable"]
    told = next(f for f in analysis.findings if f.code == "ndmp_undecodable")
    assert told.message.startswith("2 connections from 10.77.0.9 to 10.77.0.1:10000")
    assert "10.77.0.1 is the media server of session S1" in told.fix


def _conn() -> Connection:
    return Connection(uid="C1", orig_h="10.0.0.1", orig_p=5001, resp_h="10.0.0.2",
                      resp_p=10000, ts=0.0)


def test_one_side_speaking_ndmp_keeps_the_session() -> None:
    """A DMA's NDMP record to a program answering another protocol, or a connection on
    which the originator's NDMP decoded, stays a session (its trouble is judged). A
    client's evident HTTP request is no DMA's, its answer captured or not, an NDMP
    server's greeting or not: no session."""
    http = {"orig": b"GET / HTTP/1.1\r\nHost: x\r\n", "resp": b"HTTP/1.1 200 OK\r\n"}
    assert other_protocol(_conn(), NdmpStream("C1", opening=dict(http))) == "HTTP"
    assert other_protocol(_conn(), NdmpStream("C1", opening={
        "orig": NOTIFY_CONNECTED, "resp": http["resp"]})) is None
    greeting = NdmpMessage(frame=5, ts=0.1, direction="resp", sequence=1, type="request",
                           code=0x502, name="NDMP_NOTIFY_CONNECTED", error=0,
                           reply_sequence=0)
    opening = {"orig": http["orig"], "resp": NOTIFY_CONNECTED}
    assert other_protocol(_conn(), NdmpStream("C1", messages=[greeting],
                                              opening=dict(opening))) == "HTTP"
    asked = NdmpMessage(frame=7, ts=0.2, direction="orig", sequence=1, type="request",
                        code=0x900, name="NDMP_CONNECT_OPEN", error=0, reply_sequence=0)
    assert other_protocol(_conn(), NdmpStream("C1", messages=[greeting, asked],
                                              opening=dict(opening))) is None
    assert other_protocol(_conn(), NdmpStream("C1", opening={"orig": http["orig"]})) == "HTTP"
    assert other_protocol(_conn(), None) is None
    assert could_start_ndmp(NOTIFY_CONNECTED) and could_start_ndmp(b"\x80\x00")
    assert not could_start_ndmp(b"\x16\x03\x01\x01\x24\x01\x00\x01")  # a TLS ClientHello


def _snapped(source: Path, target: Path, snap: int) -> Path:
    """`source` as `tcpdump -s SNAP` would have written it (classic pcap, Ethernet):
    each packet cut to `snap` bytes, its length on the wire kept."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snap, 1))
    for packet in read_packets(str(source)):
        raw = bytes(packet)
        micros = int(round(float(packet.time) * 1_000_000))
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                           min(len(raw), snap), len(raw)) + raw[:snap]
    target.write_bytes(bytes(out))
    return target


def test_a_snap_length_keeps_the_first_bytes_that_tell(tmp_path: Path) -> None:
    """tcpdump -s 80 kept 14 bytes of each payload: "GET / HTTP/1.1" and "HTTP/1.1 200
    OK" still tell the protocol (a cut payload's start is exact)."""
    capture = _snapped(FOLDER / "webmin-only.pcap", tmp_path / "webmin-s80.pcap", 80)
    config = build_config(load_file(FOLDER / "webmin-only.toml"))
    analysis = analyze(read_traffic([str(capture)], config), config)
    assert analysis.sessions == []
    assert _codes(analysis, Severity.WARNING) == ["ndmp_undecodable"]
    assert "carried HTTP, not NDMP" in next(
        f.message for f in analysis.findings if f.code == "ndmp_undecodable")


def test_http_without_its_clients_syn_is_still_no_session(tmp_path: Path) -> None:
    """webmin-on-media without frame 1, the HTTP client's SYN: the server's SYN-ACK
    gives where the client's bytes start, so "GET / HTTP/1.1" is still the opening of
    that direction, and the fetch is no NDMP session (it was read as a capture started
    mid-stream: a FAILED session with step_missing, a clean job read FAIL)."""
    cut = tmp_path / "webmin-on-media-without-1.pcap"
    subprocess.run(["editcap", str(FOLDER / "webmin-on-media.pcap.gz"), str(cut), "1"],
                   check=True, capture_output=True)
    config = build_config(load_file(FOLDER / "webmin-on-media.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    assert analysis.verdict == "pass"
    assert [(s.media_server, s.remote_agent) for s in analysis.sessions] == [
        ("10.77.0.1", "10.77.0.2")]
    assert _codes(analysis, Severity.WARNING) == ["ndmp_undecodable"]
    fetch = next(s for s in analysis.traffic.streams if s.uid == "C1")
    assert fetch.opening["orig"].startswith(b"GET / HTTP/1.1")


def _without(tmp_path: Path, name: str, frame: int) -> Analysis:
    """FOLDER/NAME without its frame `frame` (editcap), as the sniffer would have lost
    it, analysed with NAME's configuration."""
    capture = next(p for p in FOLDER.iterdir() if p.name.split(".")[0] == name
                   and ".pcap" in p.name)
    cut = tmp_path / f"{name}-without-{frame}.pcap"
    subprocess.run(["editcap", "-F", "pcap", str(capture), str(cut), str(frame)],
                   check=True, capture_output=True)
    config = build_config(load_file(FOLDER / f"{name}.toml"))
    return analyze(read_traffic([str(cut)], config), config)


def _told(analysis: Analysis) -> str:
    return " ".join(next(f.message for f in analysis.findings
                         if f.code == "ndmp_undecodable").split())


def _fetch(analysis: Analysis, port: int) -> NdmpStream:
    """The stream of the HTTP fetch from client port `port`."""
    [conn] = [c for c in analysis.traffic.connections if c.orig_p == port]
    return next(s for s in analysis.traffic.streams if s.uid == conn.uid)


@pytest.mark.parametrize(("frame", "port"), [(2, 39072), (269, 39074)])
def test_http_without_its_servers_syn_ack_is_still_no_session(tmp_path: Path, frame: int,
                                                              port: int) -> None:
    """webmin-on-media without a fetch's SYN-ACK: the client's handshake ACK (its first
    packet after its SYN) acknowledged the server's ISN + 1, where "HTTP/1.1 200 OK"
    begins, so the server's start is in the capture and the fetch is no session (it was
    read as bytes of a capture started mid-stream: a FAILED session, step_missing)."""
    analysis = _without(tmp_path, "webmin-on-media", frame)
    assert analysis.verdict == "pass"
    assert [(s.media_server, s.remote_agent) for s in analysis.sessions] == [
        ("10.77.0.1", "10.77.0.2")]
    assert _fetch(analysis, port).opening["resp"].startswith(b"HTTP/1.1 200 OK")
    assert "both sides opened with bytes that cannot start an NDMP record" in _told(analysis)


def test_an_ndmp_control_connection_without_its_syn_ack_keeps_its_greeting(
        tmp_path: Path) -> None:
    """webmin-on-media without frame 12, the job's control SYN-ACK: the agent's
    NOTIFY_CONNECTED is its stream's start (the media server's handshake ACK
    acknowledged where it begins), and the job still passes."""
    analysis = _without(tmp_path, "webmin-on-media", 12)
    assert analysis.verdict == "pass"
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] * 5
    control = next(s for s in analysis.traffic.streams if s.uid == session.control_uid)
    assert int.from_bytes(control.opening["resp"][12:16], "big") == 0  # a request:
    assert int.from_bytes(control.opening["resp"][16:20], "big") == 0x502  # the greeting


@pytest.mark.parametrize(("frame", "port"), [(6, 39072), (273, 39074)])
def test_http_without_its_servers_answer_is_no_session(tmp_path: Path, frame: int,
                                                       port: int) -> None:
    """webmin-on-media without a fetch's "HTTP/1.1 200 OK": the client's "GET /
    HTTP/1.1" is no DMA's opening (a DMA opens with an NDMP record), whatever the server
    answered: no session (it was a FAILED one, step_missing)."""
    analysis = _without(tmp_path, "webmin-on-media", frame)
    assert analysis.verdict == "pass"
    assert len(analysis.sessions) == 1
    assert "resp" not in _fetch(analysis, port).opening


@pytest.mark.parametrize(("frame", "port"), [(4, 39072), (271, 39074)])
def test_http_without_its_clients_request_is_no_session(tmp_path: Path, frame: int,
                                                        port: int) -> None:
    """webmin-on-media without a fetch's "GET / HTTP/1.1": the server's "HTTP/1.1 200
    OK" answers an HTTP request it read, so the client spoke HTTP: no session (it was
    one with steps 2-5 unknown, the clean job inconclusive)."""
    analysis = _without(tmp_path, "webmin-on-media", frame)
    assert analysis.verdict == "pass"
    assert len(analysis.sessions) == 1
    assert "orig" not in _fetch(analysis, port).opening


@pytest.mark.parametrize(("lost", "words"), [
    (6, 'opened as a client of HTTP ("GET / HTTP/1.1"), where a DMA opens with an NDMP '
        "record (the start of 10.77.0.1's answer is not in the capture)"),
    (4, 'answered an HTTP client\'s request ("HTTP/1.1 200 OK"), which only such a '
        "request gets (the start of 10.77.0.9's bytes is not in the capture)")])
def test_a_lone_fetch_with_one_side_lost_says_what_tells_http(tmp_path: Path, lost: int,
                                                              words: str) -> None:
    """webmin-on-media's first fetch alone (frames 1-10) without its answer or its
    request: the warning says which side told HTTP and that the other's start is not in
    the capture (both sides' words would quote bytes the capture lacks)."""
    fetch = tmp_path / "fetch.pcap"
    kept = [f"{n}" for n in range(1, 11) if n != lost]
    subprocess.run(["editcap", "-F", "pcap", "-r", str(FOLDER / "webmin-on-media.pcap.gz"),
                    str(fetch), *kept], check=True, capture_output=True)
    config = build_config(load_file(FOLDER / "webmin-on-media.toml"))
    analysis = analyze(read_traffic([str(fetch)], config), config)
    assert analysis.sessions == []
    assert _codes(analysis, Severity.ERROR) == ["no_control_session"]
    assert words in _told(analysis)


def test_three_fetches_one_request_lost_are_still_three_fetches(tmp_path: Path) -> None:
    """webmin-only without frame 14, the second fetch's GET: all three connections are
    HTTP, none a session (it read one session with steps 2-5 unknown)."""
    analysis = _without(tmp_path, "webmin-only", 14)
    assert analysis.sessions == []
    missing = next(f for f in analysis.findings if f.code == "no_control_session")
    assert "the 3 connections to the NDMP port" in missing.message


@pytest.mark.parametrize("frame", [4, 6])
def test_tls_with_one_hello_lost_reads_as_tls(tmp_path: Path, frame: int) -> None:
    """tls-on-ndmp-port without the ClientHello (4) or the ServerHello (6): the other
    hello tells TLS as both did (a ServerHello answers only a ClientHello): inconclusive,
    no session (it read FAIL, step_missing)."""
    analysis = _without(tmp_path, "tls-on-ndmp-port", frame)
    assert analysis.verdict == "inconclusive" and analysis.sessions == []
    assert _codes(analysis, Severity.ERROR) == []
    assert "carried TLS, not NDMP" in _told(analysis)


def test_a_dmas_opening_is_no_other_protocols_request() -> None:
    """An NDMP client's first record (CONNECT_OPEN) is no other protocol's request, with
    or without the server's answer; an HTTP server's 400 (bytes it could not read as a
    request, an NDMP record among them) and an SSH banner (sent unasked) tell nothing of
    the client: those connections stay sessions."""
    connect_open = (bytes.fromhex("8000001c") + (1).to_bytes(4, "big") + bytes(8)
                    + (0x900).to_bytes(4, "big"))
    assert client_protocol(connect_open) is None
    assert other_protocol(_conn(), NdmpStream("C1", opening={"orig": connect_open})) is None
    assert client_protocol(b"GET / HTTP/1.1\r\n") == "HTTP"
    assert client_protocol(b"SSH-2.0-OpenSSH_9.6\r\n") == "SSH"
    assert client_protocol(bytes.fromhex("160301020001")) == "TLS"  # a ClientHello
    assert answered_protocol(b"HTTP/1.1 200 OK\r\n") == "HTTP"
    for unread in (b"HTTP/1.1 400 Bad Request\r\n", b"SSH-2.0-OpenSSH_9.6\r\n",
                   bytes.fromhex("15030300020250")):  # a TLS alert
        assert answered_protocol(unread) is None
        assert other_protocol(_conn(), NdmpStream("C1", opening={"resp": unread})) is None


@pytest.mark.parametrize("lost", [None, 4])
def test_an_http_client_of_the_ndmp_agent_is_no_session(tmp_path: Path,
                                                        lost: int | None) -> None:
    """http-probe-ndmp-agent: curl asked the lab agent's NDMP port before a good job; the
    agent greeted (NOTIFY_CONNECTED decoded), curl sent "GET / HTTP/1.1": no DMA, whatever
    the NDMP server said, so no session (it read FAIL, step_missing); also without the
    greeting (frame 4)."""
    analysis = (_without(tmp_path, "http-probe-ndmp-agent", lost) if lost else
                _analyze("http-probe-ndmp-agent.pcap.gz"))
    assert analysis.verdict == "pass"
    assert [(s.media_server, s.remote_agent) for s in analysis.sessions] == [
        ("10.77.0.1", "10.77.0.2")]
    told = _told(analysis)
    assert 'opened as a client of HTTP ("GET / HTTP/1.1")' in told
    if lost is None:
        assert told.startswith("A connection from 10.77.0.1:") and \
            "(the NDMP port) carried HTTP from a client that is no DMA" in told
        assert "and only 10.77.0.2 sent NDMP (NOTIFY_CONNECTED)" in told
        assert "other than the DMA" in next(f.fix for f in analysis.findings
                                            if f.code == "ndmp_undecodable")


def test_an_http_client_of_the_ndmp_agent_alone_names_no_other_program(
        tmp_path: Path) -> None:
    """http-probe-ndmp-agent's curl connection alone (frames 1-10): no control session,
    and no_control_session says an NDMP server answered a client that is no DMA, not
    that another program holds the port (it did)."""
    probe = tmp_path / "probe.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-r",
                    str(FOLDER / "http-probe-ndmp-agent.pcap.gz"), str(probe), "1-10"],
                   check=True, capture_output=True)
    config = build_config(load_file(FOLDER / "http-probe-ndmp-agent.toml"))
    analysis = analyze(read_traffic([str(probe)], config), config)
    assert analysis.sessions == []
    [missing] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert "carried HTTP from a client that is no DMA, an NDMP server answering " \
        "(ndmp_undecodable)" in " ".join(missing.message.split())
    assert "another program holds" not in missing.fix

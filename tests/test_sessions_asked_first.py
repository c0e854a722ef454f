"""A one-direction capture of the media server's side, whole: its requests say from when
a session's data connection can open (sessions.asked_first). Field check 46, seed 93
run 11: two jobs at once between dual-stack hosts captured `-Q out` on the media
server; job 1's callback answers dropped by the media server's own rules. Its IPv4
callback and data connection fitted both IPv6 sessions, so step 2 read unknown for both
and the run inconclusive (a third of the runs of that draw; the others read
step_missing for job 1)."""

from __future__ import annotations

from pathlib import Path

from pcap_records import moved_back, read_records, write_records
from test_sessions import conn

from flowcheck.config import build_config, load_file
from flowcheck.model import NdmpMessage, NdmpStream
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sessions.asked_first import asked_from, asked_from_frame, media_side_whole
from flowcheck.sessions.file_order import END
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS

FIELD46 = Path(__file__).resolve().parent.parent / "captures" / "field46-matrix"
NAME = "callback-dropped-dual-stack-one-direction-two-jobs"


def test_the_job_that_asked_for_no_data_connection_misses_its_callback() -> None:
    config = build_config(load_file(FIELD46 / f"{NAME}.toml"))
    analysis = analyze(read_traffic([str(FIELD46 / f"{NAME}.pcapng")], config), config)
    assert analysis.verdict == "fail"
    first, second = analysis.sessions
    assert (first.remote_agent, second.remote_agent) == ("fd77::2", "fd77::3")
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    (data,) = second.data_connections
    assert by_uid[data].resp_h == "10.77.0.3" and not first.port_tied
    assert by_uid[second.callback_uid].orig_h == "10.77.0.3"
    assert first.callback_uid is None and first.steps[1].status == "missing"
    (missing,) = [f for f in analysis.findings if f.severity == "error"]
    assert (missing.code, missing.session) == ("step_missing", first.id)


def _media_side(messages: list[NdmpMessage], *, agent_side: bool = False):
    control = conn("C1", "fd77::1", 5010, "fd77::2", 10000, 1.0, end=9.0, orig_pkts=8,
                   resp_pkts=8 if agent_side else 0, orig_bytes=300,
                   history="ShADdF" if agent_side else "SADF")
    stream = NdmpStream("C1", 4, messages=messages, orig_bytes=300)
    return control, stream


def _request(name: str, ts: float) -> NdmpMessage:
    return NdmpMessage(10, ts, "orig", 1, "request", 0, f"NDMP_{name}", 0, 0)


def test_no_data_setup_request_no_data_connection() -> None:
    control, stream = _media_side([_request("CONNECT_OPEN", 1.1),
                                   _request("CONFIG_GET_HOST_INFO", 1.2)])
    assert media_side_whole(control, stream)
    assert asked_from(control, stream) == END


def test_from_the_first_data_setup_request() -> None:
    control, stream = _media_side([_request("CONNECT_OPEN", 1.1), _request("DATA_LISTEN", 2.0),
                                   _request("DATA_START_BACKUP", 2.5)])
    assert asked_from(control, stream) == (0, 2.0 - ANNOUNCEMENT_JITTER_SECONDS)


def test_the_control_connections_start_when_the_side_is_not_whole() -> None:
    messages = [_request("CONNECT_OPEN", 1.1)]
    both, stream = _media_side(messages, agent_side=True)  # both directions: not this path
    assert not media_side_whole(both, stream) and asked_from(both, stream) == (0, 1.0)
    control, stream = _media_side(messages)
    control.missed_bytes = 24  # a request may be among the bytes the sniffer lost
    assert asked_from(control, stream) == (0, 1.0)
    control, stream = _media_side(messages)
    stream.orig_bytes = 200  # bytes not decoded
    assert asked_from(control, stream) == (0, 1.0)


def test_in_frames_from_the_first_data_setup_request() -> None:
    """asked_from_frame: the first data setup request's frame (None without one), the
    control connection's first frame when the media server's side is not whole."""
    request = NdmpMessage(17, 2.0, "orig", 1, "request", 0, "NDMP_DATA_LISTEN", 0, 0)
    control, stream = _media_side([_request("CONNECT_OPEN", 1.1), request])
    assert asked_from_frame(control, stream) == 17
    control, stream = _media_side([_request("CONNECT_OPEN", 1.1)])
    assert asked_from_frame(control, stream) is None
    both, stream = _media_side([request], agent_side=True)
    assert asked_from_frame(both, stream) == both.first_frame


def test_a_clock_set_back_in_a_one_direction_capture(tmp_path: Path) -> None:
    """lab/one-direction-out (the media server's side, whole) stepped back 2 s from its
    23rd packet on: the session's data connections, written after its data setup
    requests, are stamped before them, and in the file's write order (one file of one
    interface) still fit it by direction and ports (sessions.by_ports): PASS as
    unstepped. By the requests' timestamps: INCONCLUSIVE, unannounced_connection."""
    lab = FIELD46.parent / "lab"
    config = build_config(load_file(lab / "one-direction-out.toml"))
    linktype, records = read_records(lab / "one-direction-out.pcap")
    stepped = write_records(tmp_path / "stepped.pcap", linktype,
                            moved_back(records, 22, 2_000_000))
    analysis = analyze(read_traffic([str(stepped)], config), config)
    codes = {f.code for f in analysis.findings}
    assert "capture_clock_stepped" in codes and "unannounced_connection" not in codes
    assert analysis.verdict == "pass"

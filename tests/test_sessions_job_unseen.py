"""A failed job whose failure the capture does not hold is inconclusive, never a passing
browse (trial 13 D1): the snap length cut the CONNECT_CLIENT_AUTH reply before its error
word, or the capture holds one direction of the control connection only. The session's
kind is unknown in the text (JSON kind browse: the contract has no "unknown"), its later
steps unknown, never failed; a reply's error the capture did not hold is no
NDMP_NO_ERR (JSON error_name null). captures/ndmjob-unseen."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

UNSEEN = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-unseen"
WHOLE = UNSEEN / "badpw-any-media.pcap"
AUTH_REPLY = 10  # frame of the CONNECT_CLIENT_AUTH reply (NDMP_NOT_AUTHORIZED_ERR)


def _analyze(capture: Path, toml: Path | None = None) -> Analysis:
    config = build_config(load_file(toml or capture.with_name(
        capture.name.split(".")[0] + ".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def _errors(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings if str(f.severity) == "error"]


def _assert_unseen(analysis: Analysis) -> None:
    """Inconclusive, no error, the session's kind unknown and steps 2-4 unknown."""
    assert analysis.verdict == "inconclusive"
    assert _errors(analysis) == []
    [session] = analysis.sessions
    assert session.job_unseen and session.kind_unknown
    assert session.kind_words() == f"kind unknown ({session.job_unseen})"
    assert session.as_dict()["kind"] == "browse"  # the contract's kinds
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown"]
    assert all(session.job_unseen in s.detail for s in session.steps[1:])


@pytest.mark.parametrize(("name", "why"), [
    ("badpw-s96-media.pcap", "its last reply, to CONNECT_CLIENT_AUTH (frame 10), lost its "
                             "error field to the capture's snap length"),
    ("badpw-any-s100-media.pcap", "its last reply, to CONNECT_CLIENT_AUTH (frame 10)"),
    ("badpw-srcmedia-media.pcapng", "the capture holds only the media server's side"),
    ("datadrop-srcagent-media.pcap", "the capture holds only the agent's side of its control "
                                     "connection (nothing from 10.77.0.1 to 10.77.1.2, though "
                                     "10.77.1.2 acknowledged 129 B of it)"),
])
def test_a_failure_the_capture_lacks_is_inconclusive_not_browse(name: str, why: str) -> None:
    analysis = _analyze(UNSEEN / name)
    _assert_unseen(analysis)
    assert analysis.sessions[0].job_unseen.startswith(why)


def test_a_cut_error_field_is_not_no_err() -> None:
    """The reply's header says 0 and its body's error word was cut: error stays the
    header's (the contract's integer), error_name is null, partial true; ndmp_partial
    names the reply that decides."""
    analysis = _analyze(UNSEEN / "badpw-s96-media.pcap")
    [stream] = analysis.traffic.streams
    reply = next(m for m in stream.messages if m.frame == AUTH_REPLY)
    assert reply.name == "NDMP_CONNECT_CLIENT_AUTH" and reply.type == "reply"
    assert reply.error_unknown
    fields = reply.as_dict()
    assert (fields["error"], fields["error_name"], fields["partial"]) == (0, None, True)
    request = next(m for m in stream.messages if m.frame == AUTH_REPLY - 1)
    assert not request.error_unknown and request.error_name == "NDMP_NO_ERR"
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert ("The error field of the CONNECT_CLIENT_AUTH reply (frame 10), session S1's last "
            "word, was cut") in partial.message


def test_the_whole_capture_fails() -> None:
    analysis = _analyze(WHOLE)
    assert analysis.verdict == "fail" and _errors(analysis) == ["ndmp_error_reply"]
    assert not analysis.sessions[0].job_unseen


# SLL2 (20) + IPv4 (20) + TCP with timestamps (32) + record mark (4) + NDMP header (24)
# + the reply's error word (4): from 104 bytes on the refusal is in the capture.
ERROR_CAPTURED = 104


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")
@pytest.mark.parametrize("snaplen", [60, 80, 96, 99, 100, 102, 103, 104, 112, 128])
def test_every_snap_length_fails_where_the_refusal_is_captured(snaplen: int,
                                                               tmp_path: Path) -> None:
    """Fail where the capture holds the error word, inconclusive where it does not
    (header whole or not), never pass."""
    cut = tmp_path / f"s{snaplen}.pcap"
    subprocess.run(["editcap", "-s", str(snaplen), str(WHOLE), str(cut)], check=True,
                   capture_output=True)
    analysis = _analyze(cut, WHOLE.with_suffix(".toml"))
    if snaplen >= ERROR_CAPTURED:
        assert analysis.verdict == "fail" and _errors(analysis) == ["ndmp_error_reply"]
    else:
        assert analysis.verdict == "inconclusive" and _errors(analysis) == []
        assert all(s.status == "unknown" for s in analysis.sessions[0].steps[1:])


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
@pytest.mark.parametrize(("host", "verdict"), [("10.77.0.1", "inconclusive"),
                                               ("10.77.1.3", "fail")])
def test_one_direction_fails_only_when_it_holds_the_refusal(host: str, verdict: str,
                                                            tmp_path: Path) -> None:
    """`src host` of the media server lacks the agent's refusal: inconclusive; of the
    agent, it holds it: fail."""
    one_way = tmp_path / "one-way.pcap"
    subprocess.run(["tcpdump", "-r", str(WHOLE), "-w", str(one_way), f"src host {host}"],
                   check=True, capture_output=True)
    analysis = _analyze(one_way, WHOLE.with_suffix(".toml"))
    assert analysis.verdict == verdict
    if verdict == "inconclusive":
        _assert_unseen(analysis)
    else:
        assert _errors(analysis) == ["ndmp_error_reply"]


def _browse(tail: list[tuple[str, str, str]], *, cut: str = "") -> tuple:
    """ndmjob's opening (CONNECT_OPEN, CONNECT_CLIENT_AUTH) then `tail` (direction, type,
    name) on a control connection closed normally; the reply named `cut` had its error
    word cut by the snap length."""
    from test_verify_scenarios import msg, ndmp_backup
    connections, streams = ndmp_backup(data_how="ok")
    stream = streams[0]
    stream.messages = [m for m in stream.messages if m.name == "CONNECT_OPEN"]
    stream.messages += [msg(4, 0.3, "orig", "request", "CONNECT_CLIENT_AUTH"),
                        msg(5, 0.4, "resp", "reply", "CONNECT_CLIENT_AUTH")]
    stream.messages += [msg(6 + i, 0.5 + i / 10, d, t, n) for i, (d, t, n) in enumerate(tail)]
    stream.announcements = []
    for message in stream.messages:
        if message.type == "reply" and message.name == cut:
            message.partial, message.body_len, message.body_error = True, 4, None
            message.error_name = None
    stream.snap_cut = 8
    return connections[:1], streams


def _run(connections: list, streams: list) -> tuple:
    from test_verify_scenarios import run
    sessions, findings = run(connections, streams, profile="ndmp")
    return sessions[0], findings


def test_a_cut_auth_reply_then_the_close_is_unseen() -> None:
    session, findings = _run(*_browse([("orig", "request", "CONNECT_CLOSE")],
                                      cut="CONNECT_CLIENT_AUTH"))
    assert session.kind_unknown and "CONNECT_CLIENT_AUTH (frame 5)" in session.job_unseen
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown"]
    assert not [f for f in findings if str(f.severity) == "error"]


def test_a_session_that_went_on_after_the_cut_reply_stays_browse() -> None:
    """The DMA sent more after the cut auth reply (a DMA stops at a refusal), and the last
    reply is a poll whose error would only warn: the capture shows a browse."""
    tail = [("orig", "request", "CONFIG_GET_HOST_INFO"),
            ("resp", "reply", "CONFIG_GET_HOST_INFO"), ("orig", "request", "CONNECT_CLOSE")]
    for cut in ("CONNECT_CLIENT_AUTH", "CONFIG_GET_HOST_INFO"):
        session, _ = _run(*_browse(tail, cut=cut))
        assert session.kind == "browse" and not session.kind_unknown, cut
        assert not session.job_unseen
        assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 3


def test_records_cut_whole_leave_the_kind_unknown() -> None:
    """A record whose header the snap length cut may have been a DATA_* request."""
    connections, streams = _browse([("orig", "request", "CONNECT_CLOSE")])
    streams[0].snap_lost = 1
    session, _ = _run(connections, streams)
    assert session.kind_unknown and "cut the header of about 1 NDMP record" in session.job_unseen
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown"]


def test_a_whole_browse_is_seen() -> None:
    from flowcheck.sessions.unseen import job_unseen
    connections, streams = _browse([("orig", "request", "CONNECT_CLOSE")])
    streams[0].snap_cut = 0
    assert job_unseen(connections[0], streams[0]) == ""

"""ranges_overlap against a range the user did not set (flowcheck.verify.range_overlap).

An unset range is flowcheck's default 1025-65535: it holds every port of the range the
user set, so one range set alone overlaps it by construction and the warning said
nothing about the job (newuser65 item 4). It is said then only where the capture shows
a connection the overlap leaves untold: open before the capture, from the agent to the
media server's port in both ranges, taken by no session
(sessions.capture_start.opener_unknown).
"""

from __future__ import annotations

from pathlib import Path

from frame_cuts import frame_range, stored_capture

from flowcheck.config import build_config
from flowcheck.pipeline import Analysis, analyze, read_traffic

# captures/callbackmatch/ssh-beside-lost-callback.pcap's configuration, without ranges (the
# same hosts as keepalive-beside-job.pcap's).
VALUES = {"profile": "backup-exec-9", "resources": 3, "media_servers": ["10.77.0.1"],
          "remote_agents": ["10.77.0.2"]}


def _analysis(capture: Path, **ranges: str) -> Analysis:
    config = build_config({**VALUES, **ranges})
    return analyze(read_traffic([str(capture)], config), config)


def _overlaps(analysis: Analysis) -> list:
    return [f for f in analysis.findings if f.code == "ranges_overlap"]


def test_one_range_set_warns_nothing_on_a_job_its_ports_tell() -> None:
    """The whole capture: every connection's opener in it; `--media-range` or
    `--agent-range` alone says no overlap (before: "overlap on 5001-5100" against the
    default agent range); both set and sharing ports still warns, naming no connection."""
    capture = stored_capture("callbackmatch", "ssh-beside-lost-callback")
    assert _overlaps(_analysis(capture, media_range="5001-5100")) == []
    assert _overlaps(_analysis(capture, agent_range="6001-6100")) == []
    (both,) = _overlaps(_analysis(capture, media_range="5001-5100",
                                  agent_range="6001-6100,5051-5150"))
    assert "overlap on 5051-5100: a port one side binds" in both.message
    assert both.frames == [] and both.ts is None
    assert both.reading == ""  # about the configuration alone: live prints it once seen


def test_one_range_set_warns_where_the_overlap_leaves_a_connection_untold(
        tmp_path: Path) -> None:
    """keepalive-beside-job.pcap kept from frame 10: the keepalive 10.77.0.2:7000 ->
    10.77.0.1:5050 is open before the capture and its media port 5050 is in the default
    agent range too, so no session takes it (an unannounced_connection): the overlap is
    said, naming it, and the fix asks for the agent range. With `--agent-range 6001-6100`
    nothing overlaps. (ssh-beside-lost-callback kept from frame 20 showed it until
    cutcb64b: its callback, seen from its handshake's ACK on, is now the job's.)"""
    cut = frame_range(stored_capture("callbackmatch", "keepalive-beside-job"),
                      tmp_path / "late.pcap", 10, 100000)
    analysis = _analysis(cut, media_range="5001-5100")
    (warning,) = _overlaps(analysis)
    (keepalive,) = [c for c in analysis.traffic.connections if c.orig_p == 7000]
    assert keepalive.session is None
    assert (f"overlap on 5001-5100, so 1 connection open before the capture "
            f"({keepalive.uid} 10.77.0.2:7000 -> 10.77.0.1:5050)") in warning.message
    assert "1025-65535 (agent range, the default)" in warning.message
    assert warning.fix.startswith("Set the agent range configured on the hosts")
    assert warning.frames == [keepalive.first_frame] and warning.ts == keepalive.ts
    # What flowcheck.live reads to wait for the report, not the frames it names.
    assert warning.reading == "untold_connection"
    told = _analysis(cut, media_range="5001-5100", agent_range="6001-6100")
    assert _overlaps(told) == []


def test_live_waits_for_the_report_to_say_an_overlap_a_connection_rests_on(
        tmp_path: Path) -> None:
    """Read live, ranges_overlap about the configuration alone is printed once seen; one
    naming a connection the overlap leaves untold waits for the report (a later
    GET_STATE reply naming that connection gives it to its session, and withdraws it)."""
    from live_batches import batch_events, early_mismatches

    cut = frame_range(stored_capture("callbackmatch", "keepalive-beside-job"),
                      tmp_path / "late.pcap", 10, 100000)
    config = build_config({**VALUES, "media_range": "5001-5100"})
    events, running = batch_events(cut.read_bytes(), config, 4096)
    assert "ranges_overlap" not in {e.finding.code for e in events[:running] if e.finding}
    assert "ranges_overlap" in {f.code for f in events[-1].analysis.findings}
    assert early_mismatches(events) == []


def test_a_connection_outside_the_media_range_is_not_the_overlaps(tmp_path: Path) -> None:
    """review63b: keepalive-beside-job.pcap kept from frame 10 holds the keepalive
    10.77.0.2:7000 -> 10.77.0.1:5050, open before the capture. With `--media-range
    5001-5100` alone its media port is in both ranges and the warning names it; with
    `--media-range 5001-5040` its port is outside the overlap (5001-5040), its ports
    leave it no session's whatever the agent range, and the warning named it all the
    same, "the media server's port in both ranges"."""
    cut = frame_range(stored_capture("callbackmatch", "keepalive-beside-job"),
                      tmp_path / "late.pcap", 10, 100000)
    (keepalive,) = [c for c in _analysis(cut).traffic.connections if c.orig_p == 7000]
    (warning,) = _overlaps(_analysis(cut, media_range="5001-5100"))
    assert f"({keepalive.uid} 10.77.0.2:7000 -> 10.77.0.1:5050)" in warning.message
    assert _overlaps(_analysis(cut, media_range="5001-5040")) == []

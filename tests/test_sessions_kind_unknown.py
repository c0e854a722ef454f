"""A job whose control connection was refused or dropped has no kind the capture shows:
the text says "kind unknown", not "browse" (trial 12 D7); the JSON kind keeps the
contract's values (docs/json.md: browse, none of the signs of a backup or restore).
captures/ndmjob-night12: ctl-refused-media (the NDMP daemon stopped: the SYN answered
with a RST), ctl-drop-media (port 10000 dropped: 10 SYNs unanswered)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

NIGHT = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-night12"


@pytest.mark.parametrize(("name", "code"), [("ctl-refused-media", "control_refused"),
                                            ("ctl-drop-media", "control_unanswered")])
def test_a_control_connection_that_never_opened_has_no_kind(name: str, code: str) -> None:
    config = build_config(load_file(NIGHT / f"{name}.toml"))
    analysis = analyze(read_traffic([str(NIGHT / f"{name}.pcap")], config), config)
    [session] = analysis.sessions
    # agent_not_seen: the configuration names both lab agents, the job reaches one.
    assert [f.code for f in analysis.findings if f.code != "agent_not_seen"] == [code]
    assert session.kind_unknown
    assert session.kind_words(short=True) == "kind unknown"
    assert session.kind_words().startswith("kind unknown (")
    assert session.as_dict()["kind"] == "browse"  # the contract has no "unknown"


def test_a_browse_that_talked_stays_browse() -> None:
    """A session whose NDMP conversation is in the capture keeps its kind words."""
    from test_verify_scenarios import ndmp_backup, run
    connections, streams = ndmp_backup(data_how="ok")
    streams[0].messages = [m for m in streams[0].messages if m.name.startswith("CONNECT")]
    streams[0].announcements = []
    sessions, _ = run(connections[:1], streams, profile="ndmp")
    [session] = sessions
    assert session.kind == "browse" and not session.kind_unknown
    assert session.kind_words() == "browse"


def test_a_session_whose_start_the_capture_lacks_has_no_kind_without_a_sign() -> None:
    """The same talk (CONNECT_* only) on a control connection first seen mid-stream (the
    capture started, or a ring hole ended, after its handshake): a DATA_START_* may have
    come before, so nothing tells its kind (trial 12: S11 of a ring with a hole read
    "browse")."""
    from test_verify_scenarios import ndmp_backup, run
    connections, streams = ndmp_backup(data_how="ok")
    streams[0].messages = [m for m in streams[0].messages if m.name.startswith("CONNECT")]
    streams[0].announcements = []
    control = connections[0]
    control.syn_frames, control.synack_frames, control.established = [], [], False
    control.history = "DdAaFf"
    sessions, _ = run(connections[:1], streams, profile="ndmp")
    [session] = sessions
    assert session.kind_unknown and session.as_dict()["kind"] == "browse"
    assert session.kind_words() == (
        "kind unknown (its start is not in the capture, and nothing after it tells a "
        "backup, a restore or a browse)")

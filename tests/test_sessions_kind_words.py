"""A session's kind in the text: "backup or restore" when only the default says backup
(trial 10 D9: a restore whose data connection failed before DATA_START_RECOVER read
"Session S1: backup"); the JSON kind keeps its documented rule (docs/json.md)."""

from __future__ import annotations

from test_verify_scenarios import ndmp_backup, run


def _unstarted(data_how: str) -> tuple[list, list]:
    connections, streams = ndmp_backup(data_how=data_how)
    streams[0].messages = [m for m in streams[0].messages
                           if not m.name.startswith("DATA_START")]
    return connections, streams


def test_no_start_and_no_bytes_is_backup_or_restore() -> None:
    sessions, findings = run(*_unstarted("unanswered"), profile="ndmp")
    [session] = sessions
    assert session.kind == "backup" and session.kind_guessed
    assert session.kind_words().startswith("backup or restore (")
    assert session.kind_words(short=True) == "backup or restore"
    assert session.as_dict()["kind"] == "backup"


def test_bytes_or_a_start_tell_the_kind() -> None:
    """Data toward the media server tells a backup without DATA_START_*; DATA_START_BACKUP
    tells it with no byte."""
    [moved], _ = run(*_unstarted("ok"), profile="ndmp")
    assert moved.kind == "backup" and not moved.kind_guessed
    [started], _ = run(*ndmp_backup(data_how="unanswered"), profile="ndmp")
    assert started.kind_words() == "backup" and not started.kind_guessed

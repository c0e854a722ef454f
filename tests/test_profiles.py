"""Profiles: the built-in files, a user's file, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.errors import UsageError
from flowcheck.profiles import load_profile, parse_profile

# The other reading of the TechNote: the agent's reply on the control connection is the
# callback (test_sessions checks a session against it).
CONTROL_REPLY = """
name = "be9-control-reply"
[callback]
mode = "control"
[data]
connector = "media_server"
[[steps]]
kind = "control"
[[steps]]
kind = "callback"
name = "agent answers on the control connection"
"""


def test_backup_exec_9_has_the_technote_five_steps() -> None:
    profile = load_profile("backup-exec-9")
    assert [s.kind for s in profile.steps] == ["control", "callback", "announcement",
                                               "data_connection", "data_flow"]
    assert [s.number for s in profile.steps] == [1, 2, 3, 4, 5]
    assert profile.callback == "connection" and profile.connector == "media_server"


def test_ndmp_has_no_callback_and_follows_the_listener() -> None:
    profile = load_profile("ndmp")
    assert profile.step("callback") is None and profile.callback == "none"
    assert profile.connector == "listener"
    assert profile.step("data_connection").number == 3  # type: ignore[union-attr]


def test_user_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "control-reply.toml"
    path.write_text(CONTROL_REPLY)
    profile = load_profile(str(path))
    assert profile.name == "be9-control-reply" and profile.callback == "control"
    assert profile.steps[0].name == "control" and profile.source == str(path)


@pytest.mark.parametrize(("text", "problem"), [
    ("name = ", "not valid TOML"),
    ('name = "x"\ncolour = 1\n[[steps]]\nkind = "control"', "unknown key 'colour'"),
    ('name = "x"', "at least one"),
    ('name = "x"\n[[steps]]\nkind = "callback"', "first step"),
    ('name = "x"\n[[steps]]\nkind = "control"\n[[steps]]\nkind = "teleport"', "kind"),
    ('name = "x"\n[[steps]]\nkind = "control"\n[[steps]]\nkind = "callback"', "callback"),
    ('name = "x"\n[callback]\nmode = "sometimes"\n[[steps]]\nkind = "control"', "mode"),
    ('name = "x"\n[data]\nconnector = "tape"\n[[steps]]\nkind = "control"', "connector"),
    ('name = "x"\n[[steps]]\nkind = "control"\n[[steps]]\nkind = "data_connection"',
     "announcement"),
    ('name = "x"\n[[steps]]\nkind = "control"\n[[steps]]\nkind = "data_flow"\n'
     '[[steps]]\nkind = "announcement"', "order"),
    ('name = "x"\n[[steps]]\nkind = "control"\n[[steps]]\nkind = "control"', "once"),
    ('[[steps]]\nkind = "control"', "name"),
])
def test_bad_profile_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_profile(text)


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(UsageError, match="unknown profile 'netbackup'.*backup-exec-9"):
        load_profile("netbackup")
    with pytest.raises(UsageError, match="cannot read"):
        load_profile("/nonexistent/profile.toml")


def test_a_relative_profile_file_is_read_beside_the_configuration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`profile = "myprof.toml"` in a capture folder's flowcheck.toml, flowcheck run from
    elsewhere (CI from the repository root; trial 9: "cannot read")."""
    from flowcheck.config import build_config, load_file
    from flowcheck.profiles import load_profile

    folder = tmp_path / "captures"
    folder.mkdir()
    builtin = Path(__file__).resolve().parent.parent / "flowcheck" / "profiles" / "ndmp.toml"
    (folder / "myprof.toml").write_text(builtin.read_text().replace('name = "ndmp"',
                                                                    'name = "mine"'))
    (folder / "flowcheck.toml").write_text('profile = "myprof.toml"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = build_config(load_file(folder / "flowcheck.toml"))
    assert Path(config.profile) == folder / "myprof.toml"
    assert load_profile(config.profile).name == "mine"


@pytest.mark.parametrize(("name", "closest"), [
    ("backup-exec", "backup-exec-9"), ("backup-exec-22", "backup-exec-9"),
    ("Backup-Exec-2010", "backup-exec-9"), ("nmdp", "ndmp")])
def test_an_unknown_name_names_the_closest_profile_and_what_each_is_for(
        name: str, closest: str) -> None:
    """newuser68 item 7: `--profile backup-exec-22` listed the names alone, nothing said
    whether backup-exec-9 fits a later Backup Exec; now one line naming the closest and
    what each built-in profile is for (its versions: docs/profiles.md)."""
    with pytest.raises(UsageError) as caught:
        load_profile(name, setting="--profile")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"--profile: unknown profile {name!r}: the closest is {closest}; ")
    assert ("backup-exec-9 (Backup Exec's remote agent sequence of Veritas TechNote 255831, "
            "written for 9.x; whether later versions") in message
    assert "ndmp (plain NDMP with no callback" in message
    assert message.endswith("; or give a .toml file")


def test_a_name_like_no_profile_names_none_closest() -> None:
    with pytest.raises(UsageError) as caught:
        load_profile("netbackup")
    assert "closest" not in str(caught.value)

"""`--help` texts speak the user's terms (trial 20, D18): no internal type names
(`<list[str]>`, `<file>`, `[x>=0.1]`, `{CAPTURE...}...`), whole command summaries in
`flowcheck --help`, only the options that change a command's output, and the exit codes
a script needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowcheck.cli.main import run

COMMANDS = ["connections", "ndmp", "analyze", "crosscheck", "live", "regress", "firewall",
            "plan"]
INTERNAL = re.compile(r"<[a-z|\[\]]+>|\{[A-Z]|\[x[<>]=|[<>]=x\]")


def _help(argv: list[str], capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch, columns: int = 80) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert run([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_no_internal_type_names(command: str, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = _help([command], capsys, monkeypatch)
    assert not INTERNAL.search(out), INTERNAL.search(out)


@pytest.mark.parametrize(("command", "usage"), [
    ("analyze", "Usage: flowcheck analyze [OPTIONS] CAPTURE..."),
    ("crosscheck", "Usage: flowcheck crosscheck [OPTIONS] CAPTURE"),
    ("regress", "Usage: flowcheck regress [OPTIONS] [DIR|FILE]..."),
])
def test_usage_names_the_arguments_plainly(command: str, usage: str,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = _help([command], capsys, monkeypatch)
    assert out.splitlines()[0] == usage


def test_crosscheck_says_what_its_capture_is(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = _help(["crosscheck"], capsys, monkeypatch)
    line = next(line for line in out.splitlines() if line.strip().startswith("CAPTURE"))
    assert "file" in line


@pytest.mark.parametrize("columns", [80, 200])
def test_command_summaries_are_whole(columns: int, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = _help([], capsys, monkeypatch, columns)
    listed = out.split("Commands:")[1].split("\n\n")[0]
    for command in COMMANDS:
        assert re.search(rf"^  {command}  ", listed, re.MULTILINE), command
    assert "..." not in listed


def test_top_level_help_gives_the_exit_codes(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = " ".join(_help([], capsys, monkeypatch).split())
    assert "Exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "):
        assert code in out.split("Exit codes:")[1]


@pytest.mark.parametrize(("command", "codes"), [
    ("analyze", ("0 pass", "1 fail", "5 inconclusive")),
    ("live", ("0 pass", "1 fail", "5 inconclusive")),
    ("regress", ("1 ",)),
    ("crosscheck", ("1 ",)),
    ("plan", ("1 ",)),
    ("connections", ("0 ", "3 ")),
    ("ndmp", ("0 ", "3 ")),
    ("firewall", ("0 ", "2 ")),
])
def test_each_command_gives_its_exit_codes(command: str, codes: tuple[str, ...],
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = " ".join(_help([command], capsys, monkeypatch).split())
    assert "Exit codes:" in out
    for code in codes:
        assert code in out.split("Exit codes:")[1], code


@pytest.mark.parametrize(("command", "unused"), [
    ("firewall", ["--backup-network", "--port-hold", "--resources",
                  "--retransmission-timeout"]),
    ("plan", ["--media-server", "--remote-agent", "--backup-network",
              "--retransmission-timeout"]),
])
def test_options_that_do_not_apply_are_not_listed_but_accepted(
        command: str, unused: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = _help([command], capsys, monkeypatch)
    listed = out.split("Options:")[1].split("\n\n")[0]
    for option in unused:
        assert option not in listed, option
    assert "--media-range" in listed and "--profile" in listed
    assert all(option in out.split("Also accepted")[1] for option in unused)
    # The contract: firewall and plan take every configuration option (a shared
    # flowcheck.toml sets them all); those that change nothing here are still accepted.
    values = {"--backup-network": "10.77.0.0/24", "--port-hold": "60", "--resources": "2",
              "--retransmission-timeout": "3", "--ndmp-port": "10000",
              "--media-server": "10.77.0.1", "--remote-agent": "10.77.0.2"}
    argv = [command, "--resources", "2"] + [a for option in unused if option != "--resources"
                                            for a in (option, values[option])]
    assert run(argv) == 0


UNREAD = ["--backup-network", "--port-hold", "--resources"]
V4 = "captures/ndmjob/v4-backup.pcap"


@pytest.mark.parametrize("command", ["connections", "ndmp", "crosscheck"])
def test_traffic_commands_do_not_list_the_checks_settings(
        command: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """connections, ndmp and crosscheck read the traffic and label it, never judge it:
    the backup network, the port hold and the resources change nothing there (newuser55:
    their --help listed them), so they are named under the options as accepted, and a
    run with them writes what one without them writes."""
    out = _help([command], capsys, monkeypatch)
    listed = out.split("Options:")[1].split("\n\n")[0]
    assert not [option for option in UNREAD if option in listed]
    assert "--media-range" in listed and "--retransmission-timeout" in listed
    assert all(option in out.split("Also accepted")[1] for option in UNREAD)
    capture = str(Path(__file__).resolve().parent.parent / V4)
    assert run([command, capture, "--format", "json"]) == 0
    plain = capsys.readouterr().out
    assert run([command, capture, "--format", "json", "--backup-network", "192.0.2.0/24",
                "--port-hold", "1", "--resources", "7"]) == 0
    assert capsys.readouterr().out == plain


@pytest.mark.parametrize("command", ["analyze", "live"])
def test_judging_commands_list_every_setting(command: str,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """analyze and live judge the job: every configuration option applies (backup
    network: control_off_backup_network; port hold: stale_tuple; resources: capacity)."""
    out = _help([command], capsys, monkeypatch)
    assert "Also accepted" not in out
    assert all(option in out.split("Options:")[1] for option in UNREAD)


@pytest.mark.parametrize(("command", "ring"), [
    ("analyze", True), ("connections", True), ("ndmp", True), ("crosscheck", False),
    ("live", False), ("firewall", False), ("plan", False)])
def test_config_help_says_what_the_command_reads_without_it(
        command: str, ring: bool, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # newuser54: firewall, plan and live said they read "a ring directory's own
    # flowcheck.toml"; they read no capture (crosscheck one file, never a directory).
    out = " ".join(_help([command], capsys, monkeypatch, 200).split())
    said = out.split("--config FILE ")[1].split(" --")[0]
    assert "./flowcheck.toml" in said
    assert ("ring directory" in said) is ring, said


def test_regress_help_names_the_sidecars_and_update(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = " ".join(_help(["regress"], capsys, monkeypatch, 200).split())
    summary = out.split("Arguments:")[0]
    for name in ("NAME.toml", "flowcheck.toml", "NAME.expected.json", "--update"):
        assert name in summary, name

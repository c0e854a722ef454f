"""Configuration errors a user can act on (trial 16, D9): the file named, the flag named,
one line, exit 2 (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.cli.main import run


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line of a usage error (exit 2), without its "flowcheck: error: " prefix."""
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowcheck: error: ") and err.count("\n") == 1, err
    return err.removeprefix("flowcheck: error: ").rstrip("\n")


@pytest.mark.parametrize("command", [["plan", "--resources", "1"], ["firewall"],
                                     ["analyze", "nosuch.pcap"]])
def test_the_implicit_file_is_named(command: list[str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """No --config given: ./flowcheck.toml is read, and the user must learn that it is."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "flowcheck.toml"
    config.write_text("bogus = 1\n")
    assert _error(command, capsys) == "unknown configuration key 'bogus' in ./flowcheck.toml"
    config.write_text("ndmp_port = 0\n")
    assert _error(command, capsys) == ("ndmp_port: port 0 is outside 1-65535 "
                                       "(in ./flowcheck.toml)")
    config.write_text("ndmp_port = = 1\n")
    assert _error(command, capsys).startswith("./flowcheck.toml: not valid TOML")


def test_an_explicit_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site.toml"
    config.write_text("bogus = 1\n")
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message == f"unknown configuration key 'bogus' in {config}"
    config.write_bytes(b"ndmp_port = 10000 # \xe9\n")  # Latin-1, not UTF-8
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message == f"--config {config}: not UTF-8 text"


@pytest.mark.parametrize(("text", "first", "second", "key"), [
    ("port_hold = 30\nport_hold_seconds = 40\n", "port_hold", "port_hold_seconds",
     "port_hold_seconds"),
    ('media_servers = ["10.77.0.1"]\nmedia_server = "10.78.0.1"\n', "media_servers",
     "media_server", "media_servers"),
    ("ndmp_port = 10000\nndmp-port = 10001\n", "ndmp_port", "ndmp-port", "ndmp_port"),
])
def test_two_spellings_of_one_key_are_an_error(text: str, first: str, second: str, key: str,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Before, the later one won silently (port_hold = 30 with port_hold_seconds = 40: 40)."""
    config = tmp_path / "flowcheck.toml"
    config.write_text(text)
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message == (f"{first} and {second} are the same setting ({key}): give one "
                       f"(in {config})")


def test_top_level_keys_beside_a_flowcheck_table(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Not "unknown configuration key 'flowcheck'": the table is allowed, the mix is not."""
    config = tmp_path / "flowcheck.toml"
    config.write_text('ndmp_port = 10000\n[flowcheck]\nmedia_range = "5001-5100"\n')
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message == (f"--config {config}: settings both at the top level (ndmp_port) and "
                       "under [flowcheck]: put them all in one place")
    config.write_text('[flowcheck]\nmedia_range = "5001-5100"\n')
    assert run(["plan", "--resources", "1", "--config", str(config)]) in (0, 1)


def test_an_unknown_profile_names_where_it_was_set(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(["plan", "--resources", "1", "--profile", "nosuch"], capsys)
    assert message.startswith("--profile: unknown profile 'nosuch': built-in backup-exec-9")
    message = _error(["plan", "--resources", "1", "--profile", "nosuch.toml"], capsys)
    assert message.startswith("--profile nosuch.toml: cannot read: ")
    config = tmp_path / "flowcheck.toml"
    config.write_text('profile = "nosuch"\n')
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message.startswith("profile: unknown profile 'nosuch'")
    assert message.endswith(f" (in {config})")
    # The flag wins over the file, and so does its name in the error.
    message = _error(["plan", "--resources", "1", "--config", str(config), "--profile",
                      "other"], capsys)
    assert message.startswith("--profile: unknown profile 'other'")


@pytest.mark.parametrize(("argv", "expected"), [
    (["--backup-network", "10.77.0.1/24"],
     "--backup-network: '10.77.0.1/24' has host bits set: give the network, 10.77.0.0/24"),
    (["--backup-network", ""], "--backup-network: '' is not a CIDR network: leave it out "
                               "for none"),
    (["--media-server", ""], "--media-server: empty address"),
    (["--ndmp-port", " 10000"], "--ndmp-port: ' 10000' is not a port number: digits 0-9 "
                                "only"),
    (["--resources", "99999999999999999999"],
     "--resources: '99999999999999999999': at most 65535, the ports a host has"),
])
def test_flag_messages(argv: list[str], expected: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    needed = [] if "--resources" in argv else ["--resources", "1"]  # once: twice is an error
    assert _error(["plan", *needed, *argv], capsys) == expected


def test_an_empty_address_list_in_the_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "flowcheck.toml"
    config.write_text("media_servers = []\n")
    message = _error(["plan", "--resources", "1", "--config", str(config)], capsys)
    assert message == ("media_servers: no IP address given: leave it out to take the roles "
                       f"from the traffic (in {config})")

"""Configuration: TOML file, flags winning, one-line errors naming the key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file, parse_ranges
from flowcheck.errors import UsageError


def test_defaults_match_the_contract() -> None:
    config = build_config()
    assert config.ndmp_port == 10000
    assert config.media_range == ((1025, 65535),)
    assert config.agent_range == ((1025, 65535),)
    assert config.port_hold_seconds == 60
    assert config.profile == "backup-exec-9"
    assert config.backup_network is None
    assert config.retransmission_timeout == 3.0  # older Windows; Linux retries after 1 s


def test_ranges_repeatable_and_comma_separated() -> None:
    assert parse_ranges("media_range", ["5001-5100,5200", "5300-5301"]) == (
        (5001, 5100), (5200, 5200), (5300, 5301))
    config = build_config(flag_values={"media_range": ["5001-5100"]})
    assert config.in_media_range(5001) and config.in_media_range(5100)
    assert not config.in_media_range(5000) and not config.in_media_range(5101)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("media_range", "5100-5001", "reversed"),
    ("agent_range", "0-10", "outside 1-65535"),
    ("agent_range", "6000-70000", "outside 1-65535"),
    ("ndmp_port", "ten", "not a port"),
    ("backup_network", "10.0.0.0/33", "not a CIDR"),
    ("media_servers", "10.0.0.300", "not an IP"),
    ("port_hold_seconds", -1, "negative"),
    ("resources", 0, "at least 1"),
    ("retransmission_timeout", 0, "above 0"),
    ("retransmission_timeout", "soon", "not a number"),
])
def test_invalid_values_name_the_key(key: str, value: object, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        build_config({key: value})
    assert key in str(caught.value) and words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown configuration key 'media_rnage'"):
        build_config({"media_rnage": "1-2"})


def test_flags_win_over_file(tmp_path) -> None:
    path = tmp_path / "flowcheck.toml"
    path.write_text('ndmp_port = 10500\nmedia_range = ["5001-5100"]\n'
                    'backup_network = "10.77.0.0/24"\nmedia_server = "10.77.0.1"\n')
    config = build_config(load_file(path), {"ndmp_port": 10600, "media_range": None})
    assert config.ndmp_port == 10600  # flag
    assert config.media_range == ((5001, 5100),)  # file, flag not given
    assert config.backup_network == (ipaddress.ip_network("10.77.0.0/24"),)
    assert config.media_servers == ("10.77.0.1",)  # flag spelling accepted in the file
    assert config.explicit >= {"ndmp_port", "media_range", "backup_network"}


def test_bad_toml_is_a_usage_error(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("ndmp_port = = 1\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_file(path)
    with pytest.raises(UsageError, match="--config"):
        load_file(tmp_path / "missing.toml")


def test_retransmission_timeout_from_file_and_flag(tmp_path) -> None:
    path = tmp_path / "flowcheck.toml"
    path.write_text("retransmission_timeout = 1\n")
    assert build_config(load_file(path)).retransmission_timeout == 1.0
    config = build_config(load_file(path), {"retransmission_timeout": 2.5})
    assert config.retransmission_timeout == 2.5
    assert config.as_dict()["retransmission_timeout"] == 2.5


# The sweep of every numeric and range setting (issue: `--media-range 5001-` read as
# 5001, `--port-hold nan` written as NaN into the JSON): each bad spelling is one line,
# exit 2, naming the flag or the key as written. Flag values are text as typed.
_BAD_PORTS = ["", " ", "+10000", "0", "65536", "-1", "10000.0", "1_0000", "１０", "nan",
              "10000 10001", " 10000", "10000 "]
_BAD_RANGES = ["5001-", "-5100", "5001--5100", "5001-5100,", ",5001", "5001,,5002", "",
               " ", "+5001-5100", "5001-+5100", "0-10", "5001-65536", "5100-5001",
               "5001 5100", "5_001-5100", "５００１", "5001-5100 6001-6100", "0x1389"]
_BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "infinity", "+5", "1e3", "", " ", "5s",
                "1_0", "-1", "0x10", " 60"]
FLAG_SWEEP = (
    [("--ndmp-port", v) for v in _BAD_PORTS]
    + [("--media-range", v) for v in _BAD_RANGES]
    + [("--agent-range", v) for v in _BAD_RANGES]
    + [("--port-hold", v) for v in _BAD_SECONDS]
    + [("--retransmission-timeout", v) for v in [*_BAD_SECONDS, "0", "121"]]
    + [("--resources", v) for v in ["0", "-1", "+2", "2.5", "", "nan", "2_0", "٣", " 2",
                                    "65536", "99999999999999999999"]]
    # Trial 16 D9: an empty value is no way to say "none" (leave the flag out), and an
    # address with a prefix is not a network.
    + [("--backup-network", v) for v in ["", " ", "10.77.0.1/24", "10.77.1.0/16",
                                         "2001:db8::1/64"]]
    + [(flag, v) for flag in ("--media-server", "--remote-agent")
       for v in ["", " ", "10.77.0.1,", ",10.77.0.1"]]
)


@pytest.mark.parametrize(("flag", "value"), FLAG_SWEEP)
def test_every_bad_number_flag_is_a_usage_error(flag: str, value: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # plan needs --resources: given once (twice is an error of its own).
    argv = ["plan", *([] if flag == "--resources" else ["--resources", "3"]), flag, value]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"flowcheck: error: {flag}: ") and err.count("\n") == 1


TOML_SWEEP = [
    ("ndmp_port", v) for v in ["0", "65536", "-1", "10000.5", "true", '"+10000"', '""',
                               "nan", "[10000]", '"10000.0"']
] + [
    (key, v) for key in ("media_range", "agent_range")
    for v in ['"5001-"', '"-5100"', '"5001-5100,"', '"5001,,5002"', '""', "[]", '[""]',
              "5001.0", "true", "0", "[70000]", '["5100-5001"]', '"+5001"', '"５００１"',
              "{ lo = 5001 }"]
] + [
    (key, v) for key in ("port_hold_seconds", "port_hold")
    for v in ["nan", "inf", "-inf", "-1", "true", '"nan"', '"inf"', '"-1"', '"+5"', "[60]"]
] + [
    ("retransmission_timeout", v) for v in ["0", "nan", "inf", "121", "true", '"1e0"']
] + [
    ("resources", v) for v in ["0", "-1", "2.5", "true", '"+2"', '"2.0"', "nan", "[3]",
                               '" 4"', "65536", "99999999999999999999"]
] + [
    ("backup_network", v) for v in ["5", "167772160", "true", '"10.0.0.0/33"', '""', '" "',
                                    '"10.77.0.1/24"']
] + [
    ("ndmp_port", v) for v in ['" 10000"', '"10000 "']
] + [
    ("port_hold_seconds", v) for v in ['" 60"']
] + [
    (key, v) for key in ("media_servers", "remote_agents", "media_server")
    for v in ["5", "true", "1.5", "[]", '""', '[""]', '["10.77.0.1", ""]', '"10.77.0.1,"']
]


@pytest.mark.parametrize(("key", "value"), TOML_SWEEP)
def test_every_bad_number_in_the_file_is_a_usage_error(
        key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flowcheck.toml"
    path.write_text(f"{key} = {value}\n", encoding="utf-8")
    assert run(["plan", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"flowcheck: error: {key}: ") and err.count("\n") == 1
    assert err.endswith(f" (in {path})\n")  # the file too: a repository holds many


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("media_range", '" 5001 - 5100 , 5200 "', ((5001, 5100), (5200, 5200))),
    ("media_range", "[5001, 5003]", ((5001, 5001), (5003, 5003))),
    ("agent_range", '"06001-06100"', ((6001, 6100),)),
    ("ndmp_port", '"10500"', 10500),
    ("backup_network", '"10.77.0.0/24"', (ipaddress.ip_network("10.77.0.0/24"),)),
    ("backup_network", '"10.77.0.1/32"', (ipaddress.ip_network("10.77.0.1/32"),)),
    ("resources", "65535", 65535),
    ("media_servers", '"10.77.0.1, 10.78.0.1"', ("10.77.0.1", "10.78.0.1")),
    ("port_hold_seconds", '"0.5"', 0.5),
    ("port_hold_seconds", '"-0"', 0.0),
    ("port_hold_seconds", "120", 120.0),
    ("retransmission_timeout", '".5"', 0.5),
    ("resources", '"4"', 4),
])
def test_plain_numbers_still_read(key: str, value: str, expected: object,
                                  tmp_path: Path) -> None:
    path = tmp_path / "flowcheck.toml"
    path.write_text(f"{key} = {value}\n", encoding="utf-8")
    assert getattr(build_config(load_file(path)), key) == expected


@pytest.mark.parametrize("value", ["inf", "1e12"])
def test_live_duration_must_be_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Checked before the sniffer starts (no interface needed): a timer cannot wait that."""
    assert run(["live", "-i", "nosuch0", "--duration", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowcheck: error: --duration: ") and err.count("\n") == 1

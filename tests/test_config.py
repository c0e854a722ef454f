"""Configuration: TOML file, flags winning, one-line errors naming the key."""

from __future__ import annotations

import ipaddress

import pytest

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
    assert config.backup_network == ipaddress.ip_network("10.77.0.0/24")
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

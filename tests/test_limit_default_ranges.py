"""The "a limit on new connections" reading needs ranges the user set
(flowcheck.verify.limit_words._same_range): new-user trial 42."""

from __future__ import annotations

from pathlib import Path

from stored import errors, stored_analysis

LAB = Path(__file__).resolve().parents[1] / "captures" / "lab"


def _data_error_words(config_path: Path | None = None) -> str:
    analysis = stored_analysis(LAB / "data-port-dropped.pcap", config_path=config_path)
    [error] = [f for f in errors(analysis) if f.code == "data_unanswered"]
    return " ".join(f"{error.message} {error.fix}".split())


def test_a_plain_drop_read_without_a_configuration_blames_no_limit(tmp_path: Path) -> None:
    """data-port-dropped (the agent drops inbound SYNs to its agent range) with no
    configuration: the control connection to port 10000 and the data port both lie in
    the default range 1025-65535, and it read 'the way lets that range through, so what
    stops this one is more likely a limit on new connections'."""
    (tmp_path / "none.toml").write_text("")  # flowcheck's defaults, as with no --config
    words = _data_error_words(tmp_path / "none.toml")
    assert "limit on new connections" not in words


def test_the_limit_reading_needs_two_ports_of_a_set_range() -> None:
    """With the sidecar's ranges set, the NDMP port is no port of them either: still no
    limit reading for a drop of the first data connection."""
    assert "limit on new connections" not in _data_error_words()

"""Damage the mutation fuzzer found (a fuzzing round over the stored captures): each case
is a corrupt record or file that made a command end with an internal error (exit 4). A
damaged packet is decoded as far as it goes, an unreadable file is an input error (3):
never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcapng

from flowcheck.cli.main import run
from flowcheck.report.overview import clock_time, wall_clock

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
DOCUMENTED = (0, 1, 3, 5)  # exit codes of a read capture or an input error


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(argv)
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert code in DOCUMENTED
    return code, err


@pytest.mark.parametrize("ts", [6.4e11, -7e10, 1.8e19])
def test_a_time_beyond_the_calendar_is_its_unix_time(ts: float) -> None:
    assert wall_clock(ts) == f"Unix time {ts:.3f} (no calendar date)"
    assert clock_time(ts) == wall_clock(ts)


def test_a_time_in_the_calendar_is_iso_8601() -> None:
    assert wall_clock(T0 + 0.1234) == "2025-12-01T00:00:00.123Z"
    assert clock_time(T0 + 0.1234) == "00:00:00.123Z"
    assert wall_clock(-62_000_000_000.0) == "0005-04-19T09:46:40.000Z"  # 4-digit year


@pytest.mark.parametrize("command", ["analyze", "connections", "ndmp"])
@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("alone", [False, True])
def test_a_pcapng_record_stamped_beyond_year_9999_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, fmt: str,
        alone: bool) -> None:
    # A pcapng timestamp is 64 bits of ticks: a corrupt one lands in the year 20,000
    # (fuzz case 388: the table's wall-clock times raised ValueError).
    far = 6.4e11
    packets = [(0, far, tcp_packet("10.77.0.1", "10.77.0.2", 5002, 10000, "S", seq=7))]
    if not alone:
        packets.insert(0, (0, T0, tcp_packet("10.77.0.1", "10.77.0.2", 5001, 10000, "S")))
    path = write_pcapng(tmp_path / "far.pcapng", [1], packets)
    code, _ = _run([command, str(path), "--format", fmt], capsys)
    assert code != 3

"""`connections`: the +N s start times count from the capture's first connection, with
or without --filter, as `analyze` counts them, and a line says so (trial 20, D11: the
same connection was at +0.004s unfiltered and +0.000s filtered, and the table never
said what its times counted from)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources.pcap"
ORIGIN = re.compile(r"times \+N s count from (\S+) \(UTC\), the first packet of the "
                    r"capture's earliest connection")


def _starts(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, str], str]:
    assert run(["connections", str(CAPTURE), *argv]) == 0
    out = capsys.readouterr().out
    starts = dict(re.findall(r"│ (C\d+)\s+│\s+(\+\d+\.\d+s) │", out))
    return starts, out


def test_filtered_times_keep_the_unfiltered_origin(capsys: pytest.CaptureFixture[str]) -> None:
    everything, out = _starts([], capsys)
    assert everything["C1"] == "+0.000s" and everything["C3"] != "+0.000s"
    filtered, out_filtered = _starts(["--filter", "port 6001"], capsys)
    assert list(filtered) == ["C3"]
    assert filtered["C3"] == everything["C3"]
    origins = [ORIGIN.search(text) for text in (out, out_filtered)]
    assert all(origins)
    assert origins[0].group(1) == origins[1].group(1)  # type: ignore[union-attr]


def test_analyze_counts_from_the_same_origin(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _starts([], capsys)
    config = str(CAPTURE.with_suffix(".toml"))
    run(["analyze", str(CAPTURE), "--config", config, "--no-ladder"])
    analysis = capsys.readouterr().out
    assert ORIGIN.search(out).group(1) in analysis  # type: ignore[union-attr]

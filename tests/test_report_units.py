"""One unit style for sizes and a fixed precision for handshake times in one report
(trial 20 D17): tables and ladders in SI units (kB, as Wireshark's conversation table),
the HTML connections with units too, handshake times always with 3 significant digits,
and ACK-counted bytes in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.cli.main import run
from flowcheck.model import Connection
from flowcheck.report.connections import render_connections
from flowcheck.verify.details import handshake_words

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def test_connections_table_uses_si_kilobytes() -> None:
    conn = Connection("C1", "10.77.0.1", 5002, "10.77.0.2", 6001, 1.0, conn_state="SF",
                      history="ShADadFf", orig_bytes=0, resp_bytes=200_000)
    console = Console(record=True, width=200, color_system=None)
    render_connections([conn], console, packets=10)
    text = console.export_text()
    assert "0 B/200.0 kB" in text and "KB" not in text


def test_html_connections_have_units(tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    run(["analyze", str(LAB / "clean-3-resources.pcap"), "--config",
         str(LAB / "clean-3-resources.toml"), "--html", str(html)])
    page = html.read_text()
    connections = page[page.index("<h2>Connections"):]
    assert "<td>0 B/200.0 kB</td>" in connections and "0/200000" not in connections


@pytest.mark.parametrize(("rtt", "words"), [
    (0.000046, "handshake 0.046 ms"), (0.000041, "handshake 0.041 ms"),
    (0.0000241, "handshake 0.0241 ms"), (0.0012, "handshake 1.2 ms"),
    (0.150, "handshake 150 ms"), (3.12, "handshake 3.12 s"), (0.9999, "handshake 1 s"),
    (3120.4, "handshake 3120 s"),
])
def test_handshake_times_keep_three_digits(rtt: float, words: str) -> None:
    """3 significant digits, never an exponent (trial 20 D17: "3.12e+03 ms"), without
    trailing zeros (newuser54: "0.0410 ms")."""
    conn = Connection("C1", "10.77.0.1", 5002, "10.77.0.2", 6001, 1.0, rtt=rtt)
    assert handshake_words(conn) == words


def test_acknowledged_bytes_are_said_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    run(["analyze", str(LAB / "one-direction-out.pcap"), "--config",
         str(LAB / "one-direction-out.toml"), "--format", "json"])
    [session] = json.loads(capsys.readouterr().out)["sessions"]
    out = session["steps"][4]["detail"]
    assert "a FIN counts one" not in out
    assert ("acknowledge 400,002 B of it (backup; ACK numbers count each closing FIN as a "
            "byte: 400,000 B of data if both data connections closed)") in out

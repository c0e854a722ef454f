"""The engine's start-up loads no module of a rare path (issue 7): on a plain capture
(Ethernet, IPv4, TCP, in time order, no tap), `python -m flowcheck.connections` and the
direct command lines (`connections`, `analyze` with --format json) never import the
general decoder and IPv6 (decode.general, decode.ipv6), the out-of-time-order path
(connections.by_time, connections.time_order), the tap's waiting packets
(connections.pre_tap), statistics (nat_views' median, with fractions and decimal) or
importlib.metadata (flowcheck.doc_files, for `flowcheck docs`).
Each is imported where its path begins; the captures that take it still work (their own
tests: test_decode_*, test_connections_out_of_order, test_connections_icmp, ...).

Measured without a clock: the modules a real child process imports (`python -X
importtime` lists every import on standard error; the engine ends with os._exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcap
from import_listing import modules_imported

import flowcheck.decode as decode

WORKTREE = Path(__file__).resolve().parent.parent
CAPTURE = WORKTREE / "captures" / "lab" / "data-port-dropped.pcap"

LATER = {"flowcheck.decode.general", "flowcheck.decode.ipv6",
         "flowcheck.connections.by_time", "flowcheck.connections.time_order",
         "flowcheck.connections.pre_tap", "statistics", "fractions", "decimal",
         # doc_files' installed copy, for `flowcheck docs` alone (~25 ms; review58b).
         "importlib.metadata"}

COMMANDS = {
    "engine": ["-m", "flowcheck.connections"],
    "connections": ["-m", "flowcheck", "connections", "--format", "json"],
    "analyze": ["-m", "flowcheck", "analyze", "--format", "json"],
}


def _imported(args: list[str], capture: Path, cwd: Path) -> tuple[str, set[str]]:
    """Run python args with the capture: (standard output, every module imported)."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    result = subprocess.run([sys.executable, "-X", "importtime", *args, str(capture)],
                            capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: a verdict, not an error
    return result.stdout, modules_imported(result.stderr)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_plain_capture_loads_no_rare_path(command: str, tmp_path: Path) -> None:
    out, modules = _imported(COMMANDS[command], CAPTURE, tmp_path)
    assert out  # it ran and reported
    assert {"flowcheck.decode", "flowcheck.connections.tracker"} <= modules  # listing works
    assert not modules & LATER, sorted(modules & LATER)


def test_an_ipv6_packet_loads_the_general_decoder(tmp_path: Path) -> None:
    """The first batch not all plain Ethernet, IPv4 and TCP loads decode.general and
    decode.ipv6 then, and is read as before."""
    path = write_pcap(tmp_path / "a.pcap", [
        (1.0, tcp_packet("10.0.0.1", "10.0.0.2", 1000, 2000, "S")),
        (1.1, tcp_packet("fd00::1", "fd00::2", 1000, 2000, "S")),
    ])
    out, modules = _imported(COMMANDS["connections"], path, tmp_path)
    assert {"flowcheck.decode.general", "flowcheck.decode.ipv6"} <= modules
    assert '"fd00::1"' in out and '"10.0.0.1"' in out


def test_icmp_quote_is_still_a_name_of_decode() -> None:
    from flowcheck.decode import IcmpQuote
    from flowcheck.decode.ipv6 import IcmpQuote as own

    assert IcmpQuote is own and decode.IcmpQuote is own
    with pytest.raises(AttributeError):
        decode.NoSuchName  # noqa: B018

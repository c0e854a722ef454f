"""A job through a router that drops the data SYN-ACKs, read at two capture points
(captures/newuser63: the router's two interfaces in one dumpcap pcapng, and the same
job's tcpdump of each interface given together, as files and as their directory).

handshake_incomplete said "the router or firewall between the two capture points drops
the return traffic (a stateless rule)": the capture shows where the SYN-ACKs were lost,
not that a rule is stateless (SYN-ACKs routed another way, a stateful device that never
saw the SYN, look the same). It says what the capture shows and names the alternatives.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "newuser63"
DUMPCAP = FOLDER / "router-return-drop-dumpcap.pcapng.gz"
POINTS = (FOLDER / "router-return-drop-rm.pcap", FOLDER / "router-return-drop-ra.pcap")


@functools.cache
def _findings(*inputs: str) -> tuple[Finding, ...]:
    config = build_config(load_file(FOLDER / "router-return-drop-dumpcap.toml"))
    analysis = analyze(read_traffic(list(inputs), config), config)
    return tuple(analysis.findings)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The two points' files alone in a directory."""
    folder = tmp_path_factory.mktemp("points")
    for path in POINTS:
        shutil.copy(path, folder / path.name)
    return str(folder)


def _readings(directory: str) -> dict[str, tuple[Finding, ...]]:
    return {"one pcapng": _findings(str(DUMPCAP)),
            "two files": _findings(*map(str, POINTS)),
            "a directory": _findings(directory)}


def test_synacks_lost_between_the_points_without_a_stateless_claim(directory: str) -> None:
    for name, findings in _readings(directory).items():
        incomplete = [f for f in findings if f.code == "handshake_incomplete"]
        assert len(incomplete) == 2, name
        for finding in incomplete:
            assert "stateless" not in finding.message, (name, finding.message)
            assert "the SYN-ACKs left 10.63.2.2 and never reached the capture point on " \
                "10.63.1.1's side" in finding.message, name
            assert "they were lost between the two capture points, not in 10.63.1.1's " \
                "input chain. The capture does not show how: " in finding.message, name
            assert "a stateful device there that never saw the SYN" in finding.message
            assert "a route that sends them another way" in finding.message
        fixes = [f.fix for f in incomplete if not f.fix.startswith("as under the verdict")]
        assert fixes, name
        for fix in fixes:
            assert fix.startswith("In the forward chain of the router or firewall between "
                                  "the two capture points"), fix
            assert "check the route back from 10.63.2.2 to 10.63.1.1" in fix


def test_two_points_copies_are_kept_however_given(directory: str) -> None:
    """capture_duplicates told the router's two interfaces in one pcapng "analyze one
    capture point's files at a time, or drop the copies with editcap -D" (the copies the
    reading above rests on), the same points as two files "keep giving both points'
    captures together": one advice, keep them."""
    for name, findings in _readings(directory).items():
        (copies,) = [f for f in findings if f.code == "capture_duplicates"]
        assert "keep" in copies.fix and "together (what one point saw and the other did " \
            "not places a loss between them, and flowcheck counts each packet once all " \
            "the same)" in copies.fix, (name, copies.fix)
        assert "at a time" not in copies.fix, name
        dropped = copies.fix.find("editcap -D")
        assert dropped == -1 or copies.fix.rfind("if one capture point duplicates",
                                                 0, dropped) != -1, (name, copies.fix)

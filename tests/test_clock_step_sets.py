"""A file whose clock was set back, in a set of files merged whole one after another.

The two three-way jobs of tests/test_clock_step_lifetimes (one file, one interface, the
clock set back 2 s at the first job's data SYN) beside ndmjob's v4 backup moved in
time. The merge takes the files in order of their first packet and keys each file's
packets by the latest time it reached (flowcheck.sources.merge), so a file whose latest
time is before the next file's first packet is merged whole before it, each in its
own write order, and the frames order the events as the file's alone do
(ClockSteps.one_stream): every announcement reached, each data connection its own
job's. By time alone the set reads FAIL, announced_not_used on the first job's
sessions (its data connection is stamped 2 s before its DATA_CONNECT).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from capture_factory import epb, idb, shb
from pcap_records import read_records, write_records
from test_clock_step_lifetimes import _two_jobs
from test_clock_step_three_way import STORED, _moved

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, file_order, read_traffic

OTHER = STORED.parent / "ndmjob" / "v4-backup.pcap"


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two jobs' capture, stepped back 2 s at the first job's data SYN."""
    tmp = tmp_path_factory.mktemp("stepped")
    two, syn = _two_jobs(tmp, "v4")
    return _moved(two, syn, "2")


def _other(out: Path, ends: int, pcapng_interface: int | None = None) -> Path:
    """ndmjob's v4 backup moved to end `ends` µs after time 0 of the epoch (its last
    packet's time), as a pcap, or a pcapng whose packets come on interface
    `pcapng_interface` (an unused interface before it when 1: a capture tool's list)."""
    linktype, records = read_records(OTHER)
    move = ends - max(r.micros for r in records)
    records = [replace(r, micros=r.micros + move) for r in records]
    if pcapng_interface is None:
        return write_records(out, linktype, records)
    blocks = [shb(), *(idb(linktype) for _ in range(pcapng_interface + 1))]
    blocks += [epb(pcapng_interface, r.micros / 1e6, r.data, wirelen=r.wirelen)
               for r in records]
    out.write_bytes(b"".join(blocks))
    return out


def _analyze(files: list[Path]) -> tuple[Analysis, bool]:
    """The set's analysis and whether its frames order its events (file_order)."""
    config = build_config(load_file(STORED / "C-v4-3way-bridge.toml"))
    traffic = read_traffic([str(f) for f in files], config)
    return analyze(traffic, config), file_order(traffic).frames


def _first_micros(path: Path) -> int:
    return read_records(path)[1][0].micros


def _read_as_alone(analysis: Analysis) -> None:
    """Both jobs read as in their file alone: PASS, every announcement reached."""
    assert analysis.verdict == "pass"
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    jobs = [s for s in analysis.sessions if s.announced]
    assert jobs and all(a.used_by for s in jobs for a in s.announced)


def test_a_file_ending_within_the_steps_reach_still_comes_whole_before(
        tmp_path: Path, stepped: Path) -> None:
    """The other file ends 1 s before the stepped file's first packet: the step (2 s
    back) stamps the stepped file's later packets before the other file's last, but
    the merge keeps each file whole (a tcpdump -G ring stepped back one second into a
    file). Fails with the files' time spans compared (earliest to latest: they overlap,
    so the set was ordered by time: FAIL announced_not_used)."""
    other = _other(tmp_path / "other.pcap", _first_micros(stepped) - 1_000_000)
    analysis, frames = _analyze([stepped, other])
    _read_as_alone(analysis)
    assert frames


@pytest.mark.parametrize("interface", [0, 1])
def test_a_pcapng_file_of_one_interface_beside_a_pcap(
        tmp_path: Path, stepped: Path, interface: int) -> None:
    """The other file a pcapng of one interface (its id 0, or 1 after an unused one),
    six days before the stepped pcap: each file has one interface, so the set is one
    write order. Fails with the interfaces counted across the set (the pcap's and the
    pcapng's: two, so the set was ordered by time: FAIL announced_not_used)."""
    other = _other(tmp_path / "other.pcapng", _first_micros(stepped) - 6 * 86400 * 10**6,
                   interface)
    analysis, frames = _analyze([other, stepped])
    _read_as_alone(analysis)
    assert frames


def test_files_overlapping_by_one_packet_are_ordered_by_time(
        tmp_path: Path, stepped: Path) -> None:
    """The other file's last packet 1 µs after the stepped file's first: the merge puts
    it among the stepped file's packets, so the frames are no write order and time
    orders the set."""
    other = _other(tmp_path / "other.pcap", _first_micros(stepped) + 1)
    _analysis, frames = _analyze([stepped, other])
    assert not frames

"""A ring buffer whose clock stepped back is read in the order its files were written.

The two three-way jobs of tests/test_clock_step_lifetimes, the clock stepped back 2 s
at the first job's data SYN (frame 32), cut in 7 files of 100 packets (editcap -c 100:
dumpcap's ring names) and renamed as tcpdump -C names them (job.pcap, job.pcap1, ...)
or as a tcpdump -W 7 ring that wrapped. The files after the step start before the file
it stepped in: ordered by their first packet (review58d), the set read INCONCLUSIVE
(capture_started_mid_session, capture_duplicates, the step at frame 534). In the ring's
write order (flowcheck.sources.ring_order) it reads as the file whole.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_clock_step_lifetimes import _two_jobs
from test_clock_step_sets import _analyze
from test_clock_step_three_way import _moved

from flowcheck.pipeline import Analysis
from flowcheck.sources.ring_order import ring_write_order


def _parts(source: Path, out: Path) -> list[Path]:
    """source cut in files of 100 packets by editcap -c (dumpcap's ring names), in
    their number order."""
    out.mkdir()
    subprocess.run(["editcap", "-c", "100", str(source), str(out / "x.pcap")], check=True,
                   capture_output=True)
    return sorted(out.iterdir())


def _renamed(parts: list[Path], out: Path, names: list[str]) -> list[Path]:
    """The parts copied to `out` under `names` (in write order), each file's
    modification time a second after the one written before it (as the sniffer left
    them)."""
    out.mkdir()
    files = []
    for second, (part, name) in enumerate(zip(parts, names, strict=True)):
        path = out / name
        shutil.copyfile(part, path)
        age = (1_800_000_000 + second) * 10**9
        os.utime(path, ns=(age, age))
        files.append(path)
    return files


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two jobs' capture (one file, one interface), as recorded."""
    return _two_jobs(tmp_path_factory.mktemp("two"), "v4")[0]


@pytest.fixture(scope="module")
def stepped(two: Path) -> Path:
    """The two jobs' capture stepped back 2 s at the first job's data SYN (frame 32)."""
    return _moved(two, 32, "2")


@pytest.fixture(scope="module")
def whole(stepped: Path) -> Analysis:
    """The stepped capture read as one file."""
    analysis, frames = _analyze([stepped])
    assert frames
    return analysis


@pytest.fixture(scope="module")
def parts(stepped: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _parts(stepped, tmp_path_factory.mktemp("parts") / "x")


def _step_words(analysis: Analysis) -> str:
    [step] = [f for f in analysis.findings if f.code == "capture_clock_stepped"]
    return step.message.split(":")[0]


def _reads_as_whole(files: list[Path], whole: Analysis) -> None:
    analysis, frames = _analyze(files)
    assert frames
    assert analysis.verdict == whole.verdict == "pass"
    assert sorted(f.code for f in analysis.findings) == sorted(f.code for f in whole.findings)
    # The set's frame 32 named as the first file written numbers it (frame_names).
    assert _step_words(whole) == "The capture's clock steps back 2 s at frame 32"
    assert _step_words(analysis) == \
        f"The capture's clock steps back 2 s at frame 32 of {files[0].name}"
    assert [s.status for session in analysis.sessions for s in session.steps] == \
        [s.status for session in whole.sessions for s in session.steps]


def test_a_stepped_tcpdump_ring_reads_as_its_file_whole(
        tmp_path: Path, parts: list[Path], whole: Analysis) -> None:
    """job.pcap, job.pcap1 ... job.pcap6 (tcpdump -C): read in number order. Fails
    before (files by first packet: INCONCLUSIVE, the step at frame 534)."""
    names = ["job.pcap", *(f"job.pcap{n}" for n in range(1, 7))]
    _reads_as_whole(_renamed(parts, tmp_path / "ring", names), whole)


def test_a_stepped_dumpcap_ring_reads_as_its_file_whole(
        parts: list[Path], whole: Analysis) -> None:
    """editcap -c's parts as they are (x_00000_2026...pcap: dumpcap's ring names, whose
    time stamps follow the stepped clock). Fails before as the tcpdump ring does."""
    assert parts[1].name[-19:] < parts[0].name[-19:]  # the name's time stepped back too
    _reads_as_whole(parts, whole)


def test_a_stepped_ring_that_wrapped_is_read_in_its_files_age(
        tmp_path: Path, parts: list[Path], whole: Analysis) -> None:
    """tcpdump -W 7 that wrapped: job.pcap3 ... job.pcap6, job.pcap0 ... job.pcap2 in
    write order. The first packets rise neither in number order nor turned at the
    earliest; the modification times (each file written after the one before) give
    the order. Fails before (by first packet: INCONCLUSIVE)."""
    names = [f"job.pcap{n}" for n in (3, 4, 5, 6, 0, 1, 2)]
    _reads_as_whole(_renamed(parts, tmp_path / "ring", names), whole)


def test_a_wrapped_ring_without_a_step_is_turned_by_its_first_packets(
        tmp_path: Path, two: Path) -> None:
    """The two jobs' capture without the step as a wrapped -W 7 ring, every file's
    modification time equal (copied without keeping them): the files in time order,
    as before (the rotation at the earliest first packet), read as the file whole."""
    alone, frames = _analyze([two])
    files = _renamed(_parts(two, tmp_path / "parts"), tmp_path / "ring",
                     [f"job.pcap{n}" for n in (3, 4, 5, 6, 0, 1, 2)])
    for path in files:
        os.utime(path, ns=(10**18, 10**18))
    analysis, ring_frames = _analyze(files)
    assert frames and ring_frames
    assert (analysis.verdict, sorted(f.code for f in analysis.findings)) == \
        (alone.verdict, sorted(f.code for f in alone.findings))


def ages(*mtimes: int | None):  # noqa: ANN201
    """mtime_of for ring_write_order: each file's modification time, ns, by position."""
    return lambda n: mtimes[n]


def test_ages_are_asked_only_when_the_numbers_do_not_tell() -> None:
    """The files' modification times (a stat each) are asked only of a ring whose numbers
    give no rising first packets (lastread58a: every file was stat'ed twice)."""
    names = ["d/r.pcap0", "d/r.pcap1", "d/r.pcap2"]
    asked: list[int] = []

    def mtime_of(n: int) -> int:
        asked.append(n)
        return [30, 10, 20][n]

    def last_of(n: int) -> float:
        return [3.5, 1.5, 2.5][n]

    assert ring_write_order(names, [1.0, 2.0, 3.0], mtime_of, lambda n: n + 1.5) == [0, 1, 2]
    assert asked == []
    assert ring_write_order(names, [3.0, 1.0, 4.0], mtime_of, last_of) == [1, 2, 0]
    assert sorted(asked) == [0, 1, 2]


def test_ring_write_order_of_names_times_and_ages() -> None:
    """Number order; a wrap turned at the earliest first packet; a step: the ages when
    they are a rotation of the numbers, else no ring order (by time); not one ring."""
    names = ["d/r.pcap0", "d/r.pcap1", "d/r.pcap2"]
    same = ages(0, 0, 0)

    def lasts(*times: float | None):  # noqa: ANN202
        return lambda n: times[n]

    assert ring_write_order(names, [1.0, 2.0, None], same, lasts(1.5, 2.5, None)) == [0, 1, 2]
    assert ring_write_order(names, [3.0, 1.0, 2.0], same, lasts(3.5, 1.5, 2.5)) == [1, 2, 0]
    # equal ages: the number order, file 0 stepped back to before file 1's first packet
    assert ring_write_order(names, [3.0, 1.0, 4.0], same, lasts(0.5, 1.5, 4.5)) == [0, 1, 2]
    # the ages: 1, 2, 0, file 2 stepped back to before file 0's first packet
    assert ring_write_order(names, [3.0, 1.0, 4.0], ages(30, 10, 20), lasts(3.5, 1.5, 2.5)) \
        == [1, 2, 0]
    assert ring_write_order(names, [3.0, 1.0, 4.0], ages(10, 30, 20), lasts(0.5, 1.5, 4.5)) is None
    assert ring_write_order(names, [3.0, 1.0, 4.0], ages(10, None, 20), lasts(0.5, 1.5, 4.5)) \
        is None
    assert ring_write_order(["d/r.pcap0", "d/s.pcap1"], [1.0, 2.0], ages(0, 0), lasts(1, 2)) is None
    assert ring_write_order(["d/r.pcap0", None], [1.0, 2.0], ages(0, 0), lasts(1, 2)) is None
    assert ring_write_order(["d/r.pcap0"], [1.0], ages(0), lasts(1)) is None


def test_ring_names_are_trusted_only_for_files_one_after_another() -> None:
    """Each file's last record no later than the next file's first packet, or no ring
    order (review58l): two sniffers' x.pcap and x.pcap1 overlap (file 0 ends after file 1
    starts); a file whose end is unknown (gzip) leaves the set by time; the turn of a
    wrap kept in number order by a copy's ages (the newest file before the oldest)."""
    two = ["d/x.pcap", "d/x.pcap1"]
    assert ring_write_order(two, [1.0, 1.1], ages(0, 0), lambda n: [9.0, 9.5][n]) is None
    assert ring_write_order(two, [1.0, 1.1], ages(0, 0), lambda n: [1.1, 9.5][n]) == [0, 1]
    assert ring_write_order(two, [1.0, 1.1], ages(0, 0), lambda n: None) is None
    names = ["d/r.pcap0", "d/r.pcap1", "d/r.pcap2"]
    # written 1, 2, 0 (file 2 stepped back before file 0's first packet), copied with
    # cp: ages in number order, file 0 (the newest) read before file 1 (the oldest)
    assert ring_write_order(names, [3.0, 1.0, 4.0], ages(10, 20, 30),
                            lambda n: [3.5, 1.5, 2.5][n]) is None
    assert ring_write_order(names, [3.0, 1.0, 4.0], ages(30, 10, 20),
                            lambda n: [3.5, 1.5, 2.5][n]) == [1, 2, 0]  # ages kept


def test_two_sniffers_files_named_as_a_ring_merge_by_time(
        tmp_path: Path, two: Path) -> None:
    """Two sniffers at once (every other packet each, as two interfaces' captures),
    writing x.pcap and x.pcap1: named as a tcpdump -C ring, overlapping in time. Read as
    the same files named apart (a.pcap, b.pcap: merged by time). Fails before (each file
    whole after the other: INCONCLUSIVE, capture_clock_stepped, on the lab ring's job)."""
    files = {}
    for name, parity in (("x.pcap", 1), ("x.pcap1", 0), ("a.pcap", 1), ("b.pcap", 0)):
        files[name] = tmp_path / name
        subprocess.run(["tshark", "-r", str(two), "-Y", f"frame.number % 2 == {parity}",
                        "-w", str(files[name])], check=True, capture_output=True)
    ring, _ = _analyze([files["x.pcap"], files["x.pcap1"]])
    apart, _ = _analyze([files["a.pcap"], files["b.pcap"]])
    assert "capture_clock_stepped" not in {f.code for f in apart.findings}
    assert (ring.verdict, sorted(f.code for f in ring.findings)) == \
        (apart.verdict, sorted(f.code for f in apart.findings))
    assert [s.status for session in ring.sessions for s in session.steps] == \
        [s.status for session in apart.sessions for s in session.steps]


def test_a_stepped_wrapped_ring_copied_without_its_ages_reads_by_time(
        tmp_path: Path, parts: list[Path]) -> None:
    """The stepped -W 7 ring that wrapped (job.pcap3 ... job.pcap6, job.pcap0 ...
    job.pcap2 in write order) copied by `cp job.pcap* dir/`: the ages rise in number
    order, a rotation of the numbers, but job.pcap2 (the newest) ends after job.pcap3
    (the oldest) starts: no ring order, read by time as the same files named apart.
    Fails before (the newest files read first, in number order)."""
    names = [f"job.pcap{n}" for n in (3, 4, 5, 6, 0, 1, 2)]
    ring = _renamed(parts, tmp_path / "ring", names)
    for path in ring:
        age = (1_800_000_000 + int(path.name.removeprefix("job.pcap"))) * 10**9
        os.utime(path, ns=(age, age))
    apart = _renamed(parts, tmp_path / "apart", [f"part-{n}.cap" for n in range(7)])
    analysis, _ = _analyze(ring)
    alone, _ = _analyze(apart)
    assert (analysis.verdict, sorted(f.code for f in analysis.findings)) == \
        (alone.verdict, sorted(f.code for f in alone.findings))
    # The same file under its two names (frame_names name a set's frames by file).
    words = _step_words(analysis)
    for named, other in zip(ring, apart, strict=True):
        words = words.replace(f" of {named.name}", f" of {other.name}")
    assert words == _step_words(alone)

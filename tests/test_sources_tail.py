"""sources.tail: a capture file's last record time, read from its end.

Files written by the real tools (editcap, mergecap, gzip) from a stored capture, each
checked against tshark's time of the file's last frame."""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest

from flowcheck.sources import tail
from flowcheck.sources.pcap import MAGIC_USEC
from flowcheck.sources.tail import last_record_ts

STORED = Path(__file__).resolve().parent.parent / "captures"
# The last packet's payload ends in zeros: a chain of two empty "records" ends there.
ZEROS = STORED / "ndmjob-pmtu" / "v4-pmtu-blackhole-at-agent.pcap"


def _tshark_last(path: Path) -> float:
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[-1])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ZEROS as pcap (microseconds), nanosecond pcap, pcapng, gzip, cut in a record,
    and its first 10 packets appended after the rest (the last record not the latest)."""
    out = tmp_path_factory.mktemp("tail")
    files = {"pcap": ZEROS, "nsec": out / "n.pcap", "pcapng": out / "p.pcapng",
             "gz": out / "z.pcap.gz", "cut": out / "cut.pcap", "late": out / "late.pcap"}
    subprocess.run(["editcap", "-F", "nsecpcap", str(ZEROS), str(files["nsec"])], check=True)
    subprocess.run(["editcap", "-F", "pcapng", str(ZEROS), str(files["pcapng"])], check=True)
    files["gz"].write_bytes(gzip.compress(ZEROS.read_bytes()))
    files["cut"].write_bytes(ZEROS.read_bytes()[:-7])
    head, rest = out / "head.pcap", out / "rest.pcap"
    subprocess.run(["editcap", "-r", str(ZEROS), str(head), "1-10"], check=True)
    subprocess.run(["editcap", str(ZEROS), str(rest), "1-10"], check=True)
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(files["late"]), str(rest),
                    str(head)], check=True)
    return files


@pytest.mark.parametrize("kind", ["pcap", "nsec", "pcapng", "late"])
def test_the_last_record_time_is_read_from_the_end(made: dict[str, Path], kind: str) -> None:
    """pcap (a payload ending in zeros, which made a false chain of two), nanosecond pcap,
    pcapng, and a file whose last record is not its latest."""
    assert last_record_ts(str(made[kind])) == pytest.approx(_tshark_last(made[kind]), abs=1e-6)


def test_the_last_record_is_the_last_written_not_the_latest(made: dict[str, Path]) -> None:
    assert last_record_ts(str(made["late"])) < last_record_ts(str(made["pcap"]))


def test_a_pcapng_file_ending_in_a_statistics_block(made: dict[str, Path], tmp_path: Path) -> None:
    """dumpcap writes an Interface Statistics Block after the last packet: walked over."""
    isb = struct.pack("<IIIII", 5, 24, 0, 0, 0) + struct.pack("<I", 24)
    path = tmp_path / "isb.pcapng"
    path.write_bytes(made["pcapng"].read_bytes() + isb)
    assert last_record_ts(str(path)) == pytest.approx(_tshark_last(made["pcapng"]), abs=1e-6)


@pytest.mark.parametrize("kind", ["gz", "cut"])
def test_an_end_that_cannot_be_read_so_is_unknown(made: dict[str, Path], kind: str) -> None:
    assert last_record_ts(str(made[kind])) is None


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Bytes read from each file's ends by sources.tail, by path (its _read_at hook)."""
    counts: dict[str, int] = {}
    real = tail._read_at

    def counted(file, offset: int, length: int) -> bytes:  # noqa: ANN001
        data = real(file, offset, length)
        counts[file.name] = counts.get(file.name, 0) + len(data)
        return data

    monkeypatch.setattr(tail, "_read_at", counted)
    return counts


def _record(seconds: int, payload: bytes) -> bytes:
    return struct.pack("<IIII", seconds, 500_000, len(payload), len(payload)) + payload


def test_a_last_record_longer_than_the_first_window_is_found_by_widening(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pcap file of snap length 262144 whose last record is 262144 bytes (past the
    first window): found after widening, as tshark reads it; one short record more and
    the file's end is read in the first window only."""
    counts = _counting_reads(monkeypatch)
    header = struct.pack("<IHHiIII", MAGIC_USEC, 2, 4, 0, 0, tail._MAX_CAPLEN, 1)
    frame = bytes(range(256)) * 4
    records = b"".join(_record(1_700_000_000 + n, frame) for n in range(3))
    long = tmp_path / "long.pcap"
    long.write_bytes(header + records + _record(1_700_000_010, frame * 256))
    assert last_record_ts(str(long)) == pytest.approx(_tshark_last(long), abs=1e-6)
    assert last_record_ts(str(long)) == pytest.approx(1_700_000_010.5)
    assert counts[str(long)] > 2 * tail._WINDOW  # widened past the first window
    assert counts[str(long)] <= tail._MAGIC_BYTES + tail._CHAIN * (tail._MAX_CAPLEN + 16)
    counts.clear()
    short = tmp_path / "short.pcap"
    short.write_bytes(long.read_bytes() + b"".join(
        _record(1_700_000_011 + n, frame) for n in range(3)))
    assert last_record_ts(str(short)) == pytest.approx(_tshark_last(short), abs=1e-6)
    assert counts[str(short)] <= tail._MAGIC_BYTES + tail._WINDOW


@pytest.mark.parametrize("form", ["pcap", "pcapng"])
def test_a_ring_of_small_files_is_read_once_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    """A 200-file ring (editcap -c of a stored capture, ~33 KB each): each file smaller
    than the window is read once, whole (before: its start and then its whole end again,
    ~786 KB bound), and each last record is tshark's last frame of that file."""
    stored = STORED / "ndmjob" / "v4-three-resources.pcap"
    subprocess.run(["editcap", "-F", form, "-c", "28", str(stored),
                    str(tmp_path / f"ring.{form}")], check=True)
    ring = sorted(tmp_path.glob(f"ring_*.{form}"))
    assert len(ring) >= 200
    times = [float(t) for t in subprocess.run(
        ["tshark", "-r", str(stored), "-T", "fields", "-e", "frame.time_epoch"],
        check=True, capture_output=True, text=True).stdout.split()]
    counts = _counting_reads(monkeypatch)
    for number, path in enumerate(ring):
        last = times[min(len(times), 28 * (number + 1)) - 1]
        assert last_record_ts(str(path)) == pytest.approx(last, abs=1e-6)
        size = path.stat().st_size
        assert size <= tail._WINDOW
        assert counts[str(path)] == size

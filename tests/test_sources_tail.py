"""sources.tail: a capture file's last record time, read from its end.

Files written by the real tools (editcap, mergecap, gzip) from a stored capture, each
checked against tshark's time of the file's last frame."""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest

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

"""tests/capture_edit.py writes the files editcap and mergecap write, byte for byte.

The commands test_verify_unexplained ran on each stored capture (before it wrote their
files itself), run here on three of them: a pcap with a 96-byte snap length (editcap's
interface description keeps it, mergecap's pcap header does not), a dumpcap pcapng in
nanoseconds with its interface statistics, and a pcapng of two interfaces. The same
comparison passed on all 216 stored pcap and pcapng files (1,080 commands) when the test
stopped starting the tools.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from capture_edit import editcap, mergecap_append

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _frames(data: bytes) -> int:
    """The capture's packet count: the records of editcap's own copy of it."""
    return sum(1 for kind in _kinds(editcap(data, range(0), keep=False)) if kind == 6)


def _kinds(pcapng: bytes) -> list[int]:
    kinds, offset = [], 0
    while offset + 12 <= len(pcapng):
        kinds.append(int.from_bytes(pcapng[offset:offset + 4], "little"))
        offset += int.from_bytes(pcapng[offset + 4:offset + 8], "little")
    return kinds


@pytest.mark.parametrize("name", ["field38-matrix/range-small-listen-unanswered-snap96.pcap",
                                  "lab/clean-dumpcap.pcapng",
                                  "windows-tools/l2fw-dropped-etl2pcapng.pcapng"])
def test_editcap_and_mergecap_files_are_written_byte_for_byte(tmp_path: Path,
                                                              name: str) -> None:
    capture = CAPTURES / name
    data = capture.read_bytes()
    total = _frames(data)
    half = total // 2
    assert total > 22

    out = tmp_path / "out"

    def editcap_run(*options: str, frames: str) -> bytes:
        subprocess.run(["editcap", *options, str(capture), str(out), frames], check=True,
                       capture_output=True)
        return out.read_bytes()

    end = editcap(data, range(1, half + 1), keep=True)
    assert end == editcap_run("-r", frames=f"1-{half}")
    assert editcap(data, range(half, total + 1), keep=True) == \
        editcap_run("-r", frames=f"{half}-{total}")
    assert editcap(data, range(21, 23), keep=False) == editcap_run(frames="21-22")
    high = editcap(data, range(half + 1, total + 1), keep=True, shift_seconds=-3600)
    assert high == editcap_run("-t", "-3600", "-r", frames=f"{half + 1}-{total}")
    low_file, high_file = tmp_path / "low.pcapng", tmp_path / "high.pcapng"
    low_file.write_bytes(end)
    high_file.write_bytes(high)
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(out), str(low_file),
                    str(high_file)], check=True, capture_output=True)
    assert mergecap_append(end, high) == out.read_bytes()

"""A live capture whose sniffer flowcheck stopped in the middle of writing a record.

tcpdump 4.99 takes SIGTERM without SA_RESTART: when flowcheck stops it while its write
into the full pipe is blocked, the write returns and the rest of that record is never
written; tcpdump exits cleanly. Seen under heavy loopback traffic (a 64 KiB frame cut):
`flowcheck live` then reported `capture_truncated` ("stop tcpdump/dumpcap cleanly") for a
capture it had stopped itself, and its `--write` copy read as cut. The race cannot be
made to happen on demand with the real tcpdump (a stalled reader did not produce it in
five tries), so a stand-in plays tcpdump's side of it here: its banner, a pcap stream,
and, on SIGTERM, part of one more record. A sniffer that ends by itself mid-record is
still a cut capture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.sources import iter_batches

STAND_IN = '''#!{python}
import signal, struct, sys, time
out = sys.stdout.buffer
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
out.flush()
sys.stderr.write("tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length "
                 "262144 bytes\\n")
sys.stderr.flush()
ip = bytes([0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1])
frame = bytes(12) + b"\\x08\\x00" + ip + struct.pack(">HHIIBBHHH", 40000, 10000, 1, 0,
                                                   0x50, 0x02, 65535, 0, 0)

def record():
    t = time.time()
    return struct.pack("<IIII", int(t), int(t % 1 * 1e6), len(frame), len(frame)) + frame

def cut(*_):
    out.write(record()[:30])
    out.flush()
    sys.exit(0)

signal.signal(signal.SIGTERM, cut)
for _ in range(3):
    out.write(record())
    out.flush()
    time.sleep(0.05)
if {by_itself}:
    cut()
while True:
    time.sleep(0.1)
'''


def live(tmp_path: Path, *, by_itself: bool) -> tuple[list[dict], Path]:
    """`flowcheck live` with the stand-in as tcpdump: (its JSON lines, the --write copy)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tcpdump"
    tool.write_text(STAND_IN.format(python=sys.executable, by_itself=by_itself))
    tool.chmod(0o755)
    copy = tmp_path / "copy.pcap"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "flowcheck", "live", "-i", "lo",
                           "--duration", "1", "--write", str(copy), "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr  # the SYNs' control_unanswered: FAIL
    return [json.loads(line) for line in done.stdout.splitlines()], copy


def codes(lines: list[dict]) -> set[str]:
    found = {f["code"] for line in lines for f in line.get("findings", [])}
    return found | {line["finding"]["code"] for line in lines if "finding" in line}


def read(path: Path) -> tuple[int, bool]:
    """(packets, truncated) of a capture file."""
    reader = iter_batches([str(path)])
    packets = sum(len(batch) for batch in reader)
    return packets, reader.captures[0].truncated


@pytest.mark.parametrize("by_itself", [False, True], ids=["stopped", "ended by itself"])
def test_the_record_cut_by_flowcheck_stopping_the_sniffer(tmp_path: Path,
                                                          by_itself: bool) -> None:
    lines, copy = live(tmp_path, by_itself=by_itself)
    assert "control_unanswered" in codes(lines)  # the three SYNs were read
    [report] = [line for line in lines if line.get("event") == "report"]
    assert [c["packets"] for c in report["captures"]] == [3]
    if by_itself:
        assert "capture_truncated" in codes(lines)
        assert read(copy) == (3, True)
    else:
        assert "capture_truncated" not in codes(lines)
        assert report["captures"][0]["truncated"] is False
        assert read(copy) == (3, False)  # ends before the record that was cut

"""What the traffic commands say of inputs they can read little or nothing of (new-user
trial of session 53, files of tests/data/tcpdump-tests):

- every packet on a link type flowcheck does not read (Frame Relay, 802.15.4, a
  switch's DSA tags): nothing could be read, exit 3 with one line on every command
  (`connections` listed nothing and exited 0 where `analyze` read it inconclusive);
  a set where some packet is readable is read in part, as before;
- packets the snap length cut (beep-oobr: 64 of 262,144 bytes kept): `truncated` stays
  the file's end (false), and `snap_cut` / `snap_length` say the cut, as tshark's
  frame.cap_len < frame.len tells it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "tcpdump-tests"
FRELAY = CORPUS / "OSPFv3_NBMA_adjacencies.pcap"
BEEP = CORPUS / "beep-oobr.pcap"


def _flowcheck(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcheck", *argv], capture_output=True,
                          text=True, check=False, cwd=ROOT)


def _packets(path: Path, display_filter: str = "") -> int:
    """How many frames tshark reads in the file (matching the filter)."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number",
                          *(["-Y", display_filter] if display_filter else [])],
                         capture_output=True, text=True, check=True).stdout
    return len(out.split())


@pytest.mark.parametrize("command", ["connections", "ndmp", "analyze"])
def test_a_link_type_not_read_is_an_input_error(command: str) -> None:
    result = _flowcheck(command, "--format", "json", str(FRELAY))
    assert result.returncode == 3
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line == (
        f"flowcheck: error: no packet could be read: {FRELAY}: its {_packets(FRELAY)} "
        "packets are on link type FRELAY, which flowcheck does not read (its link types: "
        "'flowcheck docs formats'). Capture the job on an interface with a link type "
        "flowcheck reads (Ethernet, Linux cooked, raw IP), such as the media server's "
        "Ethernet interface toward the agent.")


def test_a_set_with_a_readable_packet_is_read_in_part() -> None:
    readable = ROOT / "captures" / "ndmjob" / "v4-backup.pcap"
    result = _flowcheck("connections", "--format", "json", str(FRELAY), str(readable))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["capture_summary"]["undecodable"] == _packets(FRELAY)
    assert document["connections"]


def test_packets_cut_by_the_snap_length_are_said_apart_from_a_cut_file() -> None:
    result = _flowcheck("connections", "--format", "json", str(BEEP))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (capture,) = document["captures"]
    cut = _packets(BEEP, "frame.cap_len < frame.len")
    assert cut == 2
    assert capture["truncated"] is False  # the file ends where its last record does
    assert capture["snap_cut"] == cut and capture["snap_length"] == 64
    assert document["capture_summary"]["snap_cut"] == cut
    text = _flowcheck("connections", str(BEEP)).stdout
    assert f"2 packets (1 non-TCP skipped; {cut} cut by the snap length, 64 bytes kept)" in text


def test_several_files_on_link_types_not_read_are_theirs() -> None:
    """Two files, Frame Relay and 802.15.4: one line naming both link types, the packets
    the files' ("their", not "its": review 54b)."""
    other = CORPUS / "802_15_4-data.pcap"
    result = _flowcheck("connections", str(FRELAY), str(other))
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    count = _packets(FRELAY) + _packets(other)
    assert line.startswith(
        f"flowcheck: error: no packet could be read: the 2 capture files: their {count} "
        "packets are on link types FRELAY, IEEE802_15_4_WITHFCS, which flowcheck does not "
        "read")


def test_interfaces_cut_at_other_snap_lengths_say_the_range(tmp_path: Path) -> None:
    """A pcapng file merged from two interfaces cut at 80 and at 200 bytes (editcap -s,
    mergecap): every cut packet counted as tshark counts them, the text saying "80 to
    200 bytes kept", not "200 bytes kept" of all (review 54b)."""
    ndmjob = ROOT / "captures" / "ndmjob"
    parts = []
    for name, snap in (("v4-backup", 80), ("v3-backup", 200)):
        part = tmp_path / f"{name}.pcapng"
        subprocess.run(["editcap", "-F", "pcapng", "-s", str(snap), str(ndmjob / f"{name}.pcap"),
                        str(part)], check=True)
        parts.append(str(part))
    merged = tmp_path / "two-interfaces.pcapng"
    subprocess.run(["mergecap", "-w", str(merged), *parts], check=True)
    cut = _packets(merged, "frame.cap_len < frame.len")
    assert cut == _packets(merged, "frame.cap_len == 80") + _packets(merged, "frame.cap_len == 200")
    document = json.loads(_flowcheck("connections", "--format", "json", str(merged)).stdout)
    (capture,) = document["captures"]
    assert capture["snap_cut"] == cut and capture["snap_length"] == 200
    text = " ".join(_flowcheck("connections", str(merged)).stdout.split())
    assert f"{cut} cut by the snap length, 80 to 200 bytes kept)" in text

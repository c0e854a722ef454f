"""Files without a packet in a capture set whose other files hold packets (trial 18 D12:
docs/cli.md promised a capture_unreadable warning for a header-only file; none is given).

A sniffer's newest ring file right after a rotation holds its header only (dumpcap) or
nothing yet (tcpdump's buffered header): that is no damage, so a header-only file is
listed with 0 packets and not warned about, and a 0-byte file in a directory is skipped.
A 0-byte file named as an argument is a `capture_unreadable` warning (a copy that failed
is the likelier cause there). The docs say exactly that.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from capture_factory import pcap_bytes, tcp_packet, write_pcap

from flowcheck.cli.main import run

T0 = 1_700_000_000.0
CLI_DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def ring(folder: Path) -> None:
    folder.mkdir()
    write_pcap(folder / "r.pcap0", [(T0 + n, tcp_packet("10.0.0.1", "10.0.0.2", 40000,
                                                        10000, seq=n)) for n in range(3)])


def analyze(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(["connections", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def codes(document: dict) -> list[str]:
    return [finding["code"] for finding in document["findings"]]


def test_a_header_only_file_is_listed_without_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ring(tmp_path / "ring")
    (tmp_path / "ring" / "r.pcap1").write_bytes(pcap_bytes([]))
    document = analyze([str(tmp_path / "ring")], capsys)
    assert sorted(c["packets"] for c in document["captures"]) == [0, 3]
    assert "capture_unreadable" not in codes(document)


def test_a_zero_byte_file_skipped_in_a_directory_warned_as_an_argument(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ring(tmp_path / "ring")
    (tmp_path / "ring" / "r.pcap1").write_bytes(b"")
    document = analyze([str(tmp_path / "ring")], capsys)
    assert len(document["captures"]) == 1 and "capture_unreadable" not in codes(document)
    document = analyze([str(tmp_path / "ring" / "r.pcap0"), str(tmp_path / "ring" / "r.pcap1")],
                       capsys)
    assert "capture_unreadable" in codes(document)


def test_a_gzip_file_that_does_not_inflate_in_a_directory_is_warned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ring file gzipped and cut before anything inflates (new-user trial: skipped
    without a word, the set read as whole): capture_unreadable names it."""
    ring(tmp_path / "ring")
    cut = gzip.compress((tmp_path / "ring" / "r.pcap0").read_bytes())[:30]
    (tmp_path / "ring" / "r.pcap1.gz").write_bytes(cut)
    document = analyze([str(tmp_path / "ring")], capsys)
    [unreadable] = [f for f in document["findings"] if f["code"] == "capture_unreadable"]
    assert "r.pcap1.gz: compressed data corrupt or cut" in unreadable["message"]


def test_a_file_named_as_a_capture_that_is_none_in_a_directory_is_warned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `.pcap` of random bytes beside a ring's files (newuser56: skipped without a
    word, while docs/cli.md promised a capture_unreadable warning for "not a capture"):
    named in the warning; a file not named as a capture (notes.txt) stays skipped."""
    ring(tmp_path / "ring")
    (tmp_path / "ring" / "junk.pcap").write_bytes(bytes(range(7, 207)))
    (tmp_path / "ring" / "notes.txt").write_bytes(bytes(range(7, 207)))
    document = analyze([str(tmp_path / "ring")], capsys)
    [unreadable] = [f for f in document["findings"] if f["code"] == "capture_unreadable"]
    assert "junk.pcap: not a pcap or pcapng file" in unreadable["message"]
    assert "notes.txt" not in json.dumps(document)
    assert "(other files are skipped)" not in (CLI_DOC.parent / "formats.md").read_text()


def test_a_macs_appledouble_file_beside_a_capture_is_not_warned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ring copied from a Mac to a FAT, exFAT or SMB volume holds a "._NAME" AppleDouble
    file beside each of its files, its metadata (review56e: since a .pcap that is no
    capture is read, each gave a capture_unreadable warning): skipped, as before; named
    as an argument, said for what it is."""
    ring(tmp_path / "ring")
    apple = tmp_path / "ring" / "._job.pcap"
    # The AppleDouble header (RFC 1740): magic, version 2, filler, 2 entries.
    apple.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"Mac OS X        "
                      + b"\x00\x02" + bytes(4000))
    document = analyze([str(tmp_path / "ring")], capsys)
    assert "capture_unreadable" not in codes(document), document["findings"]
    assert "._job.pcap" not in json.dumps(document)
    assert run(["connections", str(apple)]) == 3
    assert "._job.pcap: not a pcap or pcapng file: macOS AppleDouble metadata" in \
        capsys.readouterr().err


def test_standard_input_that_gave_nothing_is_not_told_to_check_a_file(
        tmp_path: Path) -> None:
    """`tcpdump ... | flowcheck analyze - other.pcap` whose writer printed text (tcpdump
    without -w): the fix said "Check that file"; a pipe has no file to check, its writer
    has (field check 60's words review). A real pipe, through the command line."""
    ring(tmp_path / "ring")
    feed = b"12:00:00.000000 IP 10.0.0.1.40000 > 10.0.0.2.10000: Flags [S], length 0\n"
    done = subprocess.run([sys.executable, "-m", "flowcheck", "connections", "-",
                           str(tmp_path / "ring" / "r.pcap0"), "--format", "json"],
                          input=feed, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    [unreadable] = [f for f in json.loads(done.stdout)["findings"]
                    if f["code"] == "capture_unreadable"]
    assert unreadable["message"].startswith("standard input: not a pcap or pcapng file")
    assert "that file" not in unreadable["fix"]
    assert unreadable["fix"].startswith(
        "Check what feeds standard input: the command before the pipe must write a pcap or "
        "pcapng capture to its standard output (tcpdump -w -"), unreadable["fix"]


def test_the_docs_say_so() -> None:
    text = " ".join(CLI_DOC.read_text().split())
    assert "such a file is only a `capture_unreadable` warning" not in text
    assert "a file holding only its header is listed with 0 packets and no warning" in text
    assert "a 0-byte file in a directory is skipped" in text

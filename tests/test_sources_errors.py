"""Bad input: one-line InputErrors when nothing is readable, truncation kept otherwise."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from capture_factory import epb, idb, pcap_bytes, pcapng_bytes, shb, tcp_packet, write_pcap

from flowcheck.errors import InputError
from flowcheck.model import Severity
from flowcheck.sources import iter_batches, truncation_findings

T0 = 1_700_000_000.0
PACKETS = [(T0 + n, tcp_packet("10.0.0.1", "10.0.0.2", 5001, 10000, "A", seq=n,
                               payload=b"p" * (10 + n))) for n in range(5)]


def count(inputs: list, **options: object) -> tuple[int, object]:
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    return sum(len(batch) for batch in reader), reader


def input_error(inputs: list) -> str:
    with pytest.raises(InputError) as caught:
        count(inputs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    message = input_error([str(tmp_path / "nope.pcap")])
    assert "nope.pcap" in message and "no such file" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    assert "empty file" in input_error([str(path)])


def test_unknown_magic_says_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "page.pcap"
    path.write_bytes(b"<!DOCTYPE html><html></html>")
    message = input_error([str(path)])
    assert "page.pcap" in message and "3c 21 44 4f" in message


def test_file_cut_inside_header(tmp_path: Path) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(pcap_bytes([])[:10])
    assert "header" in input_error([str(path)])


def test_empty_directory(tmp_path: Path) -> None:
    assert "empty directory" in input_error([str(tmp_path)])


def test_directory_without_captures(tmp_path: Path) -> None:
    (tmp_path / "flowcheck.toml").write_text("ndmp_port = 10000\n")
    (tmp_path / "expected.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("# notes\n")
    assert "no pcap or pcapng files" in input_error([str(tmp_path)])
    # A sniffer killed before it wrote its header: the 0-byte capture is named (review56e).
    (tmp_path / "job.pcap").write_bytes(b"")
    assert input_error([str(tmp_path)]) == (f"{tmp_path}: no pcap or pcapng files in this "
                                            "directory (job.pcap: empty file, 0 bytes)")


def test_all_inputs_unreadable(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    first.write_bytes(b"")
    second.write_bytes(b"garbage!")
    assert "no capture could be read" in input_error([str(first), str(second)])


def test_permission_denied(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "secret.pcap", PACKETS)
    path.chmod(0o600)
    os.chmod(tmp_path, 0o755)
    # Import first: the interpreter itself may live where nobody cannot read.
    script = ("import os, sys\n"
              "from flowcheck.sources import iter_batches\n"
              "from flowcheck.errors import InputError\n"
              "os.setgid(65534); os.setuid(65534)\n"
              "try:\n    iter_batches([sys.argv[1]])\nexcept InputError as exc:\n"
              "    print(exc)\n")
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, cwd=Path(__file__).parent.parent,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert result.returncode == 0, result.stderr
    assert "permission denied" in result.stdout and "secret.pcap" in result.stdout


@pytest.mark.parametrize("readable", [0, 1])
def test_unreadable_files_of_a_directory_are_named(readable: int) -> None:
    """A ring buffer's directory whose files a user may not read (dumpcap writes them
    0600): one line saying permission denied, or, with some readable, the others read
    and the unreadable named (capture_unreadable); it said "no pcap or pcapng files in
    this directory" and skipped the unreadable ones without a word (trial B)."""
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # /tmp/pytest-of-root is 0700
    try:
        os.chmod(folder, 0o755)
        for n in range(2):
            path = write_pcap(folder / f"ring_{n:05d}.pcap", PACKETS)
            path.chmod(0o644 if n < readable else 0o600)
        script = ("import os, sys\n"
                  "from flowcheck.sources import iter_batches\n"
                  "from flowcheck.errors import InputError\n"
                  "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                  "try:\n"
                  "    reader = iter_batches([sys.argv[1]])\n"
                  "    print(sum(len(b) for b in reader))\n"
                  "    print([info.error for info in reader.captures])\n"
                  "except InputError as exc:\n    print('InputError', exc)\n")
        result = subprocess.run([sys.executable, "-c", script, str(folder)],
                                capture_output=True, text=True,
                                cwd=Path(__file__).parent.parent, check=True)
        if readable:
            packets, errors = result.stdout.splitlines()
            assert int(packets) == len(PACKETS)
            assert sorted(errors.strip("[]").split(", ")) == [
                "'" + str(folder / "ring_00001.pcap") + ": permission denied'", "None"]
        else:
            assert result.stdout.startswith("InputError no capture could be read: ")
            assert "ring_00000.pcap: permission denied" in result.stdout
    finally:
        shutil.rmtree(folder)


def test_truncated_mid_record_keeps_earlier_packets(tmp_path: Path) -> None:
    whole = pcap_bytes(PACKETS)
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:-5])
    packets, reader = count([str(path)], chunk_size=32)
    info = reader.captures[0]
    assert packets == len(PACKETS) - 1
    assert info.truncated and info.packets == len(PACKETS) - 1
    # Why and where reading stopped (docs/json.md): both were null for a cut file.
    assert info.error == f"{path}: the file ends in the middle of a packet record"
    assert info.error_offset == len(whole) - len(pcap_bytes(PACKETS[-1:])) + 24
    findings = truncation_findings(reader.captures)
    assert [(f.code, f.severity) for f in findings] == [("capture_truncated", Severity.WARNING)]
    assert "cut.pcap" in findings[0].message and findings[0].fix
    assert findings[0].ts is None  # no spans given: undated
    # With each file's span (as track_connections gives them): dated at the last packet
    # read (third new-user trial: ts was null, docs/json.md says null only for what no
    # packet dates).
    [dated] = truncation_findings(reader.captures, {str(path): (1.0, 2.5)})
    assert dated.ts == 2.5


def test_truncated_inside_record_header(tmp_path: Path) -> None:
    whole = pcap_bytes(PACKETS)
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole + b"\x00" * 7)  # a partial 16-byte record header
    packets, reader = count([str(path)])
    assert packets == len(PACKETS) and reader.captures[0].truncated


def test_complete_file_gives_no_finding(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "ok.pcap", PACKETS)
    _, reader = count([str(path)])
    assert truncation_findings(reader.captures) == []


@pytest.mark.parametrize("chunk_size", [16, 8 << 20])
def test_absurd_caplen_names_the_offset(tmp_path: Path, chunk_size: int) -> None:
    whole = bytearray(pcap_bytes(PACKETS, snaplen=65535))
    bad_offset = 24 + 2 * 16 + sum(len(data) for _ts, data in PACKETS[:2])
    struct.pack_into("<I", whole, bad_offset + 8, 10_000_000)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    good = write_pcap(tmp_path / "good.pcap", [(T0 + 100, PACKETS[0][1])])
    packets, reader = count([str(path), str(good)], chunk_size=chunk_size)
    corrupt = next(info for info in reader.captures if info.path.endswith("corrupt.pcap"))
    assert corrupt.packets == 2 and corrupt.truncated
    assert corrupt.error_offset == bad_offset and str(bad_offset) in corrupt.error
    assert packets == 3  # the other file is read in full
    assert len(truncation_findings(reader.captures)) == 1


def test_absurd_caplen_in_fast_walk(tmp_path: Path) -> None:
    # Enough records that the unrolled walk runs before the corrupt one.
    many = [(T0 + n * 1e-3, b"\x00" * 60) for n in range(30000)]
    whole = bytearray(pcap_bytes(many))
    bad_offset = 24 + 20000 * (16 + 60)
    struct.pack_into("<I", whole, bad_offset + 8, 0xFFFFFFF0)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    packets, reader = count([str(path)])
    assert packets == 20000 and reader.captures[0].error_offset == bad_offset


@pytest.mark.parametrize("damage", ["length", "trailer", "caplen", "interface"])
def test_pcapng_bad_block(tmp_path: Path, damage: str) -> None:
    blocks = [shb(), idb(1)] + [epb(0, ts, data) for ts, data in PACKETS]
    bad_offset = sum(len(block) for block in blocks[:4])
    bad = bytearray(blocks[4])
    if damage == "length":
        struct.pack_into("<I", bad, 4, 13)
    elif damage == "trailer":
        struct.pack_into("<I", bad, len(bad) - 4, len(bad) + 4)
    elif damage == "caplen":
        struct.pack_into("<I", bad, 20, 5000)
    else:
        struct.pack_into("<I", bad, 8, 3)
    blocks[4] = bytes(bad)
    path = tmp_path / "bad.pcapng"
    path.write_bytes(b"".join(blocks))
    packets, reader = count([str(path)])
    info = reader.captures[0]
    assert packets == 2 and info.truncated
    assert info.error_offset == bad_offset and str(bad_offset) in info.error


def test_a_corrupt_pcapng_block_in_a_ring_names_its_file(tmp_path: Path) -> None:
    """newuser54: the capture_truncated of a ring's pcapng with a corrupt block read
    "block at byte offset 2144 has an invalid length ...", naming no file, where a cut
    pcap's reads "ring2/b.pcap: the file ends ...": every one names its file first."""
    ring = tmp_path / "ring"
    ring.mkdir()
    blocks = [shb(), idb(1)] + [epb(0, ts, data) for ts, data in PACKETS]
    (ring / "a.pcapng").write_bytes(b"".join(blocks[:4]))
    bad = bytearray(blocks[5])
    struct.pack_into("<I", bad, 4, 13)  # an invalid block length
    (ring / "b.pcapng").write_bytes(b"".join([*blocks[:2], blocks[4], bytes(bad)]))
    (ring / "c.pcap").write_bytes(pcap_bytes(PACKETS)[:-3])  # cut in its last record
    _, reader = count([str(ring)])
    findings = truncation_findings(reader.captures)
    assert [f.code for f in findings] == ["capture_truncated"] * 2
    messages = sorted(f.message for f in findings)  # the set is ordered by first packet
    assert messages[0].startswith(f"{ring / 'b.pcapng'}: block at byte offset ")
    assert messages[1].startswith(f"{ring / 'c.pcap'}: the file ends in the middle")


def test_one_bad_file_among_good_ones_is_reported_not_fatal(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "good.pcap", PACKETS)
    bad = tmp_path / "notes.pcap"
    bad.write_bytes(b"hello world")
    packets, reader = count([str(good), str(bad)])
    assert packets == len(PACKETS)
    errors = {info.path: info.error for info in reader.captures}
    assert errors[str(good)] is None and "68 65 6c 6c" in errors[str(bad)]
    [finding] = truncation_findings(reader.captures)
    assert (finding.code, finding.severity) == ("capture_unreadable", Severity.WARNING)
    assert "notes.pcap" in finding.message


def test_cut_gzip_keeps_what_was_inflated(tmp_path: Path) -> None:
    many = [(T0 + n, bytes([n % 256]) * 500) for n in range(200)]
    compressed = gzip.compress(pcap_bytes(many), compresslevel=1)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(compressed[: len(compressed) * 2 // 3])
    packets, reader = count([str(path)], chunk_size=4096)
    assert 0 < packets < 200 and reader.captures[0].truncated


def test_cut_gzip_keeps_what_was_inflated_when_the_cut_is_in_the_first_chunk(
        tmp_path: Path) -> None:
    """A whole .gz smaller than one chunk (the default 8 MB), cut: the packets inflated
    before the cut are read and the capture is truncated, not an empty file."""
    many = [(T0 + n, bytes([n % 256]) * 500) for n in range(2000)]
    compressed = gzip.compress(pcap_bytes(many), compresslevel=1)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(compressed[: len(compressed) * 2 // 3])
    packets, reader = count([str(path)])
    info = reader.captures[0]
    assert 0 < packets < 2000 and info.truncated
    assert "empty" not in (info.error or "") and "compressed data" in (info.error or "")
    # Named, as a cut pcap is: in a set of several files, which one is cut (trial B).
    assert (info.error or "").startswith(f"{path}: compressed data corrupt or cut: ")


def test_cut_gzip_on_standard_input_keeps_what_was_inflated(tmp_path: Path) -> None:
    """The same cut .gz through a pipe (standard input) reads the packets the file does:
    what the read meeting the cut had inflated was lost, a varying number with the
    pipe's timing (session 34's trial B: 47,197 and 52,086 of 56,860)."""
    many = [(T0 + n, bytes([n % 256]) * 500) for n in range(4000)]
    compressed = gzip.compress(pcap_bytes(many), compresslevel=1)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(compressed[: len(compressed) * 2 // 3])
    from_file, _ = count([str(path)])
    script = ("from flowcheck.sources import iter_batches\n"
              "print(sum(len(b) for b in iter_batches(['-'])))\n")
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", script], input=path.read_bytes(),
                                capture_output=True, cwd=Path(__file__).parent.parent,
                                check=True)
        assert int(result.stdout) == from_file > 0


def test_a_pipe_counts_the_bytes_read_for_the_progress_line(tmp_path: Path) -> None:
    """A pipe has no position: the progress line's bytes are those read from it (they
    read "0/? bytes" throughout: trial B of session 34)."""
    data = pcap_bytes(PACKETS)
    script = ("import sys\n"
              "from flowcheck.sources import iter_batches\n"
              "reader = iter_batches(['-'])\n"
              "sum(len(b) for b in reader)\n"
              "print(sum(f.raw_done for f in reader._files))\n")
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                            cwd=Path(__file__).parent.parent, check=True)
    assert int(result.stdout) == len(data)


def test_a_pipe_is_read_in_large_batches(tmp_path: Path) -> None:
    """A pipe filled faster than it is read (`cat file | flowcheck -`) is read into large
    batches, not one per 64 KiB the pipe holds: each batch has a fixed cost, and 4,188
    batches of ~50 packets made the pipe 14 times slower than the file (trial B). Counted,
    not timed: 4 MiB written at once through a pipe, read as at most a few batches."""
    many = [(T0 + n * 0.001, bytes([n % 256]) * 1400) for n in range(3000)]
    data = pcap_bytes(many)
    script = ("from flowcheck.sources import iter_batches\n"
              "batches = [len(b) for b in iter_batches(['-'])]\n"
              "print(len(batches), sum(batches))\n")
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                            cwd=Path(__file__).parent.parent, check=True)
    batches, packets = map(int, result.stdout.split())
    assert packets == len(many)
    assert batches <= 8  # it was 66: one per 64 KiB


def test_pcapng_cut_mid_block(tmp_path: Path) -> None:
    whole = pcapng_bytes([1], [(0, ts, data) for ts, data in PACKETS])
    path = tmp_path / "cut.pcapng"
    path.write_bytes(whole[:-3])
    packets, reader = count([str(path)])
    assert packets == len(PACKETS) - 1 and reader.captures[0].truncated


def test_empty_standard_input() -> None:
    script = ("from flowcheck.sources import iter_batches\n"
              "from flowcheck.errors import InputError\n"
              "try:\n    sum(len(b) for b in iter_batches(['-']))\n"
              "except InputError as exc:\n    print('InputError', exc)\n")
    result = subprocess.run([sys.executable, "-c", script], input=b"", capture_output=True,
                            cwd=Path(__file__).parent.parent, check=True)
    # Not a file named "-" (newuser54: "-: empty file").
    assert result.stdout.decode().strip() == "InputError standard input: empty"


def test_absurd_first_record_is_a_truncated_capture_not_an_input_error(tmp_path: Path) -> None:
    whole = bytearray(pcap_bytes(PACKETS))
    struct.pack_into("<I", whole, 24 + 8, 0x7FFFFFFF)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    packets, reader = count([str(path)])
    info = reader.captures[0]
    assert packets == 0 and info.truncated and info.error_offset == 24
    assert info.link_types == ["EN10MB"]
    assert len(truncation_findings(reader.captures)) == 1


@pytest.mark.parametrize(("editcap_format", "words"), [
    ("netmon2", "Microsoft Network Monitor 2.x capture: convert it with `editcap"),
    ("netmon1", "Microsoft Network Monitor 1.x capture"),
    ("snoop", "Solaris snoop capture"),
])
def test_another_capture_format_is_named_with_its_conversion(
        tmp_path: Path, editcap_format: str, words: str) -> None:
    """Files written by Wireshark's own editcap in formats flowcheck does not read; the
    conversion the message gives turns them back into a capture flowcheck reads."""
    stored = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    other = tmp_path / f"v4-backup.{editcap_format}"
    subprocess.run(["editcap", "-F", editcap_format, str(stored), str(other)], check=True,
                   capture_output=True)
    message = input_error([str(other)])
    assert words in message
    assert f"`editcap -F pcapng {other} {other}.pcapng`" in message
    converted = tmp_path / "converted.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(other), str(converted)], check=True,
                   capture_output=True)
    assert count([str(converted)])[0] == count([str(stored)])[0]


def test_an_archive_is_named(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "capture.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("capture.pcap", pcap_bytes(PACKETS))
    assert "a zip archive: extract the capture from it first" in input_error([str(path)])


def test_windows_traces_are_named_with_their_conversion(tmp_path: Path) -> None:
    """Trial 24 D9: an .etl (netsh trace, pktmon) and a Message Analyzer .matp, the files
    Windows admins hand over, got only "starts with 00 00 01 00" / "a zip archive"."""
    etl = tmp_path / "NetTrace.etl"
    etl.write_bytes(b"\x00\x00\x01\x00" + bytes(60))  # an ETW buffer header's start
    message = input_error([str(etl)])
    assert message == (f"{etl}: not a pcap or pcapng file: a Windows event trace (netsh "
                       f"trace or pktmon): convert it on Windows with `pktmon etl2pcap {etl} "
                       f"--out {tmp_path / 'NetTrace.pcapng'}` (or Microsoft's etl2pcapng) "
                       "and give flowcheck the .pcapng")
    matp = tmp_path / "job.matp"
    matp.write_bytes(b"PK\x03\x04" + bytes(60))  # an OPC package is a zip
    assert "a Microsoft Message Analyzer trace: save it from Message Analyzer as a Network " \
           "Monitor .cap file" in input_error([str(matp)])


def test_a_directory_of_other_formats_names_them(tmp_path: Path) -> None:
    """Trial 24 D12: a folder holding a NetMon capture and an .etl read as "no pcap or
    pcapng files", though flowcheck names both when given them one by one."""
    stored = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    subprocess.run(["editcap", "-F", "netmon2", str(stored), str(tmp_path / "job.cap")],
                   check=True, capture_output=True)
    (tmp_path / "NetTrace.etl").write_bytes(b"\x00\x00\x01\x00" + bytes(60))
    (tmp_path / "notes.txt").write_text("the job failed at 01:00\n")
    message = input_error([str(tmp_path)])
    assert message.startswith(f"{tmp_path}: no pcap or pcapng files in this directory (")
    assert (f"NetTrace.etl: a Windows event trace (netsh trace or pktmon): convert it on "
            f"Windows with `pktmon etl2pcap {tmp_path / 'NetTrace.etl'}") in message
    assert (f"; job.cap: a Microsoft Network Monitor 2.x capture: convert it with `editcap "
            f"-F pcapng {tmp_path / 'job.cap'} {tmp_path / 'job.cap.pcapng'}`") in message
    assert "notes.txt" not in message


def test_a_file_copied_in_text_mode_is_named_so(tmp_path: Path) -> None:
    """Trial 24 D10: an FTP transfer in text (ASCII) mode from Windows puts 0x0d before
    every 0x0a; the records after the first one go astray ("file corrupt")."""
    stored = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    damaged = tmp_path / "ascii.pcap"
    damaged.write_bytes(stored.read_bytes().replace(b"\n", b"\r\n"))
    _, reader = count([str(damaged)])
    info = reader.captures[0]
    assert info.truncated and "file corrupt" in info.error
    assert info.error.endswith("; every 0x0a byte before it follows a 0x0d, as a transfer in "
                               "text (ASCII) mode leaves a file: copy it again in binary mode "
                               "(ftp: binary, or bin)")
    # Binary damage is not called a text-mode transfer.
    whole = bytearray(pcap_bytes(PACKETS, snaplen=65535))
    struct.pack_into("<I", whole, 24 + 16 + len(PACKETS[0][1]) + 8, 10_000_000)
    (tmp_path / "binary.pcap").write_bytes(bytes(whole))
    _, reader = count([str(tmp_path / "binary.pcap")])
    assert "file corrupt" in reader.captures[0].error
    assert "text (ASCII)" not in reader.captures[0].error


def test_other_format_files_beside_captures_are_named(tmp_path: Path) -> None:
    """Trial 24 D12: a NetMon capture (perhaps the other capture point's) beside a pcapng
    in a directory was left out without a word."""
    from flowcheck.sources import truncation_findings

    stored = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    subprocess.run(["editcap", "-F", "netmon2", str(stored), str(tmp_path / "agent.cap")],
                   check=True, capture_output=True)
    (tmp_path / "media.pcap").write_bytes(stored.read_bytes())
    (tmp_path / "syslog.xz").write_bytes(b"\xfd7zXZ\x00" + bytes(40))  # not a capture
    packets, reader = count([str(tmp_path)])
    assert packets == count([str(stored)])[0]  # the pcap alone is read
    [skipped] = [f for f in truncation_findings(reader.captures)
                 if f.code == "capture_files_skipped"]
    assert skipped.severity == Severity.INFO
    assert skipped.message == (
        f"The directory {tmp_path} also holds files of capture formats flowcheck does not "
        "read, left out of the analysis: agent.cap: a Microsoft Network Monitor 2.x capture: "
        f"convert it with `editcap -F pcapng {tmp_path / 'agent.cap'} "
        f"{tmp_path / 'agent.cap.pcapng'}` (Wireshark).")

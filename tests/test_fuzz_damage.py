"""Damage the mutation fuzzer found (a fuzzing round over the stored captures): each case
is a corrupt record or file that made a command end with an internal error (exit 4). A
damaged packet is decoded as far as it goes, an unreadable file is an input error (3):
never a traceback."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import pytest
from capture_factory import pcapng_bytes, shb, tcp_packet, write_pcapng

from flowcheck.cli.main import run
from flowcheck.report.overview import clock_time, wall_clock
from flowcheck.sources import iter_batches

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
DOCUMENTED = (0, 1, 3, 5)  # exit codes of a read capture or an input error


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(argv)
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert code in DOCUMENTED
    return code, err


@pytest.mark.parametrize("ts", [6.4e11, -7e10, 1.8e19])
def test_a_time_beyond_the_calendar_is_its_unix_time(ts: float) -> None:
    assert wall_clock(ts) == f"Unix time {ts:.3f} (no calendar date)"
    assert clock_time(ts) == wall_clock(ts)


def test_a_time_in_the_calendar_is_iso_8601() -> None:
    assert wall_clock(T0 + 0.1234) == "2025-12-01T00:00:00.123Z"
    assert clock_time(T0 + 0.1234) == "00:00:00.123Z"
    assert wall_clock(-62_000_000_000.0) == "0005-04-19T09:46:40.000Z"  # 4-digit year


@pytest.mark.parametrize("command", ["analyze", "connections", "ndmp"])
@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("alone", [False, True])
def test_a_pcapng_record_stamped_beyond_year_9999_is_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, fmt: str,
        alone: bool) -> None:
    # A pcapng timestamp is 64 bits of ticks: a corrupt one lands in the year 20,000
    # (fuzz case 388: the table's wall-clock times raised ValueError).
    far = 6.4e11
    packets = [(0, far, tcp_packet("10.77.0.1", "10.77.0.2", 5002, 10000, "S", seq=7))]
    if not alone:
        packets.insert(0, (0, T0, tcp_packet("10.77.0.1", "10.77.0.2", 5001, 10000, "S")))
    path = write_pcapng(tmp_path / "far.pcapng", [1], packets)
    code, _ = _run([command, str(path), "--format", fmt], capsys)
    assert code != 3


def _read_within(path: Path, seconds: float = 60.0, **options: object) -> tuple[int, object]:
    """The packets read from path and the reader, failing (not hanging) on an endless
    read: the read runs in a daemon thread."""
    done: list[tuple[int, object]] = []

    def read() -> None:
        reader = iter_batches([str(path)], **options)  # type: ignore[arg-type]
        done.append((sum(len(batch) for batch in reader), reader))

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, f"reading {path.name} did not end within {seconds} s"
    return done[0]


def _broken_section_header(how: str) -> bytes:
    header = bytearray(shb())
    if how == "trailer":  # the trailing length field disagrees with the leading one
        struct.pack_into("<I", header, len(header) - 4, 0)
    else:  # a total length that is no multiple of 4
        struct.pack_into("<I", header, 4, len(header) + 2)
    return bytes(header)


SYNS = [(0, T0 + n, tcp_packet("10.77.0.1", "10.77.0.2", 5001 + n, 10000, "S"))
        for n in range(3)]


@pytest.mark.parametrize("how", ["trailer", "length"])
@pytest.mark.parametrize("chunk_size", [None, 64])
def test_a_corrupt_first_section_header_is_an_input_error_not_an_endless_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str,
        chunk_size: int | None) -> None:
    # Fuzz case 4181: a pcapng file's section header with bytes zeroed was taken for
    # another capture file joined after this one, at the offset the walk stood at: the
    # reader started "the next file" there, and the same parser failed on it again.
    good = pcapng_bytes([1], SYNS, extra_blocks=False)
    path = tmp_path / "zeroed.pcapng"
    path.write_bytes(_broken_section_header(how) + good[len(shb()):])
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    packets, reader = _read_within(path, **options)
    [info] = reader.captures  # type: ignore[attr-defined]
    assert packets == 0 and "byte offset 0" in info.error
    code, err = _run(["analyze", str(path)], capsys)
    assert code == 3 and err.count("\n") == 1 and "file corrupt" in err


@pytest.mark.parametrize("how", ["trailer", "length"])
def test_a_corrupt_later_section_header_ends_the_read_there(tmp_path: Path,
                                                            how: str) -> None:
    first = pcapng_bytes([1], SYNS, extra_blocks=False)
    path = tmp_path / "two-sections.pcapng"
    path.write_bytes(first + _broken_section_header(how) + first[len(shb()):])
    packets, reader = _read_within(path)
    [info] = reader.captures  # type: ignore[attr-defined]
    assert packets == 3 and info.truncated
    assert f"byte offset {len(first)}" in info.error


# An agent's strings (log text, user name) come from the wire; the NDMP string fuzzing
# found an ESC in one reaching the terminal through the text reports (docs/cli.md: a
# piped report holds no escape sequence).
WIRE = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-ndp"


def _with_wire_strings(tmp_path: Path) -> Path:
    data = (WIRE / "routed-ptb-ok-agent.pcap").read_bytes()
    assert data.count(b"Backup completed") == 1 and data.count(b"administrator") == 1
    data = data.replace(b"Backup completed", b"\x1b[31mred\x1b[0m\r\x07..")
    data = data.replace(b"administrator", b"adm\x1b]0;x\x07\x9bine")
    path = tmp_path / "escapes.pcap"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("argv", [["ndmp"], ["analyze", "--ladder"]])
def test_wire_strings_reach_the_text_reports_without_control_characters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = _with_wire_strings(tmp_path)
    code = run([*argv, str(path), "--config", str(WIRE / "routed-ptb-ok-agent.toml")])
    out = capsys.readouterr().out
    assert code in DOCUMENTED
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    if argv == ["ndmp"]:
        assert "text=\\x1b[31mred\\x1b[0m\\x0d\\x07.." in out


def test_wire_strings_stay_exact_in_json(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = _with_wire_strings(tmp_path)
    run(["ndmp", str(path), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    texts = [m["body"].get("text") for s in document["ndmp"] for m in s["messages"]]
    assert "\x1b[31mred\x1b[0m\r\x07.." in texts

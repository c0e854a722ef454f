"""crosscheck: flowcheck's NDMP decode against tshark's, gaps told apart from differences."""

from __future__ import annotations

import functools
import shutil
import socket
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from test_connections_util import internet_checksum
from test_ndmp_tshark import CAPTURES, decode_with_connections

from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.ndmp.crosscheck import CrosscheckResult, TsharkMessage, compare_messages, crosscheck

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")
NDMJOB = CAPTURES / "ndmjob"
_VTEP_MACS = bytes.fromhex("020000000002" "020000000001")  # the VXLAN frames' (dst, src)


def run(path: Path, port: int = 10000):
    streams, connections = decode_with_connections(path, port)
    return crosscheck(str(path), streams, connections)


@functools.cache
def stored_run(path: Path) -> CrosscheckResult:
    """run(path) of a stored capture, once per worker: v4-backup's (5 s, pyshark's
    tshark reading every packet) is read by two tests."""
    return run(path)


@needs_tshark
@pytest.mark.parametrize("name", ["v4-backup.pcap", "v3-backup.pcap"])
def test_real_captures_have_no_differences(name: str) -> None:
    result = stored_run(NDMJOB / name)
    assert result.differences == [] and result.tshark_gaps == []
    assert result.ours == result.theirs == result.matched > 20


@needs_tshark
def test_header_only_error_reply_is_a_tshark_gap() -> None:
    result = run(NDMJOB / "v4-swap-refused.pcap")
    assert result.differences == []
    assert [(g.name, g.field) for g in result.tshark_gaps] == [("NDMP_DATA_LISTEN", "malformed")]
    assert result.as_dict()["tshark_gaps"][0]["reason"]


@needs_tshark
def test_v2_bodies_are_tshark_gaps() -> None:
    result = run(NDMJOB / "v2-backup.pcap")
    assert result.differences == []
    gap_fields = {(g.name, g.field) for g in result.tshark_gaps}
    assert ("NDMP_DATA_START_BACKUP", "addresses") in gap_fields


PORT_10500 = CAPTURES / "ndmjob-lab" / "v4-backup-port-10500.pcap"


@needs_tshark
@pytest.mark.skipif(not PORT_10500.exists(), reason="lab capture on port 10500 not made yet")
def test_nonstandard_port_messages_are_tshark_gaps() -> None:
    result = run(PORT_10500, 10500)
    assert result.theirs == 0 and result.differences == []
    assert len(result.tshark_gaps) == result.ours > 0
    assert all("port 10000" in g.reason for g in result.tshark_gaps)


def _fixture() -> tuple[list[NdmpStream], list[Connection], TsharkMessage]:
    connection = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, 0.0)
    ours = NdmpMessage(frame=5, ts=0.0, direction="resp", sequence=4, type="reply",
                       code=0xA01, name="NDMP_MOVER_LISTEN", error=0, reply_sequence=3,
                       body_error=0)
    stream = NdmpStream(uid="C1", version=4, version_source="connect_open", messages=[ours])
    theirs = TsharkMessage(frame=5, src=("10.0.0.2", 10000), dst=("10.0.0.1", 5001),
                           sequence=4, code=0xA01, is_reply=True, reply_sequence=3,
                           header_error=0, body_error=0, addresses=[], malformed=False)
    return [stream], [connection], theirs


def test_disagreements_are_differences() -> None:
    streams, connections, theirs = _fixture()
    theirs.code, theirs.reply_sequence = 0xA00, 2
    theirs.addresses = [("10.0.0.2", 6001)]
    result = compare_messages("x", streams, connections, [theirs])
    assert sorted(d.field for d in result.differences) == ["addresses", "code",
                                                          "reply_sequence"]
    assert result.tshark_gaps == []


def test_message_tshark_lacks_is_a_difference_unless_a_known_limit() -> None:
    streams, connections, _ = _fixture()
    result = compare_messages("x", streams, connections, [])
    assert [d.field for d in result.differences] == ["message"]
    assert result.differences[0].ours == "decoded"
    streams[0].messages[0].code = 0xF001  # vendor code: tshark skips codes above 0xA09
    result = compare_messages("x", streams, connections, [])
    assert result.differences == [] and "0xA09" in result.tshark_gaps[0].reason
    # Not "decoded" (newuser54): analyze says a vendor message is shown, not decoded.
    assert result.tshark_gaps[0].ours == "shown, not decoded"


def test_message_tshark_does_not_know_is_a_tshark_gap() -> None:
    """tshark has no entry for DATA_START_RECOVER_FILEHIST (0x40B): it shows "Unknown"
    and decodes no body, so its missing body error is its gap (trial 27 D9)."""
    streams, connections, theirs = _fixture()
    ours = streams[0].messages[0]
    ours.code, ours.name = 0x40B, "NDMP_DATA_START_RECOVER_FILEHIST"
    theirs.code, theirs.body_error = 0x40B, None
    result = compare_messages("x", streams, connections, [theirs])
    assert result.differences == []
    assert [(g.field, g.reason) for g in result.tshark_gaps] == [
        ("body_error", "tshark does not know this message (0x40B)")]


@needs_tshark
def test_filehist_recover_captured_has_no_differences() -> None:
    """ndmjob -t (table of contents) sends DATA_START_RECOVER_FILEHIST (trial 27 D9)."""
    result = run(CAPTURES / "trial27" / "toc-filehist-a.pcap")
    assert result.differences == []
    assert [(g.name, g.field) for g in result.tshark_gaps] == [
        ("NDMP_DATA_START_RECOVER_FILEHIST", "body_error")]


def test_message_we_lack_is_a_difference() -> None:
    streams, connections, theirs = _fixture()
    extra = TsharkMessage(**{**{f: getattr(theirs, f) for f in theirs.__slots__},
                             "sequence": 9})
    result = compare_messages("x", streams, connections, [theirs, extra])
    assert [(d.sequence, d.ours, d.theirs) for d in result.differences] == [
        (9, None, "decoded")]


def test_crosscheck_leaves_no_child_handler_behind() -> None:
    """pyshark's child watcher handled SIGCHLD after the crosscheck, writing to a wakeup
    pipe nobody drained: once full, every later child's exit printed "Exception ignored
    ... BlockingIOError" (334 warnings in the test suite). After it, the process's SIGCHLD
    handler and wakeup pipe are as before, and a second crosscheck still works."""
    import signal

    from flowcheck.ndmp.crosscheck import read_tshark_messages

    capture = str(CAPTURES / "ndmjob" / "v4-backup.pcap")
    before = signal.getsignal(signal.SIGCHLD)
    first = read_tshark_messages(capture)
    assert first and signal.getsignal(signal.SIGCHLD) == before
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    assert wakeup == -1
    assert read_tshark_messages(capture) == first


def test_capture_cut_mid_record_is_compared_up_to_the_cut(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tshark stops at the cut with exit status 2, which pyshark raises as a crash: it was
    exit 4 (internal error). Both decoders read up to the cut; the result is theirs. The
    command in the test's process (its exit code and document are the point)."""
    import json

    from flowcheck.cli.main import run as run_cli

    whole = (CAPTURES / "lab" / "clean-3-resources.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:len(whole) // 3])
    code = run_cli(["crosscheck", str(cut), "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["captures"][0]["truncated"]
    assert document["crosscheck"]["matched"] > 0 and not document["crosscheck"]["differences"]
    # Roles and sessions as `connections` gives them (they were "other" and null).
    roles = {c["role"] for c in document["connections"]}
    assert {"control", "data"} <= roles
    assert all(c["session"] for c in document["connections"] if c["role"] != "other")


def test_tshark_failure_on_a_whole_file_is_an_input_error(tmp_path: Path) -> None:
    """Only tshark's stop at a cut the reader also saw is accepted: a file that is not
    cut keeps tshark's failure as one line and exit 3."""
    from flowcheck.errors import InputError
    from flowcheck.ndmp.crosscheck import read_tshark_messages

    whole = (CAPTURES / "lab" / "clean-3-resources.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:len(whole) // 3])
    assert read_tshark_messages(str(cut), cut=True)
    with pytest.raises(InputError, match="tshark could not read it") as caught:
        read_tshark_messages(str(cut), cut=False)
    # One line, its parentheses closed (field check 20 D12: the first line of tshark's
    # message was cut inside them), and what it means: no comparison, not a bad file.
    said = str(caught.value)
    assert "\n" not in said and said.count("(") == said.count(")"), said
    assert said.endswith("nothing was compared; flowcheck reads it alone "
                         "(`flowcheck ndmp`, `analyze`)"), said


def _tshark_reading(path: str) -> int | None:
    """A child of this process that is tshark reading `path` (from /proc), or None."""
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # argv[1] while a wrapper script (`sh WRAPPER ...`) has not exec'd tshark yet.
            if any(arg.endswith(b"tshark") for arg in argv[:2]) and path.encode() in argv:
                return int(pid)
    return None


@needs_tshark
def test_tshark_reaped_by_another_waitpid_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another part of the process reaps tshark first (a thread's waitpid), as happened
    under pytest-xdist: asyncio's child watcher then finds no child and pyshark reports
    exit status 255. The read is done again and gives the full result. pyshark runs the
    first tshark found on PATH: a wrapper that, on its first run reading the capture,
    writes its process id to a FIFO before it execs the real tshark, so the thread is
    waiting on that process before tshark can end (it used to look for tshark in /proc
    every 0.5 ms while the wrapper slept a second: a fast tshark was reaped by asyncio
    first, and the test failed 3 runs in 8 with "the thread reaped no tshark")."""
    import os
    import threading

    from flowcheck.ndmp.crosscheck import read_tshark_messages

    path = str(NDMJOB / "v4-backup.pcap")
    expected = stored_run(NDMJOB / "v4-backup.pcap").theirs  # before the wrapper
    assert expected > 20
    real = shutil.which("tshark")
    assert real is not None
    slow = tmp_path / "bin" / "tshark"
    slow.parent.mkdir()
    told, first = tmp_path / "tshark-pid", tmp_path / "first-run-told"
    os.mkfifo(told)
    first.mkdir()  # each attempt removes it: its first run reading the capture tells
    # Only the first run of an attempt tells (it makes `first` again): the read done
    # again must not block on a FIFO nobody reads any more. `exec` keeps the process id.
    slow.write_text(f'#!/bin/sh\ncase " $* " in *" {path} "*)\n'
                    f'  if mkdir "{first}" 2>/dev/null; then echo $$ > "{told}"; fi ;;\n'
                    f'esac\nexec {real} "$@"\n')
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow.parent}{os.pathsep}{os.environ['PATH']}")
    reaped: list[int] = []

    def reap_the_first_tshark() -> None:
        with told.open() as fifo:  # blocks until the wrapper writes
            pid = int(fifo.read())
        try:
            os.waitpid(pid, 0)  # asyncio's watcher thread waits on it too
        except ChildProcessError:
            return  # the watcher won this time: no steal to recover from
        reaped.append(pid)

    # Both threads wait on the exiting tshark; whichever the kernel wakes first reaps
    # it, so the steal is tried until it happens (under load the watcher won once).
    for _ in range(6):
        first.rmdir()
        reaper = threading.Thread(target=reap_the_first_tshark, daemon=True)
        reaper.start()
        messages = read_tshark_messages(path)
        reaper.join(timeout=30)
        assert not reaper.is_alive(), "the wrapper never told tshark's process id"
        assert len(messages) == expected
        if reaped:
            break
    assert reaped, "the thread reaped no tshark"


def test_the_table_says_which_side_did_not_decode_a_message() -> None:
    """The table's cell for the side that lacks a message reads `not decoded` (it was
    Python's "None", trial 16 D10); the JSON keeps null (docs/json.md)."""
    from rich.console import Console

    from flowcheck.report.ndmp import render_crosscheck

    streams, connections, theirs = _fixture()
    extra = TsharkMessage(**{**{f: getattr(theirs, f) for f in theirs.__slots__},
                             "sequence": 9})
    result = compare_messages("x", streams, connections, [theirs, extra])
    console = Console(record=True, width=200)
    render_crosscheck(result, console)
    text = console.export_text()
    assert "None" not in text
    [row] = [line for line in text.splitlines() if " 0xA01 " in line]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[6:8] == ["not decoded", "decoded"], row
    assert result.as_dict()["differences"][0]["ours"] is None


def test_a_path_with_brackets_is_printed_as_it_is(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """rich reads `[/]` in the capture's path as a closing tag: MarkupError, exit 4."""
    from flowcheck.cli.main import run

    folder = tmp_path / "[" / "]night"  # the path reads `.../[/]night/...`
    folder.mkdir(parents=True)
    shutil.copy(NDMJOB / "v4-backup.pcap", folder / "v4-backup.pcap")
    assert run(["crosscheck", str(folder / "v4-backup.pcap")]) == 0
    assert f"{folder / 'v4-backup.pcap'}: flowcheck" in capsys.readouterr().out


def _crosschecked_whole(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`flowcheck crosscheck CAPTURE --format json` in this process exits 0, and its
    result: every message of both decoders matched (more than 20), no difference, no
    tshark gap. One crosscheck (a tshark read of the whole capture) for the exit code and
    the result: the test's run() would read it again to the same result."""
    import json

    from flowcheck.cli.main import run as run_cli

    assert run_cli(["crosscheck", str(capture), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)["crosscheck"]
    assert result["differences"] == [] and result["tshark_gaps"] == []
    assert result["ours"] == result["theirs"] == result["matched"] > 20


def _as_ipv6(source: Path, target: Path) -> None:
    """`source` with every IPv4 packet carried over IPv6 (fd00::<last octet>), the TCP
    segments unchanged but their checksum (the IPv6 pseudo-header's): NDMP's control
    connection over IPv6, as a dual-stack agent whose name has an AAAA record is reached
    (trial 19, v6-dualstack.pcap). Records edited with struct (scapy's rdpcap and wrpcap
    took 2 s): the bytes scapy wrote for v4-backup.pcap."""
    def address(ipv4: bytes) -> bytes:
        return socket.inet_pton(socket.AF_INET6, f"fd00::{ipv4[3]}")

    linktype, records = read_records(source)
    moved = []
    for record in records:
        frame = record.data
        if frame[12:14] == b"\x08\x00":  # IPv4: TCP, whole (asserted), as in v4-backup
            ihl, total = (frame[14] & 0x0F) * 4, struct.unpack_from("!H", frame, 16)[0]
            assert frame[23] == 6 and len(frame) >= 14 + total, record
            segment = bytearray(frame[14 + ihl:14 + total])
            src, dst = address(frame[26:30]), address(frame[30:34])
            segment[16:18] = b"\0\0"
            pseudo = src + dst + struct.pack("!IxxxB", len(segment), 6)
            segment[16:18] = struct.pack("!H", internet_checksum(pseudo + bytes(segment)))
            header = struct.pack("!IHBB", 6 << 28, len(segment), 6, frame[22]) + src + dst
            frame = frame[:12] + b"\x86\xdd" + header + bytes(segment)
            record = replace(record, data=frame, wirelen=len(frame))
        moved.append(record)
    write_records(target, linktype, moved)


@needs_tshark
def test_ndmp_over_ipv6_is_crosschecked(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An IPv6 control connection was exit 3, "tshark could not read it (No attribute
    named ip)": pyshark's packet has an ipv6 layer, not ip (trial 19 D10)."""
    capture = tmp_path / "v4-backup-over-ipv6.pcap"
    _as_ipv6(NDMJOB / "v4-backup.pcap", capture)
    _crosschecked_whole(capture, capsys)


@needs_tshark
def test_a_flowcheck_bug_reading_tshark_packets_is_not_unreadable_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """flowcheck's own reading of tshark's packets failing is a bug (exit 4, contract),
    not "tshark could not read it" (exit 3, input unreadable): trial 19 D10. The tshark
    child and the SIGCHLD handler are still given back."""
    import signal

    from flowcheck.cli.main import run as run_cli
    from flowcheck.ndmp import crosscheck as module

    def broken(packet: object) -> list[TsharkMessage]:
        raise AttributeError("No attribute named ip")

    monkeypatch.setattr(module, "_packet_messages", broken)
    capture = str(NDMJOB / "v4-backup.pcap")
    before = signal.getsignal(signal.SIGCHLD)
    with pytest.raises(AttributeError, match="No attribute named ip"):
        module.read_tshark_messages(capture)
    assert signal.getsignal(signal.SIGCHLD) == before
    assert _tshark_reading(capture) is None
    assert run_cli(["crosscheck", capture]) == 4


@pytest.mark.parametrize("given", [["{ring}"]])
def test_a_capture_set_is_refused_with_the_way_to_merge_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], given: list[str]) -> None:
    """docs/cli.md says crosscheck takes one file, and a directory gets one line saying
    how to merge a ring (trial 18 D11: the docs' CAPTURE said a directory was one).
    Several files are a usage error under `Usage: ... CAPTURE`, the help saying how to
    merge them (test_cli_help). Standard input has its own line
    (test_cli_trial_messages: it cannot be read twice)."""
    from flowcheck.cli.main import run

    ring = tmp_path / "ring"
    ring.mkdir()
    for name in ("one", "two"):
        shutil.copy(NDMJOB / "v4-backup.pcap", ring / f"{name}.pcap")
    paths = {"ring": ring, "one": ring / "one.pcap", "two": ring / "two.pcap"}
    assert run(["crosscheck", *[arg.format(**paths) for arg in given]]) == 2
    error = capsys.readouterr().err
    assert "crosscheck takes one capture file" in error and "mergecap -w" in error
    assert "`crosscheck` alone takes one capture file" in (
        Path(__file__).parent.parent / "docs" / "cli.md").read_text()


def _in_vxlan(source: Path, target: Path, port: int) -> None:
    """`source` with every frame carried in VXLAN on UDP `port` between two VTEPs
    (10.9.0.1 to 10.9.0.2, VNI 42). Records edited with struct (scapy's rdpcap and
    wrpcap took 4.6 s): the bytes scapy wrote for v4-backup.pcap but the outer MAC
    addresses, which scapy took from the host's routes."""
    linktype, records = read_records(source)
    assert linktype == 1, source  # Ethernet frames inside
    wrapped = []
    for record in records:
        # scapy's VXLAN header, as the test wrote it: flags I and next protocol (0x0C),
        # next protocol 3 (Ethernet), VNI 42.
        vxlan = struct.pack("!II", 0x0C << 24 | 3, 42 << 8) + record.data
        udp = struct.pack("!HHHH", 50000, port, 8 + len(vxlan), 0) + vxlan
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                                   bytes((10, 9, 0, 1)), bytes((10, 9, 0, 2))))
        ip[10:12] = struct.pack("!H", internet_checksum(bytes(ip)))
        pseudo = bytes(ip[12:20]) + struct.pack("!xBH", 17, len(udp))
        udp = udp[:6] + struct.pack("!H", internet_checksum(pseudo + udp) or 0xFFFF) + udp[8:]
        frame = _VTEP_MACS + b"\x08\x00" + bytes(ip) + udp
        wrapped.append(replace(record, data=frame, wirelen=len(frame)))
    write_records(target, linktype, wrapped)


@needs_tshark
def test_vxlan_on_linux_port_is_crosschecked(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """VXLAN on UDP 8472 (Linux's default, which flowcheck decodes): tshark, not told
    the port, decoded nothing and every message was a difference, exit 1 (trial 22 D7)."""
    capture = tmp_path / "v4-backup-vxlan8472.pcap"
    _in_vxlan(NDMJOB / "v4-backup.pcap", capture, 8472)
    _crosschecked_whole(capture, capsys)


def test_tshark_not_installed_is_said_as_a_missing_tool(tmp_path: Path) -> None:
    """Without tshark on PATH the file is not blamed (it was "tshark could not read it
    (TShark not found. Try adding its location to the configuration file...)"): one line
    naming the tool and how to install it, exit 3 as `live` without a sniffer."""
    import os
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    capture = CAPTURES / "lab" / "clean-3-resources.pcap"
    done = subprocess.run([sys.executable, "-m", "flowcheck", "crosscheck", str(capture)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PATH": str(bin_dir)})
    assert done.returncode == 3, done.stderr
    assert done.stderr == ("flowcheck: error: crosscheck needs tshark (Wireshark's "
                           "command-line reader; Debian and Ubuntu: apt-get install "
                           "tshark), which is not installed or not on PATH\n")

"""The reports on a narrow terminal: addresses, ports and NDMP message names whole.

Each command runs for real on a pseudo-terminal COLUMNS wide (what an admin's 80-column
terminal gets: rich's width from COLUMNS, a progress-free stderr; at 60 columns in this
process, its standard output a terminal: on_terminal), on a stored IPv4 capture and on
an IPv6 copy of it with long addresses. rich's own fitting cut every cell
with "…": the connections table showed "10.…" for every address.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import pty
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from capture_factory import read_pcap, write_pcap
from cli_json import run_json

from flowcheck.model import endpoint

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
IPV4 = CAPTURES / "ndmjob" / "v4-three-resources.pcap"
DROPPED = CAPTURES / "lab" / "data-port-dropped"
# Long, as SLAAC gives them; "100" makes ":100:", rich's emoji code for 💯.
IPV6 = {"10.77.0.1": "2001:db8:77:100:a00:27ff:fe4e:1",
        "10.77.0.2": "2001:db8:77:100:a00:27ff:fe4e:2"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def ipv6_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IPV4 with every IPv4 header replaced by an IPv6 one (the TCP segments as they
    were: flowcheck needs no checksums; the NDMP bodies still announce IPv4). The bytes
    scapy wrote (`Ether(src, dst) / IPv6(src, dst, hlim=ttl) / ip[TCP]`, wrpcap), written
    with struct: scapy dissected and rebuilt the 6.6 MB capture's packets in 8-17 s."""
    frames = []
    for ts, frame in read_pcap(IPV4):
        # Ethernet (no VLAN tag) / IPv4 / TCP, as the ndmjob lab captures every frame.
        assert frame[12:14] == b"\x08\x00" and frame[23] == socket.IPPROTO_TCP
        header_length = (frame[14] & 0x0F) * 4
        total_length, ttl = struct.unpack_from(">H", frame, 16)[0], frame[22]
        segment = frame[14 + header_length:14 + total_length]
        src, dst = (socket.inet_pton(socket.AF_INET6, IPV6[socket.inet_ntoa(frame[at:at + 4])])
                    for at in (26, 30))
        ipv6 = struct.pack(">IHBB", 6 << 28, len(segment), socket.IPPROTO_TCP, ttl) + src + dst
        # Ethernet's padding of a short frame, if any, stays at the frame's end (as scapy
        # kept it, after the packet).
        frames.append((ts, frame[:12] + b"\x86\xdd" + ipv6 + segment + frame[14 + total_length:]))
    path = tmp_path_factory.mktemp("ipv6") / "v6-three-resources.pcap"
    return write_pcap(path, frames, snaplen=65535)  # scapy's wrpcap header


def on_terminal(arguments: list[str], columns: int) -> str:
    """What `flowcheck ARGUMENTS` shows on a terminal `columns` wide, without colours: 80
    columns in a real process on a pseudo-terminal (the command finds its terminal and
    COLUMNS as an admin's shell gives them), 60 in this process (in_process_terminal:
    the same report, the interpreter's start saved)."""
    if columns == 80:
        parent, child = pty.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "flowcheck", *arguments], stdout=child,
                stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": str(columns)})
        finally:
            os.close(child)
        chunks = []
        try:
            while True:
                try:
                    chunk = os.read(parent, 65536)
                except OSError:  # EIO: the terminal's last writer has gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(parent)
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 1), err
        shown = b"".join(chunks).decode()
    else:
        shown = in_process_terminal(arguments, columns)
    text = ANSI.sub("", shown).replace("\r\n", "\n")
    assert all(len(line) <= columns for line in text.splitlines()), text
    assert "…" not in text, text
    return text


class _Terminal(io.StringIO):
    """Standard output that is a terminal to whoever asks (isatty), as a pseudo-terminal
    is: make_console then sizes the report from COLUMNS, as rich does on a terminal."""

    def isatty(self) -> bool:
        return True


def in_process_terminal(arguments: list[str], columns: int) -> str:
    """`flowcheck ARGUMENTS` run in this process (flowcheck.cli.main.run) with standard
    output a terminal `columns` wide (COLUMNS set for the run): what the command prints.
    The 60-column cases: each command's 80-column case runs as a real process on a
    pseudo-terminal (a process each was 0.3-0.4 CPU-s of start-up; the same text either
    way, compared once on every case of this file)."""
    from flowcheck.cli.main import run

    shown = _Terminal()
    kept = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        with contextlib.redirect_stdout(shown):
            code = run(list(arguments))
    finally:
        if kept is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = kept
    assert code in (0, 1), code
    return shown.getvalue()


@functools.cache
def _json_output(arguments: tuple[str, ...]) -> str:
    return json.dumps(run_json(*arguments, "--format", "json"))


def json_of(arguments: list[str]) -> dict:
    """`flowcheck ARGUMENTS --format json`, parsed, run in this process (the document is
    what is read; the terminal runs are real processes). Run once per command line in a
    worker: the 80- and 60-column cases of a test ask for the same document (same
    command, same capture), the terminal run they compare it with is each case's own."""
    return json.loads(_json_output(tuple(arguments)))


def _missing(expected: set[str], text: str) -> set[str]:
    return {item for item in expected if item not in text}


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_connections_keep_every_address_and_port(columns: int, family: str,
                                                 ipv6_capture: Path) -> None:
    capture = str(IPV4 if family == "ipv4" else ipv6_capture)
    document = json_of(["connections", capture])
    expected = {endpoint(c[h], c[p]) for c in document["connections"]
                for h, p in (("orig_h", "orig_p"), ("resp_h", "resp_p"))}
    assert len(expected) >= 7
    text = on_terminal(["connections", capture], columns)
    assert _missing(expected, text) == set(), text
    assert all(f"│ {c['uid']} " in text for c in document["connections"]), text
    assert "(not shown: frames" in text  # and says what it left out


@pytest.mark.parametrize("columns", [80, 60])
def test_ndmp_keeps_message_names_and_announced_endpoints(columns: int) -> None:
    document = json_of(["ndmp", str(IPV4)])
    names = {m["name"] for stream in document["ndmp"] for m in stream["messages"]}
    addresses = {endpoint(a["ip"], a["port"]) for stream in document["ndmp"]
                 for m in stream["messages"] for a in m["addresses"]}
    assert len(names) >= 8 and addresses
    text = on_terminal(["ndmp", str(IPV4)], columns)
    assert _missing(names | addresses, text) == set(), text


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_analyze_keeps_the_endpoints_of_every_step(columns: int, family: str,
                                                   ipv6_capture: Path) -> None:
    arguments = (["--config", f"{DROPPED}.toml", f"{DROPPED}.pcap"] if family == "ipv4"
                 else ["--profile", "ndmp", str(ipv6_capture)])
    document = json_of(["analyze", *arguments])
    by_uid = {c["uid"]: c for c in document["connections"]}
    expected = {endpoint(by_uid[uid][h], by_uid[uid][p])
                for session in document["sessions"] for step in session["steps"]
                for uid in step["uids"][:3]
                for h, p in (("orig_h", "orig_p"), ("resp_h", "resp_p"))}
    hosts = {session[role] for session in document["sessions"]
             for role in ("media_server", "remote_agent")}
    assert len(expected) >= 4
    text = on_terminal(["analyze", *arguments], columns)
    assert _missing(expected | hosts, text) == set(), text

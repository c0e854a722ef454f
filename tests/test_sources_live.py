"""Live capture with the real tcpdump on the loopback interface (CI runs as root)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from flowcheck.errors import InputError, UsageError
from flowcheck.sources import iter_batches
from flowcheck.sources.live import open_live

Packet = tuple[int, int, int, bytes]  # sport, dport, TCP flags, payload

pytestmark = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs tcpdump and root")


def listening_on_loopback() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (an ephemeral port)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server


def exchange_on_loopback(server: socket.socket, message: bytes) -> int:
    """Connect to the listening socket, send, close; returns its port."""
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as client:
        accepted, _ = server.accept()
        with accepted:
            client.sendall(message)
            assert accepted.recv(len(message)) == message
    return port


def tcp_ports_and_payloads(inputs: list, until: Callable[[list], bool] | None = None,
                           then: Callable[[], object] | None = None,
                           ) -> tuple[list[Packet], object]:
    """(sport, dport, flags, payload) of each IPv4 TCP packet on Ethernet, decoded minimally.

    Once until(found) holds, then() is called once (e.g. stop the capture); reading goes
    on to the end of the input either way.
    """
    reader = iter_batches(inputs, chunk_size=4096)
    found: list[Packet] = []
    for batch in reader:
        view = bytes(batch.buf)
        for n in range(len(batch)):
            start, length = int(batch.data_off[n]), int(batch.caplen[n])
            frame = view[start:start + length]
            if batch.linktype[n] != 1 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
                continue
            ip_len = (frame[14] & 0x0F) * 4
            tcp = frame[14 + ip_len:]
            sport, dport = struct.unpack(">HH", tcp[:4])
            found.append((sport, dport, tcp[13], tcp[(tcp[12] >> 4) * 4:]))
        if until is not None and then is not None and until(found):
            then()
            then = None
    if until is not None and then is not None:
        then()
    return found, reader


def test_live_capture_on_loopback_sees_the_connection(tmp_path: Path) -> None:
    saved = tmp_path / "live.pcap"
    server = listening_on_loopback()
    # Its own port only: other tests' loopback traffic (64 KiB frames) kept the sniffer
    # writing after the FINs, and a SIGTERM that interrupts tcpdump's blocked write into
    # the pipe ends its output mid-record (the copy read as truncated).
    capture = open_live("lo", capture_filter=f"tcp port {server.getsockname()[1]}",
                        write=str(saved))
    # A safety net only: the test stops the capture itself once it has seen the exchange.
    watchdog = threading.Timer(30.0, capture.terminate)
    watchdog.start()
    try:
        with server:
            port = exchange_on_loopback(server, b"flowcheck live test")

        def both_fins_seen(found: list[Packet]) -> bool:
            fin_senders = {sport for sport, dport, flags, _p in found
                           if flags & 0x01 and port in (sport, dport)}
            return len(fin_senders) == 2

        # terminate, not stop: stop waits for the sniffer to exit while nothing reads its
        # pipe (a sniffer blocked writing into a full pipe would be killed mid-record).
        packets, reader = tcp_ports_and_payloads([capture.stdout], until=both_fins_seen,
                                                 then=capture.terminate)
    finally:
        watchdog.cancel()
        capture.close()
    to_server = [p for p in packets if p[1] == port]
    assert to_server[0][2] == 0x02  # the SYN comes first: capture started before it
    assert any(payload == b"flowcheck live test" for _s, _d, _f, payload in to_server)
    assert any(sport == port and flags == 0x12 for sport, _d, flags, _p in packets)
    assert reader.captures[0].format == "pcap"
    # The copy written alongside is a complete capture file with the same packets.
    copied, copy_reader = tcp_ports_and_payloads([str(saved)])
    assert copied == packets and not copy_reader.captures[0].truncated


def test_missing_interface_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        open_live("flowcheck-nosuch0")
    assert "flowcheck-nosuch0" in str(caught.value) and "no such" in str(caught.value)


def test_bad_filter_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        open_live("lo", capture_filter="tcp and and port")
    assert "filter" in str(caught.value)


def test_interface_name_cannot_be_an_option() -> None:
    with pytest.raises(UsageError):
        open_live("-w/tmp/x")


@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_the_capture_says_the_filter_its_sniffer_applies(sniffer: str) -> None:
    """The filter no_control_session names is the one applied: the default with the
    tunnel ports asked for, none when "" was given."""
    capture = open_live("lo", sniffer=sniffer, tunnel_ports=(9999,))
    try:
        applied = capture.capture_filter
    finally:
        capture.close()
    assert applied is not None and "9999" in applied and "tcp" in applied
    capture = open_live("lo", sniffer=sniffer, capture_filter="")
    try:
        assert capture.capture_filter is None
    finally:
        capture.close()


def test_scapy_without_libpcap_says_it_applies_no_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scapy needs libpcap to compile a filter: without it the default is left out, and
    the report must not name a filter that was never applied."""
    from flowcheck.sources import scapy_live

    monkeypatch.setattr(scapy_live, "can_compile", lambda: False)
    capture = open_live("lo", sniffer="scapy")
    try:
        assert capture.capture_filter is None
    finally:
        capture.close()


@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_the_drop_count_is_known_once_a_stop_from_another_thread_ends_the_pipe(
        sniffer: str, tmp_path: Path) -> None:
    """CI at ac07c19: live's Ctrl-C stops the sniffer from a thread of its own; the main
    thread reads the pipe to its end, then asks the drop count. Scapy's stop ended the
    pipe before it read the socket's count, and a second caller got None (kernel_dropped
    null in the report) when it asked in between."""
    for attempt in range(12):
        # --write: closing it is what kept the stopping thread busy in between.
        capture = open_live("lo", sniffer=sniffer, write=str(tmp_path / f"{attempt}.pcap"))
        stopper = threading.Thread(target=capture.terminate)
        try:
            stopper.start()
            while capture.stdout.read(1 << 16):
                pass
            assert capture.kernel_drops() is not None, attempt
        finally:
            stopper.join()
            capture.close()

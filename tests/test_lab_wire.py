"""The lab's NDMP v4 encoder against ndmp4.x's layouts, and Wireshark on a stored capture.

Expected bytes are written out from the XDR definitions (ndmp4.x in Amanda's ndmp-src),
not from the encoder's output.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.lab import ndmp_wire as wire

CLEAN = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources.pcap"


def words(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def test_codes_match_ndmp4_x() -> None:
    assert (wire.DATA_LISTEN, wire.DATA_CONNECT, wire.MOVER_CONNECT) == (0x409, 0x40A, 0xA09)
    assert (wire.CONNECT_OPEN, wire.CONNECT_CLIENT_AUTH, wire.CONNECT_CLOSE) == (
        0x900, 0x901, 0x902)
    assert (wire.NOTIFY_DATA_HALTED, wire.NOTIFY_CONNECTION_STATUS) == (0x501, 0x502)
    assert wire.DATA_START_BACKUP == 0x401 and wire.DATA_STOP == 0x407
    assert 0xF000 <= wire.VENDOR_JOB_ENGINE_ADDRESS <= 0xFFFF


def test_record_mark_and_header() -> None:
    record = wire.encode_message(7, 1_100_000_000, wire.MESSAGE_REPLY, wire.DATA_LISTEN,
                                 reply_sequence=6, error=wire.NO_ERR, body=b"\0\0\0\0")
    assert record[:4] == words(0x80000000 | 28)  # last fragment, 24-byte header + body
    assert record[4:28] == words(7, 1_100_000_000, 1, 0x409, 6, 0)
    assert len(record) == 32


def test_data_listen_reply_is_error_then_tcp_address_list() -> None:
    body = wire.data_listen_reply([("10.77.0.2", 6001)])
    # error, addr_type TCP, tcp_addr<> count 1, ip_addr, port (u_short widened), addr_env<> 0
    assert body == words(0, 1, 1, 0x0A4D0002, 6001, 0)


def test_strings_are_length_prefixed_and_padded() -> None:
    body = wire.connect_client_auth_text_request("ab", "cdefg")
    assert body == words(1, 2) + b"ab\0\0" + words(5) + b"cdefg\0\0\0"


def test_notify_connection_status_and_halted_bodies() -> None:
    assert wire.notify_connection_status_post(4, "") == words(0, 4, 0)
    assert wire.notify_data_halted_post(wire.DATA_HALT_SUCCESSFUL) == words(1)


def test_start_backup_is_butype_then_env() -> None:
    body = wire.data_start_backup_request("dump", [("A", "b")])
    assert body == words(4) + b"dump" + words(1, 1) + b"A\0\0\0" + words(1) + b"b\0\0\0"


@pytest.mark.skipif(not CLEAN.exists(), reason="stored lab capture missing")
def test_wireshark_dissects_every_standard_message_of_the_stored_capture() -> None:
    rows = tshark_fork.fields(CLEAN, "ndmp", "ndmp.msg", "_ws.malformed", "_ws.expert.severity",
                              options=("-E", "occurrence=a"))
    codes = [int(code, 0) for row in rows for code in row[0].split(",") if code]
    assert not any(row[1] for row in rows)  # nothing malformed
    # 3 resources: 3 DATA_LISTEN requests and 3 replies, 3 NOTIFY_DATA_HALTED posts.
    assert codes.count(0x409) == 6
    assert codes.count(0x501) == 3
    assert codes[0] == 0x502  # the agent speaks first

"""NDMP v4 wire encoding for the lab's Backup Exec imitation (encoding only).

Codes and body layouts follow Amanda's ndmp-src/ndmp4.x (draft-skardal-ndmpv4):
ONC RPC record marking (4-byte mark, high bit = last fragment), a 24-byte header
(sequence, time_stamp, message_type, message_code, reply_sequence, error_code), XDR
bodies (big-endian 4-byte units, u_short widened to 4 bytes, strings and opaques padded
to 4). The decoder proper lives in flowcheck.ndmp; the lab only encodes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence

# Framing and header constants are the decoder's own (re-exported for the lab's peers).
from flowcheck.ndmp.protocol import (
    ADDR_TCP,
    HEADER,
    LAST_FRAGMENT,
    MESSAGE_REQUEST,
    RECORD_MARK,
)
from flowcheck.ndmp.protocol import MESSAGE_REPLY as MESSAGE_REPLY

MESSAGE_POST = MESSAGE_REQUEST  # ndmp4.x: NDMP4_MESSAGE_POST = NDMP4_MESSAGE_REQUEST

# ndmp4_message (the codes the lab sends).
CONFIG_GET_HOST_INFO = 0x100
CONFIG_GET_FS_INFO = 0x105
CONFIG_GET_SERVER_INFO = 0x108
DATA_START_BACKUP = 0x401
DATA_START_RECOVER = 0x402
DATA_ABORT = 0x403
DATA_STOP = 0x407
DATA_LISTEN = 0x409
DATA_CONNECT = 0x40A
NOTIFY_DATA_HALTED = 0x501
NOTIFY_CONNECTION_STATUS = 0x502  # NOTIFY_CONNECTED in v2/v3
LOG_MESSAGE = 0x603
CONNECT_OPEN = 0x900
CONNECT_CLIENT_AUTH = 0x901
CONNECT_CLOSE = 0x902
MOVER_CONNECT = 0xA09
# Vendor range (0xF000-0xFFFF in the NDMP spec): the job engine's address for step 2.
# Backup Exec's own message is undocumented; this one is the lab's stand-in.
VENDOR_JOB_ENGINE_ADDRESS = 0xF001

# ndmp4_error
NO_ERR = 0
NOT_SUPPORTED_ERR = 1
ILLEGAL_ARGS_ERR = 9
ILLEGAL_STATE_ERR = 19
CONNECT_ERR = 23

# Enumerations
AUTH_TEXT = 1
CONNECTED = 0  # ndmp4_connection_status_reason
DATA_HALT_SUCCESSFUL = 1
DATA_HALT_ABORTED = 2
DATA_HALT_CONNECT_ERROR = 4
LOG_NORMAL = 0
FS_NT = 1


class XdrWriter:
    """Appends XDR items; every item is a multiple of 4 bytes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u32(self, value: int) -> XdrWriter:
        self._parts.append(struct.pack(">I", value & 0xFFFFFFFF))
        return self

    def u64(self, value: int) -> XdrWriter:
        # ndmp4_u_quad is encoded as two u_longs, high word first.
        return self.u32(value >> 32).u32(value)

    def opaque(self, data: bytes) -> XdrWriter:
        self.u32(len(data))
        self._parts.append(data + b"\0" * (-len(data) % 4))
        return self

    def string(self, text: str) -> XdrWriter:
        return self.opaque(text.encode("utf-8"))

    def pvals(self, pairs: Sequence[tuple[str, str]]) -> XdrWriter:
        self.u32(len(pairs))
        for name, value in pairs:
            self.string(name).string(value)
        return self

    def tcp_addresses(self, addresses: Sequence[tuple[str, int]]) -> XdrWriter:
        """ndmp4_addr with addr_type TCP: a list of {ip_addr, port, addr_env<>}."""
        self.u32(ADDR_TCP).u32(len(addresses))
        for ip, port in addresses:
            self.u32(int(ipaddress.IPv4Address(ip))).u32(port).pvals([])
        return self

    def bytes(self) -> bytes:
        return b"".join(self._parts)


def frame_record(message: bytes) -> bytes:
    """One ONC RPC record in a single, last fragment."""
    return RECORD_MARK.pack(LAST_FRAGMENT | len(message)) + message


def encode_message(sequence: int, time_stamp: int, message_type: int, code: int,
                   reply_sequence: int = 0, error: int = NO_ERR, body: bytes = b"") -> bytes:
    header = HEADER.pack(sequence, time_stamp, message_type, code, reply_sequence, error)
    return frame_record(header + body)


# Bodies. Names follow ndmp4.x: <message>_<request|reply|post>.

def error_reply(error: int = NO_ERR) -> bytes:
    """The many replies whose body is just `ndmp4_error error`."""
    return XdrWriter().u32(error).bytes()


def notify_connection_status_post(version: int = 4, text: str = "") -> bytes:
    return XdrWriter().u32(CONNECTED).u32(version).string(text).bytes()


def connect_open_request(version: int = 4) -> bytes:
    return XdrWriter().u32(version).bytes()


def connect_client_auth_text_request(user: str, password: str) -> bytes:
    return XdrWriter().u32(AUTH_TEXT).string(user).string(password).bytes()


def config_get_host_info_reply(hostname: str, os_type: str, os_vers: str, hostid: str) -> bytes:
    return (XdrWriter().u32(NO_ERR).string(hostname).string(os_type).string(os_vers)
            .string(hostid).bytes())


def config_get_server_info_reply(vendor: str, product: str, revision: str) -> bytes:
    writer = XdrWriter().u32(NO_ERR).string(vendor).string(product).string(revision)
    return writer.u32(1).u32(AUTH_TEXT).bytes()  # auth_type<>: text only


def config_get_fs_info_reply(filesystems: Iterable[tuple[str, int, int]]) -> bytes:
    """fs_info<> of (logical device, total bytes, used bytes), NTFS volumes."""
    items = list(filesystems)
    writer = XdrWriter().u32(NO_ERR).u32(len(items))
    for device, total, used in items:
        writer.u32(0x18)  # unsupported: total/used inodes
        writer.string("NTFS").string(device).string(device)
        writer.u64(total).u64(used).u64(total - used).u64(0).u64(0)
        writer.pvals([("TYPE", "NTFS")]).string("online")
    return writer.bytes()


def vendor_job_engine_request(ip: str, port: int) -> bytes:
    return XdrWriter().u32(int(ipaddress.IPv4Address(ip))).u32(port).bytes()


def data_listen_request(addr_type: int = ADDR_TCP) -> bytes:
    return XdrWriter().u32(addr_type).bytes()


def data_listen_reply(addresses: Sequence[tuple[str, int]], error: int = NO_ERR) -> bytes:
    return XdrWriter().u32(error).tcp_addresses(addresses).bytes()


def data_connect_request(addresses: Sequence[tuple[str, int]]) -> bytes:
    """ndmp4_data_connect_request: the endpoint the data agent is to connect to."""
    return XdrWriter().tcp_addresses(addresses).bytes()


def mover_connect_request(mode: int, addresses: Sequence[tuple[str, int]]) -> bytes:
    return XdrWriter().u32(mode).tcp_addresses(addresses).bytes()


def data_start_backup_request(butype: str, env: Sequence[tuple[str, str]]) -> bytes:
    return XdrWriter().string(butype).pvals(env).bytes()


def data_start_recover_request(env: Sequence[tuple[str, str]], paths: Sequence[str],
                               butype: str) -> bytes:
    writer = XdrWriter().pvals(env).u32(len(paths))
    for path in paths:
        # ndmp4_name: original_path, destination_path, name, other_name, node, fh_info
        writer.string(path).string(path).string("").string("").u64(0).u64(0)
    return writer.string(butype).bytes()


def notify_data_halted_post(reason: int) -> bytes:
    return XdrWriter().u32(reason).bytes()


def log_message_post(text: str, message_id: int = 0) -> bytes:
    # log_type, message_id, entry, associated_message_valid (no), associated sequence
    return XdrWriter().u32(LOG_NORMAL).u32(message_id).string(text).u32(0).u32(0).bytes()

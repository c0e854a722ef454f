"""NDMP v2/v3/v4 wire constants: header layout, message codes, error and reason names.

Sources: the public NDMP v4 draft (draft-skardal-ndmpv4) and the rpcgen .x files of
Amanda's ndmp-src (ndmp2.x, ndmp3.x, ndmp4.x). Codes are the same in every version
except where a later version renamed or retired one; the name tables say which.
"""

from __future__ import annotations

import struct
from typing import Literal

HEADER = struct.Struct(">IIIIII")  # sequence, time_stamp, type, code, reply_sequence, error
HEADER_SIZE = HEADER.size  # 24
RECORD_MARK = struct.Struct(">I")
LAST_FRAGMENT = 0x80000000
FRAGMENT_LENGTH_MASK = 0x7FFFFFFF
# No real control message comes near this; a longer fragment means we are reading garbage.
MAX_FRAGMENT = 16 * 1024 * 1024

MESSAGE_REQUEST = 0
MESSAGE_REPLY = 1

KNOWN_VERSIONS = (4, 3, 2)

# Codes shared by every version that knows them (v2's implicit enum values spelled out).
_COMMON: dict[int, str] = {
    0x900: "CONNECT_OPEN",
    0x901: "CONNECT_CLIENT_AUTH",
    0x902: "CONNECT_CLOSE",
    0x903: "CONNECT_SERVER_AUTH",
    0x100: "CONFIG_GET_HOST_INFO",
    0x103: "CONFIG_GET_AUTH_ATTR",
    0x200: "SCSI_OPEN",
    0x201: "SCSI_CLOSE",
    0x202: "SCSI_GET_STATE",
    0x204: "SCSI_RESET_DEVICE",
    0x206: "SCSI_EXECUTE_CDB",
    0x300: "TAPE_OPEN",
    0x301: "TAPE_CLOSE",
    0x302: "TAPE_GET_STATE",
    0x303: "TAPE_MTIO",
    0x304: "TAPE_WRITE",
    0x305: "TAPE_READ",
    0x307: "TAPE_EXECUTE_CDB",
    0x400: "DATA_GET_STATE",
    0x401: "DATA_START_BACKUP",
    0x402: "DATA_START_RECOVER",
    0x403: "DATA_ABORT",
    0x404: "DATA_GET_ENV",
    0x407: "DATA_STOP",
    0x40B: "DATA_START_RECOVER_FILEHIST",
    0x501: "NOTIFY_DATA_HALTED",
    0x502: "NOTIFY_CONNECTED",  # v4 calls it NOTIFY_CONNECTION_STATUS; same body
    0x503: "NOTIFY_MOVER_HALTED",
    0x504: "NOTIFY_MOVER_PAUSED",
    0x505: "NOTIFY_DATA_READ",
    0x602: "LOG_FILE",
    0xA00: "MOVER_GET_STATE",
    0xA01: "MOVER_LISTEN",
    0xA02: "MOVER_CONTINUE",
    0xA03: "MOVER_ABORT",
    0xA04: "MOVER_STOP",
    0xA05: "MOVER_SET_WINDOW",
    0xA06: "MOVER_READ",
    0xA07: "MOVER_CLOSE",
    0xA08: "MOVER_SET_RECORD_SIZE",
}

_V2_ONLY: dict[int, str] = {
    0x101: "CONFIG_GET_BUTYPE_ATTR",
    0x102: "CONFIG_GET_MOVER_TYPE",
    0x203: "SCSI_SET_TARGET",
    0x205: "SCSI_RESET_BUS",
    0x306: "TAPE_RESVD1",
    0x405: "DATA_RESVD1",
    0x406: "DATA_RESVD2",
    0x500: "NOTIFY_RESVD1",
    0x600: "LOG_LOG",
    0x601: "LOG_DEBUG",
    0x700: "FH_ADD_UNIX_PATH",
    0x701: "FH_ADD_UNIX_DIR",
    0x702: "FH_ADD_UNIX_NODE",
}

_V3_V4: dict[int, str] = {
    0x102: "CONFIG_GET_CONNECTION_TYPE",
    0x104: "CONFIG_GET_BUTYPE_INFO",
    0x105: "CONFIG_GET_FS_INFO",
    0x106: "CONFIG_GET_TAPE_INFO",
    0x107: "CONFIG_GET_SCSI_INFO",
    0x108: "CONFIG_GET_SERVER_INFO",
    0x409: "DATA_LISTEN",
    0x40A: "DATA_CONNECT",
    0x603: "LOG_MESSAGE",
    0x703: "FH_ADD_FILE",
    0x704: "FH_ADD_DIR",
    0x705: "FH_ADD_NODE",
    0xA09: "MOVER_CONNECT",
}

_V3_ONLY: dict[int, str] = {0x203: "SCSI_SET_TARGET", 0x205: "SCSI_RESET_BUS"}
_V4_ONLY: dict[int, str] = {0x109: "CONFIG_SET_EXT_LIST", 0x10A: "CONFIG_GET_EXT_LIST"}

MESSAGE_NAMES: dict[int, dict[int, str]] = {
    2: {**_COMMON, **_V2_ONLY},
    3: {**_COMMON, **_V3_V4, **_V3_ONLY},
    4: {**_COMMON, **_V3_V4, **_V4_ONLY},
}
# Version unknown: the union, later versions winning where a code was renamed (0x102).
ANY_VERSION_NAMES: dict[int, str] = {**MESSAGE_NAMES[2], **MESSAGE_NAMES[3], **MESSAGE_NAMES[4]}

# Codes that carry no reply: notifications, logs and file history ("posts").
POST_PREFIXES = ("NOTIFY_", "LOG_", "FH_")

VENDOR_BASE = 0xF000  # v3: 0xf000-0xfeff vendor, 0xff00-0xffff prototyping
V4_EXT_STANDARD_BASE = 0x10000
V4_EXT_PROPRIETARY_BASE = 0x20000000

ERROR_NAMES: list[str] = [
    "NDMP_NO_ERR",
    "NDMP_NOT_SUPPORTED_ERR",
    "NDMP_DEVICE_BUSY_ERR",
    "NDMP_DEVICE_OPENED_ERR",
    "NDMP_NOT_AUTHORIZED_ERR",
    "NDMP_PERMISSION_ERR",
    "NDMP_DEV_NOT_OPEN_ERR",
    "NDMP_IO_ERR",
    "NDMP_TIMEOUT_ERR",
    "NDMP_ILLEGAL_ARGS_ERR",
    "NDMP_NO_TAPE_LOADED_ERR",
    "NDMP_WRITE_PROTECT_ERR",
    "NDMP_EOF_ERR",
    "NDMP_EOM_ERR",
    "NDMP_FILE_NOT_FOUND_ERR",
    "NDMP_BAD_FILE_ERR",
    "NDMP_NO_DEVICE_ERR",
    "NDMP_NO_BUS_ERR",
    "NDMP_XDR_DECODE_ERR",
    "NDMP_ILLEGAL_STATE_ERR",
    "NDMP_UNDEFINED_ERR",
    "NDMP_XDR_ENCODE_ERR",
    "NDMP_NO_MEM_ERR",
    "NDMP_CONNECT_ERR",  # v3 and later
    "NDMP_SEQUENCE_NUM_ERR",  # v4 from here on
    "NDMP_READ_IN_PROGRESS_ERR",
    "NDMP_PRECONDITION_ERR",
    "NDMP_CLASS_NOT_SUPPORTED",
    "NDMP_VERSION_NOT_SUPPORTED",
    "NDMP_EXT_DUPL_CLASSES",
    "NDMP_EXT_DN_ILLEGAL",
]

ADDR_LOCAL = 0
ADDR_TCP = 1
ADDR_TYPE_NAMES = {0: "LOCAL", 1: "TCP", 2: "FC", 3: "IPC"}  # v4 calls 2 RESERVED
AUTH_TYPE_NAMES = {0: "NONE", 1: "TEXT", 2: "MD5"}
DATA_HALT_REASONS = ["NA", "SUCCESSFUL", "ABORTED", "INTERNAL_ERROR", "CONNECT_ERROR"]
# Mover halt reasons of v2 and v3. v4 adds MEDIA_ERROR (5): a media error halts its mover,
# where v2 and v3 paused it (MOVER_PAUSE_REASONS' MEDIA_ERROR, 4).
MOVER_HALT_REASONS = ["NA", "CONNECT_CLOSED", "ABORTED", "INTERNAL_ERROR", "CONNECT_ERROR"]
MOVER_HALT_REASONS_V4 = [*MOVER_HALT_REASONS, "MEDIA_ERROR"]
MOVER_PAUSE_REASONS = ["NA", "EOM", "EOF", "SEEK", "MEDIA_ERROR", "EOW"]
CONNECT_REASONS = ["CONNECTED", "SHUTDOWN", "REFUSED"]
MOVER_MODES = ["READ", "WRITE", "NOACTION"]  # v2's 2 is DATA
LOG_TYPES = ["NORMAL", "DEBUG", "ERROR", "WARNING"]

MessageType = Literal["request", "reply", "post"]


def is_vendor_code(code: int) -> bool:
    """A vendor, prototyping, extension or otherwise unknown code: shown, not decoded."""
    return not is_known_code(code)


def message_name(code: int, version: int | None) -> str:
    """NDMP_<NAME> for a code, by version when known; vendor and unknown codes say so."""
    names = MESSAGE_NAMES.get(version, ANY_VERSION_NAMES) if version else ANY_VERSION_NAMES
    name = names.get(code) or ANY_VERSION_NAMES.get(code)
    if name is not None:
        return "NDMP_" + name
    if code >= V4_EXT_PROPRIETARY_BASE:
        return f"NDMP_EXT_PROPRIETARY_0x{code:X}"
    if code >= V4_EXT_STANDARD_BASE:
        return f"NDMP_EXT_STANDARD_0x{code:X}"
    if code >= 0xFF00:
        return f"NDMP_RESERVED_0x{code:04X}"
    if code >= VENDOR_BASE:
        return f"NDMP_VENDOR_0x{code:04X}"
    return f"NDMP_UNKNOWN_0x{code:X}"


def is_known_code(code: int) -> bool:
    return code in ANY_VERSION_NAMES


def is_post(code: int) -> bool:
    name = ANY_VERSION_NAMES.get(code, "")
    return name.startswith(POST_PREFIXES)


def message_type(raw_type: int, code: int) -> MessageType:
    if raw_type == MESSAGE_REPLY:
        return "reply"
    return "post" if is_post(code) else "request"


def error_name(error: int) -> str:
    if 0 <= error < len(ERROR_NAMES):
        return ERROR_NAMES[error]
    return f"NDMP_ERROR_{error}"


# The shortest body that can name one TCP endpoint, by version: a reply leads with its
# error (4 bytes); v2/v3 addresses are type, IPv4 address and port (12 bytes); v4's are a
# type, a count and one address with its (empty) environment list (20 bytes). ndmp2.x,
# ndmp3.x, ndmp4.x: ndmp_mover_addr / ndmp_addr.
_TCP_ADDRESS_BODY = {2: 12, 3: 12, 4: 20}


def can_hold_tcp_address(body_len: int, is_reply: bool, version: int | None) -> bool:
    """Can a LISTEN reply or CONNECT / v2 DATA_START_* request whose body is `body_len`
    bytes on the wire (the record mark's length, when the snap length cut the body) name
    a TCP endpoint? False means it carries none: a LOCAL address, or an error reply.
    An unknown version takes the shortest layout."""
    shortest = _TCP_ADDRESS_BODY.get(version or 0, min(_TCP_ADDRESS_BODY.values()))
    return body_len >= shortest + (4 if is_reply else 0)


def mover_halt_reasons(version: int) -> list[str]:
    """ndmp_mover_halt_reason's names, indexed by value, for a protocol version (2-4)."""
    return MOVER_HALT_REASONS_V4 if version >= 4 else MOVER_HALT_REASONS


def enum_name(names: list[str], value: int) -> str:
    return names[value] if 0 <= value < len(names) else f"UNKNOWN_{value}"


def _plausible_extension(code: int) -> bool:
    return (VENDOR_BASE <= code <= 0xFFFF
            or V4_EXT_STANDARD_BASE <= code < 2 * V4_EXT_STANDARD_BASE
            or V4_EXT_PROPRIETARY_BASE <= code < V4_EXT_PROPRIETARY_BASE + 0x10000)


def plausible_header(raw_type: int, code: int, reply_sequence: int, error: int) -> bool:
    """Would a sane peer send this header? Used to resynchronise after a hole."""
    if raw_type not in (MESSAGE_REQUEST, MESSAGE_REPLY):
        return False
    if not (is_known_code(code) or _plausible_extension(code)):
        return False
    if raw_type == MESSAGE_REQUEST and reply_sequence != 0:
        return False
    return error < 0x10000

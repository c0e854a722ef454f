"""NDMP message bodies (XDR) that matter for verification, per protocol version.

`decode_body` turns a body into plain fields, the addresses it carries and the body's
error word. Layouts differ between v2, v3 and v4 (addresses above all), so a body is
decoded with the version known at that point, or, when unknown, with the first of v4,
v3, v2 whose layout fits the body exactly. Passwords and MD5 digests are skipped over,
never kept.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import NdmpAddress
from flowcheck.ndmp.protocol import (
    ADDR_LOCAL,
    ADDR_TCP,
    ADDR_TYPE_NAMES,
    AUTH_TYPE_NAMES,
    CONNECT_REASONS,
    DATA_HALT_REASONS,
    KNOWN_VERSIONS,
    LOG_TYPES,
    MOVER_MODES,
    MOVER_PAUSE_REASONS,
    enum_name,
    mover_halt_reasons,
)
from flowcheck.ndmp.xdr import BadLayout as _BadLayout
from flowcheck.ndmp.xdr import BodyTooShort, Unknowable, XdrReader

_U32 = struct.Struct(">I")


def _ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


@fields_dataclass(slots=True)
class Body:
    """A message body's decoded fields, the addresses it carries and its error word."""

    fields: dict = field(default_factory=dict)
    addresses: list[NdmpAddress] = field(default_factory=list)
    error: int | None = None  # the body's error word, when the layout has one


BodyDecoder = Callable[[XdrReader, int, Body], None]

# -- addresses ---------------------------------------------------------------------


def _address(r: XdrReader, version: int, body: Body) -> None:
    addr_type = r.tag()
    body.fields["addr_type"] = ADDR_TYPE_NAMES.get(addr_type, str(addr_type))
    if addr_type == ADDR_LOCAL:
        return
    if addr_type == ADDR_TCP:
        if version >= 4:
            for _ in range(r.count()):
                # Kept before its env list is read: a snap length may cut the env off.
                address = NdmpAddress(_ip(r.u32()), r.u32() & 0xFFFF)
                body.addresses.append(address)
                address.env.extend((r.string(), r.string()) for _ in range(r.count()))
        else:
            ip, port = _ip(r.u32()), r.u32()
            body.addresses.append(NdmpAddress(ip, port & 0xFFFF))
        return
    if version == 2:
        raise _BadLayout  # v2 knows LOCAL and TCP only
    if addr_type == 2 and version == 3:
        body.fields["fc_loop_id"] = r.u32()
    elif addr_type == 3:
        r.skip_opaque()
    else:  # a vendor's extension (an IPv6 address type?): trial 28 D8
        raise _BadLayout(f"address type {addr_type}, which flowcheck cannot read (NDMP "
                         "defines LOCAL 0, TCP 1, FC 2, IPC 3): its address is unknown")


def _env_names(r: XdrReader) -> list[str]:
    """Environment names only: values may hold credentials."""
    names = []
    for _ in range(r.count()):
        names.append(r.string())
        r.skip_opaque()
    return names


# -- bodies ------------------------------------------------------------------------


def _error_only(r: XdrReader, version: int, body: Body) -> None:
    body.error = r.u32()


def _connect_open_request(r: XdrReader, version: int, body: Body) -> None:
    body.fields["version"] = r.u32() & 0xFFFF


def _notify_connected(r: XdrReader, version: int, body: Body) -> None:
    body.fields["reason"] = enum_name(CONNECT_REASONS, r.u32())
    body.fields["protocol_version"] = r.u32() & 0xFFFF
    body.fields["text"] = r.string()


def _client_auth_request(r: XdrReader, version: int, body: Body) -> None:
    auth_type = r.tag()
    body.fields["auth_type"] = AUTH_TYPE_NAMES.get(auth_type, str(auth_type))
    if auth_type == 1:
        body.fields["user"] = r.string()
        r.skip_opaque()  # the password: never kept
    elif auth_type == 2:
        body.fields["user"] = r.string()
        r.opaque(16)  # the digest: never kept
    elif auth_type != 0:
        raise _BadLayout


def _data_listen_request(r: XdrReader, version: int, body: Body) -> None:
    addr_type = r.u32()
    body.fields["addr_type"] = ADDR_TYPE_NAMES.get(addr_type, str(addr_type))


def _mover_listen_request(r: XdrReader, version: int, body: Body) -> None:
    body.fields["mode"] = enum_name(MOVER_MODES, r.u32())
    _data_listen_request(r, version, body)


def _listen_reply(r: XdrReader, version: int, body: Body) -> None:
    body.error = r.u32()
    _address(r, version, body)


def _connect_request(r: XdrReader, version: int, body: Body) -> None:
    _address(r, version, body)


def _mover_connect_request(r: XdrReader, version: int, body: Body) -> None:
    body.fields["mode"] = enum_name(MOVER_MODES, r.u32())
    _address(r, version, body)


def _start_backup_request(r: XdrReader, version: int, body: Body) -> None:
    if version == 2:
        _address(r, version, body)
    body.fields["butype"] = r.string()
    body.fields["env_names"] = _env_names(r)


def _start_recover_request(r: XdrReader, version: int, body: Body) -> None:
    if version == 2:
        _address(r, version, body)
    body.fields["env_names"] = _env_names(r)
    names = r.count()
    for _ in range(names):
        if version == 2:
            r.skip_opaque(), r.skip_opaque(), r.u32(), r.u64()
        else:
            for _ in range(4):
                r.skip_opaque()
            r.u64(), r.u64()
    body.fields["files"] = names
    body.fields["butype"] = r.string()


def _halted(reasons: Callable[[int], list[str]]) -> BodyDecoder:
    """NOTIFY_DATA_HALTED / NOTIFY_MOVER_HALTED, with the reason names of the version."""
    def decode(r: XdrReader, version: int, body: Body) -> None:
        body.fields["reason"] = enum_name(reasons(version), r.u32())
        if version < 4:
            body.fields["text"] = r.string()
    return decode


def _mover_paused(r: XdrReader, version: int, body: Body) -> None:
    body.fields["reason"] = enum_name(MOVER_PAUSE_REASONS, r.u32())
    body.fields["seek_position"] = r.u64()


def _log_message(r: XdrReader, version: int, body: Body) -> None:
    body.fields["log_type"] = enum_name(LOG_TYPES, r.u32())
    body.fields["message_id"] = r.u32()
    body.fields["text"] = r.string()
    if version >= 4:
        if r.tag():
            body.fields["associated_sequence"] = r.u32()
        else:
            r.u32()


def _log_log(r: XdrReader, version: int, body: Body) -> None:
    body.fields["text"] = r.string()


def _log_debug(r: XdrReader, version: int, body: Body) -> None:
    body.fields["level"] = r.u32()
    body.fields["text"] = r.string()


def _set_window(r: XdrReader, version: int, body: Body) -> None:
    body.fields["offset"] = r.u64()
    body.fields["length"] = r.u64()


def _data_get_state_reply(r: XdrReader, version: int, body: Body) -> None:
    if version >= 3:
        r.u32()  # invalid / unsupported bits
    body.error = r.u32()
    body.fields["operation"], body.fields["state"] = r.u32(), r.u32()
    body.fields["halt_reason"] = enum_name(DATA_HALT_REASONS, r.u32())
    body.fields["bytes_processed"] = r.u64()
    r.u64(), r.u32()
    _address(r, version, body)
    r.u64(), r.u64()


def _mover_get_state_reply(r: XdrReader, version: int, body: Body) -> None:
    body.error = r.u32()
    if version >= 4:
        body.fields["mode"] = enum_name(MOVER_MODES, r.u32())
    body.fields["state"] = r.u32()
    body.fields["pause_reason"] = enum_name(MOVER_PAUSE_REASONS, r.u32())
    body.fields["halt_reason"] = enum_name(mover_halt_reasons(version), r.u32())
    body.fields["record_size"] = r.u32()
    r.u32()
    body.fields["bytes_moved"] = r.u64()
    for _ in range(4):
        r.u64()
    if version >= 3:
        _address(r, version, body)


def _tape_get_state_reply(r: XdrReader, version: int, body: Body) -> None:
    if version >= 3:
        r.u32()
    body.error = r.u32()
    for _ in range(5):
        r.u32()
    r.u64(), r.u64()
    if version == 3:
        r.u32()  # partition


def _host_info_reply(r: XdrReader, version: int, body: Body) -> None:
    body.error = r.u32()
    for key in ("hostname", "os_type", "os_vers", "hostid"):
        body.fields[key] = r.string()
    if version == 2:
        body.fields["auth_types"] = [r.u32() for _ in range(r.count())]


def _server_info_reply(r: XdrReader, version: int, body: Body) -> None:
    body.error = r.u32()
    for key in ("vendor_name", "product_name", "revision_number"):
        body.fields[key] = r.string()
    body.fields["auth_types"] = [r.u32() for _ in range(r.count())]


# (name without NDMP_, is_reply) -> (decoder, versions whose layout it is).
# Replies not listed carry the error word first when they have a body.
_V234, _V34, _V2 = (2, 3, 4), (3, 4), (2,)
DECODERS: dict[tuple[str, bool], tuple[BodyDecoder, tuple[int, ...]]] = {
    ("CONNECT_OPEN", False): (_connect_open_request, _V234),
    ("CONNECT_CLIENT_AUTH", False): (_client_auth_request, _V234),
    ("NOTIFY_CONNECTED", False): (_notify_connected, _V234),
    ("DATA_LISTEN", False): (_data_listen_request, _V34),
    ("DATA_LISTEN", True): (_listen_reply, _V34),
    ("MOVER_LISTEN", False): (_mover_listen_request, _V234),
    ("MOVER_LISTEN", True): (_listen_reply, _V234),
    ("DATA_CONNECT", False): (_connect_request, _V34),
    ("MOVER_CONNECT", False): (_mover_connect_request, _V34),
    ("DATA_START_BACKUP", False): (_start_backup_request, _V234),
    ("DATA_START_RECOVER", False): (_start_recover_request, _V234),
    ("DATA_START_RECOVER_FILEHIST", False): (_start_recover_request, _V234),
    ("NOTIFY_DATA_HALTED", False): (_halted(lambda _version: DATA_HALT_REASONS), _V234),
    ("NOTIFY_MOVER_HALTED", False): (_halted(mover_halt_reasons), _V234),
    ("NOTIFY_MOVER_PAUSED", False): (_mover_paused, _V234),
    ("LOG_MESSAGE", False): (_log_message, _V34),
    ("LOG_LOG", False): (_log_log, _V2),
    ("LOG_DEBUG", False): (_log_debug, _V2),
    ("MOVER_SET_WINDOW", False): (_set_window, _V234),
    ("DATA_GET_STATE", True): (_data_get_state_reply, _V234),
    ("MOVER_GET_STATE", True): (_mover_get_state_reply, _V234),
    ("TAPE_GET_STATE", True): (_tape_get_state_reply, _V234),
    ("CONFIG_GET_HOST_INFO", True): (_host_info_reply, _V234),
    ("CONFIG_GET_SERVER_INFO", True): (_server_info_reply, _V34),
}
# Messages whose request and reply have no body at all.
NO_BODY = {"CONNECT_CLOSE"}


@fields_dataclass(slots=True)
class Decoded:
    """A decoded body, with why it could not be read in full (None: it was)."""

    body: Body
    problem: str | None = None  # why the body could not be read in full


def _run(decoder: BodyDecoder, data: bytes, version: int) -> tuple[Body, bool, str | None]:
    """Decode with one version's layout: the body, whether it used every byte, the problem."""
    body = Body()
    reader = XdrReader(data)
    try:
        decoder(reader, version, body)
    except BodyTooShort:
        return body, False, _SHORT
    except _BadLayout as exc:
        return body, False, str(exc) or "body does not follow the message's layout"
    return body, reader.remaining == 0, None


_SHORT = "body shorter than the message needs"


def _better(problem: str | None, best: str | None, partial: bool) -> bool:
    """Does a layout with `problem` beat the best so far? A cut body is expected to be
    short, so there a layout that ran out of bytes beats one that does not fit."""
    if problem is None:
        return best is not None
    return partial and problem == _SHORT and best not in (None, _SHORT)


def fitting_versions(short_name: str, is_reply: bool, data: bytes,
                     wire_len: int | None = None) -> set[int]:
    """Versions whose layout for this message fits the body.

    A whole body must match byte for byte. For a body the snap length cut, `data` is its
    captured start and `wire_len` its length on the wire (the record mark still gives
    it): a layout fits when it can be `wire_len` bytes long and begin with `data`. That
    tells layouts apart (a v4 address is longer than a v3 one) unless a count or union
    arm that decides the length is in the part the capture did not keep.
    """
    entry = DECODERS.get((short_name, is_reply))
    if entry is None or (wire_len is not None and wire_len < len(data)):
        return set(KNOWN_VERSIONS)
    decoder, versions = entry
    known = len(data)
    if wire_len is not None:
        data += bytes(wire_len - known)  # zeros the reader knows are not real
    fits = set()
    for version in versions:
        reader = XdrReader(data, known)
        try:
            decoder(reader, version, Body())
        except Unknowable:
            fits.add(version)
        except (BodyTooShort, _BadLayout):
            pass
        else:
            if reader.remaining == 0:
                fits.add(version)
    return fits


def decode_body(short_name: str, is_reply: bool, data: bytes, version: int | None,
                partial: bool = False, allowed: set[int] | None = None) -> Decoded:
    """Decode a body; version None tries v4, v3, v2 (those `allowed`, when given) and
    keeps the first exact fit."""
    entry = DECODERS.get((short_name, is_reply))
    if entry is None:
        body = Body()
        if is_reply and short_name not in NO_BODY and data:
            if len(data) >= 4:
                body.error = _U32.unpack_from(data)[0]
            elif not partial:  # a cut body is reported as ndmp_partial instead
                return Decoded(body, _SHORT)
        return Decoded(body)
    decoder, versions = entry
    candidates = [version] if version in versions else [v for v in KNOWN_VERSIONS
                                                        if v in versions]
    candidates = [v for v in candidates if allowed is None or v in allowed] or candidates
    best: tuple[Body, str | None] | None = None
    for candidate in candidates:
        body, exact, problem = _run(decoder, data, candidate)
        if exact:
            return Decoded(body)
        if best is None or _better(problem, best[1], partial):
            best = (body, problem)
    assert best is not None
    body, problem = best
    if partial:
        problem = None  # the capture cut it: reported as ndmp_partial instead
    return Decoded(body, problem)

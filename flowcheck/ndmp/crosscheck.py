"""flowcheck's NDMP decode against Wireshark's NDMP dissector (tshark, through pyshark).

Every message is matched by sender endpoint, receiver endpoint, sequence and type, then
compared field by field (code, reply_sequence, header and body error, addresses).
Disagreements that follow from tshark's documented limits are `tshark_gaps`; the rest
are `differences`, which the CLI turns into exit status 1.
"""

from __future__ import annotations

import calendar
import contextlib
import signal
from dataclasses import field

from flowcheck.decode.tunnels import STANDARD_PORTS, TunnelPorts
from flowcheck.errors import InputError
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.ndmp.protocol import is_vendor_code

# flowcheck's side of a `message` difference for a vendor or extension code: the header
# read, the body not (docs/json.md, crosscheck).
VENDOR_SHOWN = "shown, not decoded"
TSHARK_NDMP_PORT = 10000  # the only port Wireshark's NDMP dissector registers
TSHARK_MAX_CODE = 0xA09
TSHARK_MAX_ERROR = 23
TSHARK_MIN_TIME = calendar.timegm((1980, 1, 1, 0, 0, 0))
TSHARK_MAX_TIME = calendar.timegm((2030, 1, 1, 0, 0, 0))
# The codes Wireshark's NDMP dissector names (its msg_vals, tshark 4.x): any other it
# shows as "Unknown" and decodes no body of (DATA_START_RECOVER_FILEHIST 0x40B, v2's
# CONFIG_GET_BUTYPE_ATTR, LOG_LOG, FH_ADD_UNIX_*).
TSHARK_KNOWN_CODES = frozenset({
    0x100, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A,
    0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206,
    0x300, 0x301, 0x302, 0x303, 0x304, 0x305, 0x307,
    0x400, 0x401, 0x402, 0x403, 0x404, 0x407, 0x409, 0x40A,
    0x501, 0x502, 0x503, 0x504, 0x505, 0x602, 0x603, 0x703, 0x704, 0x705,
    0x900, 0x901, 0x902, 0x903,
    0xA00, 0xA01, 0xA02, 0xA03, 0xA04, 0xA05, 0xA06, 0xA07, 0xA08, 0xA09})

Endpoint = tuple[str, int]
MessageKey = tuple[Endpoint | None, Endpoint | None, int, bool]


@fields_dataclass(slots=True)
class TsharkMessage:
    frame: int
    src: Endpoint
    dst: Endpoint
    sequence: int
    code: int
    is_reply: bool
    reply_sequence: int
    header_error: int
    body_error: int | None
    addresses: list[Endpoint]
    malformed: bool


@fields_dataclass(slots=True)
class Difference:
    frame: int  # ours when we have the message, else tshark's
    uid: str | None
    sequence: int
    name: str
    field: str  # "message", "code", "type", "reply_sequence", "error", "addresses", ...
    ours: object
    theirs: object
    reason: str = ""  # for tshark gaps: which limit of tshark explains it

    def as_dict(self) -> dict:
        return {"frame": self.frame, "uid": self.uid, "sequence": self.sequence,
                "name": self.name, "field": self.field, "ours": self.ours,
                "theirs": self.theirs, "reason": self.reason}


@fields_dataclass(slots=True)
class CrosscheckResult:
    path: str
    ours: int = 0  # messages flowcheck decoded
    theirs: int = 0  # messages tshark decoded
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)
    tshark_gaps: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"path": self.path, "ours": self.ours, "theirs": self.theirs,
                "matched": self.matched,
                "differences": [d.as_dict() for d in self.differences],
                "tshark_gaps": [d.as_dict() for d in self.tshark_gaps]}


def read_tshark_messages(path: str, *, cut: bool = False, out_of_order: bool = False,
                         ports: TunnelPorts = STANDARD_PORTS) -> list[TsharkMessage]:
    """Every NDMP message tshark's dissector finds, one per PDU (several per frame); the
    tunnel ports flowcheck read (`ports`) told to tshark (tshark_decode_as).

    out_of_order: tshark's tcp.reassemble_out_of_order, for a capture whose holes were
    all filled later (path loss resent after the flight); with a hole never filled it
    waits to the end and loses every later message of that direction.

    cut: the file ends mid-record (flowcheck read it as truncated): tshark reads up to
    the cut too, then says so and exits with status 2, which pyshark raises as a crash
    (while reading, and again on close); its messages up to the cut stand. Raises
    InputError when tshark fails otherwise, or is not installed."""
    try:
        import pyshark  # noqa: F401 - checked here, used by _read_once
        from pyshark.tshark.tshark import TSharkNotFoundException
    except ImportError as exc:  # pragma: no cover - pyshark is a declared dependency
        raise InputError(f"crosscheck needs pyshark: {exc}") from None
    decode_as = tshark_decode_as(ports)
    out, failure = _read_once(path, cut, out_of_order, decode_as)
    if failure is not None and _LOST_EXIT in str(failure):
        # pyshark's child watcher found tshark already reaped by another waitpid in the
        # process and reports exit status 255 ("Unknown child process", a race pyshark's
        # own source names): its output is cut short. Once more; a real crash repeats.
        out, failure = _read_once(path, cut, out_of_order, decode_as)
    if isinstance(failure, TSharkNotFoundException):
        # A tool missing, not a file tshark could not read: said as live says it.
        raise InputError("crosscheck needs tshark (Wireshark's command-line reader; "
                         "Debian and Ubuntu: apt-get install tshark), which is not "
                         "installed or not on PATH") from None
    if failure is not None:
        said = str(failure).strip()
        reason = said.splitlines()[0].rstrip(". ") if said else type(failure).__name__
        # The reference failed, not the file: flowcheck may read it well (field check 20
        # D12: tshark crashed on two tcpdump-tests files `connections` reads).
        raise InputError(f"{path}: tshark could not read it ({reason}): nothing was "
                         "compared; flowcheck reads it alone (`flowcheck ndmp`, `analyze`)")
    return out


# How pyshark reports a tshark whose exit status asyncio could not collect.
_LOST_EXIT = "retcode: 255"
# The ports Wireshark's VXLAN and Geneve dissectors are registered on.
TSHARK_VXLAN_PORT, TSHARK_GENEVE_PORT = 4789, 6081


def tshark_decode_as(ports: TunnelPorts) -> dict[str, str]:
    """tshark's `-d` for the tunnel ports flowcheck reads that Wireshark's dissectors are
    not registered on (Linux's VXLAN 8472, --vxlan-port, --geneve-port), so both read the
    same packets (VXLAN on 8472 was all differences, exit 1: trial 22 D7)."""
    decode_as = {f"udp.port=={port}": "vxlan" for port in ports.vxlan
                 if port != TSHARK_VXLAN_PORT}
    decode_as.update({f"udp.port=={port}": "geneve" for port in ports.geneve
                      if port != TSHARK_GENEVE_PORT})
    return decode_as


def _read_once(path: str, cut: bool, out_of_order: bool,
               decode_as: dict[str, str]) -> tuple[list[TsharkMessage], Exception | None]:
    """One tshark run over the file: the messages read, and tshark's failure or None."""
    import pyshark

    out: list[TsharkMessage] = []
    failure: Exception | None = None
    child_handler = signal.getsignal(signal.SIGCHLD)
    # X11 off: the agent range often overlaps X11's ports and its dissector then crawls.
    capture = pyshark.FileCapture(
        path, display_filter="ndmp", keep_packets=False, disable_protocol="x11",
        decode_as=decode_as or None,
        override_prefs={"tcp.desegment_tcp_streams": "TRUE",
                        "tcp.reassemble_out_of_order": "TRUE" if out_of_order else "FALSE"})
    try:
        packets = iter(capture)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except Exception as exc:  # pyshark wraps tshark failures in many exception types
                failure = None if _stopped_at_cut(exc, cut) else exc
                break
            # Outside the handler above: an error in flowcheck's own reading of a
            # dissected packet is a bug (exit 4), not input tshark could not read.
            out.extend(_packet_messages(packet))
    finally:
        failure = _close(capture, cut, failure)
        _release_event_loop(capture, child_handler)
    return out, failure


def _close(capture: object, cut: bool, failure: Exception | None) -> Exception | None:
    """Close pyshark's capture (tshark ends): the failure so far, else the one closing
    reports (tshark's exit status)."""
    try:
        capture.close()  # type: ignore[attr-defined]  # raises tshark's exit status
    except Exception as exc:  # noqa: BLE001 - pyshark wraps tshark failures in many types
        failure = failure or (None if _stopped_at_cut(exc, cut) else exc)
        # tshark has exited: without this, pyshark's __del__ closes again and prints
        # the same exception at exit ("Exception ignored in ... __del__").
        running = getattr(capture, "_running_processes", None)
        if isinstance(running, set):
            running.clear()
    return failure


def _stopped_at_cut(error: Exception, cut: bool) -> bool:
    """Is pyshark's error tshark's stop at the end of a file cut mid-record ("appears to
    have been cut short in the middle of a packet", its last error line)?"""
    return cut and "cut short" in str(error)


def _release_event_loop(capture: object, child_handler: object) -> None:
    """Take back SIGCHLD from the asyncio loop pyshark keeps (and reuses) for tshark.

    pyshark attaches a SafeChildWatcher to that loop: a SIGCHLD handler writing to the
    loop's wakeup pipe at every child's exit in the process, long after the capture.
    Nothing drains it: once full, each exit printed "Exception ignored ...
    BlockingIOError". Removing the handler also clears the wakeup pipe; pyshark attaches
    a new watcher for its next capture.
    """
    loop = getattr(capture, "eventloop", None)
    remove = getattr(loop, "remove_signal_handler", None)
    with contextlib.suppress(Exception):  # a loop closed, or not pyshark's usual one
        if remove is not None:
            remove(signal.SIGCHLD)
    with contextlib.suppress(ValueError, TypeError):  # not the main thread
        signal.signal(signal.SIGCHLD, child_handler)  # type: ignore[arg-type]


def _packet_messages(packet: object) -> list[TsharkMessage]:
    layers = list(getattr(packet, "layers", []))
    malformed = any(layer.layer_name == "_ws.malformed" for layer in layers)
    network = _network_layer(packet)
    src = (str(network.src), int(packet.tcp.srcport))  # type: ignore[attr-defined]
    dst = (str(network.dst), int(packet.tcp.dstport))  # type: ignore[attr-defined]
    out = []
    for layer in layers:
        if layer.layer_name != "ndmp" or layer.get_field_value("msg") is None:
            continue
        errors = _all_ints(layer, "error")
        ips = [str(v) for v in _all_values(layer, "addr_ip")]
        ports = _all_ints(layer, "addr_tcp_port")
        out.append(TsharkMessage(
            frame=int(packet.number),  # type: ignore[attr-defined]
            src=src, dst=dst, sequence=_int(layer.get_field_value("sequence")),
            code=_int(layer.get_field_value("msg")),
            is_reply=_int(layer.get_field_value("msg_type")) == 1,
            reply_sequence=_int(layer.get_field_value("reply_sequence")),
            header_error=errors[0] if errors else 0,
            body_error=errors[1] if len(errors) > 1 else None,
            addresses=list(zip(ips, ports, strict=False)), malformed=malformed))
    return out


def _network_layer(packet: object) -> object:
    """The IP header that carries the packet's TCP segment: pyshark names it ip for IPv4,
    ipv6 for IPv6; the innermost one in a tunnel, as flowcheck's connections read it."""
    found = [layer for layer in getattr(packet, "layers", [])
             if layer.layer_name in ("ip", "ipv6")]
    return found[-1] if found else packet.ip  # type: ignore[attr-defined]


def _all_values(layer: object, name: str) -> list[object]:
    found = layer.get_field(name)  # type: ignore[attr-defined]
    if found is None:
        return []
    return [getattr(f, "show", f) for f in found.all_fields]


def _all_ints(layer: object, name: str) -> list[int]:
    return [_int(v) for v in _all_values(layer, name)]


def _int(value: object) -> int:
    text = str(value)
    try:
        return int(text, 0)
    except ValueError:
        return int(text, 16) if text else 0


def crosscheck(path: str, streams: list[NdmpStream], connections: list[Connection], *,
               cut: bool = False, ports: TunnelPorts = STANDARD_PORTS) -> CrosscheckResult:
    """Decode `path` with tshark and list every disagreement with `streams` (cut: the
    file ends mid-record; ports: the tunnel ports flowcheck read; read_tshark_messages).

    tshark dissects NDMP only on port 10000 (even `-d tcp.port==N,ndmp` did not decode
    ndmjob on 10500): messages on another port are its gaps, not differences. tshark
    reassembles out of order when no control connection misses a byte (missed_bytes 0:
    every hole was resent later, as flowcheck's reassembly waits for) and the snap
    length cut none (tshark then reads cut segments differently)."""
    controls = {s.uid for s in streams}
    complete = not any(c.missed_bytes for c in connections if c.uid in controls) and \
        not any(s.snap_cut for s in streams)
    return compare_messages(path, streams, connections,
                            read_tshark_messages(path, cut=cut, out_of_order=complete,
                                                 ports=ports))


def compare_messages(path: str, streams: list[NdmpStream], connections: list[Connection],
                     theirs: list[TsharkMessage]) -> CrosscheckResult:
    result = CrosscheckResult(path=path, theirs=len(theirs))
    by_uid = {c.uid: c for c in connections}
    pending: dict[MessageKey, list[TsharkMessage]] = {}
    for message in theirs:
        pending.setdefault(_tshark_key(message, bool(by_uid)), []).append(message)
    used: set[int] = set()
    for stream in streams:
        connection = by_uid.get(stream.uid)
        for ours in stream.messages:
            result.ours += 1
            key = _our_key(ours, connection)
            match = next((m for m in pending.get(key, []) if id(m) not in used), None)
            if match is None:
                _missing_in_tshark(result, stream, connection, ours)
                continue
            used.add(id(match))
            result.matched += 1
            _compare_fields(result, stream, ours, match)
    for message in theirs:
        if id(message) not in used:
            result.differences.append(Difference(
                message.frame, None, message.sequence, f"0x{message.code:X}", "message",
                None, "decoded", ""))
    return result


def _tshark_key(message: TsharkMessage, with_endpoints: bool) -> MessageKey:
    if with_endpoints:
        return (message.src, message.dst, message.sequence, message.is_reply)
    return (None, None, message.sequence, message.is_reply)


def _our_key(ours: NdmpMessage, connection: Connection | None) -> MessageKey:
    is_reply = ours.type == "reply"
    if connection is None:
        return (None, None, ours.sequence, is_reply)
    orig = (connection.orig_h, connection.orig_p)
    resp = (connection.resp_h, connection.resp_p)
    src, dst = (orig, resp) if ours.direction == "orig" else (resp, orig)
    return (src, dst, ours.sequence, is_reply)


def _missing_in_tshark(result: CrosscheckResult, stream: NdmpStream,
                       connection: Connection | None, ours: NdmpMessage) -> None:
    reason = ""
    stamp = ours.body.get("time_stamp")
    if connection is not None and TSHARK_NDMP_PORT not in (connection.orig_p,
                                                            connection.resp_p):
        reason = "tshark dissects NDMP only when one side is port 10000"
    elif ours.code > TSHARK_MAX_CODE:
        reason = "tshark skips codes above 0xA09"
    elif ours.header_error > TSHARK_MAX_ERROR:
        reason = "tshark skips header errors above 23"
    elif stamp is not None and not TSHARK_MIN_TIME <= stamp < TSHARK_MAX_TIME:
        reason = "tshark skips header timestamps outside 1980-2030"
    elif ours.partial:
        reason = "the capture cut this message: tshark cannot reassemble it"
    # A vendor or extension code: its header read, its body not decoded, as analyze and
    # ndmp say it (ndmp_vendor_message); "decoded" was said of it (newuser54).
    mine = VENDOR_SHOWN if is_vendor_code(ours.code) else "decoded"
    difference = Difference(ours.frame, stream.uid, ours.sequence, ours.name, "message",
                            mine, None, reason)
    (result.tshark_gaps if reason else result.differences).append(difference)


def _body_gap(stream: NdmpStream, code: int) -> str:
    """Why tshark may misread the body of a message of this code in this stream (empty
    when it should not)."""
    if code <= TSHARK_MAX_CODE and code not in TSHARK_KNOWN_CODES:
        return f"tshark does not know this message (0x{code:X})"
    if stream.version == 2:
        return "tshark reads NDMP v2 bodies with the v3 layout"
    if stream.version_source != "connect_open" and stream.version not in (None, 4):
        return "no CONNECT_OPEN in the capture: tshark assumes v4"
    return ""


def _compare_fields(result: CrosscheckResult, stream: NdmpStream, ours: NdmpMessage,
                    theirs: TsharkMessage) -> None:
    def report(name: str, mine: object, its: object, gap: str = "") -> None:
        difference = Difference(ours.frame, stream.uid, ours.sequence, ours.name, name,
                                mine, its, gap)
        (result.tshark_gaps if gap else result.differences).append(difference)

    if ours.code != theirs.code:
        report("code", ours.code, theirs.code)
    if ours.type == "reply" and ours.reply_sequence != theirs.reply_sequence:
        report("reply_sequence", ours.reply_sequence, theirs.reply_sequence)
    if ours.header_error != theirs.header_error:
        report("header_error", ours.header_error, theirs.header_error)
    header_only = ours.type == "reply" and ours.header_error != 0 and ours.body_error is None
    if theirs.malformed and header_only:
        report("malformed", "header-only error reply (legal)", "malformed",
               "tshark marks header-only error replies malformed")
    elif ours.body_error != theirs.body_error and ours.type == "reply":
        report("body_error", ours.body_error, theirs.body_error,
               _body_gap(stream, ours.code) or ("tshark marked the message malformed"
                                     if theirs.malformed and ours.partial else ""))
    mine = sorted((a.ip, a.port) for a in ours.addresses)
    its = sorted(theirs.addresses)
    if mine != its:
        report("addresses", [f"{ip}:{port}" for ip, port in mine],
               [f"{ip}:{port}" for ip, port in its], _body_gap(stream, ours.code))

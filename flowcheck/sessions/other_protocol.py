"""Another protocol on the NDMP port: a connection that is no NDMP session.

Port 10000 is Webmin's default, and other programs listen there too (an HTTP or TLS
console, a backup product's own service). A connection to the NDMP port whose two sides
both opened with bytes that cannot start an NDMP record (the capture holds each
direction's start: NdmpStream.opening), and of which not one NDMP message decoded, is
not an NDMP conversation at all: no session is opened for it (it stays `other`
traffic), and it is told once per pair of hosts as `ndmp_undecodable`
(flowcheck.verify.other_protocol) rather than as a failed job whose callback is
"missing" (trial 23 D1: 46 HTTP fetches of a Webmin on 10000 became 46 FAILED Backup
Exec sessions with firewall advice). A connection where one side speaks NDMP (an NDMP
server greeting an HTTP client, a DMA asking a port another program holds) is a session
as before: the job's trouble there is real (ndmp_no_reply names the other program).
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpStream, other_direction
from flowcheck.ndmp.collector import OPENING_BYTES
from flowcheck.ndmp.protocol import FRAGMENT_LENGTH_MASK, HEADER_SIZE, MAX_FRAGMENT
from flowcheck.sessions.classify import one_sided

_HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
                 b"CONNECT ", b"TRACE ")
_TLS_RECORD_TYPES = (0x14, 0x15, 0x16, 0x17)


def could_start_ndmp(opening: bytes) -> bool:
    """Could these first bytes of a direction be the start of an NDMP record: a record
    mark of a plausible length (a header at least, at most 16 MiB) and, when captured,
    a message type that is a request or a reply? True when too few bytes tell."""
    if len(opening) < 4:
        return True
    length = int.from_bytes(opening[:4], "big") & FRAGMENT_LENGTH_MASK
    if not HEADER_SIZE <= length <= MAX_FRAGMENT:  # a record holds a header at least
        return False
    return len(opening) < 16 or int.from_bytes(opening[12:16], "big") in (0, 1)


def other_protocol(conn: Connection, stream: NdmpStream | None) -> str | None:
    """The protocol a connection carries instead of NDMP ("HTTP", "TLS", "SSH", or
    "another protocol") when both its directions' starts are in the capture, neither can
    start an NDMP record and no NDMP message decoded; None otherwise (an NDMP session,
    or a connection the capture cannot tell: one side silent, a start not captured)."""
    if stream is None or stream.messages:
        return None
    opening = stream.opening
    if len(opening) != 2 or any(could_start_ndmp(first) for first in opening.values()):
        return None
    return protocol_name(opening["orig"], opening["resp"])


def one_way_protocol(conn: Connection, stream: NdmpStream | None
                     ) -> tuple[str, str, bytes] | None:
    """(side, protocol, its first bytes) when the capture holds one direction only
    (classify.one_sided: the other side's packets are missing though it evidently
    talked), whose start cannot start an NDMP record, and no NDMP message decoded: that
    side speaks another protocol, and whether the other spoke NDMP cannot be told (a
    job that met another program on the port, or two ends of that program). None
    otherwise."""
    if stream is None or stream.messages or len(stream.opening) != 1:
        return None
    (side, first), = stream.opening.items()
    if one_sided(conn) != (other_direction(side)) or could_start_ndmp(first):
        return None
    protocol = protocol_name(first, b"") if side == "orig" else protocol_name(b"", first)
    return side, protocol, first


def protocol_name(orig: bytes, resp: bytes) -> str:
    """What the first bytes each way look like: "HTTP", "TLS", "SSH", else "another
    protocol"."""
    if orig.startswith(_HTTP_METHODS) or resp.startswith(b"HTTP/"):
        return "HTTP"
    if all(len(b) >= 2 and b[0] in _TLS_RECORD_TYPES and b[1] == 3 for b in (orig, resp)):
        return "TLS"
    if orig.startswith(b"SSH-") or resp.startswith(b"SSH-"):
        return "SSH"
    return "another protocol"


def opening_words(first: bytes) -> str:
    """A direction's first bytes as a reader recognises them: its first line quoted when
    it is text ('"GET / HTTP/1.1"'), else its first bytes in hex."""
    line = first.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if line and all(32 <= b < 127 for b in line):
        cut = line == first and len(first) >= OPENING_BYTES  # the line goes on
        return '"' + line.decode("ascii") + ('..."' if cut else '"')
    return "bytes " + first[:8].hex(" ")

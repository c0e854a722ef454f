"""Another protocol on the NDMP port: a connection that is no NDMP session.

Port 10000 is Webmin's default, and other programs listen there too (an HTTP or TLS
console, a backup product's own service). A connection to the NDMP port whose two sides
both opened with bytes that cannot start an NDMP record (the capture holds each
direction's start: NdmpStream.opening), and of which not one NDMP message decoded, is
not an NDMP conversation at all: no session is opened for it (it stays `other`
traffic), and it is told once per pair of hosts as `ndmp_undecodable`
(flowcheck.verify.other_protocol) rather than as a failed job whose callback is
"missing" (trial 23 D1: 46 HTTP fetches of a Webmin on 10000 became 46 FAILED Backup
Exec sessions with firewall advice).

One side is enough when it is evident (a lost packet must not make such a fetch a FAILED
session: webmin-on-media without frame 6, the HTTP server's answer, or frame 4, the
client's request):
- the originator's start is another protocol's client request (an HTTP method, a TLS
  ClientHello, an SSH banner: client_protocol), whatever the capture holds of the
  responder's: a DMA opens with an NDMP record (in the clear; TLS goes as TLS both
  ways: the job's control connection encrypted, or another program's);
- the originator's start is not in the capture and the responder's evidently answers
  such a request (an HTTP status line of a request read, a TLS ServerHello:
  answered_protocol).
A connection where the originator may speak NDMP and the responder does not, or whose
responder's start alone is in the capture and answers nothing evidently (a DMA asking a
port another program holds), or where an NDMP message decoded (an NDMP server greeting
an HTTP client), is a session as before: the job's trouble there is real (ndmp_no_reply
names the other program).
"""

from __future__ import annotations

import re

from flowcheck.model import Connection, NdmpStream, other_direction
from flowcheck.ndmp.collector import OPENING_BYTES
from flowcheck.ndmp.protocol import FRAGMENT_LENGTH_MASK, HEADER_SIZE, MAX_FRAGMENT
from flowcheck.sessions.classify import one_sided

_HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ",
                 b"CONNECT ", b"TRACE ", b"PRI * HTTP/2")  # PRI: HTTP/2's preface (RFC 9113)
_TLS_RECORD_TYPES = (0x14, 0x15, 0x16, 0x17)
_HTTP_STATUS = re.compile(rb"HTTP/\d\.\d (\d{3})[ \r]")


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


def client_protocol(opening: bytes) -> str | None:
    """The protocol ("HTTP", "TLS", "SSH") whose client request an originator's first
    bytes evidently are: an HTTP request line's method, a TLS record carrying a
    ClientHello (content type 22, version 3.x, handshake type 1; RFC 8446 5.1, 4), an SSH
    identification string (RFC 4253 4.2); None otherwise (an NDMP client's first bytes,
    an XDR record mark, are none of these)."""
    if could_start_ndmp(opening):  # too short to tell, or NDMP-like
        return None
    if opening.startswith(_HTTP_METHODS):
        return "HTTP"
    if len(opening) >= 6 and opening[0] == 0x16 and opening[1] == 3 and opening[5] == 1:
        return "TLS"
    if opening.startswith(b"SSH-"):
        return "SSH"
    return None


def answered_protocol(opening: bytes) -> str | None:
    """The protocol ("HTTP", "TLS") whose client request a responder's first bytes
    evidently answer: an HTTP status line of a request the server read (2xx, 3xx, 401,
    403, 404; not the 400 or 5xx a server gives bytes it cannot read as a request, nor a
    408 it sends unasked: RFC 9110 15), a TLS record carrying a ServerHello (handshake
    type 2: a server sends it only in answer to a ClientHello, RFC 8446 4.1.3); None
    otherwise (an SSH server's banner comes unasked, RFC 4253 4.2)."""
    if could_start_ndmp(opening):
        return None
    status = _HTTP_STATUS.match(opening)
    if status is not None and (status[1][:1] in (b"2", b"3")
                               or status[1] in (b"401", b"403", b"404")):
        return "HTTP"
    if len(opening) >= 6 and opening[0] == 0x16 and opening[1] == 3 and opening[5] == 2:
        return "TLS"
    return None


def other_protocol(conn: Connection, stream: NdmpStream | None) -> str | None:
    """The protocol a connection carries instead of NDMP ("HTTP", "TLS", "SSH", or
    "another protocol") when no NDMP message decoded and: its originator's start is in
    the capture and is evidently another protocol's client request (client_protocol);
    or that start is not in the capture and the responder's evidently answers such a
    request (answered_protocol); or both directions' starts are and neither can start
    an NDMP record. None otherwise (an NDMP session, or a connection the capture cannot
    tell: one side silent, a start not captured)."""
    if stream is None:
        return None
    opening = stream.opening
    client = client_protocol(opening.get("orig", b""))
    if client is not None and all(m.direction == "resp" for m in stream.messages):
        return client  # whatever the responder said: an NDMP server's greeting, too
    if stream.messages:
        return None
    if "orig" not in opening and "resp" in opening:
        return answered_protocol(opening["resp"])
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

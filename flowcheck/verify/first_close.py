"""Who closed a control connection first when the capture holds one side of it only.

A capture of one direction (a SPAN port that sees one way, `tcpdump -Q in`) holds one
side's FIN and never the other's. Its first FIN may answer a FIN the capture lacks: a
TCP acknowledges its peer's FIN with the next sequence number (RFC 9293 3.6), and an
NDMP message is never 1 byte (a 4-byte record mark and a 24-byte header at least: NDMP
v4 section 2.1), so a first FIN whose ACK covers exactly one sequence number more than
its side's packet before it acknowledged the peer's FIN, which came first
(NdmpStream.fin_acked_new; trial27-three-way/3w-kill-t cut to the tape agent's packets:
the DMA's close read as the agent's).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpStream, endpoint, other_direction
from flowcheck.sessions import closing, one_sided
from flowcheck.sessions.classify import Closer


def peer_fin_first(control: Connection, stream: NdmpStream | None) -> bool:
    """Did the side whose first FIN the capture shows close second: the capture holds no
    packet of the other side (one_sided) and that FIN acknowledged one more sequence
    number than its side's packet before it (the other side's FIN)? Or the capture holds
    both and that FIN, or a packet of its side before it, acknowledged one sequence
    number past the other side's last byte, a FIN the capture lacks (NdmpStream
    .fins_lost: the sniffer lost the agent's FIN of field38-matrix/agent-killed-loss-
    before-start, and the media server's FIN that answered it read as the first close)?"""
    if stream is None or stream.fin is None:
        return False
    other = other_direction(stream.fin.direction)
    shown = stream.fins_lost.get(other)
    if shown is not None and shown.direction == stream.fin.direction \
            and shown.frame <= stream.fin.frame:
        return True
    if stream.fin_acked_new != 1:
        return False
    missing = one_sided(control)
    return missing is not None and missing != stream.fin.direction


def first_closer(control: Connection, stream: NdmpStream | None) -> Closer:
    """sessions.closing's closer, the other side when the FIN it rests on answered the
    other side's FIN the capture lacks (peer_fin_first)."""
    closer, how = closing(control)
    if how == "FIN" and peer_fin_first(control, stream):
        return "originator" if closer == "responder" else "responder"
    return closer


def fin_words(control: Connection, stream: NdmpStream | None) -> str:
    """The close's evidence, in parentheses' words: "FIN, frame N" (the control
    connection's first FIN), or when peer_fin_first "its FIN, in the direction the
    capture lacks: HOST:PORT's own FIN (frame N) acknowledges it"."""
    fin = stream.fin if stream is not None else None
    if fin is None or not peer_fin_first(control, stream):
        return f"FIN, {frame_text(control.fin_frames[0])}"
    host, port = ((control.resp_h, control.resp_p) if fin.direction == "resp"
                  else (control.orig_h, control.orig_p))
    where = ("in the direction the capture lacks" if one_sided(control) is not None
             else "which the capture lacks")
    return (f"its FIN, {where}: {endpoint(host, port)}'s own FIN ({frame_text(fin.frame)}) "
            "acknowledges it")

"""Which kinds of TCP packet the capture holds: a filter that kept some of every connection.

A capture filter on the TCP flags or the packet size (tcpdump 'tcp[tcpflags] &
(tcp-syn|tcp-fin|tcp-rst) != 0', 'less 80') or a display filter (tshark -r f -Y ndmp
-w g) keeps some packets of every connection and none of the others. A sniffer that
falls behind loses packets of every kind, in bursts; it does not lose every packet
that carries data while keeping every one that does not. So a kind of packet that
every TCP conversation sends and that no connection of the capture holds, while the
connections' own sequence numbers show it was sent, is a filter's doing, not loss.

The kinds come from the connections' histories (Zeek's letters, flowcheck.connections:
S/H a SYN or SYN-ACK, A a pure ACK, D data, F a FIN, R a RST, Q and I a SYN with a FIN
or RST; upper case the originator's, lower case the responder's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

Kind = Literal["syn", "ack", "data", "fin", "rst"]
# "flags": every packet carries SYN, FIN or RST (no pure ACK, no data); "no_data": no
# packet carries data; "no_ack": no pure ACK; "data_only": every packet carries data (no
# SYN, no pure ACK).
Shape = Literal["flags", "no_data", "no_ack", "data_only"]

_KIND_OF = {"S": "syn", "H": "syn", "A": "ack", "D": "data", "F": "fin", "R": "rst",
            "Q": "syn", "I": "syn"}
_ALSO = {"Q": "fin", "I": "rst"}


@fields_dataclass(frozen=True, slots=True)
class KeptPackets:
    """The kinds of TCP packet the capture holds (kinds) and, when they show a filter
    that kept only some of every connection, its shape (None: no such sign)."""

    kinds: frozenset[str]
    shape: Shape | None

    @property
    def no_data(self) -> bool:
        """Did the filter keep no packet that carries data (every byte of payload the
        capture lacks is the filter's)?"""
        return self.shape in ("flags", "no_data")


def kept_packets(connections: Iterable[Connection]) -> KeptPackets:
    """The capture's packet kinds and the filter they show. Two absences a capture
    filter explains and a sniffer does not:

    - no pure ACK anywhere, while a connection went on after its SYN-ACK (established:
      the handshake's last packet is a pure ACK, RFC 9293 3.5; Linux and Windows send
      it alone) or was closed by FINs from both sides (an ACK answers the last one, RFC
      9293 3.6);
    - no data anywhere, while a connection's sequence numbers show payload sent that no
      captured packet carried (missed_bytes).

    Shapes: both "flags", the first alone "no_ack" (data kept), the second alone
    "no_data" (pure ACKs kept); "data_only" when data but no SYN and no pure ACK is in
    the capture: its words need proof that the capture did not simply start
    mid-conversation (the caller's: a control stream that starts with the NDMP
    greeting). None otherwise, and for a capture with no TCP packet; its kinds then are
    those of the connections read until both pure ACKs and data were seen."""
    kinds: set[str] = set()
    sent_unseen = went_on = False
    # A capture's connections share a few histories: each one's letters are read once
    # (the kinds change, and the early stop can come, only at a history not seen yet).
    histories: set[str] = set()
    for conn in connections:
        history = conn.history
        if history not in histories:
            histories.add(history)
            kinds |= _history_kinds(history)
            if "ack" in kinds and "data" in kinds:
                return KeptPackets(frozenset(kinds), None)  # no shape has both: stop early
        sent_unseen = sent_unseen or conn.missed_bytes > 0
        went_on = went_on or (conn.established and conn.syn_seen) or (
            "F" in history and "f" in history)
    # No letter at all: connections made without a history (nothing to read).
    acks_left_out = bool(kinds) and "ack" not in kinds and went_on
    shape: Shape | None = None
    if acks_left_out and "data" not in kinds:
        shape = "flags"
    elif acks_left_out:
        shape = "no_ack"
    elif "ack" in kinds and "data" not in kinds and sent_unseen:
        shape = "no_data"
    elif "data" in kinds and not kinds & {"syn", "ack"}:
        shape = "data_only"
    return KeptPackets(frozenset(kinds), shape)


def _history_kinds(history: str) -> set[str]:
    """The packet kinds a Zeek history's letters name (either side's)."""
    kinds = set()
    for letter in set(history.upper()):
        if letter in _KIND_OF:
            kinds.add(_KIND_OF[letter])
        if letter in _ALSO:
            kinds.add(_ALSO[letter])
    return kinds


def kept_words(kept: KeptPackets) -> str:
    """What the filter kept and a tcpdump or tshark filter that keeps it ("" for no
    shape): "every packet carries SYN, FIN or RST ..."."""
    flags = [name for kind, name in (("syn", "SYN"), ("fin", "FIN"), ("rst", "RST"))
             if kind in kept.kinds]
    if kept.shape == "flags":
        return (f"every TCP packet in it carries {_either(flags)} and none is a pure ACK or "
                "carries data: a capture filter on the TCP flags kept only those (tcpdump "
                "'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0')")
    if kept.shape == "no_data":
        return ("no TCP packet in it carries data, though the connections' sequence numbers "
                "show data sent: a capture filter on the packet size or the TCP flags kept "
                "only packets without payload (tcpdump 'less 80', 'tcp[tcpflags] & "
                "tcp-push == 0')")
    if kept.shape == "no_ack":
        return ("no TCP packet in it is a pure ACK, though its connections completed "
                "handshakes (whose last packet is one): a capture filter on the TCP flags "
                "or the packet size kept only packets with SYN, FIN, RST or data, or only "
                "some of those (tcpdump 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst|tcp-push) "
                "!= 0', 'greater 66')")
    if kept.shape == "data_only":
        return ("every TCP packet in it carries data: no handshake, no pure ACK is in it, "
                "so a display filter on the payload (tshark -r FILE -Y ndmp -w OUT) or a "
                "capture filter on the packet size or the TCP flags (tcpdump 'greater 100', "
                "'tcp[tcpflags] & tcp-push != 0') kept only those")
    return ""


def _either(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names) or "SYN, FIN or RST"
    return ", ".join(names[:-1]) + f" or {names[-1]}"

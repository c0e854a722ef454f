"""Windows capture tools that log each packet at several places of one host's stack.

pktmon (`pktmon start --capture`, converted by `pktmon etl2pcap`) logs a packet once per
network-stack component it passes (the NIC, each filter, TCP/IP): the pcapng file holds
it up to three times or more, microseconds apart on an idle host, a millisecond or more
on a loaded one. It signs its files: the section header's shb_userappl "PktMon
etl2pcap", and a comment on every packet "PktGroupId N, PktNumber N, Appearance N,
Direction Rx , Type Ethernet , Component N, ..." whose PktGroupId and PktNumber are the
packet's own identity, the same at every component (Microsoft's pktmon-pcapng-support
page: the pcapng format does not tell the components apart; `pktmon etl2pcap FILE
--component-id ID` keeps one).

netsh trace (ndiscap, converted by Microsoft's etl2pcapng) logs a packet at each NDIS
binding it crosses, the miniport and each lightweight filter over it: one pcapng
interface per binding, named "eth:IfIndex:VlanId" ("wifi:IfIndex", "mbb:IfIndex"),
described "LWF over IfIndex N" for a filter's.

Either way the copies are one capture point's (one host's stack), never two: a packet
in the file twice or three times says nothing about where it went beyond that host.
`HostTool` gathers what a pcapng file says of its tool; `identities` reads pktmon's
identity from the packets' comments, in Python only for files whose packets carry
options (the others cost one numpy test per run of blocks).
"""

from __future__ import annotations

import re

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass

PKTMON = "pktmon"
NETSH = "netsh trace"
OPT_COMMENT = 1
NO_IDENTITY = -1
_NETSH_NAME = re.compile(r"(eth|wifi|mbb):\d+(:-?\d+)?$")
# Packets with options read without a pktmon comment before the file is taken for
# another tool's (dumpcap's own comments): no more comments are read.
_GIVE_UP = 64


@fields_dataclass(slots=True)
class HostTool:
    """What a pcapng file says of the tool that wrote it (see the module docstring):
    `name` PKTMON, NETSH or None; whether its packets carry pktmon's identities."""

    name: str | None = None
    pktmon_comments: bool | None = None  # None: not known yet
    application: str | None = None  # the first section header's shb_userappl, as written
    _without: int = 0

    def see_application(self, application: str) -> None:
        """The section header's shb_userappl."""
        self.application = self.application or application
        lowered = application.lower()
        if lowered.startswith("pktmon"):
            self.name = PKTMON
        elif "etl2pcapng" in lowered and self.name is None:
            self.name = NETSH

    def see_interface(self, name: str | None, description: str | None) -> None:
        """An interface block's if_name and if_description (only when the section header
        names no other application: dumpcap on Windows names its Wi-Fi adapter "wifi:9"
        too, trial 24 N3)."""
        if self.name is not None or (self.application is not None
                                     and "etl2pcapng" not in self.application.lower()):
            return
        if (description or "").startswith("LWF over IfIndex") or (
                name is not None and _NETSH_NAME.match(name)):
            self.name = NETSH

    def identities(self, buf: bytes | bytearray | memoryview, order: str,
                   starts: np.ndarray, lengths: np.ndarray,
                   caplen: np.ndarray) -> np.ndarray | None:
        """Per Enhanced Packet Block (starts, lengths, caplen: numpy, its offset in buf,
        block length and captured length), pktmon's identity of its packet (PktGroupId
        * 2**16 + PktNumber), NO_IDENTITY for a block without one; None when no block
        has one. Read in bulk (numpy over the blocks' first option), never per packet in
        Python: a pktmon capture holds a comment on every packet (trial 24 N4)."""
        if self.pktmon_comments is False:
            return None
        options = starts + 28 + ((caplen + 3) & ~3)
        with_options = np.flatnonzero(options + 4 <= starts + lengths - 4)
        if not with_options.size:
            return None
        data = np.frombuffer(buf, np.uint8)
        at = options[with_options]
        big = order == ">"
        code = _u16(data, at, big)
        length = np.where(code == OPT_COMMENT, _u16(data, at + 2, big), 0)
        values = _pktmon_identities(data, at + 4, length)
        if self.pktmon_comments is None:
            matched = np.flatnonzero(values != NO_IDENTITY)
            misses = int(matched[0]) if matched.size else len(values)
            if self._without + misses >= _GIVE_UP:
                self.pktmon_comments = False  # other comments: read no more of them
                return None
            if not matched.size:
                self._without += misses
                return None
            self.pktmon_comments = True
            self.name = PKTMON
        if not (values != NO_IDENTITY).any():
            return None
        found = np.full(starts.shape[0], NO_IDENTITY, np.int64)
        found[with_options] = values
        return found


def _u16(data: np.ndarray, at: np.ndarray, big: bool) -> np.ndarray:
    """The 16-bit fields at `at` (byte offsets in data)."""
    first, second = data[at].astype(np.int64), data[at + 1].astype(np.int64)
    return (first << 8 | second) if big else (second << 8 | first)


# pktmon's comment: "PktGroupId 1001, PktNumber 1, Appearance 2, Direction Tx , ...".
_GROUP, _NUMBER = b"PktGroupId ", b", PktNumber "
_DIGITS = 10  # a 32-bit number's
_WINDOW = 64  # bytes of a comment looked at, as pktmon writes them first


def _pktmon_identities(data: np.ndarray, at: np.ndarray, length: np.ndarray) -> np.ndarray:
    r"""Per comment (its text at `at`, `length` bytes; 0: no comment), PktGroupId * 2**16
    + (PktNumber & 0xFFFF) when it starts "PktGroupId N, PktNumber M", else NO_IDENTITY:
    what the pattern `PktGroupId (\d+), PktNumber (\d+)` matches at its start, in bulk."""
    window = data[np.minimum(at[:, None] + np.arange(_WINDOW), data.shape[0] - 1)]
    window[np.arange(_WINDOW)[None, :] >= np.minimum(length, _WINDOW)[:, None]] = 0
    group, after = _number(window, np.full(at.shape[0], len(_GROUP)))
    ok = (window[:, :len(_GROUP)] == np.frombuffer(_GROUP, np.uint8)).all(axis=1) & (after > 0)
    number_at = len(_GROUP) + after + len(_NUMBER)
    ok &= _matches(window, number_at - len(_NUMBER), _NUMBER)
    number, digits = _number(window, number_at)
    ok &= digits > 0
    return np.where(ok, (group << 16) + (number & 0xFFFF), NO_IDENTITY)


def _matches(window: np.ndarray, at: np.ndarray, text: bytes) -> np.ndarray:
    """Whether each row of window holds `text` from its column at."""
    columns = np.minimum(at[:, None] + np.arange(len(text)), window.shape[1] - 1)
    return (np.take_along_axis(window, columns, axis=1)
            == np.frombuffer(text, np.uint8)).all(axis=1)


def _number(window: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The decimal number each row of window holds from its column at, and its digits
    (0: none; at most _DIGITS read)."""
    columns = np.minimum(at[:, None] + np.arange(_DIGITS), window.shape[1] - 1)
    chars = np.take_along_axis(window, columns, axis=1).astype(np.int64) - ord("0")
    is_digit = (chars >= 0) & (chars <= 9)
    run = np.cumprod(is_digit, axis=1).astype(bool)  # the leading digits only
    count = run.sum(axis=1)
    powers = 10 ** np.clip(count[:, None] - 1 - np.arange(_DIGITS), 0, None)
    return (np.where(run, chars * powers, 0)).sum(axis=1), count

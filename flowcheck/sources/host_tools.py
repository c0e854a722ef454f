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
import struct
from dataclasses import dataclass

import numpy as np

PKTMON = "pktmon"
NETSH = "netsh trace"
OPT_COMMENT = 1
NO_IDENTITY = -1
# pktmon's comment: "PktGroupId 1001, PktNumber 1, Appearance 2, Direction Tx , ...".
_PKTMON_COMMENT = re.compile(rb"PktGroupId (\d+), PktNumber (\d+)")
_NETSH_NAME = re.compile(r"(eth|wifi|mbb):\d+(:-?\d+)?$")
# Packets with options read without a pktmon comment before the file is taken for
# another tool's (dumpcap's own comments): no more comments are read.
_GIVE_UP = 64


@dataclass(slots=True)
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
        has one (no Python work per packet when none carries options)."""
        if self.pktmon_comments is False:
            return None
        options = starts + 28 + ((caplen + 3) & ~3)
        with_options = np.flatnonzero(options + 4 <= starts + lengths - 4)
        if not with_options.size:
            return None
        found = np.full(starts.shape[0], NO_IDENTITY, np.int64)
        head = struct.Struct(order + "HH").unpack_from
        any_found = False
        for row, at in zip(with_options.tolist(), options[with_options].tolist(), strict=True):
            code, length = head(buf, at)
            match = _PKTMON_COMMENT.match(bytes(buf[at + 4:at + 4 + min(length, 64)])) \
                if code == OPT_COMMENT else None
            if match is None:
                if self.pktmon_comments is None:
                    self._without += 1
                    if self._without >= _GIVE_UP:
                        self.pktmon_comments = False
                        break
                continue
            self.pktmon_comments = True
            self.name = PKTMON
            found[row] = (int(match[1]) << 16) + (int(match[2]) & 0xFFFF)
            any_found = True
        return found if any_found else None

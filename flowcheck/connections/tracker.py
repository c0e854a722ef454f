"""ConnectionTracker: batches in, Zeek-style connection records out.

Per batch: decode in bulk, group packets by flow in bulk, then:
- flows without SYN/FIN/RST in the batch, of known, steady, untapped connections, are
  one run each, and all of them are applied together by `apply_runs` (segmented numpy;
  this and the walk below: flowcheck.connections.runs);
- flows of connections opened in this batch (or parked by an earlier one), with few
  packets each, go through the short-connection pass when there are enough of them
  (flowcheck.connections.short; which flows, and the records kept after it:
  flowcheck.connections.short_flows): all their packets at once, a step per packet
  position, the records made in bulk and the sides' state parked in arrays; a flow it
  does not cover (a sequence gap, a 4-tuple reused within the batch, a tapped
  connection) is handed back whole and walked;
- the other flows are walked: packets that can change a connection's state (SYN/FIN/RST,
  a flow's first packet, the first payload while the tap decides, every packet of a
  tapped connection) go through `update_packet` one at a time (the per-packet path,
  flowcheck.connections.per_packet); the runs of plain packets between them are applied
  in rounds, each round's runs (one per flow) in one `apply_runs` call, the first
  round's with the bulk flows' runs.
Sequence holes never send a run back to the per-packet path: only the packets of a run
that open a gap or land below the highest byte seen go through the hole bookkeeping one
at a time. `one_at_a_time` counts them, with the update_packet ones.
`fast=False` sends every packet through `update_packet`: the reference the fast path is
tested against.
ICMP quotes go to the connections they name once the walk is done
(flowcheck.connections.icmp_attach). ARP packets and IPv6 neighbour solicitations and
advertisements go to `arp` (model.arp).
In a batch whose records go back in time, the paths take each connection's packets
written out of time order by less than NTP's step threshold in time order
(flowcheck.connections.by_time.in_time_order): a batch in time order costs nothing more.
`feed` tracks each batch when the next comes, the records at its end written out of time
order across the seam moved to the next (connections.seams): where the caller cuts its
batches changes nothing (a pair written swapped with a cut between them was taken in the
file's order: tests/test_chunk_size_backwards.py).
Capture copies (a packet captured twice, flowcheck.connections.copies) are marked per
batch before any path takes the packets; every path counts a copy as a packet and
nothing else, so the paths stay equal.

Connection uids (C1, C2, ...) follow first_frame. A batch is processed flow by flow, so
uids of the batch's new connections are assigned at the end of the batch, and the
segments of tapped connections are handed to the sink then, in the batch's order (the
order read: a pcapng of several interfaces is read in time order, its frame numbers
staying the file's, sources.interface_order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter

import numpy as np

from flowcheck.connections.accounting import account_missed
from flowcheck.connections.clock import ClockSteps
from flowcheck.connections.conn import (
    ACK,
    SYN,
    ConnState,
)
from flowcheck.connections.cooked_hosts import CookedHosts, RejectWays
from flowcheck.connections.copies import CaptureCopies
from flowcheck.connections.counts import CaptureCounts, SkippedTally
from flowcheck.connections.cut_recorded import CutRecorded
from flowcheck.connections.flows import (
    FlowKey,
    address_text,
    group_flows,
)
from flowcheck.connections.icmp import QuotedAttempts
from flowcheck.connections.icmp_attach import IcmpAttach
from flowcheck.connections.icmp_cut import CutTies
from flowcheck.connections.mirror_gaps import MirrorGaps
from flowcheck.connections.ndmp_hosts import NdmpHosts
from flowcheck.connections.opened_records import OpenedRecords, Records
from flowcheck.connections.packet_identity import captured_ends, header_identities
from flowcheck.connections.parked_table import ParkedTable
from flowcheck.connections.per_packet import PerPacketPath
from flowcheck.connections.runs import SMALL_FLOW, SMALL_FLOWS_FOR_LISTS, RunPaths
from flowcheck.connections.seams import SeamHolder
from flowcheck.connections.short import ShortPass
from flowcheck.connections.short_flows import ShortFlows
from flowcheck.connections.stamped_identity import stamped_identities
from flowcheck.connections.state import conn_state
from flowcheck.connections.syn_ways import SynWays, marked_openings
from flowcheck.connections.tunnel_halves import TunnelHalves
from flowcheck.decode import (
    FRAGMENT,
    NON_TCP,
    UNDECODABLE,
    FragmentCarry,
    decode_batch,
)
from flowcheck.decode.legs import capture_legs
from flowcheck.decode.tunnels import STANDARD_PORTS, TunnelPorts
from flowcheck.model import ArpLog, Connection, SegmentSink
from flowcheck.sources.batch import PacketBatch

WELL_KNOWN_PORTS = 1024
_first_frame = attrgetter("first_frame")  # a record's
_record_first_frame = attrgetter("record.first_frame")  # a ConnState's


class ConnectionTracker(ShortFlows, PerPacketPath, IcmpAttach, RunPaths):
    """A capture set's batches in, in order (`feed`); its connections out (`finish`).

    ndmp_port: connections to or from it are tapped (NDMP control connections); sink:
    receives every packet of a tapped connection (None: nothing is tapped); tap: asked
    with a connection's first payload whether to tap it too (only with a sink);
    fast=False: every packet through the per-packet path (the reference); rto: seconds,
    the retransmission timeout that decides which sequence gaps the capture cannot place
    (accounting.untold_holes; Config.retransmission_timeout); tunnel_ports: the UDP ports
    read as VXLAN and Geneve (--vxlan-port, --geneve-port).
    """

    def __init__(self, *, ndmp_port: int = 10000, sink: SegmentSink | None = None,
                 tap: Callable[[bytes], bool] | None = None, fast: bool = True,
                 rto: float = 3.0, arp_watch: Sequence[str] = (),
                 tunnel_ports: TunnelPorts = STANDARD_PORTS) -> None:
        """arp_watch: the addresses whose ARP requests and answers are kept (`arp`)."""
        self.ndmp_port = ndmp_port
        self.tunnel_ports = tunnel_ports
        self.rto = rto
        self.sink = sink
        self.tap = tap if sink is not None else None
        self.fast = fast
        self.packets = 0
        self.by_capture = CaptureCounts()  # skipped packets by kind, per file of the set
        self.cut_recorded = CutRecorded()  # frames cut and recorded as whole, per file
        self.mirror_gaps = MirrorGaps()  # frames an ERSPAN stream lost, per file
        self.skipped_tally = SkippedTally(ndmp_port)  # what the skipped packets were
        # Packets captured twice (SPAN): marked per batch, before any path takes them.
        self.copies = CaptureCopies()
        self.syn_ways = SynWays()  # Linux cooked captures' marks of each side's SYNs
        self.cooked_hosts = CookedHosts()  # and of each host pair's (the capture host)
        self.reject_ways = RejectWays()  # and of each connection's ICMP unreachables
        # A connection whose directions arrive in two tunnels (tunnel_halves): one.
        self.halves = TunnelHalves()
        # IPv4 fragments a read chunk's end split from their datagram's (fragment_carry).
        self.fragment_carry = FragmentCarry()
        self._copy = np.zeros(0, bool)
        self._columns = None  # the batch's fields for the per-packet path (per_packet)
        self._batch: PacketBatch | None = None  # the batch being tracked (connections.sack)
        # The last batch fed, held for the next one's look-ahead (connections.seams).
        self._seams = SeamHolder()
        self.clock = ClockSteps()  # where the capture's clock steps back
        # Connections seen only as ICMP quotes of their SYNs (flowcheck.connections.icmp).
        self.quoted = QuotedAttempts()
        # ICMP unreachables whose quote the snap length cut (flowcheck.connections.icmp_cut).
        self.cut_ties = CutTies()
        # Who asked for the watched addresses by ARP, and whether they answered
        # (flowcheck.model.arp).
        self.arp = ArpLog(tuple(arp_watch))
        # Connections a reused 4-tuple's new one replaced, for the quotes answering them.
        self._replaced = {}
        # Packets handled one at a time (update_packet, or the hole bookkeeping of a bulk
        # run): it must follow the packets that change state or sequence order, never
        # the connection's history (tests/test_connections_cost.py).
        self.one_at_a_time = 0
        self._flows: dict[FlowKey, ConnState] = {}
        # Connections of the short-connection path, kept as arrays until a later packet
        # needs their ConnState (flowcheck.connections.short).
        # By the FlowTable numbers replays.Spans gives every batch's keys (parked_table).
        self._parked = ParkedTable(self.copies.replays.table)
        # NDMP hosts' flows keep the per-packet path (ndmp_hosts).
        self._ndmp_hosts = NdmpHosts(ndmp_port)
        self._all: list[ConnState] = []
        self._records = OpenedRecords()  # every connection, in order of opening
        self._new: list[Connection] = []
        # The pending short pass (short_flows._commit_short's parts).
        self._short: tuple[ShortPass, np.ndarray, list[FlowKey], list[FlowKey],
                           np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None
        self._segments: list[tuple] = []
        # Per TCP row: its place among the segments handed to the sink (by_time.tracked_flows)
        self._slots: np.ndarray | None = None
        self._next_uid = 1
        self._finished: Records | None = None

    # Totals over the capture set, from the per-file counts (one count per batch).
    @property
    def non_tcp(self) -> int:
        return self.by_capture.total(NON_TCP)

    @property
    def fragments(self) -> int:
        return self.by_capture.total(FRAGMENT)

    @property
    def undecodable(self) -> int:
        return self.by_capture.total(UNDECODABLE)

    # -- batches ---------------------------------------------------------------------

    def feed(self, batch: PacketBatch) -> None:
        """Take the capture set's next batch. The batch before it is tracked now, its
        last records written out of time order across its end (stamped after a record
        of their own connection at this batch's start, by less than CLOCK_STEP_SECONDS)
        moved to this one (connections.seams), which is held for the next batch's
        look-ahead (`flush`, `finish`): a connection's packets are taken in time order
        however the caller cut the batches (tests/test_chunk_size_backwards.py)."""
        ready = self._seams.push(batch)
        if ready is not None and len(ready):
            self._track(ready)

    def flush(self) -> None:
        """Track the batch `feed` holds (the reading is over, or a check needs every
        packet fed counted; finish does it too)."""
        rest = self._seams.flush()
        if rest is not None and len(rest):
            self._track(rest)

    def _track(self, batch: PacketBatch) -> None:
        """Account for one batch, its seams' records moved (`feed`)."""
        decoded = decode_batch(batch, skipped_flows=self.skipped_tally.flows,
                               ports=self.tunnel_ports, carry=self.fragment_carry)
        self.packets += len(batch)
        self.skipped_tally.add(decoded)
        self.by_capture.add(batch.capture, decoded.kind, decoded.assembled)
        self.by_capture.unloose(self.fragment_carry.used)
        self.cut_recorded.see(batch, decoded)
        self.mirror_gaps.see(batch, decoded)
        self.clock.see(batch, decoded)
        for packets, add in ((decoded.arp, self.arp.add),
                             (decoded.neighbours, self.arp.add_neighbours)):
            if len(packets) and self.arp.watched:
                at = packets.position
                add(at + batch.frame0, np.asarray(batch.ts)[at], packets.op, packets.sender,
                    packets.target, packets.hardware)
        self._buf = (decoded.payload_buf if decoded.payload_buf is not None
                     else np.frombuffer(batch.buf, dtype=np.uint8) if len(batch) else None)
        self._decoded = decoded
        self._columns = None
        self._batch = batch
        flows = self.halves.join(decoded, group_flows(decoded))
        if decoded.linux_cooked and decoded.icmp_quotes:  # copies' marks too (cooked_hosts)
            self.reject_ways.note([quote for quote in decoded.icmp_quotes
                                   if not quote.time_exceeded])
        # ICMP copies first: the first copy of the capture may be one (copies.py).
        quotes, since = self.copies.icmp_originals(decoded.icmp_quotes)
        sources = batch.capture_of(decoded.tcp_index)
        identity = None if batch.identity is None else batch.identity[decoded.tcp_index]
        buf = self._buf
        ends = None if buf is None else captured_ends(batch, decoded)
        headers = None if buf is None or ends is None else header_identities(decoded, buf, ends)
        self._copy, replayed = self.copies.mark(
            decoded, flows, since, sources, identity,
            lambda: capture_legs(batch, decoded.tcp_index), headers,
            None if buf is None or ends is None else
            lambda rows: stamped_identities(decoded, buf, ends, rows),
            lambda rows: capture_legs(batch, decoded.tcp_index[rows]))
        marked = marked_openings(batch, decoded)  # packet types read once (syn_ways)
        if self.copies.count:  # two marks of a packet to read (syn_ways)
            self.syn_ways.note(decoded, flows, marked)
        self.cooked_hosts.note(decoded, marked)
        # Records out of time order: a connection's times by time (by_time).
        timed = None if self.clock.timed is None else self.clock.timed[decoded.tcp_index]
        if timed is not None:  # loaded with the first capture out of time order (issue 7)
            from flowcheck.connections.by_time import moved_flows, spans_by_time, tracked_flows
        by_time = None if timed is None or not flows.keys else moved_flows(
            decoded, flows, timed, self.clock.reached, self._record_of, replayed)
        # The paths take each flow's packets in time order (by_time.in_time_order).
        tracked, changed = flows, []
        if by_time is not None:
            tracked, self._slots, changed = tracked_flows(decoded, flows, self.clock)
        walk, runs = (self._bulk_flows(tracked) if self.fast
                      else (range(len(flows.keys)), []))
        if self.fast and self.sink is not None:
            self._ndmp_hosts.note(decoded)  # every batch's: a control packet may be bulk's
        if self.fast and len(walk):
            walk = self._short_flows(tracked, walk, None if by_time is None else by_time.moved)
        # Many packets one at a time (short connections), or a batch too small for any
        # flow to be walked in runs (each goes one packet at a time): see _small_flows.
        if len(walk) >= SMALL_FLOWS_FOR_LISTS or decoded.tcp_index.shape[0] < SMALL_FLOW:
            walk = self._small_flows(tracked, walk)
        # The bulk flows' runs join the walk's first round (runs.RunPaths._walk_flows).
        self._walk_flows(tracked, walk, runs)
        late = self._quotes_before_commit(quotes)
        self._commit_short()
        for quote in late:
            self._attach_icmp(quote)
        self.cut_ties.feed(decoded, flows, self._opened_at, self.halves.other_half)
        if by_time is not None:
            spans_by_time(decoded, flows, by_time, self._record_of)
        self.clock.time_ordered.extend(self._record_of(flows.keys[f]) for f in changed)
        self._end_batch()
        return decoded

    # -- the connection table --------------------------------------------------------

    def _get(self, key: FlowKey) -> ConnState | None:
        """The connection of a flow key, its ConnState made from the arrays if parked."""
        c = self._flows.get(key)
        if c is None:
            entry = self._parked.pop(key)
            if entry is not None:
                c = self._flows[key] = entry[0].conn_state(entry[1])
                self._all.append(c)
        return c

    def _record_of(self, key: FlowKey) -> Connection | None:
        """The current record of a flow key (its connection's, parked or not)."""
        c = self._flows.get(key)
        if c is not None:
            return c.record
        entry = self._parked.get(key)
        return None if entry is None else entry[0].records[entry[1]]

    def _open(self, key: FlowKey, from_lower: bool, flags: int, frame: int,
              ts: float, refusal: bool = False) -> ConnState:
        """A new connection from its first packet (refusal: that packet has
        conn.refusal_shape). Its originator: a SYN's sender; a SYN-ACK's or a refusal
        RST's receiver (the SYN they answer is not captured); else a client port's
        side when the other is a server port, else the sender."""
        if key in self._flows:
            self._replace(key)  # a reused 4-tuple: ICMP quotes may answer the old one
        lower, upper, tunnel = key
        sender, receiver = (lower, upper) if from_lower else (upper, lower)
        if flags & (SYN | ACK) == SYN:
            flipped = False
        elif flags & (SYN | ACK) == SYN | ACK:
            flipped = True  # a SYN-ACK seen first: its receiver opened the connection
        elif refusal:
            flipped = True  # a refusal seen first: its receiver sent the SYN
        else:
            flipped = self._looks_like_server(sender[2]) and not self._looks_like_server(
                receiver[2])
        orig, resp = (receiver, sender) if flipped else (sender, receiver)
        record = Connection(uid="", orig_h=address_text(orig[0], orig[1]), orig_p=orig[2],
                            resp_h=address_text(resp[0], resp[1]), resp_p=resp[2], ts=ts,
                            last_ts=ts, first_frame=frame, last_frame=frame,
                            tunnel=tunnel or None, refusal_first=refusal)
        c = ConnState(record=record, orig_is_lower=orig == lower)
        if flipped:
            record.history = "^"
        if self.sink is not None:
            c.tapped = self.ndmp_port in (orig[2], resp[2])
            c.tap_pending = not c.tapped and self.tap is not None
        self._flows[key] = c
        self._parked.pop(key)
        self._all.append(c)
        self._records.append(record)
        self._new.append(record)
        return c

    def _looks_like_server(self, port: int) -> bool:
        return port < WELL_KNOWN_PORTS or port == self.ndmp_port

    def _end_batch(self) -> None:
        self._new.sort(key=_first_frame)
        for record in self._new:
            record.uid = f"C{self._next_uid}"
            self._next_uid += 1
        self._new = []
        if self.sink is not None and self._segments:
            slots = self._slots
            self._segments.sort(key=(lambda s: s[0]) if slots is None else
                                (lambda s: int(slots[s[0]])))
            for _, c, direction, seq, flags, payload, frame, ts, wire, ack in self._segments:
                if not c.tapped:
                    continue  # the sink gave it up earlier in this batch
                if wire > len(payload):  # cut by the snap length: say how long it really was
                    wanted = self.sink.segment(c.record.uid, direction, seq, flags, payload,
                                               frame, ts, wire_len=wire, ack=ack)
                else:
                    wanted = self.sink.segment(c.record.uid, direction, seq, flags, payload,
                                               frame, ts, ack=ack)
                if wanted is False:  # not what the sink decodes: back to the bulk path
                    c.tapped = False
        self._segments = []
        self._slots = None
        self._decoded = None  # type: ignore[assignment]
        self._batch = None
        self._buf = None
        self._columns = None

    # -- the end ---------------------------------------------------------------------

    def finish(self) -> Records:
        """Close every connection: conn_state, missed bytes; ordered by first_frame (a
        Sequence: the short pass's records made when read, opened_records)."""
        if self._finished is not None:
            return self._finished
        self.flush()
        # Parked connections' records were closed when made (short.ShortPass.commit).
        for c in sorted(self._all, key=_record_first_frame):
            record = c.record
            record.conn_state = conn_state(c.orig.state, c.resp.state, record.history,
                                           record.orig_bytes, record.resp_bytes)
            account_missed(c, self.rto)
            written = record.written_last
            if written is not None and written[0] < record.last_frame:
                # Set by a batch whose flow went back in time (by_time.spans_by_time);
                # later batches' packets in time order moved last_frame past it: no
                # longer the last packet in file order. One written after the latest
                # stamped (last_frame, by time) is, on every read (review56g: the last
                # two records written swapped, frames 24 and 25).
                record.written_last = None
            if c.tapped and self.sink is not None:
                self.sink.close(record.uid)
        # Ordered by a first_frame column: the parked blocks' records are made when read
        # (flowcheck.connections.block_records), not here.
        self._finished = self._records.ordered(self.quoted.untracked(self._answered_elsewhere))
        return self._finished


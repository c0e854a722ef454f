"""Live verification: the streaming pipeline over a capture tool's pipe.

The same reader, tracker and NDMP collector as for files, and the same look-ahead across
the reader's batches (connections.seams: two records written swapped with a read of the
pipe ending between them are taken in time order). Every `interval` seconds of
packet time, a copy of the tracker and collector is finished and analysed; findings that
no later packet can take back are reported at once ("certain"), the rest wait for the
final report when the capture stops. Each check sees every record read: the check's copy
of the tracker tracks the batch the tracker holds for the look-ahead. A silence counts only as
the files' analysis counts it (flowcheck.verify.evidence); the final report adds the
time the sniffer ran on after the last packet, which a file cannot show.

With `tick`, the same check also runs when no packet has come for `tick` seconds of wall
time (a failed job followed by a silent link), the capture's clock then read as the last
packet's time plus the wall time since it was read, less SNIFFER_DELAY.
"""

from __future__ import annotations

import copy
import select
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from flowcheck.config import Config
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import CaptureInfo, Finding
from flowcheck.pipeline import Analysis, analyze, traffic_from, tunnel_ports
from flowcheck.sessions.fallback import FALLBACK_SECONDS
from flowcheck.verify.context import session_uids
from flowcheck.verify.reply_errors import waiting_tape

if TYPE_CHECKING:
    from flowcheck.connections import ConnectionTracker
    from flowcheck.ndmp import NdmpCollector

# Findings whose evidence, once seen, stays: a refusal, a port out of range.
CERTAIN_ONCE_SEEN = frozenset({
    "callback_refused", "data_refused",
    "port_outside_media_range",
    "port_outside_agent_range", "control_port_outside_media_range",
    "ranges_overlap", "range_holds_ndmp_port",
    "host_not_configured",
})
# A data connection's failure counts every attempt to its endpoint (verify.failed_data:
# "refused (2 attempts)", each attempt's frames): a connector that tries again from a new
# port changes its words, so it is certain only once every connection to that endpoint
# has been quiet for `settle` seconds too (lab/tls-data-port-in-use with a second attempt
# added: printed at the first RST, the report's says "(2 attempts)").
RETRIED_TO_ENDPOINT = frozenset({"data_refused", "data_unanswered", "handshake_incomplete",
                                 "data_aborted"})  # verify.aborted counts them alike
# A refused control connection the media server may still retry under the agent's other
# IP version (verify.fallback: ip_version_fallback takes it back): certain once its
# connection has been quiet for FALLBACK_SECONDS.
CERTAIN_AFTER_FALLBACK = frozenset({"control_refused"})
# Findings about silence: certain once the connection has been quiet for `settle` seconds.
CERTAIN_AFTER_SILENCE = frozenset({
    "control_unanswered", "callback_unanswered", "data_unanswered", "handshake_incomplete",
    "announced_address_mismatch",
    # A connector whose connect timed out may retry; a retry that opens takes it back.
    "data_aborted",
    # An ACK that comes at last, or new bytes, take it back; and so does a RST after the
    # sender's next resend, which comes after twice its last wait (RFC 6298 5.5): certain
    # once quiet for longer than the finding's run has lasted, plus the retransmission
    # timeout, too (trial37c-topology/router-link-down-media with settle 1: its FIN
    # resends printed as data_stalled, the RST after the next made it data_reset).
    "control_stalled", "data_stalled",
    # A late answer takes it back.
    "ndmp_no_reply",
})
# Silences a connector may still end: its SYN retried after a doubled timeout
# (RFC 6298 5.5: Linux retries a SYN for about two minutes). Certain once the
# connection has been quiet for longer than its attempts have lasted, plus a timeout.
BACKED_OFF = frozenset({"control_unanswered", "callback_unanswered", "data_unanswered",
                        "handshake_incomplete"})
# A reset data connection: a normal halt after it takes it back (an abortive close at the
# end), and its words name the halt that came (NOTIFY_DATA_HALTED on the control
# connection) and the sender's last packet after the RST: a sender that never got the RST
# (a duplicate address's, a host firewall's) resends on, each wait doubled (RFC 6298 5.5).
# Certain once its session is quiet and the connection has been quiet for longer than it
# went on after the reset, plus the retransmission timeout (trial37c-topology/duplicate-
# agent-address-media: printed after 10 s of quiet with "its last data packet: frame
# 717", then resent at 33 s and 64 s, and halted with CONNECT_ERROR at 31.9 s).
CERTAIN_AFTER_RESENDS = frozenset({"data_reset"})
# Findings reported only while their session has no root cause of another kind (a
# data_stalled or data_reset, which need silence, makes them its consequence): certain
# once every connection of the session has been quiet for `settle` seconds.
CERTAIN_WHEN_SESSION_QUIET = frozenset({
    "control_reset", "control_closed", "data_halted_abnormally", "ndmp_error_reply",
})
# Except in a session waiting for its tape drive (a TAPE_OPEN refused, busy or empty, and
# nothing after it on the open control connection: verify.reply_errors.waiting_tape): a
# DMA tries the drive again when it pleases (Backup Exec waits for a busy one), and a
# retry that gets it takes the refusal back; its words say the capture ended while the
# session waited. It waits for the final report (trial40-rules/tape-busy-retry-succeeds,
# settle 1: DEVICE_BUSY_ERR printed, the retry 6.4 s later got the drive).
# Findings whose frames move on while the evidence goes on (each resend is a new last
# resend): one event per connection.
_MOVING_FRAMES = frozenset({"control_stalled", "data_stalled"})
# The finding of a session whose hosts the configuration does not name.
_OUTSIDE = "host_not_configured"
# Every other code (capture_ended_early, capture_one_direction, step findings) waits for
# the final report: only the end of the capture decides it. So do findings whose words
# count what the whole capture holds, which any later packet may change:
# port_reused_within_hold (its fix names the most ports the host held at once and the
# shortest time it held one; tests/live_sweep.py, trial35-many/three-agents-failing:
# "held at most 19 at once" printed, 30 in the report), ndmp_vendor_message (how many
# times it came: asa-callback-drop-nat printed it before its second), capture_loss (its
# totals, the connection most affected, and its severity, a share of all the payload:
# ndmjob-sniffloss/par-ann-media printed a warning for 10% of 480 B, the report's info
# for 0.034% of 824,456 B; a mirror's reordered copy fills a gap later:
# trial36b-virtual/aws-mirror-reordered-clean printed a loss the report does not hold),
# control_off_backup_network (one per cause across the sessions, counting the
# connections it moved off the network: lab-trial19-network/mh1-announce-other-nic
# printed the first data connection's, the report's names two and both announcements).

# Seconds a packet may take from its timestamp to the reader beyond what the last packet
# read took: the silence after the last packet is counted this much short, so a packet
# still inside the sniffer cannot end a silence already judged. tcpdump runs with
# --immediate-mode -U (libpcap hands each packet on at once, tcpdump flushes it to the
# pipe); dumpcap writes in batches; the scapy sniffer writes each packet as it gets it
# (sync=True). Measured on a loopback, wire to pipe: tcpdump 4.99 under 1 ms, dumpcap
# 4.0 about 0.13 s. One second leaves dumpcap seven times its delay, a loaded machine
# some room, and only delays the finding by as much.
SNIFFER_DELAY = 1.0
# A check while the link is quiet costs no more than a quarter of the wall time: the
# next waits at least this many times as long as the last took (a capture of many
# connections can take a second to analyse).
_IDLE_SPACING = 3.0


@fields_dataclass(slots=True)
class LiveEvent:
    kind: str  # "finding" or "report"
    finding: Finding | None = None
    analysis: Analysis | None = None


def _finding_key(finding: Finding) -> tuple:
    """What makes a finding the one already printed: its code, connection, session and
    first frame, and its message but for a stall (its frames and words move on with each
    resend: one per connection). The message, because one connection's finding of one
    code may be about several things: a port reused on both sides (lab/port-reused-within-
    hold: 10.77.0.1:5002 and 10.77.0.2:6001 at C6's SYN), a session's two hosts outside
    the configuration, the range too small for a host and for a job; keyed without it,
    the second was never printed. A printed finding's words are the report's."""
    if finding.code in _MOVING_FRAMES:
        return (finding.code, finding.uid, finding.session)
    return (finding.code, finding.uid, finding.session, tuple(finding.frames[:1]),
            finding.message)


class LiveVerifier:
    """Feeds a capture stream through the pipeline and yields LiveEvents as it goes."""

    def __init__(self, config: Config, *, interval: float = 5.0, settle: float = 10.0,
                 tick: float | None = None) -> None:
        """interval: seconds of packet time between checks as packets come; settle:
        seconds a connection must be quiet for a silence to be certain; tick: seconds of
        wall time without a packet after which the check runs anyway (None: never; only
        for a stream that is a capture running now, whose quiet pipe is a quiet link)."""
        from flowcheck.connections import ConnectionTracker
        from flowcheck.ndmp import NdmpCollector, looks_like_ndmp

        self.config = config
        self.interval = interval
        self.settle = settle
        self.tick = tick
        self.collector = NdmpCollector()
        self.tracker = ConnectionTracker(ndmp_port=config.ndmp_port, sink=self.collector,
                                         tap=looks_like_ndmp,
                                         rto=config.retransmission_timeout,
                                         arp_watch=config.remote_agents,
                                         tunnel_ports=tunnel_ports(config))
        self.reported: set[tuple] = set()
        self._last_check: float | None = None
        self._now = 0.0  # the capture's clock: never runs backwards
        self._last_ts = 0.0  # the last packet read: its timestamp, and when (monotonic)
        self._read_at: float | None = None
        # The same pair as one value, for last_read from another thread.
        self._last_read: tuple[float, float] | None = None
        self._next_idle = 0.0  # monotonic time before which a quiet link is not checked

    def run(self, stream: BinaryIO, *, clock: Callable[[], float] | None = None,
            kernel_drops: Callable[[], int | None] | None = None,
            capture_filter: str | None = None, interface: str | None = None,
            sniffer: tuple[str, int] | None = None,
            stop_cut: Callable[[int], bool] | None = None) -> Iterator[LiveEvent]:
        """clock: the time now on the packets' clock (time.time for a local sniffer),
        read when the stream ends; without it the capture ends with its last packet.
        kernel_drops: called once the stream ends, for the sniffer's own drop count.
        capture_filter, interface: what the sniffer applied and sniffed (CaptureInfo's).
        sniffer: (the capture tool, its kernel buffer in MiB), for the report's advice.
        stop_cut: called, once the sniffer ended, with the byte offset of the stream's
        last record when that record is incomplete: whether the sniffer was writing it
        when flowcheck stopped it (LiveCapture.stop_cut): then it is no cut capture."""
        from flowcheck.sources import iter_batches

        reader = iter_batches([stream])
        batches = iter(reader)
        descriptor = _descriptor(stream) if self.tick is not None else None
        while True:
            # The sniffers' pipes are read unbuffered (sources/live.py, scapy_live.py):
            # a quiet descriptor means no packet waits. Before the first packet there is
            # nothing to check.
            if descriptor is not None and self._read_at is not None:
                while not select.select([descriptor], [], [], self.tick)[0]:
                    yield from self._idle_check(reader.captures)
            batch = next(batches, None)
            if batch is None:
                break
            # The tracker holds it for the next one's look-ahead (connections.seams);
            # every check's snapshot tracks it (finish).
            self.tracker.feed(batch)
            if len(batch):
                self._last_ts, self._read_at = float(batch.ts[-1]), time.monotonic()
                self._last_read = (self._last_ts, self._read_at)
                self._now = max(self._now, self._last_ts)
            if self._last_check is None:
                self._last_check = self._now
            if self._now - self._last_check >= self.interval:
                self._last_check = self._now
                yield from self._certain_findings(reader.captures)
        self.tracker.flush()
        # The sniffer ran on after the last packet until it was stopped: that silence is
        # capture time too (evidence that a SYN went unanswered). A quiet link already
        # checked counted part of it: the end is no earlier than that.
        ended = clock() if clock is not None else None
        if self._now > self._last_ts:
            ended = self._now if ended is None else max(ended, self._now)
        said = kernel_drops() if kernel_drops is not None else None
        if said is not None and reader.captures:  # else what the stream's pcapng said
            reader.captures[0].kernel_dropped = said
        if reader.captures:
            info = reader.captures[0]
            if (info.cut_tail and info.error_offset is not None and stop_cut is not None
                    and stop_cut(info.error_offset)):
                info.truncated = info.cut_tail = False
                info.error = info.error_offset = None
            info.capture_filter = capture_filter or info.capture_filter
            info.interface = interface or info.interface
            if sniffer is not None:
                info.sniffer, info.buffer_mib = sniffer
        final = self._analyse(self.tracker, self.collector, reader.captures, ended_at=ended)
        for finding in final.findings:
            if _finding_key(finding) not in self.reported:
                self.reported.add(_finding_key(finding))
                yield LiveEvent("finding", finding=finding)
        yield LiveEvent("report", analysis=final)

    def last_read(self) -> tuple[float, float] | None:
        """(the last packet read: its timestamp, seconds since the epoch on the capture's
        clock; when it was read, time.monotonic()), None before the first packet. Safe
        from another thread (live's stop waits on it: sources.live_drain)."""
        return self._last_read

    def _idle_check(self, captures: list[CaptureInfo]) -> Iterator[LiveEvent]:
        """The check on a link quiet for `tick` seconds: the silence since the last packet
        counts as capture time, less SNIFFER_DELAY."""
        assert self._read_at is not None
        waited = time.monotonic() - self._read_at
        now = self._last_ts + waited - SNIFFER_DELAY
        if now <= self._now or time.monotonic() < self._next_idle:
            return
        self._now = self._last_check = now
        started = time.monotonic()
        yield from self._certain_findings(captures, ended_at=now)
        self._next_idle = time.monotonic() + _IDLE_SPACING * (time.monotonic() - started)

    def _certain_findings(self, captures: list[CaptureInfo], *,
                          ended_at: float | None = None) -> Iterator[LiveEvent]:
        """The findings no later packet can take back, at capture time self._now;
        ended_at: the capture's end for the evidence rules, when past its last packet."""
        # Finishing is final for a tracker, so the snapshot works on copies: memory and
        # time follow the number of connections, not the packets read so far.
        tracker, collector, captures = copy.deepcopy((self.tracker, self.collector, captures))
        tracker.flush()  # the batch held for the look-ahead (shared: seams.SeamHolder)
        analysis = self._analyse(tracker, collector, captures, ended_at=ended_at)
        rto = self.config.retransmission_timeout
        quiet = {c.uid for c in analysis.traffic.connections
                 if self._now - c.last_ts >= self.settle}
        by_uid = {c.uid: c for c in analysis.traffic.connections}
        endpoint_last: dict[tuple[str, int], float] = {}
        for conn in analysis.traffic.connections:
            end = (conn.resp_h, conn.resp_p)
            endpoint_last[end] = max(endpoint_last.get(end, conn.last_ts), conn.last_ts)
        backed_off = {c.uid for c in analysis.traffic.connections if c.uid in quiet
                      and self._now - c.last_ts >= (c.last_ts - c.ts) + rto}

        def resends_over(finding: Finding) -> bool:
            """Quiet for longer than the connection went on after its first resend (or the
            finding's time), plus the retransmission timeout: each wait of a sender's at
            most doubles the one before (RFC 6298 5.5), so its next resend would have
            come by then."""
            conn = by_uid.get(finding.uid or "")
            if conn is None:
                return False
            starts = [e.resend_first_ts for e in (conn.orig_evidence, conn.resp_evidence)
                      if e is not None and e.resend_first_ts is not None]
            start = min([*starts, finding.ts if finding.ts is not None else conn.last_ts])
            return self._now - conn.last_ts >= (conn.last_ts - start) + rto

        streams = {s.uid: s for s in analysis.traffic.streams}
        quiet_sessions = {s.id for s in analysis.sessions
                          if all(uid in quiet for uid in session_uids(s))
                          and waiting_tape(streams.get(s.control_uid)) is None}
        # A connection several sessions fit alike (verify.tied_failures: its finding has
        # no session, the candidates named) may be tied to one of them by their later
        # packets: certain once every candidate is quiet (field47-tls-matrix/two-jobs-
        # dual-stack-data-tied-tls: "of session S1 or S2", S1's in the report).
        candidates: dict[str, set[str]] = {}
        for session in analysis.sessions:
            for uid in (*session.port_tied, *session.callback_ambiguous):
                candidates.setdefault(uid, set()).add(session.id)
        # A session of hosts outside the configuration is side traffic once a configured
        # job shows up later (verify.hosts.mark_side_traffic: its errors withheld): its
        # findings wait for the final report.
        outside = {f.session for f in analysis.findings if f.code == _OUTSIDE}
        for finding in analysis.findings:
            key = _finding_key(finding)
            code = finding.code
            if finding.session is not None and finding.session in outside:
                continue
            if finding.session is None and not candidates.get(finding.uid, set()) <= \
                    quiet_sessions:
                continue
            conn = by_uid.get(finding.uid or "")
            if code in RETRIED_TO_ENDPOINT and conn is not None and conn.role == "data" and \
                    self._now - endpoint_last[(conn.resp_h, conn.resp_p)] < self.settle:
                continue
            # ranges_overlap naming a connection the overlap leaves untold (its reading:
            # verify.range_overlap) is withdrawn when a later GET_STATE reply names that
            # connection for its session: the report's.
            certain = (code in CERTAIN_ONCE_SEEN
                       and finding.reading != "untold_connection") or (
                code in CERTAIN_AFTER_FALLBACK and conn is not None
                and self._now - conn.last_ts >= FALLBACK_SECONDS) or (
                code in CERTAIN_AFTER_SILENCE and finding.uid in quiet
                and (code not in BACKED_OFF or finding.uid in backed_off)
                and (code not in _MOVING_FRAMES or resends_over(finding))) or (
                code in CERTAIN_WHEN_SESSION_QUIET and finding.session in quiet_sessions) or (
                code in CERTAIN_AFTER_RESENDS and finding.uid in quiet
                and finding.session in quiet_sessions and resends_over(finding))
            if certain and key not in self.reported:
                self.reported.add(key)
                yield LiveEvent("finding", finding=finding)

    def _analyse(self, tracker: ConnectionTracker, collector: NdmpCollector,
                 captures: list[CaptureInfo], *, ended_at: float | None = None) -> Analysis:
        from flowcheck.connections import finish_tracking

        traffic = traffic_from(finish_tracking(tracker, list(captures)), collector)
        if ended_at is not None:
            traffic.ended_at = max(ended_at, traffic.ended_at or ended_at)
        return analyze(traffic, self.config)


def _descriptor(stream: BinaryIO) -> int | None:
    """The stream's file descriptor, to wait on; None for one without (in memory)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None

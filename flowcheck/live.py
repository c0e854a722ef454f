"""Live verification: the streaming pipeline over a capture tool's pipe.

The same reader, tracker and NDMP collector as for files. Every `interval` seconds of
packet time, a copy of the tracker and collector is finished and analysed; findings that
no later packet can take back are reported at once ("certain"), the rest wait for the
final report when the capture stops. A silence counts only as the files' analysis counts
it (flowcheck.verify.evidence); the final report adds the time the sniffer ran on after
the last packet, which a file cannot show.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from flowcheck.config import Config
from flowcheck.model import CaptureInfo, Finding, Severity
from flowcheck.pipeline import Analysis, analyze, traffic_from
from flowcheck.verify.context import session_uids

if TYPE_CHECKING:
    from flowcheck.connections import ConnectionTracker
    from flowcheck.ndmp import NdmpCollector

# Findings whose evidence, once seen, stays: a refusal, a port out of range.
CERTAIN_ONCE_SEEN = frozenset({
    "control_refused", "callback_refused", "data_refused",
    "port_outside_media_range",
    "port_outside_agent_range", "control_port_outside_media_range",
    "control_off_backup_network", "ranges_overlap",
    "port_reused_within_hold", "ndmp_vendor_message", "host_not_configured",
})
# Findings about silence: certain once the connection has been quiet for `settle` seconds.
CERTAIN_AFTER_SILENCE = frozenset({
    "control_unanswered", "callback_unanswered", "data_unanswered", "handshake_incomplete",
    "announced_address_mismatch",
    # A connector whose connect timed out may retry; a retry that opens takes it back.
    "data_aborted",
    # A normal halt after the reset takes it back (an abortive close at the end).
    "data_reset",
    # An ACK that comes at last, or new bytes, take it back.
    "control_stalled", "data_stalled",
    # A late answer takes it back.
    "ndmp_no_reply",
})
# Silences a connector may still end: its SYN retried after a doubled timeout
# (RFC 6298 5.5: Linux retries a SYN for about two minutes). Certain once the
# connection has been quiet for longer than its attempts have lasted, plus a timeout.
BACKED_OFF = frozenset({"control_unanswered", "callback_unanswered", "data_unanswered",
                        "handshake_incomplete"})
# Findings reported only while their session has no root cause of another kind (a
# data_stalled or data_reset, which need silence, makes them its consequence): certain
# once every connection of the session has been quiet for `settle` seconds.
CERTAIN_WHEN_SESSION_QUIET = frozenset({
    "control_reset", "control_closed", "data_halted_abnormally", "ndmp_error_reply",
})
# Findings whose frames move on while the evidence goes on (each resend is a new last
# resend): one event per connection.
_MOVING_FRAMES = frozenset({"control_stalled", "data_stalled"})
# Every other code (capture_ended_early, capture_one_direction, step findings) waits for
# the final report: only the end of the capture decides it.


@dataclass(slots=True)
class LiveEvent:
    kind: str  # "finding" or "report"
    finding: Finding | None = None
    analysis: Analysis | None = None


# The running capture loss: reported once, when it crosses the warning line (its totals
# only grow; the final report has them).
RUNNING_LOSS = "capture_loss"


def _finding_key(finding: Finding) -> tuple:
    if finding.code == RUNNING_LOSS:
        return (finding.code,)
    if finding.code in _MOVING_FRAMES:
        return (finding.code, finding.uid, finding.session)
    return (finding.code, finding.uid, finding.session, tuple(finding.frames[:1]))


class LiveVerifier:
    """Feeds a capture stream through the pipeline and yields LiveEvents as it goes."""

    def __init__(self, config: Config, *, interval: float = 5.0, settle: float = 10.0) -> None:
        from flowcheck.connections import ConnectionTracker
        from flowcheck.ndmp import NdmpCollector, looks_like_ndmp

        self.config = config
        self.interval = interval
        self.settle = settle
        self.collector = NdmpCollector()
        self.tracker = ConnectionTracker(ndmp_port=config.ndmp_port, sink=self.collector,
                                         tap=looks_like_ndmp)
        self.reported: set[tuple] = set()
        self._last_check: float | None = None
        self._now = 0.0

    def run(self, stream: BinaryIO, *, clock: Callable[[], float] | None = None,
            kernel_drops: Callable[[], int | None] | None = None) -> Iterator[LiveEvent]:
        """clock: the time now on the packets' clock (time.time for a local sniffer),
        read when the stream ends; without it the capture ends with its last packet.
        kernel_drops: called once the stream ends, for the sniffer's own drop count."""
        from flowcheck.sources import iter_batches

        reader = iter_batches([stream])
        for batch in reader:
            self.tracker.feed(batch)
            if len(batch):
                self._now = float(batch.ts[-1])
            if self._last_check is None:
                self._last_check = self._now
            if self._now - self._last_check >= self.interval:
                self._last_check = self._now
                yield from self._certain_findings(reader.captures)
        # The sniffer ran on after the last packet until it was stopped: that silence is
        # capture time too (evidence that a SYN went unanswered).
        ended = clock() if clock is not None else None
        if kernel_drops is not None and reader.captures:
            reader.captures[0].kernel_dropped = kernel_drops()
        final = self._analyse(self.tracker, self.collector, reader.captures, ended_at=ended)
        for finding in final.findings:
            if _finding_key(finding) not in self.reported:
                self.reported.add(_finding_key(finding))
                yield LiveEvent("finding", finding=finding)
        yield LiveEvent("report", analysis=final)

    def _certain_findings(self, captures: list[CaptureInfo]) -> Iterator[LiveEvent]:
        # Finishing is final for a tracker, so the snapshot works on copies: memory and
        # time follow the number of connections, not the packets read so far.
        tracker, collector, captures = copy.deepcopy((self.tracker, self.collector, captures))
        analysis = self._analyse(tracker, collector, captures)
        rto = self.config.retransmission_timeout
        quiet = {c.uid for c in analysis.traffic.connections
                 if self._now - c.last_ts >= self.settle}
        backed_off = {c.uid for c in analysis.traffic.connections if c.uid in quiet
                      and self._now - c.last_ts >= (c.last_ts - c.ts) + rto}
        quiet_sessions = {s.id for s in analysis.sessions
                          if all(uid in quiet for uid in session_uids(s))}
        for finding in analysis.findings:
            key = _finding_key(finding)
            code = finding.code
            certain = code in CERTAIN_ONCE_SEEN or (
                code in CERTAIN_AFTER_SILENCE and finding.uid in quiet
                and (code not in BACKED_OFF or finding.uid in backed_off)) or (
                code in CERTAIN_WHEN_SESSION_QUIET and finding.session in quiet_sessions) or (
                code == RUNNING_LOSS and finding.severity == Severity.WARNING)
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

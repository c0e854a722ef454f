"""Port ranges as a capacity: overlap, size against the traffic, reuse within the hold.

After each session Backup Exec holds its ports for port_hold_seconds (60) before they
are free again, so a range must cover the ports in use plus those still held. Reuse is
a warning about capacity, not a rule that reuse is wrong.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import pairwise

from flowcheck.config import format_ranges
from flowcheck.durations import span_below
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection
from flowcheck.plan import (
    callback_source_ports,
    control_ports,
    job_engine_ports,
    ports_per_job,
    range_size,
    ranges_holding_ndmp_port,
    usable_ports,
)
from flowcheck.sessions.classify import connection_outcome, is_failed
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.range_need import StoppedNeed, jobs_counted, need_words, stopped_need
from flowcheck.verify.range_overlap import ranges_overlap
from flowcheck.verify.range_stop import RangeStop
from flowcheck.verify.range_stops import (
    RANGE_SETTING,
    Usage,
    merged_uses,
    port_usage,
    refused_listener,
)


def check_capacity(ctx: Context) -> None:
    ranges_overlap(ctx)
    _range_holds_ndmp_port(ctx)
    usage = port_usage(ctx)
    peaks = {which: _range_too_small(ctx, which, usage[which]) for which in ("media", "agent")}
    _reused_within_hold(ctx, port_usage(ctx, refused=True), peaks)


def _range_holds_ndmp_port(ctx: Context) -> None:
    """range_holds_ndmp_port: a range the user set holds the NDMP port (new-user trial:
    `plan` read "fits" for --media-range 9990-10010 --agent-range 10000-10100, and
    `analyze` said nothing either). About the configuration: no frames, no time."""
    holding = ranges_holding_ndmp_port(ctx.config)
    if not holding:
        return
    port = ctx.config.ndmp_port
    ranges = " and ".join(
        f"the {which} range {format_ranges(getattr(ctx.config, f'{which}_range'))}"
        for which in holding)
    ctx.add("range_holds_ndmp_port",
            f"{ranges[0].upper()}{ranges[1:]} {'hold' if len(holding) > 1 else 'holds'} the "
            f"NDMP port {port}: a listener given that port of the range takes it from the "
            "NDMP service (which then cannot listen), or finds it taken; or the range is a "
            "typo.",
            f"Keep the dynamic port ranges off the NDMP port {port} (Backup Exec: the media "
            "server and remote agent TCP dynamic port ranges), or correct the range given "
            "to flowcheck if it is not the one configured.")


def _range_too_small(ctx: Context, which: str, usage: Usage) -> dict[str, tuple[int, bool]]:
    """range_too_small for one side: one finding, one number of ports (newuser63: three
    minimums in one report, "at least 3" from the traffic, "at least 4" from the
    resources, and port_outside_agent_range's "at least 4"). The number is the most of
    what the side needed: a job of `resources` resources as `flowcheck plan` counts it,
    and on each host the most ports held at once in the traffic (_peak), one more where a
    step stopped on the full range (Context.range_stops: the port it asked for).
    Returns per host the most ports it held at once and whether the finding was said
    for it."""
    ranges = getattr(ctx.config, f"{which}_range")
    # The NDMP port is no dynamic port, even inside a range (range_holds_ndmp_port), as
    # `flowcheck plan` counts it.
    size = usable_ports(ranges, ctx.config.ndmp_port)
    peaks = {host: _peak(ctx, host_usage)
             for host, host_usage in sorted(_by_host(usage).items())}
    stops = [stop for stop in ctx.range_stops if stop.which == which]
    needs = {host: peak.count for host, peak in peaks.items()}
    # A host whose step stopped on the full range: what the range had to hold then, its
    # ports held and what the jobs that stopped on it still needed (verify.range_need);
    # the peak counts ports outside it too (newuser65 agfull5.pcap, agent range
    # 6001-6003: "needed 4 ... C3 on 6001, C4 on 6002, C5 on 6003, C2 on 6067", the
    # callback's port outside it counted).
    stopped = {host: stopped_need(ctx, which, host, stops)
               for host in sorted({stop.host for stop in stops})}
    for host, found in stopped.items():
        if found is not None:
            needs[host] = found.count
    resources = ctx.config.resources
    # One job's need, as `flowcheck plan` counts it (flowcheck.plan): two ports per
    # resource, one in each range, the control connection's and the job engine's port in
    # the media range, and the callback's source port in the agent range.
    job = ports_per_job(which, resources, ctx.profile) if resources else 0
    over = {host: need for host, need in needs.items() if need > size}
    if job <= size and not over:
        return {host: (peak.count, False) for host, peak in peaks.items()}
    need = max(job, *over.values()) if over else job
    ctx.too_small[which] = max(ctx.too_small.get(which, 0), need)
    parts = []
    if job > size:
        why = (_media_why(ctx) if which == "media" else
               "one per resource + the callback's source port"
               if callback_source_ports(ctx.profile) else "one per resource")
        parts.append(f"a job of {resources} resource{'s' * (resources != 1)} needs at "
                     f"least {job} there ({why})")
    for host, count in over.items():
        peak = peaks.get(host)
        found = stopped.get(host)
        if found is not None:
            outside = _outside(ctx, which, usage, host, found.stop.ts)
            parts.append(need_words(ctx, which, host, found)
                         + (f"; besides, outside the range: {outside} (a stopped job's "
                            "need counts each port it binds, those outside too: bound in "
                            "the range, as the range checks ask, they need ports there)"
                            if outside else ""))
            continue
        parts.append(_peak_words(ctx, which, host, count, peak))
    counted = ("what one job needs" if need == job else
               f"what {next(h for h, c in over.items() if c == need)} needed at once")
    frames, ts = _evidence(stops, [peaks[host] for host in over if host in peaks])
    ctx.add("range_too_small",
            f"The {which} range {ctx.ranges(which)} has {_ports(size)}"
            f"{_ndmp_left_out(ctx, ranges)}; " + "; ".join(parts) + "."
            + _stopped_words(stops),
            f"Widen the {which} range by {_ports(need - size)}, to at least {need} "
            f"({counted}; Backup Exec: {RANGE_SETTING[which]}, docs/configuration.md)"
            + _fewer_words(ctx, [stopped.get(host) for host in over]),
            frames=frames, ts=ts)
    return {host: (peak.count, job > size or host in over) for host, peak in peaks.items()}


def _fewer_words(ctx: Context, found: list[StoppedNeed | None]) -> str:
    """The end of range_too_small's fix when a host needed more than the range: "or run
    fewer resources at once."; where a host's count came from several jobs that shared
    the range at a stop (range_need.jobs_counted), "or start fewer jobs within
    port_hold_seconds (60 s) of each other, or run fewer resources at once." first
    (captures/newuser66 agent-range-timewait: four 1-resource jobs 0.5 s apart)."""
    if any(need is not None and jobs_counted(need) > 1 for need in found):
        hold = ctx.config.port_hold_seconds
        return (f", or start fewer jobs within port_hold_seconds ({hold:g} s) of each "
                "other, or run fewer resources at once.")
    return ", or run fewer resources at once." if found else "."


def _peak_words(ctx: Context, which: str, host: str, count: int, peak: Peak | None) -> str:
    """What a host with no stopped step needed at once, the range's ports and those
    outside it said apart: "10.77.0.2 needed 4 ports at once (...): 3 in the range (C3 on
    6001, ...) and 1 outside it (C2 on 6067), ...". Both count: a host that bound every
    one of them in the range would need that many there (the fix of port_outside_*_range,
    "bind in the range", widens it to this number: binding in it as it is cannot work).
    newuser65 agfull5.pcap, agent range 6001-6003: "those outside the range included:
    C3 on 6001, C4 on 6002, C5 on 6003, C2 on 6067" read as 4 ports of the range."""
    hold = ctx.config.port_hold_seconds
    head = f"{host} needed {count} ports at once (ports in use plus those held {hold:g} s " \
           "after use"
    if peak is None:
        return head + ")"
    inside = ctx.config.in_media_range if which == "media" else ctx.config.in_agent_range
    ins = [held for held in peak.held if inside(held[0])]
    outs = [held for held in peak.held if not inside(held[0])]
    if not outs:
        return f"{head}: {_held_words(ins)})"
    return (f"{head}): {len(ins)} in the range" + (f" ({_held_words(ins)})" if ins else "")
            + f" and {len(outs)} outside it ({_held_words(outs)}), which it would need in "
            "the range as well, binding only there")


def _held_words(held: list[tuple[int, str]]) -> str:
    """"C3 on 6001, C4 on 6002" for (port, uid) pairs, the first PEAK_NAMED, then "and N
    more"."""
    words = ", ".join(f"{uid} on {port}" for port, uid in held[:PEAK_NAMED])
    more = len(held) - PEAK_NAMED
    return words + (f" and {more} more" if more > 0 else "")


def _outside(ctx: Context, which: str, usage: Usage, host: str, ts: float) -> str:
    """The host's ports outside its `which` range in use or held (port_hold_seconds
    after use) at `ts` (seconds), as "C2 on 6067" (port order, the first PEAK_NAMED),
    "" when none: said beside what the range had to hold, not counted in it."""
    hold = ctx.config.port_hold_seconds
    inside = ctx.config.in_media_range if which == "media" else ctx.config.in_agent_range
    found = sorted((port, conn.uid) for (owner, port), spans in usage.items()
                   if owner == host and not inside(port)
                   for start, end, conn in merged_uses(spans) if start <= ts <= end + hold)
    return _held_words(found)


@fields_dataclass(frozen=True, slots=True)
class Peak:
    """The most ports a host held at once: count; ts: when it first held that many (the
    start of the connection that made it so), seconds; frames: the first frames of the
    connections holding them then; held: their (port, uid), port order (_peak_words
    names them: "C3 on 6001, C4 on 6002")."""

    count: int
    ts: float
    frames: tuple[int, ...]
    held: tuple[tuple[int, str], ...]


def _by_host(usage: Usage) -> dict[str, Usage]:
    hosts: dict[str, Usage] = defaultdict(dict)
    for (host, port), spans in usage.items():
        hosts[host][(host, port)] = spans
    return hosts


def _peak(ctx: Context, usage: Usage) -> Peak:
    """The most ports one host held at once over `usage` (its ports). The ranges must
    carry the control connection's media port (step 1 judges it against the media range:
    trial 20, D8), the callback and data ports (the TechNote's steps 2-4), also those
    that ended up outside the range. Connections that share a port at the same time (a
    listener's) hold it once; each use that follows an earlier one holds it again (a
    port reused within the hold is one more port the range had to give)."""
    hold = ctx.config.port_hold_seconds
    events: list[tuple[float, int, int, Connection]] = []
    for (_host, port), spans in usage.items():
        for start, end, conn in merged_uses(spans):
            events += [(start, 1, port, conn), (end + hold, -1, port, conn)]
    events.sort(key=lambda e: (e[0], e[1]))
    busy = count = at = 0
    for index, (_ts, delta, _port, _conn) in enumerate(events):
        busy += delta
        if busy > count:
            count, at = busy, index
    if not count:
        return Peak(0, 0.0, (), ())
    held: dict[tuple[int, str], Connection] = {}
    for _ts, delta, port, conn in events[:at + 1]:  # who held them at the peak
        if delta > 0:
            held[(port, conn.uid)] = conn
        else:
            held.pop((port, conn.uid), None)
    listed = sorted(held.items())
    pairs = [(port, conn.uid) for (port, _), conn in listed]
    return Peak(count, events[at][0], tuple(c.first_frame for _, c in listed), tuple(pairs))


# The connections a peak's words name before counting the rest.
PEAK_NAMED = 8


def _evidence(stops: list[RangeStop], peaks: list[Peak]) -> tuple[list[int], float | None]:
    """(frames, ts) range_too_small rests on: each stop's request and the first frames
    of the connections that held the range then, at the first stop's time; else the
    peaks' connections, at the earliest peak; ([], None) when it rests on the
    configuration alone (`resources`)."""
    if stops:
        return ([frame for stop in stops for frame in
                 (stop.frame, *(first for _, _, first in stop.held))],
                min(stop.ts for stop in stops))
    if peaks:
        return [f for peak in peaks for f in peak.frames], min(peak.ts for peak in peaks)
    return [], None


def _stopped_words(stops: list[RangeStop]) -> str:
    """The tie to the failed steps: " The job stopped where the range had no port left
    for the next one: step 3 of session S1 (step_missing), likely for want of it.", step
    4's "(announced_not_used)" ("":
    no step stopped so)."""
    if not stops:
        return ""
    # The steps by the finding each wrote: step_missing, or announced_not_used (step 4).
    codes: dict[str, list[str]] = {}
    for stop in stops:
        code = stop.finding.code if stop.finding else "step_missing"
        codes.setdefault(code, []).append(f"step {stop.step} of session {stop.session}")
    said = ", ".join(f"{', '.join(steps)} ({code})" for code, steps in codes.items())
    jobs = "The job" if len({stop.session for stop in stops}) == 1 else "The jobs"
    return (f" {jobs} stopped where the range had no port left for the next one: {said}, "
            "likely for want of it.")


def _media_why(ctx: Context) -> str:
    """What one job binds in the media range besides its resources' ports."""
    if not job_engine_ports(ctx.profile):
        return "one per resource + the control connection's"
    if not control_ports(ctx.profile):
        return "one per resource + the job engine's, which is the control connection's"
    return "one per resource + the job engine's + the control connection's"


def _ndmp_left_out(ctx: Context, ranges: tuple) -> str:
    """" (the NDMP port 10000 left out)" when `ranges` hold the NDMP port, else ""."""
    port = ctx.config.ndmp_port
    return (f" (the NDMP port {port} left out)"
            if usable_ports(ranges, port) < range_size(ranges) else "")


def _ports(count: int) -> str:
    return f"{count} port" if count == 1 else f"{count} ports"




def _retry_to_listener(before: Connection, conn: Connection, host: str, port: int) -> bool:
    """A connector's retry to the same listening port after its attempt there failed:
    the listener never closed, so the port was not bound again (no reuse)."""
    return ((before.resp_h, before.resp_p) == (conn.resp_h, conn.resp_p) == (host, port)
            and before.orig_h == conn.orig_h and is_failed(before))


def _reused_within_hold(ctx: Context, usage: dict[str, Usage],
                        peaks: dict[str, dict[str, tuple[int, bool]]]) -> None:
    hold = ctx.config.port_hold_seconds
    for which, by_port in usage.items():
        for (host, port), spans in sorted(by_port.items()):
            spans = sorted(spans, key=lambda s: (s[0], s[2].first_frame))
            # A refused connection to a listener's port held nothing there: it is no
            # earlier use of the port, only a new one that may have met it still held.
            busy_until = spans[0][1] if not refused_listener(spans[0][2], (host, port)) \
                else None
            last = spans[0][2]  # the earlier use that ended last (busy_until's)
            for (_, _, before), (start, end, conn) in pairwise(spans):
                refused = refused_listener(conn, (host, port))
                if refused and busy_until is None:
                    continue
                gap = start - busy_until if busy_until is not None else 0.0
                if 0 < gap < hold and not _retry_to_listener(before, conn, host, port):
                    ctx.add("port_reused_within_hold",
                            f"Port {endpoint(host, port)} ({which} side) was used again by a "
                            f"new connection {span_below(gap, hold)} after its previous connection "
                            f"ended, within the {hold:g} s the port is held."
                            + _other_peer_words((host, port), last, conn),
                            _reuse_fix(ctx, which, (host, port), (conn, gap),
                                       peaks[which].get(host)),
                            session=ctx.session_of(conn), conn=conn)
                    break  # one finding per port
                if not refused:
                    if busy_until is None or end >= busy_until:
                        last = conn
                    busy_until = end if busy_until is None else max(busy_until, end)


def _other_peer_words(end: tuple[str, int], before: Connection, conn: Connection) -> str:
    """" It connected to another peer endpoint than before (10.66.2.2:6002, then
    10.66.3.2:6002): ..." when `end` (host, port) connected from that port both times
    (the SYN's sender: conn.orig) to a different peer endpoint each time, else "". TCP
    lets a port connect again to another peer endpoint while its earlier connection
    waits in TIME-WAIT: TIME-WAIT holds that connection's address and port pair at both
    ends, not the port (RFC 9293), and the new connection's packets from the port show
    its bind worked. The contract's rule (a port used again within port_hold_seconds,
    whatever the peer) still warns: a note on the range's capacity only
    (captures/newuser66-twojobs: 10.66.1.1:5005 to 10.66.2.2:6002, then to
    10.66.3.2:6002 4.95 s later)."""
    if not all((c.orig_h, c.orig_p) == end for c in (before, conn)):
        return ""
    was, now = (before.resp_h, before.resp_p), (conn.resp_h, conn.resp_p)
    if was == now:
        return ""
    return (f" It connected to another peer endpoint than before ({endpoint(*was)}, then "
            f"{endpoint(*now)}): TCP lets a port connect again to another peer endpoint "
            "while its earlier connection waits in TIME-WAIT, which holds that "
            "connection's pair of addresses and ports, not the port (RFC 9293), and the "
            "new connection left from it, so the port counted as held did not stop it; a "
            "note on the range's capacity only (the hold counts the port whatever the "
            "peer).")


def _reuse_fix(ctx: Context, which: str, end: tuple[str, int],
               reuse: tuple[Connection, float], peak: tuple[int, bool] | None) -> str:
    """The fix of port_reused_within_hold: widen the range only when range_too_small said
    it is too small (trial 20 D5 a: "make the range large enough" for a range with room
    to spare). Else the range had room and the host bound the port again by its own
    choice: when the new connection `conn` to a listener's port was refused, the port
    still held is a suspect (a connector's SYN sent from it shows its bind worked, and
    no refusal, nothing of it); when it opened,
    nothing to change, and the one setting behind the warning is the hold time: the
    host held the port `gap` seconds at most, not port_hold_seconds (new-user trial: a
    clean ndmjob run of three resources, an agent that reused its data source port 3 s
    later, was told "nothing to change" and no more), so the range's size and
    `flowcheck plan` count more ports than it needs. Never names range_too_small when
    the report has none (trial 20 D5 a)."""
    host, port = end
    conn, gap = reuse
    held, short = peak if peak is not None else (0, False)
    if short:
        return (f"Widen the {which} range as range_too_small says, so that ports need not "
                "be reused within the hold time; the job may fail to bind a held port.")
    hold = ctx.config.port_hold_seconds
    find = (f"on {host} find what holds TCP port {port} (Windows: `netstat -ano | findstr "
            f":{port}`; Linux: `ss -tanp 'sport = :{port}'`)")
    ranges = getattr(ctx.config, f"{which}_range")
    room = (f"{ctx.ranges(which)} has {usable_ports(ranges, ctx.config.ndmp_port)} "
            f"ports{_ndmp_left_out(ctx, ranges)} and {host} held at most {held} at once "
            "(hold included)")
    if is_failed(conn) and (conn.orig_h, conn.orig_p) != end and \
            connection_outcome(conn) == "refused":
        # Nothing listened on the port: a listener that could not bind it may be why.
        return (f"{conn.uid} to the reused port was refused: {host} may not have been able "
                f"to listen on it again while it was held; {find}. The range is not the "
                f"cause: {room}.")
    if is_failed(conn):
        # A connector's SYN left from the port, or a listener's port answered or dropped
        # the SYN (a port nothing listens on answers with a RST): binding it worked.
        how = (f"{host} sent its SYN from it, so binding it worked"
               if (conn.orig_h, conn.orig_p) == end else
               "no RST refused it, as one refuses a port nothing listens on")
        return (f"{conn.uid} on the reused port did not work, but nothing shows the port as "
                f"the cause: {how}; {conn.uid}'s own finding says why. The range is not "
                f"the cause either: {room}.")
    if not conn.established:  # its opening not in the capture: what it did is unknown
        return (f"Nothing to change in the range if the jobs ran: {room}, so {host} bound "
                f"port {port} again by its own choice (a program that takes the lowest free "
                f"port does). Only if a job fails to bind it: {find}.")
    carried = conn.orig_bytes + conn.resp_bytes
    # The longest hold under which this reuse is none (gap < hold warns), to 0.1 s.
    fits = math.floor(gap * 10) / 10
    return (f"Nothing to change in the range: {conn.uid} opened on the reused port"
            + (f" and carried {carried:,} B" if carried else "") + f", so {host} could bind "
            f"it again; {room}. {host} held port {port} {span_below(gap, hold)} at most, not the "
            f"{hold:g} s flowcheck counts (a program that takes the lowest free port, or "
            "frees a port when its connection closes, as plain NDMP servers do): if it "
            f"works so by design, --port-hold {fits:g} (port_hold_seconds) or less makes "
            "this warning and the range's size (`flowcheck plan` too) count its ports as "
            f"it holds them. Only if a job fails to bind the port: {find}.")

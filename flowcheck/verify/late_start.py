"""no_control_session when the capture started during the job's data transfer.

A job's control connection sits idle while its data flows (Backup Exec and ndmjob send
nothing on it for the whole transfer: minutes on a long job). A capture, or `live`,
started then holds the data connection alone, already open, and no packet of the
control connection: not a wrong port nor a wrong capture point, a capture that started
late ("it ended or started too close to the event": contract.md, verdict). The finding
is then a warning (nothing of the job can be judged: the verdict is inconclusive), and
its message names the connection and the fix is to start the capture before the job.

The evidence must tie the connection to a job, or a wrong --ndmp-port would read as a
late start. Every one of these holds (trial 29 D1):

- no connection of the capture touches the NDMP port (traffic on it is the port's own
  case: links.py, other_protocol.py);
- a connection whose opening is not in the capture (no SYN, no SYN-ACK: it opened
  before the capture, flowcheck.sessions.classify.connection_outcome "midstream")
  carries bulk data one way: at least BULK_BYTES from one side (the payload captured,
  each byte once, or known from the other side's ACKs in a capture of one direction),
  the other side next to nothing (ACKs: at most 1/ONE_WAY of it), as a backup's or a
  restore's data connection does;
- its two ends are a media server and an agent (or two agents: a three-way job's) as
  configured: a configured host on each side that has them (--media-server,
  --remote-agent), and each end's port in its side's range. Each side must be pinned,
  by its hosts or by a range narrower than the default 1025-65535: a side pinned by
  neither fits any host on any dynamic port, and then any bulk transfer (a file copy,
  replication, iSCSI beside a job on the wrong port) looks the same,
  so the finding stays an error, its message naming the connection and its fix saying
  what would let flowcheck tell;
- no connection between those hosts (nor between configured hosts) opened in the
  capture: while its control connection is idle a job opens none (each of its
  connections follows a control message), while a control connection on another port
  (the wrong --ndmp-port) would show its opening.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter

from flowcheck.config import Config
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Finding, Severity
from flowcheck.model.traffic import endpoint
from flowcheck.profiles import Profile, load_profile
from flowcheck.sessions.classify import connection_outcome

BULK_BYTES = 32 * 1024  # 23 full-size segments: more than any NDMP control exchange
ONE_WAY = 1024  # the other side's bytes at most 1/1024 of the sender's: ACKs only
LISTED = 3  # connections named in the message

_STEP_WORDS = {"control": "the control connection", "callback": "the callback",
               "announcement": "the announcement of the data endpoint"}


@fields_dataclass(frozen=True, slots=True)
class OpenTransfer:
    """A connection open before the capture carrying bulk data one way: `sender`,
    `receiver` its ends ("host:port"), `sent` the sender's bytes (TCP payload), of
    which `acked` known only from the receiver's ACKs; `roles` (sender's, receiver's):
    "agent", "media server", or () when the configuration does not tell them."""

    conn: Connection
    sender: str
    receiver: str
    sent: int
    acked: int
    roles: tuple[str, ...]


def _sent(conn: Connection, orig: bool) -> tuple[int, int]:
    """A side's bytes, each once (Connection.sent_once), and those known from ACKs."""
    acked = conn.orig_acked_unseen if orig else conn.resp_acked_unseen
    return conn.sent_once("orig" if orig else "resp") + acked, acked


def _pinned(config: Config) -> bool:
    """Does the configuration pin both sides of a job, each by its hosts or a range
    narrower than the default? With one side unpinned any host on any dynamic port
    fits it, and a wrong --ndmp-port job beside an unrelated transfer would read as a
    late start (review of trial 29 D1's fix)."""
    wide = config.wide_ranges()
    return (bool(config.media_servers) or "media" not in wide) \
        and (bool(config.remote_agents) or "agent" not in wide)


def _side(config: Config, host: str, port: int) -> list[str]:
    """The job roles a connection's end can have by the configuration."""
    roles = []
    if (not config.media_servers or host in config.media_servers) \
            and config.in_media_range(port):
        roles.append("media server")
    if (not config.remote_agents or host in config.remote_agents) \
            and config.in_agent_range(port):
        roles.append("agent")
    return roles


def _roles(config: Config, sender: tuple[str, int],
           receiver: tuple[str, int]) -> tuple[str, ...] | None:
    """(sender's role, receiver's role) when the two ends are a media server and an
    agent, or two agents, as configured; () when they fit more than one way; None when
    they fit none."""
    fits = [(mine, theirs) for mine in _side(config, *sender)
            for theirs in _side(config, *receiver) if "agent" in (mine, theirs)]
    if not fits or sender[0] == receiver[0]:
        return None
    return fits[0] if len(fits) == 1 else ()


def open_transfers(connections: list[Connection], config: Config, *,
                   tied: bool) -> list[OpenTransfer]:
    """The connections open before the capture that carry bulk data one way; tied:
    only those between a media server and an agent as configured (else between two
    ports above 1024 alone)."""
    found = []
    for conn in connections:
        # A SYN or SYN-ACK captured makes any outcome but "midstream": skipped unread.
        if conn.syn_frames or conn.synack_frames or connection_outcome(conn) != "midstream":
            continue
        (orig, orig_acked), (resp, resp_acked) = _sent(conn, True), _sent(conn, False)
        if orig >= resp:
            ends = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
            sent, acked, back = orig, orig_acked, resp
        else:
            ends = (conn.resp_h, conn.resp_p), (conn.orig_h, conn.orig_p)
            sent, acked, back = resp, resp_acked, orig
        if sent < BULK_BYTES or back * ONE_WAY > sent:
            continue
        roles = _roles(config, *ends) if tied else (
            () if min(conn.orig_p, conn.resp_p) > 1024 else None)
        if roles is not None:
            found.append(OpenTransfer(conn, endpoint(*ends[0]), endpoint(*ends[1]), sent,
                                      acked, roles))
    return found


def _touches(connections: list[Connection], port: int) -> bool:
    """Does a connection have `port` at either end? One pass reading both ends: half the
    cost of a map of attrgetter per side (200,000 connections: 40 ms, not 75)."""
    return any(conn.orig_p == port or conn.resp_p == port for conn in connections)


def _opened_between(connections: list[Connection], hosts: set[str]) -> Connection | None:
    """A connection opened in the capture (its SYN or SYN-ACK in it) between two of
    `hosts`, None when none is."""
    return next((c for c in connections if c.orig_h in hosts and c.resp_h in hosts
                 and connection_outcome(c) != "midstream"), None)


def _transfer_words(transfer: OpenTransfer) -> str:
    conn, roles = transfer.conn, transfer.roles
    sender = f"the {roles[0]} {transfer.sender}" if roles else transfer.sender
    receiver = f"the {roles[1]} {transfer.receiver}" if roles else transfer.receiver
    kind = {("agent", "media server"): " (a backup's direction)",
            ("media server", "agent"): " (a restore's direction)"}.get(roles, "")
    acked = (f", {transfer.acked:,} of them known from the ACKs (the capture holds that "
             "side's ACKs only)" if transfer.acked else "")
    return (f"{conn.uid}, {transfer.sent:,} B of data from {sender} to {receiver}"
            f"{kind}{acked}, nothing but ACKs the other way")


def _listed(transfers: list[OpenTransfer]) -> str:
    words = "; ".join(_transfer_words(t) for t in transfers[:LISTED])
    more = len(transfers) - LISTED
    return words + (f"; and {more} more" if more > 0 else "")


def _steps_words(profile: Profile) -> str:
    """"steps 1-3 (the control connection, the callback, the announcement of the data
    endpoint)": the profile's steps before its data connection."""
    data = profile.step("data_connection")
    before = [s for s in profile.steps if data is None or s.number < data.number]
    if not before:
        return "the job's steps"
    numbers = (f"step {before[0].number}" if len(before) == 1
               else f"steps {before[0].number}-{before[-1].number}")
    return f"{numbers} ({', '.join(_STEP_WORDS.get(s.kind, s.name) for s in before)})"


def explain_late_start(finding: Finding, connections: list[Connection], config: Config,
                       profile: Profile | None = None,
                       where: str = "the capture") -> Finding | None:
    """no_control_session (an error) rewritten when the capture started during a job's
    data transfer: a warning when the evidence ties an already-open connection to a job
    (see the module's docstring), the error with that connection named when only the
    configuration is missing to tie it; None when the capture shows no such connection.
    where: what the message names the capture ("the capture", a piece of a set apart in
    time: sources.pieces.Pieces.words)."""
    port = config.ndmp_port
    if finding.severity != Severity.ERROR:
        return None
    tied = _pinned(config)
    # open_transfers first: it finds none in most captures, reading two fields of most
    # connections, where the port's test reads every connection's ends.
    transfers = open_transfers(connections, config, tied=tied)
    if not transfers or _touches(connections, port):
        return None
    hosts = {*config.media_servers, *config.remote_agents,
             *(h for t in transfers for h in (t.conn.orig_h, t.conn.resp_h))}
    if _opened_between(connections, hosts) is not None:
        return None  # its opening is in the capture: a control connection on another port?
    many = len(transfers) > 1
    holds = (f"{len(transfers)} connections" if many else "a connection") + (
        f" already open at its start ({'their openings' if many else 'its opening'}, SYN "
        f"and SYN-ACK, {'are' if many else 'is'} not in the capture) that "
        f"{'carry' if many else 'carries'} what a job's data connection carries: "
        f"{_listed(transfers)}")
    named = [t.conn for t in transfers if t.conn.first_frame]
    frames = [conn.first_frame for conn in named]
    # Dated by the first of those packets (docs/json.md: a finding with frames has the
    # time of one of them; field check 37: it was null).
    ts = min(named, key=attrgetter("first_frame")).ts if named else finding.ts
    if not tied:
        return replace(
            finding, frames=frames, ts=ts,
            message=f"{finding.message} The capture holds {holds}. If a job was running, "
                    "the capture started after its control connection went quiet (it is "
                    "idle while the data flows); with neither the hosts nor both port "
                    "ranges configured, nothing ties that connection to an NDMP job "
                    "rather than another transfer, so the capture cannot tell that from "
                    "a wrong NDMP port.",
            fix=f"{finding.fix} If a job was running when the capture started, give its "
                "hosts (--media-server, --remote-agent) so a capture that started late is "
                "told apart, or capture from before the job starts.")
    steps = _steps_words(profile or load_profile(config.profile))
    between = ("between the configured hosts, each port in its side's range"
               if config.media_servers or config.remote_agents
               else "each port in its side's configured range")
    return replace(
        finding, severity=Severity.WARNING, frames=frames, ts=ts,
        message=f"No NDMP control connection in {where}, which started during a "
                f"job's data transfer: it holds {holds} ({between}), and no connection to "
                f"the NDMP port {port} at all. A job's control connection is idle while "
                "its data flows, so it sent nothing while the capture ran, and nothing of "
                f"{steps} can be judged, nor that connection tied to a job's steps: the "
                "capture started too late to show them.",
        fix="Capture from before the job starts (start the capture, then the job; for "
            "live, start it first) to check every step; if the control connection is "
            f"still not in that capture, check --ndmp-port ({port} here).")

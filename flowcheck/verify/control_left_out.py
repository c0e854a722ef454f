"""no_control_session when the capture holds the job's other connections: capture_filtered.

A job opens its callback and its data connections only after its control connection
asked for them (flow-model.md, steps 1-4). A capture that holds such connections opening
(their SYN in it, or the SYN-ACK of a one-direction capture: review61a, lab
/one-direction-in cut read "check --ndmp-port") between the configured media server and
agent, and not one packet of a control connection (none to or from the NDMP port, none
decoded as NDMP), left the control connection out: a capture or display filter on the
NDMP port (`tshark -Y 'not tcp.port==10000'`), or a capture point the control connection
does not pass (another interface, another path). That is no "wrong capture" with no sign
of the job (no_control_session, an error: contract.md), nor a capture that started while
the control connection was idle (flowcheck.verify.late_start: that one holds no opening
between the hosts). The finding is then `capture_filtered` (the capture leaves out a
connection the job made), a warning: nothing of steps 1-3 can be judged, and the verdict
is inconclusive (new-user trial 54: captures/lab/clean-3-resources without port 10000
read FAIL, "check --ndmp-port").

The evidence must tie the connections to a job, or a file copy between two hosts on a
wrong --ndmp-port would read as a job (the same bar as late_start): both sides pinned by
the configuration (hosts, or a range narrower than the default), every connection kept
here between a configured media server and agent, each end's port in its side's range
and opened the way the profile has that connection open (the agent into the media range:
a callback, or plain NDMP's data connection to the mover; the media server into the
agent range: a data connection), and one of them carrying bulk data one way (at least
BULK_BYTES, the other way ACKs only), as a backup's or a restore's data connection does;
and no other connection between those hosts: one that fits neither shape may be the
control connection itself on another port than --ndmp-port, unread (its NDMP cut by the
snap length), which is the wrong port (no_control_session stays). The bulk data must
reach a port in a range the configuration narrows (the listening side's: the media
range for the agent's connection into it, the agent range for the media server's):
with that range flowcheck's default (1025-65535), any transfer between the two hosts
to a port above 1024 fits the shape, and hosts alone do not tie a connection to a job
(review 54g: a 1 MB upload from 10.77.0.2:40123 to 10.77.0.1:8080, the hosts configured
and no range, read "this is not a capture without the job").

Without bulk data the ports alone tie a connection to a job when the configuration
narrows both ranges (neither flowcheck's default): a job's connections have each end's
port in its side's range (contract.md: port_outside_media_range,
port_outside_agent_range, the callback's source port too), which a port check's or a
file copy's ephemeral source port is not, if the connector's range (the one its source
port is in) holds few of an operating system's ephemeral ports (_ports_tie; review61a:
ranges "narrowed" to 1024-65535 tied a lone port check to a job). Backup Exec's callback
carries no byte (the agent connects to the job engine port and closes), and a data
connection whose SYNs went unanswered none either (new-user trial 60: clean-3-resources
cut to its callback, `tshark -Y 'tcp.port==5001'`, and dual-stack jobs whose control
connection ran over IPv6 cut to IPv4, `-Y ip`, read FAIL "check --ndmp-port"). Such a
capture whose every connection is its opening only, never answered, may be a firewall's
capture of what it dropped (flowcheck.verify.openings_only): the words say so, the
finding stays capture_filtered.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter

from flowcheck.config import Config
from flowcheck.model import Connection, Finding, Severity
from flowcheck.model.traffic import endpoint
from flowcheck.verify.late_start import BULK_BYTES, ONE_WAY, _pinned, _sent
from flowcheck.verify.openings_only import opening_only, openings_words

LISTED = 4  # connections named in the message
# Operating systems' ephemeral port ranges, a port check's source port (inclusive): Linux
# (net.ipv4.ip_local_port_range), IANA's (Windows since Vista, macOS, FreeBSD), Windows
# before Vista. A range holding more than 1 in EPHEMERAL_SHARE of one's ports may hold a
# port check's source port by chance (_ports_tie).
EPHEMERAL: tuple[tuple[int, int], ...] = ((32768, 60999), (49152, 65535), (1025, 5000))
EPHEMERAL_SHARE = 100
INTO_MEDIA = "the agent into the media range"
# The fix's addition for a capture of openings only (_openings).
_OPENINGS_FIX = (" If this is a firewall's drop capture, allow these connections on that "
                 "device (its access rules or security policy) and their return traffic.")


def job_shaped(conn: Connection, config: Config) -> str:
    """The connection's shape when it opened in the capture between a configured media
    server and agent the way a job's would (see the module's docstring): INTO_MEDIA ("the
    agent into the media range": a callback's, or an agent-opened data connection's) or
    "the media server into the agent range" (a data connection's); "" otherwise."""
    if not conn.syn_seen and not conn.synack_seen:
        return ""  # its opening (SYN, or the SYN-ACK of a one-direction capture) not in it
    media, agents = config.media_servers, config.remote_agents
    if (not media or conn.resp_h in media) and (not agents or conn.orig_h in agents) \
            and config.in_media_range(conn.resp_p) and config.in_agent_range(conn.orig_p) \
            and conn.orig_h != conn.resp_h:
        return INTO_MEDIA
    if (not media or conn.orig_h in media) and (not agents or conn.resp_h in agents) \
            and config.in_media_range(conn.orig_p) and config.in_agent_range(conn.resp_p) \
            and conn.orig_h != conn.resp_h:
        return "the media server into the agent range"
    return ""


def _ported(shape: str, config: Config) -> bool:
    """Does a connection of this shape listen in a range the configuration narrows
    (not flowcheck's default)? The agent's connection listens in the media range, the
    media server's in the agent range (job_shaped's shapes)."""
    return ("media" if shape == INTO_MEDIA else "agent") not in config.wide_ranges()


def _ports_tie(shape: str, config: Config) -> bool:
    """Do a connection's ports alone tie it to a job, with or without bulk data (the
    module's docstring)? The configuration narrows both ranges (neither flowcheck's
    default), and the range its source port must be in (the connector's: the agent range
    for the agent's connection into the media range, the media range for the media
    server's) holds at most 1 in EPHEMERAL_SHARE of the ports of each operating system's
    ephemeral range (EPHEMERAL), from which a port check's or a copy's source port comes:
    review61a, a lone connect from the agent's ephemeral port 60540 to 10.77.0.1:5001
    read "this is not a capture without the job" with the ranges "narrowed" to
    1024-65535, or to 32768-60999."""
    if config.wide_ranges():
        return False
    source = config.agent_range if shape == INTO_MEDIA else config.media_range
    return all(sum(max(0, min(hi, e_hi) - max(lo, e_lo) + 1) for lo, hi in source)
               * EPHEMERAL_SHARE <= e_hi - e_lo + 1 for e_lo, e_hi in EPHEMERAL)


def _bulk(conn: Connection) -> int:
    """The bytes one side sent (each once, or known from the other side's ACKs) when the
    connection carried bulk data one way, the other side ACKs only; 0 otherwise."""
    (orig, _), (resp, _) = _sent(conn, True), _sent(conn, False)
    sent, back = max(orig, resp), min(orig, resp)
    return sent if sent >= BULK_BYTES and back * ONE_WAY <= sent else 0


def _tie_words(hosts: set[str], config: Config) -> str:
    """What ties the hosts to a job: "configured as the job's hosts, each port in its
    side's range" when --media-server / --remote-agent name every one; else the ranges
    and which hosts are named, if any (_pinned: a side without its hosts has its range
    narrowed; review finalread54b: ranges alone read "configured as the job's hosts")."""
    named = sorted(h for h in hosts if h in config.media_servers or h in config.remote_agents)
    if len(named) == len(hosts):
        return "configured as the job's hosts, each port in its side's range"
    if not named:
        return (f"each port in its side's range; {'neither' if len(hosts) == 2 else 'no'} "
                "host named in the configuration")
    return (f"each port in its side's range; only {' and '.join(named)} named in the "
            "configuration")


def _words(conn: Connection, shape: str) -> str:
    sent = _bulk(conn)
    carried = f", {sent:,} B one way" if sent else ""
    return (f"{conn.uid} {endpoint(conn.orig_h, conn.orig_p)} -> "
            f"{endpoint(conn.resp_h, conn.resp_p)} ({shape}{carried})")


def explain_left_out(finding: Finding, connections: list[Connection],
                     config: Config, callback: bool = True,
                     where: str = "the capture") -> Finding | None:
    """no_control_session (an error, its capture holding no connection to the NDMP port
    nor any decoded as NDMP: the caller's case) made a capture_filtered warning when the
    capture holds connections a job opens after its control connection, tied to a job by
    the configuration (module docstring); None otherwise. callback: whether the job's
    profile has a callback (plain NDMP's has none: its words then name none; review61a,
    ndmjob/v4-backup cut read "the callback's request"). where: what the message names
    the capture ("the capture", a piece of a set apart in time: sources.pieces.Pieces.
    words)."""
    if finding.severity != Severity.ERROR or not _pinned(config):
        return None
    port = config.ndmp_port
    if any(c.orig_p == port or c.resp_p == port for c in connections):
        return None  # traffic on the NDMP port is the port's own case (other_protocol)
    shaped = [(c, shape) for c in sorted(connections, key=attrgetter("first_frame"))
              if (shape := job_shaped(c, config))]
    if not any(_ports_tie(shape, config) or (_bulk(c) and _ported(shape, config))
               for c, shape in shaped):
        return None
    hosts = {h for c, _ in shaped for h in (c.orig_h, c.resp_h)}
    if any(c.orig_h in hosts and c.resp_h in hosts and not job_shaped(c, config)
           for c in connections):
        # Another connection between those hosts may be the control connection on
        # another port than --ndmp-port, unread (its NDMP cut or not NDMP): the wrong
        # port, still no_control_session (tests/test_late_start_control.py).
        return None
    listed = "; ".join(_words(c, shape) for c, shape in shaped[:LISTED])
    more = len(shaped) - LISTED
    listed += f"; and {more} more" if more > 0 else ""
    many = len(shaped) > 1
    bulk = sum(1 for c, _ in shaped if _bulk(c))
    them = "them" if many else "it"
    only = all(map(opening_only, connections))  # openings only, never answered
    unjudged = ("the control connection, the callback's request or the announcements"
                if callback else "the control connection or the announcements")
    carried = (f"{'one' if bulk == 1 else bulk} carrying a data connection's bulk data"
               if bulk else "none carrying bulk data (the ranges, both narrower than "
                            f"flowcheck's default 1025-65535, tie {them} to a job)")
    return replace(
        finding, code="capture_filtered", severity=Severity.WARNING,
        reading="control_left_out",
        frames=[c.first_frame for c, _ in shaped if c.first_frame],
        ts=shaped[0][0].ts,
        message=f"{where[:1].upper()}{where[1:]} left out the job's NDMP control "
                f"connection: it holds no packet "
                f"to or from the NDMP port {port} and nothing decoded as NDMP, yet "
                f"{len(shaped)} connection{'s' if many else ''} that a job opens only after "
                f"its control connection asked for {them} {_opened(only, many)} in "
                f"it, between {' and '.join(sorted(hosts))} ({_tie_words(hosts, config)}), "
                f"{carried}: {listed}.{_openings(connections) if only else ''} "
                "A capture or display filter that dropped the NDMP port (or kept one address "
                "family of a dual-stack job whose control connection ran over the other: "
                "`-Y ip` with the control connection over IPv6), or a capture point the "
                "control connection does not pass (another interface or path), leaves it "
                "out; this is not a capture without the job. "
                f"Nothing of {unjudged} can be judged, nor these connections tied to a "
                "session (unannounced_connection).",
        fix=f"Capture again with the control connection in it: no filter on port {port} "
            "(or one that keeps it, and both IPv4 and IPv6), on the media server's interface "
            "toward the agent, from before the job starts; if the job's control connection "
            "uses another port, set --ndmp-port." + (_OPENINGS_FIX if only else ""))


def _opened(only: bool, many: bool) -> str:
    """"opened", or "were tried" / "was tried" when every connection is its opening only,
    never answered (`only`: openings_only.opening_only of each; no connection opened)."""
    if not only:
        return "opened"
    return "were tried" if many else "was tried"


def _openings(connections: list[Connection]) -> str:
    """For a capture whose every connection is its opening only, never answered
    (openings_only; the caller asks): a sentence that says so and that a firewall's drop
    capture looks the same."""
    each = ("Every TCP connection it holds is its" if len(connections) > 1
            else "It is its")
    return (f" {each} opening only, never answered there "
            f"({openings_words(connections)}): a firewall's capture of the packets it "
            "dropped (a Cisco ASA's `capture ... type asp-drop`, a Palo Alto's drop stage) "
            "looks like this too, and if this is one, that device dropped these openings.")

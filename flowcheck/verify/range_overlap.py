"""ranges_overlap: the media and agent ranges share ports (a finding about the
configuration, and about a connection the overlap leaves untold)."""

from __future__ import annotations

from flowcheck.config import format_ranges
from flowcheck.model import Connection, connection_ends
from flowcheck.plan import overlap
from flowcheck.sessions.capture_start import opener_unknown
from flowcheck.verify.context import Context


def ranges_overlap(ctx: Context) -> None:
    """ranges_overlap: the two ranges share ports, both set by the user (file or flag),
    or one set and the other left at the default where the capture shows a connection
    the overlap leaves untold (_untold). An unset range is flowcheck's default
    1025-65535, "any port", not a configured range: it holds every port of the other
    range, so a warning would follow from setting one range alone and say nothing about
    the job (newuser65 item 4: `--media-range 5001-5100` alone warned "overlap on
    5001-5100" on a job read PASS); the two defaults overlap by design (trial 15)."""
    defaults = ctx.config.default_ranges()
    shared = overlap(ctx.config.media_range, ctx.config.agent_range)
    if len(defaults) == 2 or not shared:
        return
    untold = _untold(ctx) if defaults else []
    if defaults and not untold:
        return
    message = (f"The media range {ctx.ranges('media')} and the agent range "
               f"{ctx.ranges('agent')} overlap on {format_ranges(shared)}")
    if untold:
        conns = ", ".join(f"{c.uid} {connection_ends(c)}" for c in untold)
        message += (f", so {len(untold)} connection{'s' * (len(untold) != 1)} open "
                    f"before the capture ({conns}), the media server's port in both "
                    "ranges, cannot be told by its ports: neither they nor its first "
                    "packet tell who opened it (a callback or other traffic as likely as a "
                    "data connection), and no session took it.")
    else:
        message += ": a port one side binds may be the one the other side needs."
    ctx.add("ranges_overlap", message,
            (f"Set the {defaults[0]} range configured on the hosts (--{defaults[0]}-range "
             f"or {defaults[0]}_range): a range that keeps the two sides' ports apart "
             "tells such a connection by its ports. " if untold else "")
            + "Give the two ranges separate ports (Backup Exec: \"Enable media server TCP "
            "dynamic port range\" and \"Enable remote agent TCP dynamic port range\"), "
            "for example media 5001-5100 and agent 6001-6100, with two ports per resource.",
            frames=[c.first_frame for c in untold],
            ts=untold[0].ts if untold else None,
            reading="untold_connection" if untold else "")


def _untold(ctx: Context) -> list[Connection]:
    """The connections no session took that are open before the capture, from a
    session's agent to its media server, with the media server's port in the media range
    and in the agent range too (sessions.capture_start.opener_unknown: left to no session unless a
    GET_STATE reply names it), in capture order. With one range left at the default such
    a connection is untold only because of the overlap (ssh-beside-lost-callback.pcap
    from frame 20 with only --media-range: the callback 10.77.0.2:6093 ->
    10.77.0.1:5001 an unannounced_connection; with --agent-range 6001-6100 it is the
    callback). Not one whose media port is outside the media range: the overlap leaves
    it as it was, no session's by its ports either way (review63b: keepalive-beside-job
    from frame 10 with --media-range 5001-5040 named 10.77.0.2:7000 -> 10.77.0.1:5050,
    "the media server's port in both ranges")."""
    return [conn for conn in ctx.connections
            if conn.session is None and ctx.config.in_media_range(conn.resp_p) and any(
                conn.resp_h == session.media_server
                and opener_unknown(conn, session, ctx.config, ctx.profile)
                for session in ctx.sessions)]

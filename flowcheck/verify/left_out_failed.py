"""The failed openings of a capture without the job's control connection: errors.

flowcheck.verify.control_left_out ties connections to a job without its control
connection (capture_filtered: nothing of steps 1-3 can be judged). One of them whose SYNs
its connector resent and nothing answered (no SYN-ACK, RST or ICMP in the capture) shows
the step it is failed, whatever the capture left out: contract.md counts retransmitted
SYNs as evidence of a failed step, and the firewall rule flow-model.md asks for (the
media range inbound to the media server, the agent range to the agent) did not pass it.
Such a connection is then `callback_unanswered` (the agent's connection into the media
range, Backup Exec's callback) or `data_unanswered` (a data connection), an error, with
no session (review61a: captures/trial36-firewall-devices/pa-data-drop-stage-drop, a Palo
Alto drop stage of the data SYNs, read INCONCLUSIVE, "nothing of the job's steps could
be judged", where the whole capture, pa-data-drop, reads FAIL data_unanswered; so did
newuser60-cbonly's IPv4 cuts of callbacks the whole captures read callback_unanswered).
Not when a later connection to the same endpoint opened (the connector tried again and
got through), nor for a lone SYN (nothing resent: the capture may have ended too soon).
"""

from __future__ import annotations

from flowcheck.config import Config, format_ranges
from flowcheck.model import Connection, Finding, Severity, endpoint
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome
from flowcheck.verify.control_left_out import _INTO_MEDIA, _job_shaped


def left_out_failures(connections: list[Connection], config: Config,
                      profile: Profile | None) -> list[Finding]:
    """callback_unanswered / data_unanswered (errors, no session) for the connections
    control_left_out tied to a job whose SYNs were resent and never answered, no later
    connection to the same endpoint opened; [] for none. connections: the capture's (or
    the piece's) that control_left_out read; profile: the job's (None: Backup Exec's
    callback for the agent's connection into the media range)."""
    # details imports verify.context, which imports capture_filter's checks: here late.
    from flowcheck.verify.details import failure_words

    callback = profile is None or profile.callback == "connection"
    out = []
    for conn in connections:
        shape = _job_shaped(conn, config)
        if not shape or conn.syn_retries < 1 or connection_outcome(conn) != "unanswered":
            continue
        if any(other.ts > conn.ts and other.resp_h == conn.resp_h
               and other.resp_p == conn.resp_p
               and connection_outcome(other) == "established" for other in connections):
            continue  # tried again and got through
        into_media = shape == _INTO_MEDIA
        code = "callback_unanswered" if into_media and callback else "data_unanswered"
        what = "callback" if code == "callback_unanswered" else "data connection"
        side, ranges = (("media", config.media_range) if into_media
                        else ("agent", config.agent_range))
        how = failure_words(conn).removeprefix("unanswered: ")
        out.append(Finding(
            code=code, severity=Severity.ERROR, uid=conn.uid, ts=conn.ts,
            frames=list(conn.syn_frames),
            message=f"The job's {what} {conn.uid} {endpoint(conn.orig_h, conn.orig_p)} -> "
                    f"{endpoint(conn.resp_h, conn.resp_p)} (tied to the job by its ports, "
                    "its control connection not in the capture: capture_filtered) was "
                    f"never answered: {how}. Its SYNs were lost on the way to {conn.resp_h}, "
                    "or the answers on the way back; a firewall's capture of the packets it "
                    "dropped holds such openings too (then that device dropped them).",
            fix=f"Allow TCP from {conn.orig_h} to {conn.resp_h} ports "
                f"{format_ranges(ranges)} (the {side} range) and its return traffic on "
                "every firewall between them and on both hosts; then capture the job again "
                "with its control connection to check its other steps."))
    return out

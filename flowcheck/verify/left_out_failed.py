"""The failed openings of a capture without the job's control connection: errors.

flowcheck.verify.control_left_out ties connections to a job without its control
connection (capture_filtered: nothing of steps 1-3 can be judged). One of them whose
opening the capture shows failed, on the evidence contract.md asks of a failed step
(SYNs its connector resent, never answered; an ICMP unreachable answering its SYN; a
SYN-ACK resent after the ACK completing the handshake: sessions.unheard_ack), failed whatever the
capture left out, and the firewall rule flow-model.md asks for (the media range inbound
to the media server, the agent range to the agent) did not pass it. Such a connection is
then `callback_unanswered` / `callback_refused` (the agent's connection into the media
range, Backup Exec's callback), `data_unanswered` / `data_refused` (a data connection)
or `handshake_incomplete`, an error, with no session (review61a:
captures/trial36-firewall-devices/pa-data-drop-stage-drop, a Palo Alto drop stage of the
data SYNs, read INCONCLUSIVE, "nothing of the job's steps could be judged", where the
whole capture, pa-data-drop, reads FAIL data_unanswered; so did newuser60-cbonly's IPv4
cuts of callbacks the whole captures read callback_unanswered, and lab/callback-rejected,
data-port-in-use, callback-ack-dropped cut with `tshark -Y 'not tcp.port==10000'`).
Not when a later connection of its kind (the same shape) opened: the connector tried again
and got through, or it was an ended job's leftover beside a new job, which only the
control connection tells (so a job whose first data connection was refused and whose
next opened reads INCONCLUSIVE so cut: lab/data-port-in-use); nor for a lone SYN
(nothing resent: the capture may have ended too soon), nor for a SYN answered with a RST
(an ended job's late connect to its gone listener draws one: ndmjob-ended
/v4-ended-leftovers-parallel-media), nor for SYNs the capture holds answered under
another address of their sender (a NAT's other view: asa-return-drop-nat).
"""

from __future__ import annotations

from flowcheck.config import Config, format_ranges
from flowcheck.model import Connection, Finding, Severity, endpoint
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.verify.allow_rules import rule_allows
from flowcheck.verify.census import Census
from flowcheck.verify.control_left_out import INTO_MEDIA, job_shaped
from flowcheck.verify.details import failure_words
from flowcheck.verify.refusals import routing_unreachable

_TIED = "(tied to the job by its ports, its control connection not in the capture: " \
        "capture_filtered)"


def add_left_out_failures(findings: list[Finding], connections: list[Connection],
                          config: Config, profile: Profile | None,
                          census: Census | None = None) -> list[Finding]:
    """The findings, each control_left_out capture_filtered (Finding.reading; after
    capture_filter.explain_missing_control) followed by the errors of its capture's, or
    its piece's, failed openings (left_out_failures). census: the connections' (its
    pieces: sources.pieces; None: one piece). Called by the pipeline, not by
    capture_filter: verify.details, whose words these use, imports verify.context, which
    imports capture_filter (tests/test_layers.py: no import circle)."""
    out = []
    for finding in findings:
        out.append(finding)
        if finding.reading != "control_left_out":
            continue
        piece = connections
        if census is not None and len(census.pieces) > 1 and finding.ts is not None:
            piece = list(census.in_pieces[census.pieces.of(finding.ts)])
        out += left_out_failures(piece, config, profile)
    return out


def left_out_failures(connections: list[Connection], config: Config,
                      profile: Profile | None) -> list[Finding]:
    """An error (no session) for each connection control_left_out tied to a job whose
    opening failed on evidence (the module's docstring), no later connection of its shape
    opened; [] for none. connections: the capture's (or the piece's) that
    control_left_out read; profile: the job's (None: Backup Exec's callback for the
    agent's connection into the media range)."""
    callback = profile is None or profile.callback == "connection"
    out = []
    for conn in connections:
        shape = job_shaped(conn, config)
        outcome = connection_outcome(conn) if shape else ""
        if not _evidenced(conn, outcome) or _told_otherwise(conn, shape, connections, config):
            continue
        into_media = shape == INTO_MEDIA
        what = "callback" if into_media and callback else "data"
        out.append(_failed(conn, what, outcome, *(("media", config.media_range) if into_media
                                                  else ("agent", config.agent_range))))
    return out


def _evidenced(conn: Connection, outcome: str) -> bool:
    """Does the capture show conn's opening failed on evidence (the module's docstring):
    SYNs resent unanswered, an ICMP unreachable, a SYN-ACK resent after the ACK that
    completed the handshake (sessions.unheard_ack)? Not a RST: an ended job's late
    connect to its gone listener draws one too (review61a: ndmjob-ended
    /v4-ended-leftovers-parallel-media cut read FAIL data_refused, its whole capture
    PASS). Not a handshake merely without its last ACK: a capture that kept SYNs only, or
    stopped after the SYN-ACK, holds it so (trial43-syn-filter/syn-filter-two-jobs,
    lab/stopped-after-data-syn-ack cut read FAIL, their whole captures INCONCLUSIVE)."""
    if outcome == "unanswered":
        return conn.syn_retries >= 1
    if outcome == "refused":
        return bool(conn.icmp_frames)
    return outcome == "handshake_incomplete" and handshake_unheard(conn)


def _told_otherwise(conn: Connection, shape: str, connections: list[Connection],
                    config: Config) -> bool:
    """Does the capture hold what only the control connection could tell from conn's
    failure? Its SYNs answered under another address of their sender (a NAT's other view:
    review61a, trial36-firewall-devices/asa-return-drop-nat cut read "no SYN-ACK", the
    SYN-ACKs in it to 10.77.1.101, M's address across the NAT); or a later connection of
    its shape opened: the connector tried again and got through (at another address:
    IPv6 refused, IPv4 taken), or conn was an ended job's leftover beside a new job
    (lab-trial28-dualstack/callback-fallback-v6-rst, ndmjob-ended
    /v4-ended-at-start-then-good-media cut read FAIL, their whole captures PASS)."""
    if any(other is not conn and other.synack_seen and other.orig_p == conn.orig_p
           and (other.resp_h, other.resp_p) == (conn.resp_h, conn.resp_p)
           for other in connections):
        return True
    return any(other.ts > conn.ts and job_shaped(other, config) == shape
               and connection_outcome(other) == "established" for other in connections)


def _failed(conn: Connection, what: str, outcome: str, side: str,
            ranges: tuple[tuple[int, int], ...]) -> Finding:
    """The error for one failed opening: `what` "callback" or "data", `outcome`
    connection_outcome's, `side` and `ranges` the listening side's range."""
    how = failure_words(conn).split(": ", 1)[-1]
    rule = (f"TCP from {conn.orig_h} to {conn.resp_h} ports {format_ranges(ranges)} (the "
            f"{side} range)")
    name = (f"The job's {'callback' if what == 'callback' else 'data connection'} "
            f"{conn.uid} {endpoint(conn.orig_h, conn.orig_p)} -> "
            f"{endpoint(conn.resp_h, conn.resp_p)} {_TIED}")
    if outcome == "unanswered":
        code = f"{what}_unanswered"
        message = (f"{name} was never answered: {how}. Its SYNs were lost on the way to "
                   f"{conn.resp_h}, or the answers on the way back; a firewall's capture of "
                   "the packets it dropped holds such openings too (then that device "
                   "dropped them).")
        fix = f"Allow {rule} and its return traffic on every firewall between them and on "
    elif outcome == "refused":
        code = f"{what}_refused"
        why, fix = _refused_words(conn, rule)
        message = f"{name} was refused: {how}. {why}"
    else:
        code = "handshake_incomplete"
        message = f"{name} never completed its handshake: {how}."
        fix = (f"Allow {rule} and every packet of it both ways (a stateless rule passing "
               "the SYN alone blocks the rest) on every firewall between them and on ")
    return Finding(code=code, severity=Severity.ERROR, uid=conn.uid, ts=conn.ts,
                   frames=list(conn.syn_frames), message=message, allows=rule_allows(conn),
                   fix=fix + "both hosts; then capture the job again with its control "
                             "connection to check its other steps.")


def _refused_words(conn: Connection, rule: str) -> tuple[str, str]:
    """Why an ICMP unreachable refused conn's SYN (a sentence) and the fix's start (up to
    "... and on ", _failed ends it). A filter's reject for a filter's code or port
    unreachable, and for a routing code from the responder's own address (a host does
    not report itself unreachable: verify.refusals.icmp_cause); a routing code
    (network or host unreachable: refusals.routing_unreachable) from a router, from the
    connector's own stack or from an unknown sender may be a router that could not reach
    the responder just as well (final61c: field46-matrix/data-router-net-unreachable
    -dual-stack cut to its data connections read "a filter's reject", "where a rule
    rejects it", of the router 10.77.0.254's network unreachable)."""
    if routing_unreachable(conn) is None or conn.icmp_sender == conn.resp_h:
        return ("An ICMP unreachable answering a SYN is a filter's reject (a firewall's, or "
                "a router's), not a closed port's (that answers a RST).",
                f"Allow {rule} where a rule rejects it: on every firewall between them and on ")
    who = conn.icmp_sender or "a router between them"
    where = conn.icmp_sender or "every router between them"
    return (f"{who[:1].upper()}{who[1:]} could not reach {conn.resp_h} ({conn.resp_h} "
            "down, or no route or no ARP or neighbour answer to it from there), or a filter "
            "there rejects the connection with that code (a closed port answers a RST).",
            f"Check that {conn.resp_h} is up and that {where} routes to it; if a rule "
            f"rejects the connection instead, allow {rule} on every firewall between them "
            "and on ")

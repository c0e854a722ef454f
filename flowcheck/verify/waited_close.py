"""A data connection its closer gave up on after waiting for data that never came
(data_aborted's reading, flowcheck.verify.aborted): it opened, nothing of the other
side's came on it for SILENT_SECONDS or more, then the closer closed it. That is a data
timeout, not the closer's own error or a cancelled job (the sweep's cut of field35's
backup-ack-dropped-dir-out, stopped right after the media server's FINs 30 s on, read
"closed it itself (the job was cancelled, or an error on its side)")."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.model import Connection, Session
from flowcheck.sessions.unheard_ack import RESENDS_ENOUGH
from flowcheck.verify.end_roles import role_words

# A data sender silent this long, on every connection of its session (silent_sender) or
# on its data connection since it opened (gave_up_waiting), before its peer closed: the
# peer gave up waiting (a healthy transfer has no pause of seconds, and a closing host
# does not wait that long to close).
SILENT_SECONDS = 5.0


def gave_up_waiting(conn: Connection, session: Session, closer: str
                    ) -> tuple[str, str] | None:
    """(reading, fix) when `closer` (an address of conn) closed it SILENT_SECONDS or more
    after it opened with no byte of the other side's on it (captured, or acknowledged in
    a capture of one direction: more than its SYN's and FIN's); None otherwise. The
    closer's ACK completing the handshake repeated RESENDS_ENOUGH times or more (as a
    host answers SYN-ACKs resent to it: SideEvidence.handshake_ack_repeats) says the
    ACK most likely never reached the other side."""
    if conn.fin_ts is None:
        return None
    waited = conn.fin_ts - conn.opening_ts
    other_side = "resp" if closer == conn.orig_h else "orig"
    unseen = conn.resp_acked_unseen if other_side == "resp" else conn.orig_acked_unseen
    if waited < SILENT_SECONDS or conn.sent_once(other_side) or unseen > 1:
        return None
    other = conn.host(other_side)
    other_words = role_words(conn, session, other)
    repeats = (conn.evidence("orig").handshake_ack_repeats if closer == conn.orig_h else 0)
    reading = (f"{closer} closed it {span_words(waited)} after it opened, no byte of "
               f"{other_words}'s having come on it: it gave up waiting for the data (a data "
               "timeout), not an error of its own or a cancelled job.")
    if repeats >= RESENDS_ENOUGH:
        reading += (f" Its ACK completing the handshake went out {repeats + 1} times, as a "
                    "host answers SYN-ACKs resent to it: that ACK most likely never reached "
                    f"{other}, so the connection never opened there and no data could "
                    f"flow (a rule on {other} or between them that lets SYNs through and "
                    "drops the packets after them; or duplicate ACKs of data lost on the "
                    "way).")
        fix = (f"Check the firewall on {other} and between the hosts: it must accept the "
               f"packets after the SYN (established connections) from {closer} to port "
               f"{conn.resp_p if other_side == 'resp' else conn.orig_p}; then "
               f"{other_words}'s NDMP service log.")
    else:
        reading += (f" Either {other_words} sent nothing (its NDMP service never started "
                    "the transfer) or its packets were lost on the way.")
        fix = (f"See {other_words}'s NDMP service log for whether it sent the data, then "
               f"the path between {other} and {closer} (firewalls and IPSs dropping "
               "packets, a path MTU black hole); a capture on both hosts at once shows "
               "where packets are lost.")
    return reading, fix

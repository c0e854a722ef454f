"""What a connection, a control stream and an announcement say on their own.

How a connection opened (Zeek's history and states), which direction a capture lacks,
what kind of job a control stream runs, and which announcements are alternatives of one
expectation (which announcing messages the snap length cut: flowcheck.sessions.snap_cut).
No matching here: flowcheck.sessions.matching and .by_ports tie connections to sessions
with these answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from flowcheck.model import Announcement, Connection, Direction, NdmpMessage, NdmpStream, Session
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.ndmp.protocol import ANY_VERSION_NAMES
from flowcheck.sessions.data_ends import conn_sides
from flowcheck.sessions.syn_proxy import proxied
from flowcheck.sessions.unheard_ack import handshake_unheard

Outcome = Literal["established", "unanswered", "refused", "handshake_incomplete", "aborted",
                  "midstream"]

_RECOVERS = {"DATA_START_RECOVER", "DATA_START_RECOVER_FILEHIST"}
# Requests that start a backup or restore (NDMP v2-v4 DATA_START_*).
JOB_STARTS = {"DATA_START_BACKUP", *_RECOVERS}
# Requests that set up or start a data transfer: a session with one is not a browse.
DATA_INTENT = {"DATA_LISTEN", "DATA_CONNECT", "MOVER_LISTEN", "MOVER_CONNECT", *JOB_STARTS}
# Requests whose refusal stops the job (contract: ndmp_error_reply is an error for them;
# for CONNECT_OPEN too unless a later one succeeds: verify.replies.reply_severity).
FATAL_REPLIES = {"CONNECT_CLIENT_AUTH", *DATA_INTENT}
_MOVER_SETUPS = {"MOVER_LISTEN", "MOVER_CONNECT"}
# The NDMP server's first message on every new connection (NDMP v2-v4: NOTIFY_CONNECTED,
# v4's NOTIFY_CONNECTION_STATUS, sent once the connection is accepted, before the DMA's
# CONNECT_OPEN), and the DMA's first message, answering it (NDMP v4 section 3.2).
GREETING = "NOTIFY_CONNECTED"
FIRST_REQUEST = "CONNECT_OPEN"
# The greeting's reasons (NDMP v2-v4): the connection accepted or turned away. The same
# post with SHUTDOWN is the agent's notice that it ends the session, its last message.
OPENING_REASONS = ("CONNECTED", "REFUSED")
# ndmp_mover_mode (flowcheck.ndmp.protocol.MOVER_MODES): the way the data connection goes.
_MOVER_MODE_KINDS: dict[str, Literal["backup", "restore"]] = {"READ": "backup",
                                                              "WRITE": "restore"}


# History letters (Zeek's) of a side that went on after the handshake (ACK, data, FIN),
# the responder's with its SYN-ACK, and either side's close: a set's isdisjoint reads a
# history in one C call (the same answer as testing each letter in it).
_ORIG_WENT_ON, _RESP_WENT_ON = frozenset("ADF"), frozenset("adf")
_RESP_ANSWERED, _CLOSED = frozenset("hadf"), frozenset("FfRr")
_STALE_LETTERS = frozenset("a")  # the responder's going-on letters of a stale answer


def message_op(message: NdmpMessage) -> str:
    """The message's name without the NDMP_ prefix ("DATA_LISTEN"), whatever the decoder."""
    name = (message.name or "").upper().removeprefix("NDMP_")
    if not name or name.startswith(("UNKNOWN", "0X")):
        # A decoder that left the name out: the protocol's table names the code.
        return ANY_VERSION_NAMES.get(message.code, name)
    return name


def reply_to(request: NdmpMessage, later: Iterable[NdmpMessage]) -> NdmpMessage | None:
    """The reply to the request among the later messages: from the other side, whose
    header's reply_sequence is the request's sequence (a reply without one: with the
    request's code); None when none is there."""
    return next((m for m in later if m.type == "reply" and m.direction != request.direction
                 and (m.reply_sequence == request.sequence
                      or (not m.reply_sequence and m.code == request.code))), None)


def connection_outcome(conn: Connection) -> Outcome:
    """How the connection's opening went, from the handshake evidence the engine kept.
    A handshake the capture shows complete whose listener resent its SYN-ACK after the
    ACK and never progressed (flowcheck.sessions.unheard_ack) never completed."""
    if handshake_unheard(conn):
        return "handshake_incomplete"
    if proxied(conn):
        return "refused"  # behind a SYN proxy that completed the handshake
    if conn.established or (conn.synack_seen and conn.orig_bytes > 0):
        return "established"
    # The capture may have lost the SYN-ACK (a busy sniffer drops packets, or the capture
    # holds one direction only) while the responder went on to ACK, send data or close:
    # Zeek's lower-case history letters. That connection was answered; a refused one
    # shows only "r". Likewise an originator ACKs, sends data or closes only after a
    # SYN-ACK reached it, seen or not (upper-case letters).
    # Not the ACK a socket that still held an earlier connection on the 4-tuple answered
    # the SYN with (stale_answer): the originator resets that one and tries again.
    if ((conn.syn_seen or conn.synack_seen) and not _RESP_WENT_ON.isdisjoint(conn.history)
            and not stale_answer(conn)):
        return "established"
    if conn.syn_seen and not _ORIG_WENT_ON.isdisjoint(conn.history):
        return "established"
    if conn.synack_seen and originator_aborted(conn):
        return "aborted"
    if conn.synack_seen:
        return "handshake_incomplete"
    if conn.syn_seen and conn.far_synack_frames:
        return "handshake_incomplete"  # answered across a NAT, never crossed back
    if conn.syn_seen:
        if conn.resp_rst or conn.icmp_frames or conn.conn_state == "REJ":
            return "refused"
        return "unanswered"
    if unseen_syn_refused(conn) or quoted_syn_refused(conn):
        return "refused"  # its SYN travelled the way the capture lacks
    return "midstream"  # the capture started after the handshake: nothing to judge


def stale_answer(conn: Connection) -> bool:
    """Did the responder go on (Zeek's history letter "a") only with the ACK of a socket
    that still held an earlier connection on the same 4-tuple (Connection.stale_ack_frame:
    its first packet, answering the SYN, acknowledges another sequence number than the
    SYN's; RFC 9293 3.10.7.4, RFC 5961 4: a TIME-WAIT or established socket's challenge
    ACK), nothing but RSTs after it and no SYN-ACK? Then the SYN was not accepted: no
    SYN-ACK the sniffer lost (trial 35 D2). Its originator resets that ACK (RFC 9293
    3.10.7.3) and sends its SYN again, which opens, is refused or goes unanswered: that
    RST is required, since an ACK of bytes the capture never saw sent is also what a real
    answer looks like when the sniffer lost the SYN-ACK and the originator's data
    (review 25a). A later packet of the responder that acknowledges the SYN after all
    (not a RST) has the engine set stale_ack_frame back to 0: no stale answer then."""
    return (bool(conn.stale_ack_frame) and not conn.synack_frames
            and conn.orig_rst_frame > conn.stale_ack_frame
            and _RESP_WENT_ON.intersection(conn.history) == _STALE_LETTERS)


def originator_aborted(conn: Connection) -> bool:
    """SYN, SYN-ACK, then a RST from the originator instead of its ACK, no data either way
    (Zeek's RSTO, history ShR): the responder answered, the originator reset the
    connection before it opened. Its TCP answers a SYN-ACK with a RST when no connection
    waits for it any more (RFC 9293 section 3.10.7.1, CLOSED state: the connect was given
    up or timed out), or a rule on its side rejects the SYN-ACK with a reset."""
    return (conn.syn_seen and conn.synack_seen and conn.orig_rst and not conn.resp_rst
            and not conn.orig_bytes and not conn.resp_bytes
            and max(conn.rst_frames, default=0) > conn.synack_frames[0])


def synack_reset_unseen_syn(conn: Connection) -> bool:
    """No SYN in the capture, only SYN-ACKs from the responder and then a RST from the
    originator instead of the ACK that completes the handshake, nothing else (Zeek's
    history ^hR): the originator's TCP had no connection waiting for that SYN-ACK (RFC
    9293 section 3.10.7.1), so its connect was given up or had timed out before. A
    responder resends its SYN-ACK for a while (Linux: 5 times, over about a minute), so
    such a resend can reach a capture that started after the SYN."""
    return (not conn.syn_seen and conn.synack_seen and conn.orig_rst
            and set(conn.history) <= {"^", "h", "R"}
            and max(conn.rst_frames, default=0) > conn.synack_frames[0])


def closed_before_data(conn: Connection) -> bool:
    """SYN, SYN-ACK, ACK (the handshake completed), then closed by either side (a RST or a
    FIN) with no payload byte either way, none missed (Zeek's histories ShAR, ShAr, ShAF,
    ...): the connection opened and was given up before anything used it. Its opening
    went fine (connection_outcome says "established"); for a data connection it is a
    resource whose data never flowed (a backup or restore stream always carries bytes:
    dump and tar headers at least), and the connector may retry it. closing() says who
    closed it and how. A capture of one direction (one_sided) shows it too when the side
    it holds closed first: closed_one_way."""
    if one_sided(conn) is not None:
        return closed_one_way(conn)
    return (conn.established and conn.syn_seen and conn.synack_seen
            and (conn.orig_rst or conn.resp_rst or bool(conn.fin_frames))
            and not conn.orig_bytes and not conn.resp_bytes and not conn.missed_bytes)


def closed_one_way(conn: Connection) -> bool:
    """closed_before_data as a capture of one direction shows it (trial 27
    toc-filehist-a, the media server's packets only): the captured side's opening packet
    (its SYN, or its SYN-ACK), then its own FIN with no payload byte sent (its sequence
    numbers: no byte missed or seen only from its ACKs), its ACKs acknowledging none of
    the other side's bytes, or just one sequence number and only after its FIN (its last
    packet an ACK after it: the other side's FIN answering the close). The connection
    opened (connection_outcome: its FIN answers a SYN or SYN-ACK) and its closer sent
    and received nothing before closing it."""
    side = "orig" if conn.orig_pkts else "resp"
    opening = conn.syn_seen if side == "orig" else conn.synack_seen
    sent = conn.orig_bytes if side == "orig" else conn.resp_bytes
    acked = conn.resp_acked_unseen if side == "orig" else conn.orig_acked_unseen
    if (not opening or sent or conn.missed_bytes or conn.rst_frames or not conn.fin_frames
            or conn.evidence(side).sent_unseen or connection_outcome(conn) != "established"
            or closing(conn)[0] != ("originator" if side == "orig" else "responder")):
        return False
    return acked == 0 or (acked == 1 and conn.last_frame > conn.fin_frames[0])


Closer = Literal["originator", "responder", "both"]


def closing(conn: Connection) -> tuple[Closer, Literal["RST", "FIN"]]:
    """Who ended the connection first and how, from its history's first close letter
    (Zeek: R/F the originator's RST/FIN, r/f the responder's): a RST counts before a FIN
    when both came (the reset is what ended it); "both" when each side sent a RST (what a
    firewall or IPS that blocks an open session does to its two ends)."""
    if conn.orig_rst and conn.resp_rst:
        return "both", "RST"
    if conn.orig_rst or conn.resp_rst:
        return ("originator" if conn.orig_rst else "responder"), "RST"
    return ("originator" if first_fin(conn) != "f" else "responder"), "FIN"


def first_fin(conn: Connection) -> Literal["F", "f"] | None:
    """"F" when the originator's FIN came first, "f" the responder's (the history's first
    F or f, Zeek's letters); None: no FIN."""
    return next((c for c in conn.history if c in "Ff"), None)  # type: ignore[return-value]


def first_fin_by(conn: Connection) -> str | None:
    """The host that sent the connection's first FIN; None: no FIN."""
    first = first_fin(conn)
    return None if first is None else conn.orig_h if first == "F" else conn.resp_h


def rst_only(conn: Connection) -> bool:
    """No handshake and nothing but RSTs captured: such a RST may answer a SYN the
    capture lacks (a refusal) as well as end a connection that had opened, so it proves
    neither (RFC 9293 section 3.10.7.1: a closed port answers a SYN with a RST)."""
    return (not conn.syn_seen and not conn.synack_seen and not conn.orig_bytes
            and not conn.resp_bytes and bool(conn.rst_frames)
            and conn.orig_pkts + conn.resp_pkts <= len(conn.rst_frames))


def unseen_syn_refused(conn: Connection) -> bool:
    """A refusal whose SYN the capture lacks: nothing but RSTs from the responder, the
    first of a refusal's shape (Connection.refusal_first: RST+ACK, no payload, seq 0:
    RFC 9293 3.10.7.1), nothing from the originator. A capture of one direction
    (`tcpdump 'src host X'`, a SPAN port that sees one way) holds the refusal and not
    the SYN it answers; the engine made the RST's receiver the originator, as the SYN's
    sender would have been."""
    return conn.refusal_first and rst_only(conn) and not conn.orig_pkts


def quoted_syn_refused(conn: Connection) -> bool:
    """A refusal known only from ICMP unreachables quoting its SYN: no TCP packet of it
    captured (flowcheck.connections.icmp makes such a connection from the quotes). A
    capture of one direction (`tcpdump -Q in`) holds the reject a firewall sent back and
    not the SYN it answers; the quote proves the SYN was sent (RFC 792, RFC 4443)."""
    return (not conn.orig_pkts and not conn.resp_pkts and not conn.syn_frames
            and bool(conn.icmp_frames))


def one_sided(conn: Connection) -> Direction | None:
    """The direction the capture lacks on this connection, when its packets prove the
    other side talked: "resp" when the originator ACKs, sends data or closes but no
    responder packet was captured; "orig" the other way round (a SPAN port or
    `tcpdump -Q in|out` that sees one direction); None for a side held elsewhere."""
    if conn.side_held_elsewhere:  # its few packets lost (sessions.held_elsewhere)
        return None
    if conn.resp_pkts == 0 and conn.orig_pkts and not _ORIG_WENT_ON.isdisjoint(conn.history):
        return "resp"
    if conn.orig_pkts == 0 and conn.resp_pkts and not _RESP_ANSWERED.isdisjoint(conn.history):
        return "orig"
    return None


def is_failed(conn: Connection) -> bool:
    """Did the connection fail, so its connector may retry from a new source port: its
    opening failed, or it opened and its originator reset it before any data, or (a data
    connection: one that must carry bytes) it opened and was closed before any data. A
    callback that carries nothing and closes is normal (Backup Exec's carries no byte)."""
    if connection_outcome(conn) in ("unanswered", "refused", "handshake_incomplete",
                                    "aborted"):
        return True
    return closed_before_data(conn) and (conn.role == "data"
                                         or closing(conn) == ("originator", "RST"))


def session_kind(stream: NdmpStream | None) -> Literal["backup", "restore", "browse"]:
    """restore or backup as the stream says it (said_kind), else backup for any other data
    request or announcement, else browse: also with no stream at all (the contract's
    kinds have no "unknown"; Session.kind_unknown tells the text)."""
    if stream is None:
        return "browse"
    said = said_kind(stream)
    if said is not None:
        return said
    ops = {message_op(m) for m in stream.messages if m.type in ("request", "reply")}
    if ops & DATA_INTENT or stream.announcements:
        return "backup"
    return "browse"


def said_kind(stream: NdmpStream | None) -> Literal["backup", "restore"] | None:
    """Which way the job went, as its control stream says it; None when it does not.

    A DATA_START_* request or its reply (a one-direction capture of the agent's side holds
    only the reply) says it. Before one, a three-way job's MOVER_LISTEN or MOVER_CONNECT
    request says it by its mode (NDMP v4 spec, ndmp_mover_mode): READ, the mover reads
    the data connection onto tape (a backup); WRITE, it writes the tape's data to it (a
    restore), so a restore whose data connection failed before DATA_START_RECOVER is
    still a restore.
    """
    if stream is None:
        return None
    ops = {message_op(m) for m in stream.messages if m.type in ("request", "reply")}
    if ops & _RECOVERS:
        return "restore"
    if ops & JOB_STARTS:
        return "backup"
    for message in stream.messages:
        if message.type == "request" and message_op(message) in _MOVER_SETUPS:
            mode = message.body.get("mode")
            if mode in _MOVER_MODE_KINDS:
                return _MOVER_MODE_KINDS[mode]
    return None


def announcement_groups(announcements: Iterable[Announcement]) -> list[list[Announcement]]:
    """Alternatives of one expectation: same frame (v4 multi-address) or same endpoint.

    Each announcement, in time order, joins the earliest group holding its frame or its
    endpoint, else starts one; by dict lookups, so a session announcing thousands of
    endpoints costs linear time."""
    groups: list[list[Announcement]] = []
    # The earliest group holding each frame and each endpoint.
    by_frame: dict[int, int] = {}
    by_endpoint: dict[tuple[str, int], int] = {}
    for ann in sorted(announcements, key=lambda a: (a.ts, a.frame)):
        endpoint = (ann.ip, ann.port)
        found = [g for g in (by_frame.get(ann.frame), by_endpoint.get(endpoint))
                 if g is not None]
        index = min(found) if found else len(groups)
        if index == len(groups):
            groups.append([])
        groups[index].append(ann)
        by_frame[ann.frame] = min(by_frame.get(ann.frame, index), index)
        by_endpoint[endpoint] = min(by_endpoint.get(endpoint, index), index)
    return groups


def end_of(conn: Connection) -> float:
    """When the connection's last packet was seen (its start, for a single packet)."""
    return max(conn.last_ts, conn.ts)


def seen_closing(conn: Connection) -> bool:
    """Did the capture see the connection end (a FIN or a RST either way)? One that did
    not was still open when the capture ended, as far as the capture shows."""
    return bool(conn.fin_frames or conn.rst_frames) or not _CLOSED.isdisjoint(conn.history)


def asked_nothing(control: Connection) -> bool:
    """Did the control connection's originator (the media server, the DMA) send not one
    byte on it, from its SYN to the close it made first (FIN or RST), none missed? Then
    it made no NDMP request, and nothing asked the agent to call back: a port check
    (flowcheck.verify.port_check). A capture without its SYN or its close, or without its
    packets (one direction), shows too little to say so."""
    return (control.syn_seen and control.orig_pkts > 0 and not control.orig_bytes
            and not control.missed_bytes and not control.orig_acked_unseen
            and seen_closing(control) and closing(control)[0] == "originator")


def listener_host(ann: Announcement, control: Connection) -> str:
    """The address the control connection used for the announcement's listener: for a
    LISTEN reply (DATA_LISTEN, MOVER_LISTEN) the NDMP server that sent it, the
    responder (a three-way job's tape server answers MOVER_LISTEN: it read the DMA's
    address); for a CONNECT request (DATA_CONNECT, MOVER_CONNECT, v2's DATA_START_*) the
    DMA's own service of the other kind, the originator (a three-way job's listener is
    the other control connection's server: flowcheck.verify.shared.listened_at)."""
    return control.resp_h if (ann.message, True) in ANNOUNCERS else control.orig_h


def connector_host(ann: Announcement, control: Connection) -> str:
    """The address the control connection used for the host told to connect to the
    announcement: the media server (DATA_LISTEN / MOVER_CONNECT: its mover connects) or
    the agent (MOVER_LISTEN / DATA_CONNECT / v2 DATA_START_*: its data service connects)."""
    return control.orig_h if ann.listener == "data" else control.resp_h


def asked_version(stream: NdmpStream) -> int | None:
    """The version the stream's first CONNECT_OPEN request asks for (None without one):
    the session's version only once the reply accepts it (ndmp.collector)."""
    for message in stream.messages:
        if message_op(message) == "CONNECT_OPEN" and message.type == "request":
            version = message.body.get("version")
            return version if isinstance(version, int) else None
    return None


def kind_from_bytes(session: Session, by_uid: dict[str, Connection]
                     ) -> tuple[Literal["backup", "restore"], bool]:
    """Without DATA_START_RECOVER, a restore shows as bytes flowing to the agent: (kind,
    whether the bytes told it), backup untold when as many bytes went each way (none).
    A side's bytes include those the capture lacks that its peer acknowledged
    (Connection.orig_acked_unseen: a capture of one direction).
    Each data connection's media server end is the session's media server's address when
    it has one (the agent's may be another: a NAT in front of it, trial31-dnat, whose
    backup cut to 68 bytes a frame read as a restore with no bytes), else the originator
    unless it is the agent (a control connection over IPv6, the data over IPv4:
    lab-trial28-addresses/dualstack-v6ctl-v4data cut to 96 bytes). A connection whose
    listener's NDMP role the session knows (the announcement it reached, or the cut
    message's or profile's for a port-matched one, whose ends the session's hosts tell
    first: sessions.data_ends.conn_sides) takes the mover's end for the media
    server's: the mover takes a backup's bytes (NDMP v4 sections 3.6, 3.7), whichever
    host runs it (a three-way job's tape agent answering MOVER_LISTEN, its DMA's request
    not captured: trial27/threeway-flooded-syn-t cut to the agents' packets read as a
    restore)."""
    listened = {ann.used_by for ann in session.announced if ann.used_by}
    to_media = to_agent = 0
    for uid in session.data_connections:
        conn = by_uid[uid]
        if uid in listened or uid in session.port_listener:
            # The mover listens, or the data server does, at the announced endpoint; a
            # port match by the session's hosts first (sessions.data_ends: one whose
            # opening the capture lacks may have the agent for originator).
            media_is_orig = conn_sides(conn, session)[0] == (conn.orig_h, conn.orig_p)
        elif session.media_server in (conn.orig_h, conn.resp_h):
            media_is_orig = conn.orig_h == session.media_server
        else:  # neither the media server's control address (dual stack): the originator
            media_is_orig = conn.orig_h != session.remote_agent
        # Bytes a side sent that the capture lacks but its peer acknowledged count too
        # (one direction captured: a restore's data seen only as the agent's ACKs).
        orig_sent = conn.orig_bytes + conn.orig_acked_unseen
        resp_sent = conn.resp_bytes + conn.resp_acked_unseen
        agent_sent = resp_sent if media_is_orig else orig_sent
        media_sent = orig_sent if media_is_orig else resp_sent
        to_media += agent_sent
        to_agent += media_sent
    return ("restore" if to_agent > to_media else "backup"), to_agent != to_media

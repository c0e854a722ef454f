"""Sessions that ended before asking for anything: refused at the connection's opening,
or closed right after authenticating.

A session is a browse (sessions.classify.session_kind) when its control stream holds no
DATA_* or MOVER_* setup, no DATA_START_* and no announcement. A browse asks the NDMP
server something (CONFIG_GET_HOST_INFO, CONFIG_GET_FS_INFO, ...: NDMP v4 spec, CONFIG
interface). A session that asked nothing after the connection's opening browsed nothing
either, and nothing in it tells what the DMA meant to do:

- the NDMP server refused its CONNECT_CLIENT_AUTH, or its CONNECT_OPEN (the version),
  and that refusal is the session's last word: the DMA stops there (ndmp_error_reply
  names the refusal);
- the server accepted its CONNECT_CLIENT_AUTH and the session closed (FIN or RST,
  either side) with no request after it (CONNECT_CLOSE aside): the DMA gave the job up
  on its own side before the first request (trial 14, Amanda ndmjob: a tape missing,
  no free mover port in the media range, an option the version does not support).

Such a session's kind is unknown (Session.kind_unknown, the text says why; the JSON kind
keeps the contract's "browse"). What the capture lacks is sessions.unseen's, judged
first: a reply whose error the capture cut is not a refusal nor an accepted
authentication here.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.sessions.classify import message_op

# The connection's opening (NDMP v4 spec, CONNECT interface): a refused one ends the
# session before it can ask for anything.
_OPENING = {"CONNECT_OPEN", "CONNECT_CLIENT_AUTH"}


def ended_before_job(conn: Connection, stream: NdmpStream | None) -> NdmpMessage | None:
    """The reply a session that shows no sign of a job ended at before asking anything
    (its control connection `conn`, its decoded `stream`): the refusal of its
    CONNECT_OPEN or CONNECT_CLIENT_AUTH (refused_opening), else its accepted
    CONNECT_CLIENT_AUTH when the connection then closed with no request
    (closed_after_auth); None for a session that asked something, or whose control
    connection lost bytes in the capture (a request may be among them)."""
    if stream is None or conn.missed_bytes:
        return None
    return refused_opening(stream) or closed_after_auth(stream)


def refused_opening(stream: NdmpStream) -> NdmpMessage | None:
    """The session's last request or reply (posts and CONNECT_CLOSE, which has no reply,
    left out) when it is an error reply to CONNECT_OPEN or CONNECT_CLIENT_AUTH whose
    error the capture holds; None otherwise."""
    for message in reversed(stream.messages):
        if message.type == "post" or message_op(message) == "CONNECT_CLOSE":
            continue
        if message.type == "reply" and message.error and not message.error_unknown \
                and message_op(message) in _OPENING:
            return message
        return None
    return None


def closed_after_auth(stream: NdmpStream) -> NdmpMessage | None:
    """The session's last CONNECT_CLIENT_AUTH reply when it accepted the authentication
    (its error captured: NDMP_NO_ERR), no request (CONNECT_CLOSE aside) followed it
    either way, and the capture holds the control connection's close (its first FIN or
    RST: NdmpStream.fin, .reset); None otherwise."""
    if stream.fin is None and stream.reset is None:
        return None  # still open when the capture ended: a request may have followed
    accepted: NdmpMessage | None = None
    for message in stream.messages:
        op = message_op(message)
        if message.type == "reply" and op == "CONNECT_CLIENT_AUTH":
            accepted = message if message.error_free else None
        elif accepted is not None and message.type == "request" and op != "CONNECT_CLOSE":
            return None  # it asked something after authenticating
    if accepted is not None and any(_asked_after(m, accepted) for m in stream.messages):
        return None
    return accepted


def _asked_after(message: NdmpMessage, accepted: NdmpMessage) -> bool:
    """Is `message` a request (not CONNECT_CLOSE) its asker sent after the request the
    accepted CONNECT_CLIENT_AUTH reply answers, by the asker's own NDMP sequence numbers
    (it numbers its messages in the order it sends them: NDMP v4 spec, the header)? The
    file's order interleaves the two sides by their stamps: two hosts' own captures
    merged with the agent's clock 0.5 s ahead wrote a browse's requests before the
    agent's reply to its CONNECT_CLIENT_AUTH, and the good browse read
    control_closed_after_auth, INCONCLUSIVE (flowcheck.sessions.clock_apart)."""
    return (message.type == "request" and message.direction != accepted.direction
            and message_op(message) != "CONNECT_CLOSE" and accepted.reply_sequence > 0
            and message.sequence > accepted.reply_sequence)


def ended_words(message: NdmpMessage) -> str:
    """Why the kind of a session that ended at `message` (ended_before_job) is unknown,
    as the text says it after "kind unknown"."""
    op = message_op(message)
    who = "agent" if message.direction == "resp" else "media server"
    if message.error:
        return (f"the {who} refused its {op} in {frame_text(message.frame)} with "
                f"{message.error_name or message.error}: nothing after it tells a backup, a "
                "restore or a browse")
    return (f"it authenticated, the {who} accepting its CONNECT_CLIENT_AUTH in "
            f"{frame_text(message.frame)}, and closed without a single request: nothing "
            "tells a backup, a restore or a browse")

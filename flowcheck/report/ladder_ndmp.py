"""A ladder's NDMP arrows (flowcheck.report.ladder_build): which messages of the control
connection are drawn (CONNECT_OPEN, CONNECT_CLIENT_AUTH, announcing messages with the
announced ip:port, DATA_START_*, NOTIFY_*_HALTED with their reason, error replies) and
what each arrow says. Secrets never reach a label: only whitelisted NDMP body fields are
read (protocol version, auth type, user name, halt reason).
"""

from __future__ import annotations

from flowcheck.model import NdmpMessage, Session, Step, endpoint
from flowcheck.printable import printable_name
from flowcheck.report.ladder import Arrow
from flowcheck.sessions import message_op

# NDMP requests and posts worth an arrow of their own (announcing messages and error
# replies are added whatever their name).
_SHOWN_REQUESTS = {"CONNECT_OPEN", "CONNECT_CLIENT_AUTH", "CONNECT_CLOSE", "DATA_START_BACKUP",
                   "DATA_START_RECOVER", "DATA_START_RECOVER_FILEHIST", "NOTIFY_DATA_HALTED",
                   "NOTIFY_MOVER_HALTED"}


def ndmp_arrows(messages: list[NdmpMessage], ends: tuple[str, str],
               session: Session) -> list[Arrow]:
    """The arrows of a session's control connection messages that matter (ends: the
    lanes of its originator and responder), each with the profile step of its frame and
    that step's status."""
    announced = {a.frame: a for a in session.announced}
    cut = {frame for frame, _, _ in session.cut_announcements}
    steps_by_frame: dict[int, Step] = {}
    for step in session.steps:
        if step.step != 1:  # step 1's frames are the control handshake's
            for frame in step.frames:
                steps_by_frame.setdefault(frame, step)
    arrows = []
    for message in messages:
        label = _ndmp_label(message, announced, cut)
        if label is None:
            continue
        src, dst = ends if message.direction == "orig" else ends[::-1]
        step = steps_by_frame.get(message.frame)
        status = step.status if step else "neutral"
        if status == "failed" and message.frame in announced and not message.error:
            status = "ok"  # a resource announced fine beside one refused (trial 20 D2)
        arrows.append(Arrow(src, dst, "ndmp", label, session.control_uid, [message.frame],
                            message.ts, 5, step.step if step else None, status,
                            reply=message.type == "reply"))
    return arrows


def _ndmp_label(message: NdmpMessage, announced: dict, cut: set[int]) -> str | None:
    """What the arrow says, or None for a message the ladder leaves out. Reads only the
    body fields named here: never a password or digest."""
    op = message_op(message)
    body = message.body
    suffix = " reply" if message.type == "reply" else ""
    if message.frame in announced:
        a = announced[message.frame]
        return f"{op}{suffix} {endpoint(a.ip, a.port)}"
    if message.addresses:
        return f"{op}{suffix} " + ", ".join(endpoint(a.ip, a.port) for a in message.addresses)
    if message.frame in cut:
        return f"{op}{suffix} (address cut by the snap length)"
    if message.error:
        return f"{op}{suffix} {message.error_name}"
    if message.type == "reply" or op not in _SHOWN_REQUESTS:
        return None
    if op == "CONNECT_OPEN" and isinstance(body.get("version"), int):
        return f"{op} v{body['version']}"
    if op == "CONNECT_CLIENT_AUTH":
        auth = str(body.get("auth_type", "")).strip()
        user = printable_name(str(body.get("user", "")).strip())  # from the wire
        return " ".join(part for part in (op, auth, f"user {user}" if user else "") if part)
    if op.endswith("_HALTED") and body.get("reason"):
        return f"{op} {body['reason']}"
    return op

"""NDMP error replies that say why a request failed on the server itself: a tape device
that cannot be opened, a session that never authenticated, an authentication type the
server refuses. Their fixes are the server's or the tape's, never a port or a firewall
(field check 39: MOVER_LISTEN answered DEV_NOT_OPEN_ERR was sent to the ports of the
media range; TAPE_OPEN refusals that ended the job read as harmless polls).

Error names and meanings: NDMP v4 (ndmp_error, section 3.3 of the protocol
specification) and the TAPE_OPEN and CONNECT_CLIENT_AUTH requests' descriptions.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import NdmpMessage, NdmpStream
from flowcheck.sessions.classify import message_op
from flowcheck.verify.allow_rules import capitalised

# error (as replies._error_words gives it) -> (what it means for a tape request, in
# words that follow "because"; its fix).
_TAPE_ERRORS = {
    "NO_DEVICE_ERR": ("the tape agent has no device of the name the job gave",
                      "check the tape device name the job uses against the tape agent's "
                      "devices"),
    "DEVICE_BUSY_ERR": ("another session holds the drive (another job, or a session left "
                        "open)",
                        "let the other job finish or end the session that holds the drive "
                        "(the tape agent's log and its NDMP sessions name it), then run the "
                        "job again"),
    "WRITE_PROTECT_ERR": ("the tape in the drive is write-protected (or the device was "
                          "opened read-only)",
                          "load a writable tape (remove its write protection) or a tape the "
                          "job may overwrite"),
    "NO_TAPE_LOADED_ERR": ("no tape is loaded in the drive",
                           "load a tape in the drive (or let the library load one)"),
    "PERMISSION_ERR": ("the NDMP service may not open the device",
                       "give the NDMP service's user access to the tape device"),
    "DEVICE_OPENED_ERR": ("the session already has a device open",
                          "see the backup application's log: it opened the device twice"),
    "DEV_NOT_OPEN_ERR": ("no tape device was open in the session (TAPE_OPEN missing or "
                         "refused before it)",
                         "see why the tape device was not opened first (a TAPE_OPEN that "
                         "failed, or none sent) in the backup application's and the tape "
                         "agent's logs"),
    "IO_ERR": ("the drive answered with an I/O error",
               "check the drive and the tape (the tape agent's system log, the drive's "
               "cleaning and error counters)"),
}
# Requests whose refusal one of these errors explains on the server (not a network).
_TAPE_REQUESTS = {"TAPE_OPEN", "MOVER_LISTEN", "MOVER_CONNECT"}
# Errors that say the session never authenticated, whatever the request.
_UNAUTHENTICATED = "NOT_AUTHORIZED_ERR"


def server_reason(op: str, error: str) -> str | None:
    """Why the server refused op with error, when the error itself says it and it is no
    network's or port's ("" words follow "because"); None otherwise."""
    if error == _UNAUTHENTICATED and op != "CONNECT_CLIENT_AUTH":
        return ("the session had not authenticated (no CONNECT_CLIENT_AUTH accepted before "
                "it)")
    if op in _TAPE_REQUESTS and error in _TAPE_ERRORS:
        return _TAPE_ERRORS[error][0]
    if op == "CONNECT_CLIENT_AUTH" and error in ("ILLEGAL_ARGS_ERR", "NOT_SUPPORTED_ERR"):
        return "it does not accept the authentication type the media server sent"
    return None


def server_fix(op: str, error: str, host: str) -> str | None:
    """The fix for a refusal server_reason explains, by the replying server at `host`;
    None for the others."""
    if error == _UNAUTHENTICATED and op != "CONNECT_CLIENT_AUTH":
        return (f"See the backup application's log for the authentication it skipped or "
                f"that failed before {op} (the user name and password for the NDMP server "
                f"on {host}); not a network failure.")
    if op in _TAPE_REQUESTS and error in _TAPE_ERRORS:
        return f"{capitalised(_TAPE_ERRORS[error][1])} (tape agent {host}); not a network failure."
    if op == "CONNECT_CLIENT_AUTH" and error in ("ILLEGAL_ARGS_ERR", "NOT_SUPPORTED_ERR"):
        return (f"Set the backup application to an authentication type the NDMP server on "
                f"{host} accepts (MD5, or TEXT where allowed; NONE is refused by most): "
                "not a network failure.")
    return None


def tape_open_retried(messages: list[NdmpMessage], index: int,
                      op: str = "TAPE_OPEN") -> bool:
    """Whether an `op` request (TAPE_OPEN, CONNECT_OPEN) after the error reply at index
    succeeded: a drive tried and then found free or loaded, a protocol version offered
    again and taken (a retry), not a job stopped by the refusal. A reply whose error word
    the capture cut (NdmpMessage.error_unknown) is none: tape_open_retry_cut."""
    return any(message_op(m) == op and m.type == "reply" and m.error_free
               for m in messages[index + 1:])


def tape_open_retry_cut(messages: list[NdmpMessage], index: int,
                        op: str = "TAPE_OPEN") -> NdmpMessage | None:
    """The first `op` reply (TAPE_OPEN, CONNECT_OPEN) after the error reply at index whose
    error word the capture cut (NdmpMessage.error_unknown: the snap length, a hole), when
    no later one succeeded (tape_open_retried): whether the retry got the drive (the
    version) cannot be seen, neither a retry that got it nor a job stopped by the
    refusal; None else."""
    if tape_open_retried(messages, index, op):
        return None
    return next((m for m in messages[index + 1:] if message_op(m) == op
                 and m.type == "reply" and m.error_unknown), None)


def tape_open_pending(stream: NdmpStream, index: int) -> bool:
    """Whether the session was still open when the capture ended after the TAPE_OPEN
    error reply at index, with no later TAPE_OPEN answered either way: no FIN or RST of
    its control connection after it (NdmpStream.fin, .reset) and no CONNECT_CLOSE. A DMA
    may try a busy or empty drive again (Backup Exec waits for one), so whether the job
    got it cannot be seen (trial40-rules/tape-busy-retry-succeeds stopped before the
    retry read as a failed job)."""
    reply = stream.messages[index]
    ends = [p for p in (stream.fin, stream.reset) if p is not None and p.frame > reply.frame]
    later = stream.messages[index + 1:]
    return not ends and not any(
        message_op(m) == "CONNECT_CLOSE" or (message_op(m) == "TAPE_OPEN" and m.type == "reply")
        for m in later)


def waiting_tape(stream: NdmpStream | None) -> NdmpMessage | None:
    """The session's last TAPE_OPEN error reply when the capture ended with the session
    still waiting (tape_open_pending); None else."""
    for index in range(len(stream.messages) - 1 if stream else -1, -1, -1):
        message = stream.messages[index]
        if message_op(message) == "TAPE_OPEN" and message.type == "reply" and message.error:
            return message if tape_open_pending(stream, index) else None
    return None


# NOTIFY_MOVER_PAUSED reasons (NDMP v4 ndmp_mover_pause_reason) that explain a mover
# halted ABORTED after them: (what happened, the fix).
_PAUSES = {
    "EOM": ("the tape was full (end of medium) and no next tape was loaded",
            "Give the job room on tape: a tape with free space or a larger one, free tapes "
            "in the library for the job to span to, or a smaller selection"),
    "MEDIA_ERROR": ("the drive reported a media error",
                    "Check the tape and the drive (the tape agent's system log, the drive's "
                    "error counters; clean the drive, try another tape)"),
    "EOF": ("the mover read to a file mark on the tape (a restore reading past the end of "
            "the image it was given)",
            "Check the backup image the restore reads (its tape and its position)"),
}


def pause_before(messages: list[NdmpMessage], halt: NdmpMessage
                 ) -> tuple[NdmpMessage, str, str] | None:
    """The last NOTIFY_MOVER_PAUSED before `halt` (a mover halted ABORTED) whose reason
    explains it (EOM, MEDIA_ERROR, EOF), with what it means and its fix: the backup
    application aborted the job because the mover could not go on (field check 39
    t03b: a full tape read as "an operator's cancel"); None when none came. `halt` may
    be the MOVER_GET_STATE reply that stands for a halt the sniffer lost."""
    if message_op(halt) not in ("NOTIFY_MOVER_HALTED", "MOVER_GET_STATE"):
        return None
    found = None
    for message in messages:
        if message.frame >= halt.frame:
            break
        if message_op(message) == "NOTIFY_MOVER_PAUSED" and message.type != "reply":
            reason = str(message.body.get("reason", "")).upper().removeprefix(
                "NDMP_").removeprefix("MOVER_PAUSE_")
            if reason in _PAUSES:
                found = (message, reason)
    if found is None:
        return None
    message, reason = found
    meaning, fix = _PAUSES[reason]
    return (message, f" The mover had paused before it with reason {reason} "
            f"(NOTIFY_MOVER_PAUSED, {frame_text(message.frame)}): {meaning}, and the backup "
            "application then aborted the job: not a network failure.",
            f"{fix}; not a network failure.")

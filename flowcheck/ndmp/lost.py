"""Which NDMP messages a hole in a control stream held (trial 25 D10: a lost DATA_LISTEN
reply, an announcement, was only "52 bytes never captured").

Each side numbers the messages it sends, one after another (NDMP v2-v4 header
`sequence`), and each reply names its request (`reply_sequence`). The side's messages
around a hole say how many whole messages it held; the other side's requests that no
reply answers, sent before the side's next message, say which replies they were.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_pair, frame_text, frames_words
from flowcheck.model import NdmpMessage, StreamHole

HOLES_NAMED = 3  # holes described in one finding
_MOST_MISSING = 1000  # a larger step between sequence numbers is no count of messages
_NO_REPLY = {"NDMP_CONNECT_CLOSE"}  # requests NDMP never answers
# Requests that announce an endpoint in any NDMP version (a v2 DATA_START_* may too):
# a lost one's address is not in the capture.
_CONNECTS = frozenset({"NDMP_DATA_CONNECT", "NDMP_MOVER_CONNECT"})
# Requests whose reply announces an endpoint: the replies among
# flowcheck.ndmp.collector.ANNOUNCERS (not imported: the collector imports this module).
ANNOUNCED_BY_REPLY = frozenset({"NDMP_DATA_LISTEN", "NDMP_MOVER_LISTEN"})
# ... and the requests that announce one (the collector's other ANNOUNCERS).
ANNOUNCED_BY_REQUEST = frozenset({
    "NDMP_DATA_CONNECT", "NDMP_MOVER_CONNECT", "NDMP_DATA_START_BACKUP",
    "NDMP_DATA_START_RECOVER", "NDMP_DATA_START_RECOVER_FILEHIST"})


def lost_words(direction: str, frames: list[int], messages: list[NdmpMessage],
               from_start: bool = False) -> tuple[str, bool]:
    """What the holes in `direction` ("orig" or "resp") held, each known by the packet
    after it (`frames`, in frame order), as sentences to add to the ndmp_partial
    message ("" when the sequence numbers around no hole tell it), and whether they name
    an announcement among them, saying the address it gave cannot be checked (what
    verify.lost_announcement would add: NdmpStream.holes_unchecked). from_start: the
    capture holds the direction's start, so a hole before its first message read held
    its numbers from 1, as hole_contents reads it (review63d: field check 75 run 28's
    lost CONNECT_OPEN request went unnamed here while its steps read it named)."""
    side = side_name(direction)
    own = [m for m in messages if m.direction == direction]
    taken: set[int] = set()  # frames of the requests an earlier hole's replies answered
    parts = [said for frame in frames[:HOLES_NAMED]
             if (said := _hole(side, frame, own, messages, taken, from_start))[0]]
    return "".join(f". {words}" for words, _ in parts), any(unchecked for _, unchecked in parts)


def side_name(direction: str) -> str:
    """"originator" for "orig", "responder" for "resp"."""
    return "originator" if direction == "orig" else "responder"


def lost_requests(direction: str, frames: list[int], messages: list[NdmpMessage]
                  ) -> list[NdmpMessage]:
    """The requests of the other side whose replies the holes in `direction` held (each
    hole known by the packet after it, `frames`), in frame order: every hole, not only
    the HOLES_NAMED a finding names."""
    own = [m for m in messages if m.direction == direction]
    taken: set[int] = set()
    return [request for frame in frames
            for request in _held(frame, own, messages, taken)[1]]


def stream_holes(frames: dict[str, list[int]], messages: list[NdmpMessage],
                 from_start: frozenset[str] = frozenset()) -> list[StreamHole]:
    """The holes of both directions (`frames`: per direction, the first frame after each)
    in frame order, each with the whole messages the sequence numbers say it held
    (hole_contents; `from_start`: the directions whose first byte's place the capture
    knows, their SYN or the peer's SYN-ACK captured: Reassembler.start_known):
    NdmpStream.holes."""
    holes = [StreamHole(direction, frame, held)  # type: ignore[arg-type]
             for direction, after in frames.items()
             for frame, held in zip(after, hole_contents(direction, after, messages,
                                                         direction in from_start),
                                    strict=True)]
    return sorted(holes, key=lambda hole: hole.frame)


def hole_contents(direction: str, frames: list[int], messages: list[NdmpMessage],
                  from_start: bool = False) -> list[tuple[str, ...] | None]:
    """For each hole in `direction` (each known by the packet after it, `frames`, in
    frame order), the names of the whole messages it held when the sequence numbers tell
    them all, else None: () when the side's messages around it are numbered one after
    the other (it held only parts of messages whose headers were read); otherwise each
    of its missing numbers is a request of the side that a reply of the other side names
    (`reply_sequence`: a reply carries its request's code), or one of the replies to the
    other side's requests sent before the hole that no captured reply answers. A post
    (NOTIFY_*, LOG_*) is never named: a hole that may hold one is None. A hole before
    the side's first message read, in a direction whose start the capture holds
    (from_start), held its numbers from 1 (each side numbers its messages from 1: field
    check 75 run 28, the media server's CONNECT_OPEN request lost, its reply captured,
    then a refused callback, read "whether the session started a backup or restore
    cannot be seen")."""
    own = [m for m in messages if m.direction == direction]
    replied = {m.reply_sequence for m in own if m.type == "reply"}
    taken: set[int] = set()
    out: list[tuple[str, ...] | None] = []
    for frame in frames:
        around = _around(frame, own, from_start)
        if around is None or not (
                0 <= around[1].sequence - _low(around[0]) - 1 < _MOST_MISSING):
            out.append(None)
            continue
        numbers = range(_low(around[0]) + 1, around[1].sequence)
        named = {m.reply_sequence: m.name for m in messages if m.direction != direction
                 and m.type == "reply" and m.reply_sequence in numbers}
        rest = len(numbers) - len(named)
        answers = [m for m in messages if m.direction != direction
                   and m.type == "request" and m.frame < frame and m.frame not in taken
                   and m.sequence not in replied and m.name not in _NO_REPLY][:rest]
        if len(answers) < rest:
            out.append(None)
            continue
        taken.update(m.frame for m in answers)
        out.append(tuple([*named.values(), *(m.name for m in answers)]))
    return out


def _held(frame: int, own: list[NdmpMessage], messages: list[NdmpMessage],
          taken: set[int], from_start: bool = False
          ) -> tuple[tuple[NdmpMessage | None, NdmpMessage, int] | None, list[NdmpMessage]]:
    """((the side's messages before and after the hole, the count of whole messages it
    held), the requests whose replies were among them), (None, []) when the sequence
    numbers around the hole do not tell; `taken`: requests earlier holes' lost replies
    answered (the replies come in the order of their requests: recheck 25 N1, every
    hole named the first hole's reply to CONNECT_OPEN), this hole's added. The side's
    own requests a captured reply names (_answered) take their numbers first. A hole
    before the side's first message read (before: None) is counted from 1 when
    `from_start` (hole_contents)."""
    around = _around(frame, own, from_start)
    if around is None:
        return None, []
    before, after = around
    missing = after.sequence - _low(before) - 1
    if not 0 < missing < _MOST_MISSING:
        return None, []
    replied = {m.reply_sequence for m in own if m.type == "reply"}
    rest = missing - len(_answered(before, after, messages))
    unanswered = [m for m in messages if m.direction != after.direction
                  and m.type == "request" and m.frame < after.frame
                  and m.frame not in taken
                  and m.sequence not in replied and m.name not in _NO_REPLY][:rest]
    taken.update(m.frame for m in unanswered)
    return (before, after, missing), unanswered


def _around(frame: int, own: list[NdmpMessage], from_start: bool
            ) -> tuple[NdmpMessage | None, NdmpMessage] | None:
    """The side's messages (`own`, frame order) before and after the hole known by the
    packet `frame`, before None for a hole before the side's first message read; None
    when no message follows it, or none precedes it and the capture lacks the side's
    start (`from_start`): its numbers untold (hole_contents, _held)."""
    before = next((m for m in reversed(own) if m.frame < frame), None)
    after = next((m for m in own if m.frame >= frame), None)
    if after is None or (before is None and not from_start):
        return None
    return before, after


def _low(before: NdmpMessage | None) -> int:
    """The sequence number a hole's numbers follow: its side's message before it, 0 for
    a hole before the side's first message (each side numbers its messages from 1)."""
    return before.sequence if before is not None else 0


def _answered(before: NdmpMessage | None, after: NdmpMessage, messages: list[NdmpMessage]
              ) -> list[NdmpMessage]:
    """The other side's captured replies to requests of the hole's side numbered between
    `before` and `after` (its messages around the hole; before None: from its first
    number, 1): each names a request the hole held (a reply carries its request's code
    and `reply_sequence`; newuser55: a lost DATA_START_BACKUP was only "1 whole message",
    its reply captured)."""
    named = {m.reply_sequence: m for m in reversed(messages)
             if m.direction != after.direction and m.type == "reply"
             and _low(before) < m.reply_sequence < after.sequence}
    # One per number (the first): two replies naming one request name it once.
    return [named[number] for number in sorted(named)]


def _listed(messages: list[NdmpMessage]) -> str:
    """"the reply to DATA_LISTEN", "the DATA_CONNECT request", joined with "and"."""
    names = [f"the {m.name.removeprefix('NDMP_')} request" if m.type == "reply" else
             f"the reply to {m.name.removeprefix('NDMP_')}" for m in messages]
    return " and ".join(names)


def _hole(side: str, frame: int, own: list[NdmpMessage], messages: list[NdmpMessage],
          taken: set[int], from_start: bool = False) -> tuple[str, bool]:
    """The words for one hole (_held's `taken` and `from_start`), and whether they name
    an announcement the hole held (the address it gave unchecked)."""
    around, unanswered = _held(frame, own, messages, taken, from_start)
    if around is None:
        return "", False
    before, after, missing = around
    count = f"{missing} whole {'message' if missing == 1 else 'messages'}"
    where = (f"between its messages in {frame_pair(before.frame, after.frame, 'and')} "
             f"(NDMP sequence numbers {before.sequence} and {after.sequence})"
             if before is not None else
             f"before its first message read, in {frame_text(after.frame)} (NDMP sequence "
             f"number {after.sequence}; each side numbers its messages from 1, and the "
             "capture holds the connection's start)")
    words = f"The bytes never captured held {count} of the {side}, {where}"
    requests = _answered(before, after, messages)
    if not unanswered and not requests:
        return words, False
    named = ", ".join([
        *(f"the {m.name.removeprefix('NDMP_')} request (sequence {m.reply_sequence}, "
          f"answered in {frame_text(m.frame)})" for m in requests),
        *(f"the reply to {m.name.removeprefix('NDMP_')} ({frame_text(m.frame)})"
          for m in unanswered)])
    others = missing - len(unanswered) - len(requests)
    words += f": {named}" + (f" and {others} more" if others else "")
    announcing = [m for m in unanswered if m.name in ANNOUNCED_BY_REPLY] + [
        m for m in requests if m.name in _CONNECTS]
    if announcing:
        what = ("reply" if not requests else "request" if not unanswered else "message")
        one = len(unanswered) + len(requests) == 1
        # Of several named, those that announce (review56b: "those requests are an
        # announcement" of a lost DATA_CONNECT and DATA_START_BACKUP).
        lead = (f"that {what} is" if one else f"those {what}s are"
                if len(announcing) == len(unanswered) + len(requests) else
                f"{_listed(announcing)} {'is' if len(announcing) == 1 else 'are'}")
        words += (f"; {lead} "
                  "an announcement: the address it gave is not in the capture, so data "
                  "connections are matched to it by direction and ports; data they carried "
                  "shows the announced port was reached, not that the address given is "
                  "the one reached (a NAT device between the hosts)")
        read = announcements_read(messages)
        if read:  # the step stands on them (verify.data_steps.announcement_step)
            words += (", which only a DATA_GET_STATE or MOVER_GET_STATE reply naming the "
                      "endpoint shows; the announcement step is judged on the announcements the "
                      f"capture holds ("
                      f"{frames_words([m.frame for m in read], ranges=False)})")
        else:
            words += (": the announcement step rests on that data (ok when it flowed: "
                      "the announcement reached the connector), and whether the address "
                      "given is the one reached cannot be checked unless a DATA_GET_STATE "
                      "or MOVER_GET_STATE reply names the endpoint")
    return words, bool(announcing)


def announcements_read(messages: list[NdmpMessage]) -> list[NdmpMessage]:
    """The messages of the stream that announce an endpoint with its address read: a
    listen's successful reply or a connect or start request, giving a TCP port (the
    collector's ANNOUNCERS, flowcheck.ndmp.collector). A lost announcement beside them
    leaves the announcement step judged on them (seed 111 run 12: the third DATA_LISTEN
    reply lost, step 3 ok on the first two, ndmp_partial said "unknown")."""
    return [m for m in messages if any(a.port for a in m.addresses) and (
        m.type == "reply" and not m.error and m.name in ANNOUNCED_BY_REPLY
        or m.type == "request" and m.name in ANNOUNCED_BY_REQUEST)]


"""Terminal tables of NDMP messages (`flowcheck ndmp`) and of crosscheck differences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowcheck.frame_names import frame_cell, frame_text, frames_words
from flowcheck.model import connection_ends
from flowcheck.printable import printable_name
from flowcheck.report.hanging import print_hanging
from flowcheck.report.overview import wall_clock
from flowcheck.report.plain_table import Justify, PlainTable
from flowcheck.report.table_fit import Fit, FittedTable

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.model import Connection, Finding, NdmpMessage, NdmpStream
    from flowcheck.ndmp.crosscheck import CrosscheckResult, Difference

_DECODE_CODES = ("ndmp_partial", "ndmp_undecodable", "ndmp_vendor_message")
# Body fields worth a glance in the table; the JSON document carries them all.
_SHOWN_FIELDS = ("version", "protocol_version", "reason", "auth_type", "user", "mode",
                 "addr_type", "butype", "halt_reason", "offset", "length", "text")


COLUMNS: list[tuple[str, Justify]] = [
    ("frame", "right"), ("dir", "left"), ("seq", "right"), ("type", "left"),
    ("message", "left"), ("re", "right"), ("error", "left"), ("detail", "left")]
# On a narrow terminal message names, error names and announced addresses stay whole;
# the detail wraps at its spaces. The sequence numbers (which request a reply answers)
# and the message type (the name says most of it) go first, then the detail goes under
# the message name.
FIT = Fit(steps=("re", "seq", "type", ("message", "detail"), "dir"), wrap=("detail",))


def _detail(message: NdmpMessage) -> str | Text:
    """Addresses and the shown body fields as plain text (they come from the wire: never
    markup), then a yellow `partial` for a message the capture cut."""
    parts = [f"{a.ip}:{a.port}" for a in message.addresses]
    for key in _SHOWN_FIELDS:
        if key in message.body and message.body[key] not in ("", None):
            # From the wire: control characters escaped (an ESC would reach the terminal).
            value = printable_name(str(message.body[key])[:60])
            parts.append(f"{key}={value}")
    text = " ".join(parts)
    if not message.partial:
        return text
    return Text.assemble(text + " " if text else "", ("partial", "yellow"))


def _row(message: NdmpMessage) -> tuple[str | Text, ...]:
    return (frame_cell(message.frame), message.direction, str(message.sequence), message.type,
            message.name, str(message.reply_sequence) if message.type == "reply" else "",
            _error_cell(message), _detail(message))


def _error_cell(message: NdmpMessage) -> str | Text:
    """The error name in red; for a reply whose error word the capture cut, a yellow
    `not captured` (not NDMP_NO_ERR: the capture does not say)."""
    if message.error_unknown:
        return Text("not captured", "yellow")
    if message.error == 0:
        return ""
    return Text.assemble((message.error_name or f"NDMP_ERROR_{message.error}", "red"))


def stream_title(stream: NdmpStream, conn: Connection | None) -> str:
    """A control connection's heading: `C19: 10.77.0.1:5826 -> 10.77.1.4:10000, session
    S10, NDMP v4 (connect_open)`, then (render_ndmp) the message count and the
    wall-clock start; the endpoints and the session when `conn` is known (its `session`
    as label_connections gives it, as in analyze)."""
    version = f"v{stream.version} ({stream.version_source})" if stream.version else "unknown"
    where = ""
    if conn is not None:
        where = (f" {connection_ends(conn)}"
                 + (f", session {conn.session}" if conn.session else "") + ",")
    return f"{stream.uid}:{where} NDMP {version}"


def _directions(conn: Connection | None) -> str:
    """What the table's `dir` says: which host sent `orig` and `resp` messages."""
    if conn is None:
        return "dir: orig from the control connection's originator, resp from its responder"
    return (f"dir: orig from {conn.orig_h} (the control connection's originator), "
            f"resp from {conn.resp_h}")


def render_ndmp(streams: list[NdmpStream], findings: list[Finding], console: Console, *,
                connections: list[Connection] | None = None) -> None:
    """One table per control connection (headed by its endpoints, session and start when
    `connections` holds it), then its announcements and decode findings."""
    if not streams:
        console.print("No NDMP control connection found (check --ndmp-port).")
    by_uid = {c.uid: c for c in connections or []}
    for stream in streams:
        conn = by_uid.get(stream.uid)
        title = stream_title(stream, conn)
        started = f", started {wall_clock(conn.ts)}" if conn is not None else ""
        if not stream.messages:  # no empty table: the decode findings below say why
            said = "no message could be read" if stream.orig_bytes + stream.resp_bytes \
                or stream.snap_cut else "no NDMP byte either way in the capture"
            console.print(f"{title}, {said}{started}", highlight=False)
        else:
            count = len(stream.messages)
            console.print(FittedTable(PlainTable(
                f"{title}, {count} message{'' if count == 1 else 's'}{started}",
                COLUMNS, [_row(message) for message in stream.messages]), FIT,
                {"dir": _directions(conn)}))
        for announcement in stream.announcements:
            console.print(f"  announced {announcement.ip}:{announcement.port} "
                          f"({announcement.listener} listens) by {announcement.message} "
                          f"in {frame_text(announcement.frame)}", highlight=False)
    decode = [f for f in findings if f.code in _DECODE_CODES]
    for finding in decode:
        frames = frames_words(finding.frames, finding.frames_more)
        print_hanging(console, Text.assemble((str(finding.severity), "yellow"),
                                             f" {finding.code} {finding.uid or ''}: "),
                      finding.message + (f" ({frames})" if frames else ""), indent=2)
        if finding.fix:  # as analyze gives it (trial 20 D19)
            print_hanging(console, Text.assemble("  ", ("Fix:", "bold"), " "), finding.fix,
                          indent=7)


def _difference_row(table: Table, item: Difference) -> None:
    table.add_row(str(item.frame), item.uid or "", str(item.sequence), item.name, item.field,
                  _side(item.ours, item.field), _side(item.theirs, item.field), item.reason)


def _side(value: object, field: str) -> str:
    """One side's value of a difference as the table shows it: for a `message` one side
    decoded, the other's null is `not decoded`; another field's null (a body error the
    decode has not: a header-only reply) `none`; lists (addresses) joined."""
    if value is None:
        return "not decoded" if field == "message" else "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def render_crosscheck(result: CrosscheckResult, console: Console) -> None:
    console.print(f"[bold]{escape(str(result.path))}[/]: flowcheck {result.ours} messages, tshark "
                  f"{result.theirs}, matched {result.matched}", highlight=False)
    for label, title, items in (
            ("differences", "differences", result.differences),
            ("tshark gaps", "tshark gaps (its known limits, not ours)", result.tshark_gaps)):
        if not items:
            console.print(f"no {label}")
            continue
        table = Table(title=f"{len(items)} {title}", title_justify="left")
        for header in ("frame", "uid", "seq", "message", "field", "flowcheck", "tshark",
                       "reason"):
            table.add_column(header, overflow="fold")  # narrow: longer, never cut
        for item in items:
            _difference_row(table, item)
        console.print(table)

"""The terminal report's step table: a session's steps, one row each (step, what, status,
connection, time, detail), fitted to the terminal's width, and the words for a step's
connections the HTML report shares (endpoints, way, shown_detail).

A connection's endpoints are never cut: "originator -> responder" on one line when there
is room, else the responder under it; narrower still, three columns with what,
connection and detail in one (flowcheck.report.analyze prints the table under each
session's header).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Session, Step, endpoint
from flowcheck.report.since import Since
from flowcheck.report.step_time import step_time
from flowcheck.sessions import connection_outcome

STATUS_STYLE = {"ok": "green", "missing": "red", "failed": "red", "violated": "red",
                "not_applicable": "dim", "unknown": "yellow"}
# Room the step table keeps for each of its wrapping columns (what, detail) before a
# connection's endpoints go on two lines; with less than the least room (what, detail)
# it has three columns (at 80 columns: a detail 30 wide is already 5 lines a step).
STEP_TEXT_ROOM = 20
STEP_TEXT_LEAST = (16, 30)


def endpoints(conn: Connection) -> str:
    """"originator -> responder"; "<->" for a connection whose opening the capture lacks
    (its originator only a guess: trial 20 D3)."""
    return (f"{endpoint(conn.orig_h, conn.orig_p)} {way(conn)} "
            f"{endpoint(conn.resp_h, conn.resp_p)}")


def way(conn: Connection) -> str:
    """"->", or "<->" when the capture holds no opening of the connection (no SYN,
    SYN-ACK or refusal): which end opened it cannot be seen. A control connection keeps
    "->": its NDMP port tells its client."""
    return ("<->" if conn.role != "control" and connection_outcome(conn) == "midstream"
            else "->")


def step_connections(step: Step, by_uid: dict[str, Connection]) -> list[Connection]:
    """The step's connections (Step.uids) that by_uid (uid -> Connection) holds, in the
    step's order."""
    return [by_uid[uid] for uid in step.uids if uid in by_uid]


def shown_detail(step: Step) -> str:
    """A step's detail beside its status column: without the `unknown: ` the JSON's
    detail starts with (docs/json.md), which the column already says (newuser54: the
    table read "unknown  unknown: no bytes ...")."""
    prefix = f"{step.status}: "
    return step.detail.removeprefix(prefix) if step.detail.startswith(prefix) else step.detail


@fields_dataclass(slots=True)
class StepRow:
    """One step's row of the table, its cells as text (step_table)."""

    number: str
    what: str
    status: str
    style: str
    time: str
    detail: str
    pairs: list[tuple[str, str]]  # (originator, responder) of its first 3 connections
    more: int  # its connections beyond those 3
    either: tuple[bool, ...] = ()  # per pair: opening not captured, drawn "<->" (way)


def step_table(session: Session, by_uid: dict[str, Connection], base: Since,
                width: int, times: dict[int, float]) -> Table:
    """The session's steps in `width` columns. A connection's endpoints are never cut:
    "originator -> responder" on one line when there is room, else the responder under
    it; narrower than the six columns allow, three: step, status and time, then what,
    connection and detail in one column (each step a short paragraph)."""
    rows = []
    for step in session.steps:
        conns = step_connections(step, by_uid)
        when = step_time(step, session, conns, times)
        rows.append(StepRow(
            str(step.step), step.name, step.status.replace("_", " "),
            STATUS_STYLE.get(step.status, "default"),
            base(when) if when is not None else "-", shown_detail(step),
            [(endpoint(c.orig_h, c.orig_p), endpoint(c.resp_h, c.resp_p)) for c in conns[:3]],
            max(len(conns) - 3, 0), tuple(way(c) == "<->" for c in conns[:3])))
    pairs = [pair for row in rows for pair in row.pairs]
    wider = int(any(any(row.either) for row in rows))  # "<->" is one more
    one_line = max((len(a) + 4 + wider + len(b) for a, b in pairs), default=1)
    two_lines = max((max(len(a) + 3 + wider, len(b)) for a, b in pairs), default=1)
    # box=None: two spaces between columns, none at the edges.
    fixed = 2 * 5 + sum(max(len(header), *(len(cell) for cell in cells)) for header, cells in
                        (("step", [r.number for r in rows]), ("status", [r.status for r in rows]),
                         ("time", [r.time for r in rows])))
    if fixed + two_lines + STEP_TEXT_LEAST[0] + STEP_TEXT_LEAST[1] > width:
        return _narrow_step_table(rows)
    arrow = " -> " if fixed + one_line + 2 * STEP_TEXT_ROOM <= width else " ->\n"
    table = Table(show_edge=False, pad_edge=False, box=None)
    for header in ("step", "what", "status", "connection", "time", "detail"):
        table.add_column(header, overflow="fold", no_wrap=header not in ("what", "detail"))
    for row in rows:
        # Text cells: an address is never read as markup or an emoji code (":100:").
        table.add_row(row.number, Text(row.what), Text(row.status, style=row.style),
                      Text(_where(row, arrow)), row.time, Text(row.detail))
    return table


def _where(row: StepRow, arrow: str) -> str:
    where = "\n".join(f"{a}{arrow.replace('->', '<->') if either else arrow}{b}"
                      for (a, b), either in zip(row.pairs, row.either or
                                                (False,) * len(row.pairs), strict=True)
                      ) or "-"
    return where + (f"\n+{row.more} more" if row.more else "")


def _narrow_step_table(rows: list[StepRow]) -> Table:
    """Three columns; the third wraps at spaces, so "originator -> responder" breaks
    after the arrow, and an endpoint is folded only when it is wider than the column."""
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("step", no_wrap=True)
    table.add_column("status\ntime", no_wrap=True)
    table.add_column("what, connection, detail", overflow="fold")
    for row in rows:
        table.add_row(row.number, Text.assemble((row.status, row.style), "\n", row.time),
                      Text("\n").join([Text(row.what, style="bold"),
                                        *([Text(_where(row, " -> "))] if row.pairs else []),
                                        Text(row.detail)]))
    return table

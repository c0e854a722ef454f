"""Terminal table of connections (`flowcheck connections`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from flowcheck.frame_names import frame_span
from flowcheck.model import endpoint
from flowcheck.report.json_doc import capture_summary
from flowcheck.report.ladder_build import human_bytes
from flowcheck.report.overview import TIME_ORIGIN, wall_clock
from flowcheck.report.plain_table import Justify, PlainTable
from flowcheck.report.since import Since
from flowcheck.report.table_fit import Fit, FittedTable
from flowcheck.report.zeek_words import history_legend, state_legend
from flowcheck.sessions import connection_outcome

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.model import CaptureInfo, Connection


def render_captures(captures: list[CaptureInfo], console: Console) -> None:
    """One line per file with its own skipped-packet counts; a total line for a set."""
    for capture in captures:
        notes = []
        if capture.truncated:
            notes.append("[yellow]truncated[/]")
        if capture.error:
            notes.append(f"[yellow]{escape(capture.error)}[/]")
        notes += _skipped(capture.non_tcp, capture.fragments, capture.undecodable)
        if capture.snap_cut:  # beep-oobr: 64 of 262144 bytes kept, nothing said (session 53)
            shortest = capture.snap_shortest
            kept = (f"{shortest} to {capture.snap_length}"
                    if shortest is not None and shortest != capture.snap_length
                    else f"{capture.snap_length}")  # per-interface snap lengths: a range
            notes.append(f"{capture.snap_cut} cut by the snap length, {kept} bytes kept")
        links = ",".join(capture.link_types) or "-"
        extra = f" ({'; '.join(notes)})" if notes else ""
        console.print(f"[bold]{escape(str(capture.path))}[/]: {capture.format}, {links}, "
                      f"{capture.packets} packets{extra}", highlight=False)
    if len(captures) > 1:
        total = capture_summary(captures)
        notes = _skipped(total["non_tcp"], total["fragments"], total["undecodable"])
        extra = f" ({'; '.join(notes)})" if notes else ""
        console.print(f"[bold]{total['files']} files[/]: {total['packets']} packets{extra}",
                      highlight=False)


def _skipped(non_tcp: int, fragments: int, undecodable: int) -> list[str]:
    notes = []
    if non_tcp:
        notes.append(f"{non_tcp} non-TCP skipped")
    if fragments:
        notes.append(f"{fragments} IP fragments")
    if undecodable:
        notes.append(f"{undecodable} undecodable")
    return notes


COLUMNS: list[tuple[str, Justify]] = [
    ("uid", "left"), ("start", "right"), ("originator", "left"), ("responder", "left"),
    ("state", "left"), ("history", "left"), ("pkts o/r", "right"), ("bytes o/r", "right"),
    ("retx", "right"), ("role", "left"), ("frames", "right")]
# On a narrow terminal the addresses and ports stay whole: they say which hosts. The
# columns an admin can spare go first (frame numbers are for Wireshark, the history for
# Zeek readers), then the responder goes under the originator (two lines a row) before
# the bytes and the role go; the uid (what findings name), the endpoints and the state
# always stay.
FIT = Fit(steps=("frames", "history", "pkts o/r", "start", "retx",
                 ("originator", "responder"), "bytes o/r", "role"))


def session_words(session_id: str) -> str:
    """A session's id as the connection tables name it: "session 1" for `S1`. The id
    itself would read as a Zeek state beside the state column's `S1` (opened, still
    open) in the same row (newuser60); JSON keeps the id. An id of another form (none
    today: sessions.open_sessions numbers them S1, S2, ...) is named as it is."""
    number = session_id[1:]
    return f"session {number}" if session_id[:1] == "S" and number.isdigit() else \
        f"session {session_id}"


def render_connections(connections: list[Connection], console: Console, *,
                       packets: int, before_filter: int | None = None,
                       first: Since | None = None,
                       folded: list[Connection] | None = None) -> None:
    """One row per connection. Cells are plain text: an IPv6 endpoint such as
    [fe80::1]:80 is not read as rich markup. No connection: a sentence saying why
    instead of an empty table (`packets`: read in the capture set; `before_filter`:
    the connections there were before --filter, None without one). Start times count
    from `first`, the earliest packet of the capture set's connections (before any
    filter, as `analyze` counts them, since.time_base: the earliest before the clock
    steps back, a start after the step that reads earlier marked; default: the earliest
    of `connections`), which a
    line above the table names (trial 20, D11). folded: the second views of connections
    kept once (Traffic.folded: a copy in another tunnel, the far side of a NAT), named in
    a line under the table (field check 36b: their packets made the table's rows add up
    to half the capture's)."""
    if not connections:
        if before_filter:
            console.print(f"No TCP connection matches the filter ({before_filter} in the "
                          "capture).", highlight=False)
        else:
            console.print(f"No TCP connection in {_count(packets, 'packet')}.",
                          highlight=False)
        return
    base = first if first is not None else Since(min(c.ts for c in connections))
    console.print(f"times +N s count from {wall_clock(base.at)} (UTC), "
                  f"{base.origin_words(TIME_ORIGIN)}",
                  style="dim", highlight=False)
    rows = [
        (conn.uid,
         base(conn.ts),
         endpoint(conn.orig_h, conn.orig_p),
         endpoint(conn.resp_h, conn.resp_p),
         conn.conn_state,
         conn.history,
         f"{conn.orig_pkts}/{conn.resp_pkts}",
         f"{human_bytes(conn.orig_bytes)}/{human_bytes(conn.resp_bytes)}",
         str(conn.retransmits + conn.syn_retries),
         conn.role + (f" of {session_words(conn.session)}" if conn.session else ""),
         frame_span(conn.first_frame, conn.last_frame))
        for conn in connections]
    # Zeek's codes in plain words, those the table shows (trial 20 D16).
    legend = {"state": state_legend([c.conn_state for c in connections],
                                    [c.history for c in connections]),
              "history": history_legend(c.history for c in connections)}
    console.print(FittedTable(PlainTable(f"{_count(len(connections), 'TCP connection')}",
                                         COLUMNS, rows), FIT, legend))
    _opened_unseen(connections, console)
    _folded(folded or [], console)


def _folded(folded: list[Connection], console: Console) -> None:
    """A line naming the connections left out as second views of listed ones."""
    if not folded:
        return
    listed = _uids_words([c.uid for c in folded])
    packets = sum(c.orig_pkts + c.resp_pkts for c in folded)
    console.print(f"{listed}: the same connection{'s' if len(folded) > 1 else ''} captured "
                  "a second time (in another tunnel, or on the other side of a NAT), left "
                  f"out of the table: {_count(packets, 'packet')} of the capture's "
                  "(capture_duplicates in `flowcheck analyze`; tshark lists them).",
                  style="dim", highlight=False)


def _opened_unseen(connections: list[Connection], console: Console) -> None:
    """A line naming the connections open before the capture (no SYN, SYN-ACK or
    refusal in it): their originator is only a guess (trial 20 D3)."""
    unseen = [c.uid for c in connections if connection_outcome(c) == "midstream"]
    if not unseen:
        return
    listed = _uids_words(unseen)
    one = len(unseen) == 1
    console.print(f"{listed}: {'its' if one else 'their'} opening is not in the capture "
                  "(open before it started, or in a hole of it), so which end opened "
                  f"{'it' if one else 'each'} cannot be seen: the originator shown sent the "
                  "first captured packet (or holds the client port of a server port), a "
                  "guess.", style="dim", highlight=False)


def _uids_words(uids: list[str]) -> str:
    """"C2, C4" / "C1, ..., C10 and 3 more": the first ten named."""
    return ", ".join(uids[:10]) + (f" and {len(uids) - 10} more" if len(uids) > 10 else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"

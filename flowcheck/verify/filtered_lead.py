"""The first words of capture_filtered (flowcheck.verify.filtered.report_left_out): what
the capture shows of the connections it lacks, not more.

Each session's reason rests on one of four kinds of evidence (LeftOutKind):

- "said": the control connection reports the connections made (the data moved, a
  CONNECT answered NDMP_NO_ERR, a service gone ACTIVE): "The capture leaves out
  connections the job made";
- "path": a three-way job's data connection runs between two hosts the capture holds no
  packet between: "The capture was not taken on the path of the job's data connection";
- "filter": the filter the capture files record keeps only the NDMP port
  (flowcheck.verify.capture_filter.port_only_capture) and the control connection does
  not say the job made the others: the filter is named first;
- "port_only": no filter recorded, every connection the capture holds has the NDMP port
  and the control connection does not say the job made the others: whether it did
  cannot be seen.

"The capture leaves out connections the job made" read the same for all four: a capture
filtered to port 10000 whose control connection said nothing of the data connection
claimed the job had made one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

from flowcheck.verify.capture_filter import quoted
from flowcheck.verify.context import Context

LeftOutKind = Literal["said", "path", "filter", "port_only"]


class FilteredLead(NamedTuple):
    """first: the message's first words (a colon and the reasons follow); also: the
    same after "The capture holds only some packets of each connection: ..."; how: the
    sentence after the reasons (no final stop)."""

    first: str
    also: str
    how: str


def port_only_kind(ctx: Context) -> LeftOutKind:
    """"filter" when the capture records the filter that kept only the NDMP port, else
    "port_only"."""
    found = ctx.port_only_capture
    return "filter" if found is not None and found.kind == "filter" else "port_only"


def filtered_lead(ctx: Context, kinds: Sequence[str]) -> FilteredLead:
    """The lead words for the reasons noted, by what they rest on (kinds: one per
    session; mixed kinds read as connections the job made or may have made)."""
    port = ctx.config.ndmp_port
    conns = ("callback and data connections" if ctx.profile.callback == "connection"
             else "data connections")
    how = (f"A capture filter that keeps only some ports (tcpdump 'port {port}') or a "
           f"SPAN/ACL that mirrors only the NDMP port keeps the control connection and "
           f"leaves out the {conns}")
    found = set(kinds)
    if found == {"said"}:
        return FilteredLead("The capture leaves out connections the job made",
                            "It also leaves out connections the job made", how)
    if found == {"path"}:
        return FilteredLead("The capture was not taken on the path of the job's data "
                            "connection", "It was also not taken on the path of the job's "
                            "data connection", how)
    if found == {"filter"}:
        filters = ctx.port_only_capture.filters if ctx.port_only_capture else ()
        recorded = (f"The capture's recorded filter {quoted(filters)} keeps only the NDMP "
                    f"port {port}")
        return FilteredLead(
            f"{recorded}, so the capture cannot hold the job's {conns}, whether it made "
            "them or not",
            f"{recorded} too, so whether the job made its {conns} cannot be seen",
            f"Such a filter, like a SPAN/ACL that mirrors only the NDMP port, keeps the "
            f"control connection and leaves out the {conns} whatever became of them")
    if found <= {"filter", "port_only"}:
        return FilteredLead(
            f"The capture holds only connections on the NDMP port {port}, so whether the "
            f"job made its {conns} cannot be seen",
            f"It also holds only connections on the NDMP port {port}, so whether the job "
            f"made its {conns} cannot be seen", how)
    return FilteredLead("The capture leaves out connections the job made or may have made",
                        "It also leaves out connections the job made or may have made", how)

"""NDMP stream holes that lie in a ring buffer's hole.

An ndmp_partial for bytes "never captured" on a control connection that spans a hole of
a ring buffer (capture_ring_gap: a numbered file missing from the set) most likely lost
them to that file: the snap length and the sniffer's drops, which its fix names, are
then not the cause (trial 18 D8: "tcpdump -s 0" for bytes in a deleted ring file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from flowcheck.model import Connection, Finding, RingGap


def explain_ring_holes(findings: list[Finding], connections: list[Connection],
                       ring_gaps: Sequence[RingGap]) -> list[Finding]:
    """The findings, each ndmp_partial of a stream hole on a connection that spans a ring
    buffer's hole rewritten to name that hole and to ask for the whole ring."""
    holes = [gap for gap in ring_gaps if not gap.head]
    if not holes:
        return findings
    by_uid = {c.uid: c for c in connections}

    def spanned(finding: Finding) -> RingGap | None:
        conn = by_uid.get(finding.uid or "")
        # The snap-length summary (Finding.reading) is not a stream hole's.
        if finding.code != "ndmp_partial" or conn is None or \
                finding.reading == "snap_summary":
            return None
        return next((gap for gap in holes if conn.ts < gap.start and conn.last_ts > gap.end),
                    None)

    out = []
    for finding in findings:
        gap = spanned(finding)
        if gap is None:
            out.append(finding)
            continue
        out.append(dataclasses.replace(
            finding,
            # The hole's words end with a full stop (flowcheck.ndmp.findings), as these do.
            message=(f"{finding.message.removesuffix('.')}. The connection spans "
                     f"{gap.words()}: the missing bytes most likely lie in that file, not "
                     "lost to the snap length or the sniffer."),
            fix=f"Analyze {_whole(gap)} to read these messages."))
    return out


def _whole(gap: RingGap) -> str:
    """"the whole ring (every file of it)", or for a file missing from a capture cut by
    time "every file of the capture cut by time"."""
    return ("every file of the capture cut by time" if gap.rotated
            else "the whole ring (every file of it)")

"""Gaps a capture tool made by cutting frames and recording them as whole.

netsh trace's packettruncatebytes, converted by etl2pcapng, records a cut large send
with the cut length as its original length (CaptureInfo.cut_recorded,
flowcheck.connections.cut_recorded): the bytes after the cut read as a sequence gap.
When the capture set holds at least as many such frames as its connections have gaps,
the gaps are those cuts (trial 24 D5): capture_loss says so (flowcheck.verify.loss),
and an ndmp_partial for bytes "never captured" on a control connection is rewritten to
say it too, rather than the snap length or the sniffer's drops its fix names, and step
5's data volume adds the bytes cut (flowcheck.verify.bytes_each_way.flow_detail).
"""

from __future__ import annotations

import dataclasses

from flowcheck.model import CaptureInfo, Connection, Finding
from flowcheck.sources.host_tools import NETSH, PKTMON

_TOOL_FIX = ("Capture without truncation: netsh trace start capture=yes without "
             "packettruncatebytes (or pktmon start --capture --pkt-size 0), then convert "
             "again; the receivers' ACKs in this capture still show how much data went "
             "through")
# Frames cut before they reached the capture: a packet broker's slicing, a mirror
# session's truncation (trial 22 D4: a tcpdump file of sliced frames was told netsh).
_MIRROR_FIX = ("Capture whole frames: turn off packet slicing on the packet broker, or the "
               "truncation (MTU) of the mirror session (SPAN, RSPAN, ERSPAN) that feeds the "
               "capture; a Windows trace: netsh trace without packettruncatebytes, or pktmon "
               "--pkt-size 0. The receivers' ACKs in this capture still show how much data "
               "went through")


def cut_fix(captures: list[CaptureInfo]) -> str:
    """The fix for frames cut and recorded as whole: the Windows tool's when the files
    say they were written by one (netsh trace, pktmon), else the mirror's or broker's."""
    return _TOOL_FIX if _by_windows_tool(captures) else _MIRROR_FIX


def _by_windows_tool(captures: list[CaptureInfo]) -> bool:
    return bool(captures) and all(c.tool in (NETSH, PKTMON) for c in captures
                                  if c.cut_recorded)


def cut_count(captures: list[CaptureInfo]) -> int:
    """Frames of the set cut and recorded as whole."""
    return sum(c.cut_recorded for c in captures)


def cut_words(captures: list[CaptureInfo]) -> str:
    """"the capture tool cut N frames to L bytes and recorded ..." for the set."""
    cut = cut_count(captures)
    lengths = " or ".join(str(n) for n in sorted({c.cut_length for c in captures
                                                  if c.cut_length}))
    frames = f"{cut:,} {'frame' if cut == 1 else 'frames'}"
    if not _by_windows_tool(captures):
        return (f"{frames} were cut to {lengths} bytes before the capture recorded them, "
                "with that cut length as their length on the wire (their IP header says "
                "they were longer): a packet broker's slicing or a mirror session's "
                "truncation does so (or netsh trace with packettruncatebytes, converted by "
                "etl2pcapng)")
    return (f"the capture tool cut {frames} to {lengths} "
            "bytes and recorded that cut length as their length on the wire (their IPv4 "
            "header says they were longer, or gives no length, as a Windows large send, "
            "LSO, leaves it): netsh trace with packettruncatebytes, converted by "
            "etl2pcapng, writes large sends so")


def cuts_explain(cut: int, connections: list[Connection]) -> bool:
    """Do `cut` frames cut and recorded as whole account for every gap of the set?"""
    return bool(cut) and cut >= sum(c.gaps for c in connections)


def explain_cut_frames(findings: list[Finding], connections: list[Connection],
                       captures: list[CaptureInfo]) -> list[Finding]:
    """The findings, each ndmp_partial of a stream hole rewritten to name the frames the
    capture tool cut, when they account for every gap of the set (module docstring)."""
    if not cuts_explain(cut_count(captures), connections):
        return findings
    out = []
    for finding in findings:
        # The snap-length summary (Finding.reading) is not a stream hole's.
        if finding.code != "ndmp_partial" or finding.reading == "snap_summary":
            out.append(finding)
            continue
        out.append(dataclasses.replace(
            finding,
            # The hole's words end with a full stop (flowcheck.ndmp.findings), as these do.
            message=(f"{finding.message.removesuffix('.')}. But {cut_words(captures)} "
                     "(capture_loss): the missing bytes are those cuts, not lost to the "
                     "snap length or the sniffer."),
            fix=cut_fix(captures)))
    return out

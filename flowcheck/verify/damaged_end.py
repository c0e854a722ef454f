"""capture_ended_early of a capture whose end is where a damaged file stopped being read.

A file with a corrupt record or block (a pcapng block length of 0xfffffff0, a pcap
record claiming 10 MB) is read up to the damage only (capture_truncated, its byte
offset: flowcheck.sources.truncation_findings). When that file holds the capture's last
packet read, every capture_ended_early finding rests on an end the damage made: the
sniffer may well have recorded the rest of the job after it. Its fix asked to "start the
capture before the job starts" (newuser57 #4: an EPB's length set to 0xfffffff0 in the
middle of a clean job read "The capture ended 0.914 ms after ..."); it now says the
file is damaged there and to read an intact copy first, the capture's own fix after it
for an intact copy that ends there too, and the message names the damage. A file cut
at its end (CaptureInfo.cut_tail: its last record incomplete) is no damage, but a copy
cut short or a sniffer killed mid-write: when it holds the capture's last packet and is
no ring's part (cut_end), the fix leads with a complete copy and the message says where
the file is cut (newuser63: `head -c` of a clean job read "capture the whole job"); a
ring's newest part cut so, or a file still growing, did end the capture there, its
fixes stand. A ring's part numbered after the one holding the capture's last packet, damaged
before its first packet (capture_unreadable: none of it read), ends the capture there
too (review56n: the last of 4 `editcap -c 200` pcapng parts of a clean job, its first
block's length 0xfffffff0, read "start the capture before the job starts"); a tcpdump
-W ring that wrapped has its oldest part after its newest, so the words say "if".
Sources: CaptureInfo (truncated, error, error_offset, cut_tail, growing, span, packets),
flowcheck.sources.ring.ring_member.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from flowcheck.model import CaptureInfo, Finding
from flowcheck.sources.ring import ring_member

ENDED_EARLY = "capture_ended_early"


def damaged(info: CaptureInfo) -> bool:
    """Whether reading stopped at a corrupt record or block (not a cut tail, nor a file
    still growing), its byte offset known. Read by report.verdict_notes too."""
    return bool(info.truncated and info.error and info.error_offset is not None
                and not info.cut_tail and not info.growing)


def damaged_words(captures: list[CaptureInfo]) -> str:
    """The sentence an inconclusive verdict's note ends with when a file of the set is
    damaged (damaged): "The capture file job.pcapng is damaged at byte offset 5234
    (capture_truncated): nothing after that point was read, so what the job did there
    was not judged; read an intact copy first." (capture_unreadable for a file damaged
    before its first packet; "A file of the set, x.pcap, is damaged ..., and 2 more files
    are damaged: ..." with several); "" when none is. Task words58: datadir's damaged
    pcapng read INCONCLUSIVE with a note that said only "capture the whole job"."""
    found = [info for info in captures if damaged(info)]
    if not found:
        return ""
    info = found[0]
    code = "capture_truncated" if info.packets else "capture_unreadable"
    name = (f"The capture file {info.path}" if len(captures) == 1 else
            f"A file of the set, {info.path},")
    more = ("" if len(found) == 1 else
            f", and {len(found) - 1} more file{'s are' if len(found) > 2 else ' is'} damaged")
    return (f"{name} is damaged at byte offset {info.error_offset} ({code}){more}: nothing "
            "after the damage was read, so what the job did there was not judged; read an "
            "intact copy first.")


def cut_end(captures: list[CaptureInfo]) -> CaptureInfo | None:
    """The file cut at its end (CaptureInfo.cut_tail: its last record incomplete, not a
    file still growing) whose last packet read is the capture set's last packet, when it
    is no ring's part (a ring's newest part cut mid-record is a sniffer killed mid-write:
    the capture did end there); None otherwise. Such a file is a copy cut short (`head
    -c`, a transfer that stopped, a file copied while its sniffer still wrote it) or a
    sniffer killed mid-write: the capture's end is the file's, and a complete copy may
    hold the rest of the job (newuser63: `head -c` of a clean job read "capture the whole
    job" first)."""
    spans = [info.span for info in captures if info.span is not None]
    if not spans:
        return None
    end = max(last for _, last in spans)
    ending = [info for info in captures
              if info.truncated and info.cut_tail and not info.growing and info.packets
              and info.span is not None and info.span[1] >= end]
    return ending[-1] if ending and not _ring_part(ending[-1], captures) else None


def _ring_part(info: CaptureInfo, captures: list[CaptureInfo]) -> bool:
    """Is info's file one part of a ring of several in the set (its name and another
    file's one ring's: `ring.pcap0` and `ring.pcap1`; a lone `job.pcap` is none)?"""
    key = ring_member(info.path)
    return key is not None and any(
        other is not info and (found := ring_member(other.path)) is not None
        and found[0] == key[0] for other in captures)


def cut_words(captures: list[CaptureInfo]) -> str:
    """The sentence that leads an inconclusive verdict's note when the capture ends where
    its file is cut (cut_end): "The capture file cut.pcap is cut in the middle of a packet
    record after its packet 313 (capture_truncated): what the job did after that point
    is not in it; read a complete copy first (...)."; "" otherwise."""
    info = cut_end(captures)
    if info is None:
        return ""
    name = (f"The capture file {info.path}" if len(captures) == 1 else
            f"A file of the set, {info.path},")
    return (f"{name} {_cut_where(info)}, where the capture ends: what the job did after "
            "that point is not in it; read a complete copy first (the sniffer's own file, "
            "tcpdump/dumpcap stopped cleanly).")


def _cut_where(info: CaptureInfo) -> str:
    """"is cut in the middle of a packet record after its packet 313 (capture_truncated)":
    where cut_end's file is cut, by the count of its packets read."""
    return (f"is cut in the middle of a packet record after its packet {info.packets} "
            "(capture_truncated)")


def damaged_end(captures: list[CaptureInfo]) -> CaptureInfo | None:
    """The damaged file whose last packet read is the capture set's last packet (the
    latest, of two such), else a ring's part damaged before its first packet and
    numbered right after the part that holds it (_unread_next_part), or None: no file
    damaged, or a later file goes on after the damage (another capture point's, the
    next file of a ring)."""
    spans = [info.span for info in captures if info.span is not None]
    if not spans:
        return None
    end = max(last for _, last in spans)
    ending = [info for info in captures
              if damaged(info) and info.span is not None and info.span[1] >= end]
    return ending[-1] if ending else _unread_next_part(captures, end)


def _unread_next_part(captures: list[CaptureInfo], end: float) -> CaptureInfo | None:
    """The damaged part, none of it read, of a ring whose highest-numbered part it is,
    the part numbered right before it holding the set's last packet (`end`, seconds);
    None when there is none."""
    rings: dict[tuple[str, str, str], dict[int, CaptureInfo]] = defaultdict(dict)
    for info in captures:
        if (found := ring_member(info.path)) is not None:
            rings[found[0]][found[1]] = info
    for parts in rings.values():
        numbers = sorted(parts)
        if len(numbers) < 2:
            continue
        last, before = parts[numbers[-1]], parts[numbers[-2]]
        if damaged(last) and not last.packets and before.span is not None \
                and before.span[1] >= end:
            return last
    return None


def explain_damaged_end(findings: list[Finding], captures: list[CaptureInfo]
                        ) -> list[Finding]:
    """The findings, each capture_ended_early rewritten to name the damage when the
    capture's end is a damaged file's (damaged_end), else to lead with a complete copy
    when it is a cut file's (cut_end); else as they are."""
    if not any(f.code == ENDED_EARLY for f in findings):
        return findings
    info = damaged_end(captures)
    if info is None:
        return _explain_cut_end(findings, captures)
    if info.packets:
        where = f"{info.path} is damaged at byte offset {info.error_offset} (capture_truncated)"
        said = (f" The capture's end here is where its file {where}: flowcheck read "
                "nothing after that point, so what the job did next may be in the file "
                "beyond it.")
    else:
        where = (f"{info.path} is damaged at byte offset {info.error_offset}, before its "
                 "first packet (capture_unreadable)")
        said = (" The capture's end here is that of the ring's part numbered before its "
                f"file {info.path}, which is damaged at byte offset {info.error_offset}, "
                "before its first packet (capture_unreadable): if that file is the ring's "
                "newest (a tcpdump -W ring that wrapped has its oldest part after its "
                "newest), what the job did next may be in it beyond the damage.")
    lead = (f"Read an intact copy of the capture: {where}, and its packets after the "
            "damage are not read. Copy the file again from the capture host (the sniffer's "
            "own file, not a copy cut or changed on the way) and check the copy against it "
            "(its size, a checksum).")
    return _lead_ended_early(findings, said, lead, "an intact copy")


def _explain_cut_end(findings: list[Finding], captures: list[CaptureInfo]) -> list[Finding]:
    """The findings, each capture_ended_early rewritten to lead with a complete copy when
    the capture's end is a cut file's (cut_end); else as they are."""
    info = cut_end(captures)
    if info is None:
        return findings
    where = f"{info.path} {_cut_where(info)}"
    said = (f" The capture's end here is where its file {where}: a copy cut short, or a "
            "sniffer killed while writing; what the job did next may be in the sniffer's "
            "own file.")
    lead = (f"Read a complete copy of the capture first: {where}. Copy the sniffer's own "
            "file again after stopping tcpdump/dumpcap cleanly (or write it with -U), and "
            "check the copy against it (its size, a checksum).")
    return _lead_ended_early(findings, said, lead, "a complete copy")


def _lead_ended_early(findings: list[Finding], said: str, lead: str, copy: str
                      ) -> list[Finding]:
    """The findings, each capture_ended_early with `said` (a sentence, leading space)
    added to its message and its fix led by `lead` (a sentence) then "Only if {copy}
    ends here too: " and the fix it had; `lead` alone where it had none."""
    out = []
    for finding in findings:
        if finding.code != ENDED_EARLY:
            out.append(finding)
            continue
        fix = finding.fix
        out.append(dataclasses.replace(
            finding, message=f"{finding.message}{said}",
            fix=f"{lead} Only if {copy} ends here too: {fix[:1].lower()}{fix[1:]}"
            if fix else lead))
    return out

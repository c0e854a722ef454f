"""The JSON document every traffic command prints (docs/json.md is its contract)."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING

from flowcheck import __version__
from flowcheck.report.json_text import write_indented
from flowcheck.report.overview import session_status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flowcheck.model import CaptureInfo, Finding, Session
    from flowcheck.pipeline import Analysis, Traffic
    from flowcheck.sources.frame_files import FrameFiles

SUMMED = ("packets", "non_tcp", "fragments", "undecodable", "snap_cut")
# overview.SessionStatus -> `sessions[].status`: the text report's status words, in the
# JSON's snake_case.
JSON_STATUS = {"failed": "failed", "unknown": "unknown", "ok": "ok", "ended": "ended",
               "side": "side_traffic"}


def capture_summary(captures: Sequence[CaptureInfo]) -> dict:
    """The capture set's totals: `files`, `packets`, `non_tcp`, `fragments`,
    `undecodable`, `snap_cut` (sums of the `captures[]` entries), `truncated` and `unreadable`
    (how many files). docs/json.md, `capture_summary`."""
    summary: dict = {"files": len(captures)}
    for key in SUMMED:
        summary[key] = sum(getattr(info, key) for info in captures)
    summary["truncated"] = sum(1 for info in captures if info.truncated)
    summary["unreadable"] = sum(1 for info in captures
                                if info.error and not info.packets and not info.truncated)
    return summary


def traffic_document(traffic: Traffic, *, streamed: bool = False) -> dict:
    """captures, connections, ndmp and the decode findings: `connections`, `ndmp`.

    `streamed`: `connections` is a json_rows.ConnectionRows, which write_json writes a
    chunk of connections at a time (no dict per connection, the text never all held),
    instead of a list of dicts: for a document that is only written."""
    rows: object
    if streamed:
        from flowcheck.report.json_rows import ConnectionRows

        rows = ConnectionRows(traffic.connections)
    else:
        rows = [c.as_dict() for c in traffic.connections]
    return {
        "flowcheck": __version__,
        "captures": capture_entries(traffic),
        "capture_summary": capture_summary(traffic.captures),
        "connections": rows,
        "ndmp": [s.as_dict() for s in traffic.streams],
        "findings": finding_entries(traffic.findings, traffic.frame_files),
    }


def analysis_document(analysis: Analysis, *, streamed: bool = False) -> dict:
    """traffic_document's (`streamed`: the same), then config, sessions, the findings
    and the verdict."""
    document = traffic_document(analysis.traffic, streamed=streamed)
    document["config"] = analysis.config.as_dict()
    document["sessions"] = [session_entry(s, analysis.findings) for s in analysis.sessions]
    document["findings"] = finding_entries(analysis.findings, analysis.traffic.frame_files)
    document["verdict"] = analysis.verdict
    return document


def capture_entries(traffic: Traffic) -> list[dict]:
    """`captures[]`: CaptureInfo.as_dict each; in a set of several files, each file's
    `first_frame` and `last_frame`, the set frames (contract.md's merged order) of its
    first and last packet (null: none read, or the only file read: the set's frames are
    then its own). docs/json.md, `captures[]`."""
    entries = [info.as_dict() for info in traffic.captures]
    if traffic.frame_files is None:
        return entries
    # The set's only file read (the others unreadable) keeps its own numbers: null.
    spans = traffic.frame_files.spans() if traffic.frame_files.alone is None else {}
    for index, entry in enumerate(entries):
        first, last = spans.get(index, (None, None))
        entry["first_frame"], entry["last_frame"] = first, last
    return entries


def finding_entries(findings: Sequence[Finding], located: FrameFiles | None) -> list[dict]:
    """`findings[]`: Finding.as_dict each; in a set of several files, `file_frames`: for
    each of `frames`, [its file (index into `captures`), its frame number in that file
    opened alone] (null for a frame not located). docs/json.md, `findings[]`."""
    entries = [finding.as_dict() for finding in findings]
    if located is None:
        return entries
    for finding, entry in zip(findings, entries, strict=True):
        entry["file_frames"] = [None if (at := located.locate(frame)) is None else list(at)
                                for frame in finding.frames]
    return entries


def session_entry(session: Session, findings: Sequence[Finding]) -> dict:
    """A `sessions[]` object: Session.as_dict, then `judged` (false for side traffic and
    for the leftover of a job that had ended before the capture: not judged as a job;
    from the status, an error winning over the leftover's end) and `status` (`failed`,
    `unknown`, `ok`, `ended` or `side_traffic`: the text report's status,
    overview.session_status, the verdict's rule). docs/json.md, `sessions[]`."""
    status = session_status(session, findings if isinstance(findings, list) else list(findings))
    return {**session.as_dict(), "judged": status not in ("side", "ended"),
            "status": JSON_STATUS[status]}


def write_json(document: dict, stream: IO[str], *, compact: bool = False) -> None:
    if compact:
        stream.write(json.dumps(document, separators=(",", ":"), default=_as_list) + "\n")
    else:
        # json.dumps(indent=2)'s text, mostly from json's C encoder, in few writes
        # (json.dump would make millions of small ones on a large document).
        write_indented(document, stream)
        stream.write("\n")


def _as_list(value: object) -> list:
    """json's `default` for a compact document: a streamed `connections` as its list;
    anything else json cannot encode raises its TypeError."""
    as_list = getattr(value, "as_list", None)
    if as_list is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return as_list()

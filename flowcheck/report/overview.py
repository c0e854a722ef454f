"""What the text and HTML reports of `flowcheck analyze` say first: each session's status,
its wall-clock start, and the failing and inconclusive sessions in a few lines.

A night of 20 jobs with one failing (trial 12 D4): the administrator matches the failed
session with the backup application's job log by its agent and its start time, so both
are told at the top, in UTC (ISO 8601), from packet timestamps (seconds since the Unix
epoch, docs/json.md), never the clock of the machine running flowcheck.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal

from flowcheck.doc_files import doc_page
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Severity
from flowcheck.report.since import Since, time_base
from flowcheck.utc_times import has_date, utc_text

if TYPE_CHECKING:
    from flowcheck.config import Config
    from flowcheck.model import Connection, Finding, Session
    from flowcheck.pipeline import Analysis

SessionStatus = Literal["failed", "unknown", "ok", "ended", "side"]
# `ended`: the leftover of a job that had ended before the capture saw it run, beside a
# job the capture saw run (Session.ended): not a job in the capture, so not `ok`
# (newuser61: "sessions: 2 ok" for one real job).
STATUS_WORDS = {"failed": "FAILED", "unknown": "UNKNOWN", "ok": "ok",
                "ended": "ended before capture", "side": "side traffic"}
# The statuses in the order the reports count them.
STATUS_ORDER: tuple[SessionStatus, ...] = ("failed", "unknown", "ok", "ended", "side")
# The summary names at most this many sessions (the text report: blocks of sessions,
# report.answer.summary_blocks); the rest are counted (each header still carries its
# status).
SUMMARY_LIMIT = 10


def wall_clock(ts: float) -> str:
    """A packet timestamp (epoch seconds) as UTC ISO 8601 to the millisecond:
    `2026-12-01T00:58:17.123Z`; a corrupt record's time beyond the calendar as its Unix
    time (flowcheck.utc_times)."""
    return utc_text(ts)


def clock_time(ts: float) -> str:
    """The time of day of `wall_clock` (`00:58:17.123Z`), for lines under a date
    already given (a time without a date: wall_clock's whole text)."""
    text = wall_clock(ts)
    return text[11:] if has_date(text) else text


# Step statuses that say the step did not work.
_NOT_WORKED = ("failed", "violated", "missing")


def session_errors(session: Session, findings: list[Finding]) -> list[Finding]:
    """The error findings of the session: those that name it, and those of another
    session about a connection one of its steps that did not work judged (a three-way
    job's tape server's session reads its data steps from the data server's session,
    which reports the failure once: flowcheck.verify.shared); those about connections
    of `violated` steps only, last."""
    uids = {uid for step in session.steps if step.status in _NOT_WORKED for uid in step.uids}
    index = _error_index(findings)
    picked = dict(index.by_session.get(session.id, ()))
    for uid in uids:
        picked.update(index.by_uid.get(uid, ()))
    errors = [picked[n] for n in sorted(picked)]  # in the findings' order
    # What failed the job first: an error about a connection only of steps that worked
    # but broke a rule (`violated`: a port outside its range on a connection that
    # opened) after those of steps that failed (trial A of session 34: the headline
    # named the callback's source port outside the agent range, an outbound connection
    # that worked, not the data connection left unanswered).
    failed = {uid for step in session.steps if step.status in ("failed", "missing")
              for uid in step.uids}
    violated = uids - failed
    return sorted(errors, key=lambda f: f.uid is not None and f.uid in violated)


@fields_dataclass(slots=True)
class _ErrorIndex:
    """The error findings of a findings list by session and by connection uid, each as
    (position in the list, finding)."""

    findings: list[Finding]  # the list indexed, held: its identity is the cache's key
    size: int
    by_session: dict[str, list[tuple[int, Finding]]]
    by_uid: dict[str, list[tuple[int, Finding]]]


_last_index: _ErrorIndex | None = None


def _error_index(findings: list[Finding]) -> _ErrorIndex:
    """The index of `findings`, built once for the list every session of a report asks
    about: a walk of all findings per session was quadratic (10,000 SYNs to the NDMP port,
    10,000 sessions: 43 s for the JSON document's statuses)."""
    global _last_index
    index = _last_index
    if index is None or index.findings is not findings or index.size != len(findings):
        by_session: dict[str, list[tuple[int, Finding]]] = {}
        by_uid: dict[str, list[tuple[int, Finding]]] = {}
        for n, finding in enumerate(findings):
            if finding.severity == Severity.ERROR:
                if finding.session is not None:
                    by_session.setdefault(finding.session, []).append((n, finding))
                if finding.uid is not None:
                    by_uid.setdefault(finding.uid, []).append((n, finding))
        index = _last_index = _ErrorIndex(findings, len(findings), by_session, by_uid)
    return index


def session_status(session: Session, findings: list[Finding]) -> SessionStatus:
    """`failed` when it has an error finding (session_errors), else `ended` for the
    leftover of a job that had ended before the capture saw it run (Session.ended: not
    a job in the capture, its steps after the control connection not_applicable), else
    `unknown` when one of its steps is (the capture cannot show whether it worked), else
    `ok`; `side` for side traffic (not judged). The same rule as the verdict
    (flowcheck.findings.verdict), which fails on any error: so an error wins over
    Session.ended, and what says whether a session is judged as a job (the JSON's
    `judged`, report.json_doc) and the words "not a job in the capture"
    (report.analyze, report.verdict_notes) read this status, not Session.ended
    (readings62: a leftover with an error read `failed` and "not a job in the capture,
    not judged", `judged` false). No check leaves an ended session an error today: a
    closed job's late replies, halts and connects are warnings (verify.replies
    ._closed_job, verify.evidence)."""
    if session.side:
        return "side"
    if session_errors(session, findings):
        return "failed"
    if session.ended:
        return "ended"
    if any(step.status == "unknown" for step in session.steps):
        return "unknown"
    return "ok"


@fields_dataclass(slots=True)
class SessionLine:
    """One failing or inconclusive session as the summary names it."""

    session: Session
    status: SessionStatus
    start: float | None  # the control connection's first packet, epoch seconds
    codes: list[str]  # its error codes ("data_refused", "port_outside_agent_range x12")
    unknown_steps: list[int]  # its steps whose status is unknown

    def text(self, base: Since) -> str:
        """`S10 FAILED: 10.77.0.1 -> 10.77.1.4 (control C19), started
        2026-12-01T00:58:17.123Z (+46.940s); data_refused`."""
        session = self.session
        when = (f", started {wall_clock(self.start)} ({base(self.start)})"
                if self.start is not None else "")
        what = self.what()
        return (f"{session.id} {STATUS_WORDS[self.status]}: {session.media_server} -> "
                f"{session.remote_agent} (control {session.control_uid}){when}"
                + (f"; {what}" if what else ""))

    def what(self) -> str:
        """Its error codes, or its unknown steps: `data_refused`, `unknown: step 4`."""
        return "; ".join(part for part in (
            ", ".join(self.codes),
            "unknown: step " + ", ".join(map(str, self.unknown_steps))
            if self.unknown_steps and self.status == "unknown" else "") if part)


# Session ids a grouped line names before counting the rest.
GROUP_IDS = 8


@fields_dataclass(slots=True)
class SummaryBlock:
    """Failing or inconclusive sessions the summary tells in one block, under one cause
    and fix (report.answer.summary_blocks: the same status, first error code, media
    server -> agent and fix; trial 35 D5), in capture order."""

    lines: list[SessionLine]

    def text(self, base: Since) -> str:
        """One session's SessionLine.text; several: `S1, S2, S4 FAILED: 10.77.0.1 ->
        10.77.0.12 (3 sessions), started 2026-12-03T16:00:12.447Z (+0.000s),
        16:00:22.057Z (+9.609s), 16:00:31.582Z (+19.135s); data_unanswered x2`: the ids
        and starts of the first GROUP_IDS (a start on another day than the one before it
        in full), the rest counted, then the sessions' error codes (each distinct list
        once, " | " between)."""
        first = self.lines[0]
        if len(self.lines) == 1:
            return first.text(base)
        session, shown = first.session, self.lines[:GROUP_IDS]
        starts, day = [], ""
        for line in shown:
            if line.start is None:
                starts.append("-")
                continue
            full = wall_clock(line.start)
            starts.append(f"{full if full[:10] != day else full[11:]} "
                          f"({base(line.start)})")
            day = full[:10] if has_date(full) else ""
        more = len(self.lines) - len(shown)
        whats = " | ".join(dict.fromkeys(line.what() for line in self.lines if line.what()))
        return (f"{named_ids([line.session.id for line in self.lines])} "
                f"{STATUS_WORDS[first.status]}: {session.media_server} -> "
                f"{session.remote_agent} ({len(self.lines)} sessions), started "
                f"{', '.join(starts)}" + (f", +{more} more" if more > 0 else "")
                + (f"; {whats}" if whats else ""))


def named_ids(ids: list[str]) -> str:
    """"S1, S2, ..., S8, +4 more": the first GROUP_IDS of ids, the rest counted."""
    more = len(ids) - GROUP_IDS
    return ", ".join(ids[:GROUP_IDS]) + (f", +{more} more" if more > 0 else "")


def grouped_lines(lines: list[SessionLine]) -> list[str]:
    """The summary's sessions beyond SUMMARY_LIMIT, one line per status, cause and pair
    of hosts, most sessions first (trial 23 D7: a night's "... and 14 more" hid which
    jobs failed how): `FAILED control_unanswered, 10.77.0.1 -> 10.77.0.5: 6 sessions
    (S141, S168, ...)`."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for line in lines:
        session = line.session
        key = (line.status, line.what(), f"{session.media_server} -> {session.remote_agent}")
        groups.setdefault(key, []).append(session.id)
    out = []
    for (status, what, hosts), ids in sorted(groups.items(),
                                             key=lambda item: (item[0][0] != "failed",
                                                               -len(item[1]))):
        count = f"{len(ids)} session{'s' if len(ids) > 1 else ''}"
        out.append(f"{STATUS_WORDS[status]} {what or 'no error code'}, {hosts}: "
                   f"{count} ({named_ids(ids)})")
    return out


def session_start(session: Session, by_uid: dict[str, Connection]) -> float | None:
    """The session's start: its control connection's first packet (epoch seconds)."""
    control = by_uid.get(session.control_uid)
    return control.ts if control is not None else None


def summary_lines(analysis: Analysis) -> list[SessionLine]:
    """The failing, then the inconclusive sessions, each in capture order."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    lines: dict[str, list[SessionLine]] = {"failed": [], "unknown": []}
    for session in analysis.sessions:
        status = session_status(session, analysis.findings)
        if status not in lines:
            continue
        counts = Counter(f.code if f.session in (session.id, None) else
                         f"{f.code} (session {f.session}'s)"
                         for f in session_errors(session, analysis.findings))
        codes = [code if n == 1 else f"{code} x{n}" for code, n in counts.items()]
        unknown = [step.step for step in session.steps if step.status == "unknown"]
        lines[status].append(SessionLine(session, status, session_start(session, by_uid),
                                         codes, unknown))
    return lines["failed"] + lines["unknown"]


def unattached_errors(analysis: Analysis) -> list[str]:
    """Codes of the error findings that name no session (capture-level errors)."""
    counts = Counter(f.code for f in analysis.findings
                     if f.session is None and f.severity == Severity.ERROR)
    return [code if n == 1 else f"{code} x{n}" for code, n in counts.items()]


def status_counts(analysis: Analysis) -> str:
    """`19 ok, 1 failed` (the statuses present, failed first)."""
    counts = Counter(session_status(s, analysis.findings) for s in analysis.sessions)
    return ", ".join(f"{counts[status]} {STATUS_WORDS[status].lower()}"
                     for status in STATUS_ORDER if counts[status])


# What the relative times count from, in the words the reports use: the earliest start
# of a connection (Connection.ts: its first packet by time, whatever order the file holds
# the records in; after a clock set back its first in the file). Packets stamped earlier
# (after a clock step back) print as negative times, "-0.040s" (trial 29 D5).
TIME_ORIGIN = "the first packet of the capture's earliest connection"


def first_packet(analysis: Analysis) -> Since | None:
    """What the relative times (`+46.940s`) count from (TIME_ORIGIN): the earliest
    connection start, or the earliest before the capture's clock steps back (since.
    time_base); None without connections."""
    return time_base(analysis.traffic.connections, analysis.traffic.clock_step)


def source_words(config: Config) -> str:
    """Which configuration a run used, for the text report's header: "configuration:
    FILE" (flags win over it), or, with no file, that none was found and what applies:
    the flags given, else flowcheck's defaults for every setting (new-user trial: the
    report never said whether a flowcheck.toml had been read)."""
    if config.source:
        return f"configuration: {config.source}"
    if config.explicit:
        return ("configuration: no file (no --config, no ./flowcheck.toml): the flags given, "
                "flowcheck's defaults for the rest")
    return ("configuration: none (no --config, no ./flowcheck.toml, no flags): flowcheck's "
            "defaults; set the job's profile and ranges with flags or a flowcheck.toml "
            f"({doc_page('configuration.md')})")

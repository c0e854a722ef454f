"""A capture set of two kinds of job: each session judged by its own reading.

With no profile given, a session that reads as plain NDMP (flowcheck.verify.plain_reading:
the mover listening, no Backup Exec sign) is judged by the ndmp profile even when another
session of the same capture set shows Backup Exec's signs (a vendor message, a callback
before the announcements) and keeps the default, backup-exec-9. One Backup Exec server
backing up a Remote Agent, and an NDMP filer backed up by another DMA, can share a
capture (newuser56: ndmjob/v4-backup.pcap given with lab/clean-3-resources.pcap read FAIL,
the plain job's step 2 `missing` and its data connection `step_out_of_order`, "session S2
of this capture did [the callback] ... so the capture is traffic of that profile").

The pipeline analyzes the traffic twice, once per profile (pipeline.analyze); this module
keeps each pass's labels (Connection.role/.session, Announcement.used_by, which the
second pass overwrites in place) and findings (copied: checks write notes into the
traffic's own), then puts one analysis together: each session, its findings and its
connections' labels from its own profile's pass (sessions matched by control connection);
a finding of no session, about a connection no session of either pass owns or of none,
from either pass once (by code, connection and frames, the default's first).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.findings import make_finding
from flowcheck.model import Announcement, Connection, Finding, NdmpStream, Session

if TYPE_CHECKING:
    from flowcheck.profiles import Profile
    from flowcheck.traffic import Analysis, Traffic

Label = tuple[str, str | None]  # Connection.role, Connection.session


@fields_dataclass(slots=True)
class Pass:
    """One profile's analysis as it stood when made: its sessions, copies of its findings,
    each connection's label (by uid) and each announcement's used_by (by id())."""

    analysis: Analysis
    findings: list[Finding]
    labels: dict[str, Label]
    used_by: dict[int, str | None]


def keep_pass(analysis: Analysis) -> Pass:
    """`analysis`'s state now, before another pass over the same traffic overwrites its
    labels and restores the traffic's findings (pipeline.analyze)."""
    traffic = analysis.traffic
    return Pass(analysis, [copy.deepcopy(f) for f in analysis.findings],
                _labels(traffic.connections), _used_by(analysis.sessions))


def _labels(connections: Sequence[Connection]) -> dict[str, Label]:
    """Each connection's label now, by uid: (Connection.role, Connection.session)."""
    return {c.uid: (c.role, c.session) for c in connections}


def _used_by(sessions: Sequence[Session]) -> dict[int, str | None]:
    """Each of the sessions' announcements' used_by now, by id() of the announcement."""
    return {id(a): a.used_by for s in sessions for a in s.announced}


def same_sessions(first: Sequence[Session], second: Sequence[Session]) -> bool:
    """Do the two passes hold the same sessions (id and control connection, in order)?
    Only then can they be put together session by session."""
    return [(s.id, s.control_uid) for s in first] == [(s.id, s.control_uid) for s in second]


def mixed_analysis(first: Pass, plain: Analysis, shown: dict[str, list[Announcement]],
                   default: Profile, neither: Collection[str] = ()) -> Analysis:
    """The analysis of a capture set whose sessions `shown` (ids, each with its
    mover-listening announcements) read as plain NDMP while others keep the default
    profile (module docstring): each from its own pass (`first`, the
    default's; `plain`, the ndmp profile's), a profile_inferred finding per plain
    session (the passes' sessions the same: mixed_reading.same_sessions), in the order
    they were made (the caller sorts them: pipeline.finding_order). `neither`:
    the judged sessions (ids) that show no Backup Exec sign and no mover listening
    (plain_reading.plain_sessions' empty entries), which keep the default too."""
    analysis = merged(first, plain, set(shown))
    others = Others(
        signed=[s.id for s in analysis.sessions
                if s.id not in shown and s.id not in neither and not s.side],
        bare=[s.id for s in analysis.sessions if s.id in neither and not s.side],
        side=[s.id for s in analysis.sessions if s.side])
    for session in analysis.sessions:
        if session.id in shown:
            analysis.findings.append(session_inferred(session, shown[session.id],
                                                      default.name, others,
                                                      plain.traffic.streams))
    return analysis


def merged(default: Pass, plain: Analysis, plain_ids: set[str]) -> Analysis:
    """One analysis of the traffic: the sessions `plain_ids` (ids) from `plain` (the ndmp
    profile's pass, the traffic's labels as it left them), every other from `default`;
    the labels and findings likewise (module docstring). `default.analysis`'s config and
    profile stay the run's (the text's profile line; JSON config)."""
    traffic: Traffic = plain.traffic
    sessions = _put_together(default.analysis.sessions, plain.sessions, plain_ids,
                             traffic.connections, default.labels, default.used_by)
    labels = _labels(traffic.connections)
    findings = _findings(default.findings, plain.findings, labels, plain_ids)
    return dataclasses.replace(default.analysis, traffic=traffic, sessions=sessions,
                               findings=findings)


def mixed_labels(sessions: list[Session], plain_ids: set[str],
                 connections: Sequence[Connection], build: Callable[[str], list[Session]],
                 default: str) -> list[Session]:
    """The sessions stage alone (pipeline.label_connections) for a capture whose sessions
    `plain_ids` read as plain NDMP and others not: `sessions` (the default profile's,
    the connections labelled by them) built again by the ndmp profile (`build`: a
    profile's name -> the sessions it builds, labelling the connections), each session
    and its connections' labels from its own profile's build, as analyze puts them
    together (merged); the default profile's (`default`, its name) build again when the
    two hold other sessions."""
    from flowcheck.verify.plain_reading import PLAIN_PROFILE

    labels, used_by = _labels(connections), _used_by(sessions)
    plain = build(PLAIN_PROFILE)
    if not same_sessions(sessions, plain):
        return build(default)
    return _put_together(sessions, plain, plain_ids, connections, labels, used_by)


def _put_together(default: Sequence[Session], plain: Sequence[Session], plain_ids: set[str],
                  connections: Sequence[Connection], labels: Mapping[str, Label],
                  used_by: Mapping[int, str | None]) -> list[Session]:
    """The sessions `plain_ids` from `plain` (the ndmp profile's, which labelled the
    connections last), every other from `default`, whose labels (`labels`, by uid) and
    announcements' used_by (`used_by`, by id()) are put back for its sessions."""
    sessions = [p if p.id in plain_ids else d
                for d, p in zip(default, plain, strict=True)]
    for conn in connections:
        second = (conn.role, conn.session)
        conn.role, conn.session = _label(  # type: ignore[assignment]
            labels.get(conn.uid, second), second, plain_ids)
    for session in sessions:
        if session.id not in plain_ids:
            for ann in session.announced:
                ann.used_by = used_by.get(id(ann), ann.used_by)
    return sessions


def _label(first: Label, second: Label, plain_ids: set[str]) -> Label:
    """A connection's label: the ndmp pass's when it gives it to a plain session, else
    the default pass's when that gives it to another (or to none while the ndmp pass
    gives it to a session it does not judge), else the ndmp pass's."""
    if second[1] in plain_ids:
        return second
    if first[1] not in plain_ids:
        return first
    return second


def _findings(first: Sequence[Finding], second: Sequence[Finding],
              labels: Mapping[str, Label], plain_ids: set[str]) -> list[Finding]:
    """Each pass's findings about its own sessions (a finding's session, else its
    connection's label), and those of no session from either, once."""
    def plain_owned(f: Finding) -> bool | None:
        owner = f.session or labels.get(f.uid or "", ("", None))[1]
        return None if owner is None else owner in plain_ids

    kept = [f for f in first if plain_owned(f) is False]
    kept += [f for f in second if plain_owned(f)]
    seen: set[tuple] = set()
    for f in [*first, *second]:
        key = (f.code, f.uid, tuple(f.frames))
        if plain_owned(f) is None and key not in seen:
            seen.add(key)
            kept.append(f)
    return kept


@fields_dataclass(slots=True)
class Others:
    """The sessions (ids) of a mixed capture set not judged by the ndmp profile:
    `signed`, judged ones that show a Backup Exec sign or whose capture may hide one;
    `bare`, judged ones that show neither reading (no sign, no mover listening); `side`,
    side traffic (host_not_configured), not judged."""

    signed: list[str]
    bare: list[str]
    side: list[str]

    def words(self, default: str) -> str:
        """What became of them, for profile_inferred: "Session(s) S2 of this capture
        show ... and are judged by backup-exec-9; ..." (review56d: with the only sign a
        side traffic session's vendor message it read "Session(s)  of this capture show
        Backup Exec's signs", and a session of no NDMP message was said to show them)."""
        parts = []
        if self.signed:
            parts.append(f"session(s) {', '.join(self.signed)} of this capture show Backup "
                         "Exec's signs (or the capture may hide one there) and are judged "
                         f"by {default}")
        if self.bare:
            parts.append(f"session(s) {', '.join(self.bare)} show neither reading (no "
                         "mover listening, no sign of Backup Exec) and keep the default, "
                         f"{default}")
        if self.side:
            parts.append(f"session(s) {', '.join(self.side)}, side traffic "
                         "(host_not_configured), are not judged")
        text = "; ".join(parts) or f"every other session keeps the default, {default}"
        return text[:1].upper() + text[1:]


def session_inferred(session: Session, shown: Sequence[Announcement], default: str,
                     others: Others, streams: Sequence[NdmpStream]) -> Finding:
    """The info finding that says `session` alone is judged by the ndmp profile: its
    mover-listening announcements `shown`, dated by the first one's message in `streams`
    (the control streams: one whose address the snap length cut has no time of its own),
    the default profile's name and what became of the other sessions (`others`)."""
    from flowcheck.verify.plain_reading import PLAIN_PROFILE, first_shown

    first, ts, which = first_shown(sorted(shown, key=lambda a: a.frame), streams)
    return make_finding(
        "profile_inferred",
        f"Session {session.id} reads as plain NDMP, so it is judged by the {PLAIN_PROFILE} "
        f"profile: no profile was given (the default is {default}), and the session shows "
        "no sign of Backup Exec (no vendor message, no callback from the agent to the job "
        "engine before a data endpoint was announced) while its announcements have the "
        f"media server's mover listening and the agent connecting ({which}), plain NDMP's "
        f"three-way backup. {others.words(default)}: each job by its own sequence (a Backup "
        "Exec server and an NDMP filer's job may share a capture).",
        f"Nothing to change if session {session.id} is plain NDMP (Amanda's ndmjob, a "
        f"filer's NDMP server). To judge every session by one profile, give --profile "
        f"{PLAIN_PROFILE} or --profile {default} (or profile = \"...\" in flowcheck.toml).",
        session=session.id, uid=session.control_uid, frames=[first.frame],
        ts=ts)

"""What changed in a regression case's sessions, one session at a time.

The expected result's `sessions` is a list (flowcheck.regress.summarize): the change
`sessions: expected [...], got [...]` is one line of thousands of characters on a night
of 20 jobs (trial 12 D4). Here each differing session gets its own line, named by the
id, media server and agent the analysis gave it: `S10 (10.77.0.1 -> 10.77.1.4): step 3
ok -> failed, step 4 ok -> missing; new error data_unanswered`. Sessions are compared by
position (S1 with the first expected, ...): the ids are numbered in the order the
control connections started, as the expected result lists them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(slots=True)
class SeenSession:
    """What the analysis says of a session beyond the reviewed summary: its id and hosts,
    and its error finding codes (one per finding). Never written to an expected result."""

    id: str
    media_server: str
    remote_agent: str
    errors: list[str]


def seen_sessions(document: dict) -> list[SeenSession]:
    """Each session of an analysis document (docs/json.md), in its order."""
    return [SeenSession(s["id"], s["media_server"], s["remote_agent"],
                        [f["code"] for f in document["findings"]
                         if f["session"] == s["id"] and f["severity"] == "error"])
            for s in document["sessions"]]


@dataclass(slots=True)
class SessionChange:
    """One session that differs: `index` its 1-based position; `session`, `media_server`,
    `remote_agent` as this run names it (None for an expected session this run lacks);
    `changes` the differences in words ("step 3 ok -> failed", "new error data_refused",
    "new session", "missing")."""

    index: int
    session: str | None
    media_server: str | None
    remote_agent: str | None
    changes: list[str]

    @property
    def line(self) -> str:
        if self.session is None:
            name = f"session {self.index}"
        else:
            name = f"{self.session} ({self.media_server} -> {self.remote_agent})"
        steps = ", ".join(c for c in self.changes if not c.startswith("new error"))
        errors = ", ".join(c for c in self.changes if c.startswith("new error"))
        return f"{name}: " + "; ".join(part for part in (steps, errors) if part)

    def as_dict(self) -> dict:
        return {"index": self.index, "session": self.session,
                "media_server": self.media_server, "remote_agent": self.remote_agent,
                "changes": list(self.changes), "line": self.line}


def _described(session: dict) -> str:
    steps = ", ".join(f"{number} {status}" for number, status in
                      session.get("steps", {}).items())
    return f"{session.get('kind', '?')}, steps {steps or 'none'}"


def _differences(expected: dict, actual: dict) -> list[str]:
    changes = []
    if expected.get("kind") != actual.get("kind"):
        changes.append(f"kind {expected.get('kind')} -> {actual.get('kind')}")
    old, new = expected.get("steps", {}), actual.get("steps", {})
    for number in sorted(set(old) | set(new), key=lambda n: (len(n), n)):
        if old.get(number) != new.get(number):
            changes.append(f"step {number} {old.get(number, 'none')} -> "
                           f"{new.get(number, 'none')}")
    if expected.get("data_connections") != actual.get("data_connections"):
        changes.append(f"data connections {expected.get('data_connections')} -> "
                       f"{actual.get('data_connections')}")
    if expected.get("callback") != actual.get("callback"):
        changes.append(f"callback {_yes(expected.get('callback'))} -> "
                       f"{_yes(actual.get('callback'))}")
    return changes


def _yes(value: object) -> str:
    return "yes" if value else "no"


def session_changes(expected: dict, actual: dict,
                    seen: list[SeenSession]) -> list[SessionChange]:
    """The sessions that differ between an expected result and this run's summary, with
    the errors new to them (a code of theirs whose count in `findings` rose); [] when
    `sessions` does not differ or is not a list of objects on both sides."""
    old, new = expected.get("sessions"), actual.get("sessions")
    if old == new or not _sessions(old) or not _sessions(new):
        return []
    old_counts = Counter(expected.get("findings") or {})
    new_counts = Counter(actual.get("findings") or {})
    rose = {code for code in new_counts if new_counts[code] > old_counts.get(code, 0)}
    out = []
    for index in range(1, max(len(old), len(new)) + 1):
        before = old[index - 1] if index <= len(old) else None
        after = new[index - 1] if index <= len(new) else None
        who = seen[index - 1] if index <= len(seen) else None
        if before is None and after is not None:
            changes = [f"new session ({_described(after)})"]
        elif after is None and before is not None:
            changes = [f"missing (expected {_described(before)})"]
        else:
            changes = _differences(before or {}, after or {})
        if not changes:
            continue  # a code that rose elsewhere is not this session's news
        new_errors = sorted({code for code in (who.errors if who and after is not None else [])
                             if code in rose})
        changes += [f"new error {code}" for code in new_errors]
        out.append(SessionChange(index, who.id if who and after is not None else None,
                                 who.media_server if who and after is not None else None,
                                 who.remote_agent if who and after is not None else None,
                                 changes))
    return out


def _sessions(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)

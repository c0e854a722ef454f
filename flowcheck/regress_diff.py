"""What changed in a regression case's sessions, one session at a time.

The expected result's `sessions` is a list (flowcheck.regress.summarize): the change
`sessions: expected [...], got [...]` is one line of thousands of characters on a night
of 20 jobs (trial 12 D4). Here each differing session gets its own line, named by the
id, media server, agent and start the analysis gave it: `S10 (10.77.0.1 -> 10.77.1.4,
started 2026-12-02T09:28:42.616Z): step 3 ok -> failed, step 4 ok -> missing; new error
data_unanswered`. The two lists are aligned as a diff aligns lines, not compared by
position: one session more at the start is one new session, the others unchanged
(trial 21 D8: "5 of 5 changed").
"""

from __future__ import annotations

from collections import Counter

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class SeenSession:
    """What the analysis says of a session beyond the reviewed summary: its id, hosts and
    start (its control connection's first packet, epoch seconds; None when unknown), and
    its error finding codes (one per finding). Never written to an expected result."""

    id: str
    media_server: str
    remote_agent: str
    errors: list[str]
    started: float | None = None


def seen_sessions(document: dict) -> list[SeenSession]:
    """Each session of an analysis document (docs/json.md), in its order."""
    starts = {c["uid"]: c["ts"] for c in document["connections"]}
    return [SeenSession(s["id"], s["media_server"], s["remote_agent"],
                        [f["code"] for f in document["findings"]
                         if f["session"] == s["id"] and f["severity"] == "error"],
                        starts.get(s["control_uid"]))
            for s in document["sessions"]]


@fields_dataclass(slots=True)
class SessionChange:
    """One session that differs: `index` its 1-based position in this run (in the
    expected result for a session this run lacks), `expected_index` its position in the
    expected result (None for a new session); `session`, `media_server`, `remote_agent`,
    `started` as this run names it (None for an expected session this run lacks);
    `changes` the differences in words ("step 3 ok -> failed", "new error data_refused",
    "new session (...)", "missing (...)")."""

    index: int
    session: str | None
    media_server: str | None
    remote_agent: str | None
    changes: list[str]
    expected_index: int | None = None
    started: float | None = None

    @property
    def line(self) -> str:
        if self.session is None:
            name = f"expected session {self.index}"
        else:
            from flowcheck.report.overview import wall_clock  # numpy: not at the plugin's load

            start = "" if self.started is None else f", started {wall_clock(self.started)}"
            name = f"{self.session} ({self.media_server} -> {self.remote_agent}{start})"
        steps = ", ".join(c for c in self.changes if not c.startswith("new error"))
        errors = ", ".join(c for c in self.changes if c.startswith("new error"))
        return f"{name}: " + "; ".join(part for part in (steps, errors) if part)

    def as_dict(self) -> dict:
        return {"index": self.index, "expected_index": self.expected_index,
                "session": self.session, "media_server": self.media_server,
                "remote_agent": self.remote_agent, "started": self.started,
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
    `sessions` does not differ or is not a list of objects on both sides. The lists are
    aligned first (aligned()): a session added or lost is `new session` or `missing`,
    not a change of every session after it."""
    old, new = expected.get("sessions"), actual.get("sessions")
    if old == new or not _sessions(old) or not _sessions(new):
        return []
    old_counts = Counter(expected.get("findings") or {})
    new_counts = Counter(actual.get("findings") or {})
    rose = {code for code in new_counts if new_counts[code] > old_counts.get(code, 0)}
    out = []
    for before_at, after_at in aligned(old, new):
        before = old[before_at] if before_at is not None else None
        after = new[after_at] if after_at is not None else None
        who = seen[after_at] if after_at is not None and after_at < len(seen) else None
        if before is None and after is not None:
            changes = [f"new session ({_described(after)})"]
        elif after is None and before is not None:
            changes = [f"missing ({_described(before)})"]
        else:
            changes = _differences(before or {}, after or {})
        if not changes:
            continue  # a code that rose elsewhere is not this session's news
        changes += [f"new error {code}" for code in sorted(
            {code for code in (who.errors if who else []) if code in rose})]
        index = (after_at if after_at is not None else before_at or 0) + 1
        out.append(SessionChange(
            index, who.id if who else None, who.media_server if who else None,
            who.remote_agent if who else None, changes,
            None if before_at is None else before_at + 1, who.started if who else None))
    return out


# Aligning two session lists: the cost of a session one list has and the other lacks,
# against pairing two sessions that differ in N of their kind, steps, data connection
# count and callback (cost N). Sessions that differ in 6 or more are told as one new and
# one missing rather than as one changed.
_UNPAIRED = 3
# Above this many cells the alignment is skipped for position (time, not sense: a
# library's captures hold tens of sessions; only the part between equal ends is aligned).
_ALIGN_LIMIT = 250_000


def aligned(old: list[dict], new: list[dict]) -> list[tuple[int | None, int | None]]:
    """Pairs (expected position, this run's position), 0-based, None on the side that
    lacks the session, in order: the alignment with the least cost (_UNPAIRED), as a diff
    aligns lines; of equal ones, the one that leaves unpaired sessions last."""
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while (tail < min(len(old), len(new)) - head
           and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]):
        tail += 1
    a, b = old[head:len(old) - tail], new[head:len(new) - tail]
    middle: list[tuple[int | None, int | None]]
    if len(a) * len(b) > _ALIGN_LIMIT:
        middle = [(i if i < len(a) else None, i if i < len(b) else None)
                  for i in range(max(len(a), len(b)))]
    else:
        middle = _cheapest(a, b)
    shift = [(None if i is None else i + head, None if j is None else j + head)
             for i, j in middle]
    return ([(i, i) for i in range(head)] + shift
            + [(len(old) - tail + k, len(new) - tail + k) for k in range(tail)])


def _cheapest(a: list[dict], b: list[dict]) -> list[tuple[int | None, int | None]]:
    """Edit-distance alignment of `a` and `b`: cost[i][j] the cheapest alignment of a[i:]
    and b[j:], walked from the front, pairing first on ties."""
    n, m = len(a), len(b)
    pair = [[len(_differences(x, y)) for y in b] for x in a]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n or j == m:
                cost[i][j] = _UNPAIRED * ((n - i) + (m - j))
                continue
            cost[i][j] = min(cost[i + 1][j + 1] + pair[i][j],
                             cost[i + 1][j] + _UNPAIRED, cost[i][j + 1] + _UNPAIRED)
    out: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and cost[i][j] == cost[i + 1][j + 1] + pair[i][j]:
            out.append((i, j))
            i, j = i + 1, j + 1
        elif j < m and (i == n or cost[i][j] == cost[i][j + 1] + _UNPAIRED):
            out.append((None, j))
            j += 1
        else:
            out.append((i, None))
            i += 1
    return out


def _sessions(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)

"""The answer under the verdict: for each failing session, its first error's cause and
fix, short, so the first screen of `flowcheck analyze` says why and what to do (trial
20 D9: on an 80x24 terminal the first explanation started on line 27 to 60).

Both are taken from the finding itself (its message and its fix), not written again:
the gist is the first sentence, without parentheses longer than PAREN_KEEP characters,
ended at the last clause break (": ", "; ", ", and ", ", or ", ", but ") that keeps it
within GIST_LIMIT characters (a rule's way back, ", and TCP from ... back to ...", stays
with the rule before it, beyond the limit if need be); words are never cut (an address
stays whole), and a gist that had to be cut at a space ends with "...". The full text is
under Findings, which the line names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from flowcheck.report.hanging import print_hanging
from flowcheck.report.overview import SummaryBlock, session_errors

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.model import Finding, Session
    from flowcheck.report.overview import SessionLine

GIST_LIMIT = 200
PAREN_KEEP = 24  # "(media range)", "(NDMP port 10000)" stay; explanations go
_BREAKS = (": ", "; ", ", and ", ", or ", ", but ")
# Where a fix's rule for the way back begins (rules.py, allow_rule with the return): the
# gist keeps it with the rule before it.
_WAY_BACK = ", and TCP from "


def _top_level(text: str) -> list[tuple[int, int]]:
    """(start, end) of each parenthesised part outside quotes and other parentheses."""
    spans, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == '"' and depth == 0:
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            start = i if depth == 0 else start
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans


def _outside(text: str, spans: list[tuple[int, int]], i: int) -> bool:
    return not any(start <= i < end for start, end in spans)


def gist(text: str, limit: int = GIST_LIMIT) -> str:
    """The first sentence of `text`, its long parentheses left out, within `limit`
    characters (see the module's docstring)."""
    spans = _top_level(text)
    end = next((i for i in range(len(text)) if text.startswith(". ", i)
                and _outside(text, spans, i)), len(text))
    sentence = text[:end].rstrip(".")
    kept, last = [], 0
    for start, stop in _top_level(sentence):
        if stop - start > PAREN_KEEP:
            kept.append(sentence[last:start].rstrip())
            last = stop
    kept.append(sentence[last:])
    sentence = "".join(kept).strip()
    if len(sentence) <= limit:
        return sentence
    spans = _top_level(sentence)
    limit = _with_way_back(sentence, spans, limit)
    if len(sentence) <= limit:
        return sentence
    breaks, clause = [], 0
    for i in range(limit + 1):
        if not _outside(sentence, spans, i) or not sentence.startswith(_BREAKS, i):
            continue
        if sentence.startswith(_WAY_BACK, i):
            continue  # the rule's second direction: never the end (trial 23 D8)
        words = sentence[clause:i].lower().split()
        # Never end on a condition ("If the port was in use: ...") or half an either-or.
        conditional = sentence.startswith(": ", i) and words[:1] == ["if"]
        if not conditional and not (sentence.startswith(", or ", i) and "either" in words):
            breaks.append(i)
        clause = i + 2
    if breaks:
        return sentence[:breaks[-1]]
    cut = sentence.rfind(" ", 0, limit - 3)
    return (sentence[:cut] if cut > 0 else sentence[:limit - 3]) + "..."


def _with_way_back(sentence: str, spans: list[tuple[int, int]], limit: int) -> int:
    """The limit, stretched so a rule for the way there that starts within it keeps the
    rule for the way back after it (", and TCP from ... back to ..."), to the clause
    break after that (trial 23 D8: a fix for SYNs or SYN-ACKs dropped, cut to the
    inbound half the capture showed was there already)."""
    at = sentence.find(_WAY_BACK)
    while 0 <= at <= limit and not _outside(sentence, spans, at):
        at = sentence.find(_WAY_BACK, at + 1)
    if not 0 <= at <= limit:
        return limit
    end = next((i for i in range(at + len(_WAY_BACK), len(sentence))
                if _outside(sentence, spans, i) and sentence.startswith(_BREAKS, i)
                and not sentence.startswith(_WAY_BACK, i)), len(sentence))
    return max(limit, end)


def _plain(text: str) -> str:
    """The gist after a label: its first word in lower case when it is a plain word
    ("The agent" -> "the agent"; "DATA_LISTEN" stays)."""
    word = text.split(" ", 1)[0]
    return text[0].lower() + text[1:] if word.istitle() and word.isalpha() else text


def answer_rows(session: Session, findings: list[Finding],
                told: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """("cause:", ...) and ("fix:", ...) of the session's first error, the fix naming
    where the finding is; [] for a session with no error. `told`: the fixes already
    given, by text, with the session they were given for ("as for S3" then), updated."""
    errors = session_errors(session, findings)
    if not errors:
        return []
    return finding_rows(errors[0], len(errors) - 1, told, session.id)


def finding_rows(first: Finding, more: int = 0, told: dict[str, str] | None = None,
                 name: str = "") -> list[tuple[str, str]]:
    """("cause:", ...) and ("fix:", ...) of one error finding, naming it and the `more`
    errors after it; `told` as for answer_rows, `name` what a fix given here is told as
    later ("S3"; "" tells none)."""
    where = (f"(see {first.code}" + (f" and {more} more error{'s' * (more > 1)}"
                                     if more else "") + " under Findings)")
    rows = [("cause:", _plain(gist(first.message)))]
    if not first.fix:
        return [("cause:", f"{rows[0][1]} {where}")]
    fix = _plain(gist(first.fix))
    if told is not None and fix in told:
        return [*rows, ("fix:", f"as for {told[fix]} {where}")]
    if told is not None and name:
        told[fix] = name
    return [*rows, ("fix:", f"{fix} {where}")]


def summary_blocks(lines: list[SessionLine],
                   findings: list[Finding]) -> list[SummaryBlock]:
    """The summary's lines (overview.summary_lines) in blocks, each told once with its
    cause and fix: failing sessions by their first error's code, media server -> agent
    and fix as answer_rows says it (its cause when it has none), inconclusive ones by
    their unknown steps and hosts; in the order of each block's first session (trial 35
    D5: 12 failing sessions of 3 agents were 10 nearly identical blocks)."""
    blocks: dict[tuple[str, ...], SummaryBlock] = {}
    for line in lines:
        session = line.session
        hosts = f"{session.media_server} -> {session.remote_agent}"
        errors = session_errors(session, findings) if line.status == "failed" else []
        key: tuple[str, ...] = (line.status, line.what(), hosts)
        if errors:
            first = errors[0]
            key = (line.status, first.code, hosts,
                   _plain(gist(first.fix or first.message)), str(bool(first.fix)))
        blocks.setdefault(key, SummaryBlock([])).lines.append(line)
    return list(blocks.values())


def render_answer(session: Session, findings: list[Finding], console: Console,
                  style: str, told: dict[str, str] | None = None) -> None:
    """The session's cause and fix under its summary line, each wrapping under itself
    (`told`: as answer_rows)."""
    render_rows(answer_rows(session, findings, told), console, style)


def render_rows(rows: list[tuple[str, str]], console: Console, style: str) -> None:
    """Cause and fix rows (answer_rows, finding_rows), each wrapping under itself."""
    width = 4 + max((len(label) for label, _ in rows), default=0) + 1
    for label, text in rows:
        # A hanging indent, no trailing spaces (a grid padded every line to the width).
        print_hanging(console, Text(f"    {label}".ljust(width), style=style), text,
                      indent=width)

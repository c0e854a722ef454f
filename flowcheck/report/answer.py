"""The answer under the verdict: for each failing session, its first error's cause and
fix, short, so the first screen of `flowcheck analyze` says why and what to do (trial
20 D9: on an 80x24 terminal the first explanation started on line 27 to 60).

Both are taken from the finding itself (its message and its fix), not written again. The
cause is the message's gist: its first sentence, without parentheses longer than
PAREN_KEEP characters (but for one holding words its finding marks as what the capture
cannot show, Finding.hedges: gist's `keep`), ended at the last clause break (": ", "; ",
", and ", ", or ", ", but ") that keeps it within GIST_LIMIT characters (a rule's way
back, ", and TCP from ... back to ...", stays with the rule before it, beyond the limit
if need be), never on a condition, half an either-or or a one-word clause; a sentence
with no such break is given whole. The fix is the fix's first sentence whole (lead: a
rule's qualifiers are part of the action), and the finding under Findings points to it
instead of saying it again (newuser56: the README's command printed the fix twice). The
first place a report points to a finding under Findings also names the section that
explains its code, 'flowcheck docs findings data_unanswered', once per report
(newuser59: the README's first command said "see data_unanswered under Findings" and no
more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from flowcheck.doc_files import doc_page
from flowcheck.report.hanging import print_hanging
from flowcheck.report.overview import SummaryBlock, session_errors
from flowcheck.verify.allow_rules import drawn_words

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
# The key in `told` (answer_rows) that says the findings page was named: no fix's text.
_PAGE_TOLD = "\0findings page"


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


def gist(text: str, limit: int = GIST_LIMIT, keep: tuple[str, ...] = ()) -> str:
    """The first sentence of `text`, its long parentheses left out, within `limit`
    characters (see the module's docstring). `keep`: words of `text` that say what the
    capture cannot show (Finding.hedges, set by the check that wrote them): the
    parenthesised part holding one, when it starts within the limit, stays whole beside
    the words it hedges however long (the limit grows by its length); one after the
    limit goes with the words it hedges. The headline may not be surer than its finding
    (newuser67 item 7:
    callback_unanswered's "(2 SYNs over 1.01 s; it ends with the last, so whether that
    one or a later resend got through cannot be seen)" left out, the cause line read
    "...: 10.67.1.1's own firewall drops them" alone)."""
    spans = _top_level(text)
    end = next((i for i in range(len(text)) if text.startswith(". ", i)
                and _outside(text, spans, i)), len(text))
    sentence = text[:end].rstrip(".")
    kept, last = [], 0
    for start, stop in _top_level(sentence):
        if stop - start <= PAREN_KEEP:
            continue
        at = sum(map(len, kept)) + start - last  # where it starts in the gist
        if at <= limit and any(words in sentence[start:stop] for words in keep):
            limit += stop - start  # kept beside the words it hedges, not in their place
            continue
        kept.append(sentence[last:start].rstrip())
        last = stop
    kept.append(sentence[last:])
    sentence = "".join(kept).strip()
    return _cut(sentence, limit)


def _cut(sentence: str, limit: int) -> str:
    """`sentence` (its long parentheses already left out) ended at the last clause break
    within `limit` characters, or whole (gist)."""
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
        # Never end on a condition ("If the port was in use: ...") or half an either-or
        # (", or " ends the first alternative, with "either" or without: "a firewall on
        # fd77::2, or a bridge (transparent) firewall in front of fd77::2 answering in its
        # name, rejects it" read "a firewall on fd77::2" under the verdict; review 56m),
        # nor on a clause of one word ("...; else: ...": newuser56).
        conditional = (sentence.startswith(": ", i) and words[:1] == ["if"]) or \
            len(words) < 2
        if not conditional and not sentence.startswith(", or ", i):
            breaks.append(i)
        clause = i + 2
    # A sentence with no break to end at is given whole: a summary is whole clauses
    # (newuser56: "... what a job opens at once; else (see ..." ended mid-sentence).
    return sentence[:breaks[-1]] if breaks else sentence


def lead(text: str) -> tuple[str, str]:
    """(the first sentence of `text`, whole, its parentheses kept and its full stop
    left off; the sentences after it, "" when none): the fix under the verdict is the
    first sentence of the finding's fix as written, qualifiers and all (newuser56: the
    gist left out "(the SYN-ACK's way: established connections)", and a firewall admin
    could open a return rule wider than needed), and the rest is the finding's."""
    spans = _top_level(text)
    end = next((i for i in range(len(text)) if text.startswith(". ", i)
                and _outside(text, spans, i)), len(text))
    return text[:end].rstrip("."), text[end + 2:].strip()


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


def _told_key(finding: Finding, action: str) -> str:
    """The key a fix's first sentence (`action`, as _plain gives it) is told under
    (answer_rows, finding_parts): the finding's code and that sentence without the port
    its connection drew from the range (Finding.drawn_ports; the words are
    verify.allow_rules.drawn_words's, with and without the port), so a second connection
    of the same rule reads "as under the verdict" (newuser66: two data connections from
    5004 and 5005 told the whole rule twice) whatever those words are, and a fix of
    another code never does."""
    for port in finding.drawn_ports:
        for source in (True, False):
            action = action.replace(drawn_words(port, source=source),
                                    drawn_words(None, source=source))
    return f"{finding.code}\0{action}"


def answer_rows(session: Session, findings: list[Finding],
                told: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """("cause:", ...) and ("fix:", ...) of the session's first error, the fix naming
    where the finding is, then the notes (finding_rows; profile_note); [] for a session
    with no error. `told`: the fixes and notes already given, by text, with the session
    they were given for ("as for S3" then), updated."""
    errors = session_errors(session, findings)
    if not errors:
        return []
    rows = finding_rows(errors[0], len(errors) - 1, told, session.id)
    note = profile_note(errors)
    if note and (told is None or note not in told):
        if told is not None:
            told[note] = session.id
        rows.insert(min(2, len(rows)), ("note:", note))  # before the ranges' note
    return rows


def profile_note(errors: list[Finding]) -> str:
    """When the first error is the job's own and others hold only under the default
    profile (Finding.under_default, ordered after it: pipeline.finding_order), the
    first of those as a note: its fix's gist when that names --profile ndmp (the lead
    of a capture of plain NDMP's direction), else what it needs; "" otherwise. The
    first screen keeps the hint that the profile may not be the traffic's, after what
    failed the job (new-user trial)."""
    if not errors or errors[0].under_default:
        return ""
    doubtful = [e for e in errors if e.under_default]
    if not doubtful:
        return ""
    first = doubtful[0]
    fix = _plain(gist(first.fix))
    where = _see(first.code, 0, None)
    if "--profile ndmp" in fix:
        return f"{fix} {where}"
    return (f"{first.code} holds only under the default profile: if the capture is not "
            f"Backup Exec traffic, analyze it with --profile ndmp {where}")


def _see(code: str, more: int, told: dict[str, str] | None) -> str:
    """"(see data_unanswered [and 2 more errors] under Findings)", naming the code's
    section of the findings page too ("... under Findings and in 'flowcheck docs
    findings data_unanswered'") the first time in a report (`told` not None and not yet
    told so; updated): the page whole is some 7,500 lines (newuser61)."""
    page = ""
    if told is not None and _PAGE_TOLD not in told:
        told[_PAGE_TOLD] = code
        page = f" and in {doc_page('findings.md', code)}"
    others = f" and {more} more error{'s' * (more > 1)}" if more else ""
    return f"(see {code}{others} under Findings{page})"


def finding_rows(first: Finding, more: int = 0, told: dict[str, str] | None = None,
                 name: str = "") -> list[tuple[str, str]]:
    """("cause:", ...) and ("fix:", ...) of one error finding, naming it and the `more`
    errors after it; `told` as for answer_rows, `name` what a fix given here is told as
    later ("S3"; "" tells none)."""
    where = _see(first.code, more, told)
    rows = [("cause:", _plain(gist(first.message, keep=first.hedges)))]
    if not first.fix:
        return [("cause:", f"{rows[0][1]} {where}")]
    advice, job_fix = ranges_advice(first)
    fix = _plain(lead(job_fix)[0])
    key = _told_key(first, fix)
    if told is not None and key in told:
        rows.append(("fix:", f"as for {told[key]} {where}"))
    else:
        if told is not None and name:
            told[key] = name
        rows.append(("fix:", f"{fix} {where}"))
    note = _plain(gist(advice)).removeprefix("first ")
    if advice and (told is None or note not in told):
        if told is not None:
            told[note] = name
        rows.append(("note:", note))
    return rows


def ranges_advice(finding: Finding) -> tuple[str, str]:
    """(the advice to set the ranges first, the fix after it) for a fix that starts with
    it (Finding.ranges_first: the ranges are flowcheck's defaults); ("", the fix)
    otherwise, also when a later step rewrote the fix's start. The headline gives the
    fix for this job first and the advice as a note after it (new-user trial: the first
    screen's fix was "first set --media-range and --agent-range ..." and no rule)."""
    size = finding.ranges_first
    advice = finding.fix[:size]
    if not size or not advice.startswith("First set ") or not advice.endswith(": "):
        return "", finding.fix
    return advice, finding.fix[size:]


def summary_blocks(lines: list[SessionLine],
                   findings: list[Finding]) -> list[SummaryBlock]:
    """The summary's lines (overview.summary_lines) in blocks, each told once with its
    cause and fix: failing sessions by their first error's code, media server -> agent
    and fix as answer_rows says it (its cause when it has none), inconclusive ones by
    their unknown steps and hosts; in the order of each block's first session (trial 35
    D5: 12 failing sessions of 3 agents were 10 nearly identical blocks), except that the
    failing blocks whose errors all hold only under the default profile
    (Finding.under_default) come after the other failing ones, as the findings do
    (pipeline.finding_order: an ndmjob night analysed without a configuration headlined
    19 jobs' missing Backup Exec callback and told its one failed job's own error last)."""
    blocks: dict[tuple[str, ...], SummaryBlock] = {}
    doubtful: dict[tuple[str, ...], bool] = {}  # every error under the default profile
    for line in lines:
        session = line.session
        hosts = f"{session.media_server} -> {session.remote_agent}"
        errors = session_errors(session, findings) if line.status == "failed" else []
        key: tuple[str, ...] = (line.status, line.what(), hosts)
        if errors:
            first = errors[0]
            job_fix = ranges_advice(first)[1]
            key = (line.status, first.code, hosts,
                   _plain(lead(job_fix)[0] if job_fix else
                          gist(first.message, keep=first.hedges)),
                   str(bool(first.fix)))
        doubtful.setdefault(key, bool(errors) and all(e.under_default for e in errors))
        blocks.setdefault(key, SummaryBlock([])).lines.append(line)
    order = sorted(blocks, key=lambda key: (key[0] != "failed", doubtful[key]))  # stable
    return [blocks[key] for key in order]


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


def finding_parts(finding: Finding, told: dict[str, str] | None = None
                  ) -> list[tuple[str, str]]:
    """A finding's text for Findings, the cause and the action first and the detail
    after (newuser56: one cause and fix ran 150-250 words, the rule in the middle):
    ("", its message's first sentence), ("Fix:", its fix's first sentence, or where
    under the verdict it was given: `told`, as answer_rows fills it), ("Detail:", the
    message's other sentences), ("Also:", the fix's other sentences); parts with no
    text left out. Together they hold the message and the fix whole."""
    cause, detail = lead(finding.message)
    parts = [("", f"{cause}." if detail else finding.message)]
    if finding.fix:
        advice, job_fix = ranges_advice(finding)
        action, more = lead(job_fix)
        given = (told or {}).get(_told_key(finding, _plain(action)))
        if given:  # after the advice to set the ranges first, when the fix starts so
            parts.append(("Fix:", f"{advice}as under the verdict ({given})."))
        else:
            parts.append(("Fix:", f"{advice}{action}." if more else finding.fix))
        if detail:
            parts.append(("Detail:", detail))
        if more:
            parts.append(("Also:", more))
    elif detail:
        parts.append(("Detail:", detail))
    return parts

"""The shape of a reviewed expected result, `NAME.expected.json` (flowcheck.regress).

A hand edit can leave valid JSON that is not an expected result: a misspelled key
(`verdic`), a reviewer's note (`comment`), a removed key, a value of the wrong type
(`"verdict": 1`, `"connections": "3"`). Compared as it is, each read as a change in the
analysis ("verdic: expected "fail", got null", Python's `None` in a session line;
trial 21 D9). shape_problems() says what is wrong instead, for the case's
`expected result unreadable: FILE: ...` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable

VERDICTS = ("pass", "fail", "inconclusive")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _counts(value: object) -> bool:
    return isinstance(value, dict) and all(
        _text(code) and _whole(count) and count > 0 for code, count in value.items())


def _statuses(value: object) -> bool:
    return isinstance(value, dict) and all(
        number.isdigit() and _text(status) for number, status in value.items())


# Each key of the summary (flowcheck.regress.summarize), with a test of its value and
# what the value must be, in words.
_TOP: dict[str, tuple[Callable[[object], bool], str]] = {
    "verdict": (lambda v: v in VERDICTS, '"pass", "fail" or "inconclusive"'),
    "findings": (_counts, "an object of finding codes and their counts"),
    "sessions": (lambda v: isinstance(v, list), "a list of sessions"),
    "connections": (_whole, "a whole number"),
    "ndmp_messages": (_whole, "a whole number"),
}
_SESSION: dict[str, tuple[Callable[[object], bool], str]] = {
    "kind": (_text, "a session kind"),
    "steps": (_statuses, "an object of step numbers and statuses"),
    "data_connections": (_whole, "a whole number"),
    "callback": (lambda v: isinstance(v, bool), "true or false"),
}
# In a session only when it was judged by another profile than the run's
# (flowcheck.regress.summarize): optional.
_SESSION_OPTIONAL: dict[str, tuple[Callable[[object], bool], str]] = {
    "profile": (_text, "a profile name"),
}
# Written by --update and never compared (flowcheck.regress.NOT_COMPARED): optional.
_OPTIONAL: dict[str, tuple[Callable[[object], bool], str]] = {
    "flowcheck_version": (_text, "a version string"),
}


def shape_problems(expected: dict) -> list[str]:
    """What makes `expected` (a JSON object) not an expected result: unknown keys,
    missing keys, values of the wrong type, at the top and in each session
    (`sessions[2]: missing key 'kind'`); [] for a well-formed one."""
    problems = _problems(expected, _TOP, _OPTIONAL, "")
    sessions = expected.get("sessions")
    if isinstance(sessions, list):
        for number, session in enumerate(sessions, 1):
            where = f"sessions[{number}]"
            if not isinstance(session, dict):
                problems.append(f"{where} is {_shown(session)}, not a session (an object)")
            else:
                problems += _problems(session, _SESSION, _SESSION_OPTIONAL, f"{where}: ")
    return problems


def _problems(value: dict, keys: dict[str, tuple[Callable[[object], bool], str]],
              optional: dict[str, tuple[Callable[[object], bool], str]],
              where: str) -> list[str]:
    known = keys | optional
    problems = [f"{where}unknown key {key!r}" for key in value if key not in known]
    problems += [f"{where}missing key {key!r}" for key in keys if key not in value]
    problems += [f"{where}{key!r} is {_shown(value[key])}, not {words}"
                 for key, (valid, words) in known.items()
                 if key in value and not valid(value[key])]
    return problems


def _shown(value: object) -> str:
    """A value as the file has it (JSON), cut short: `1`, `"3"`, `["control_unanswered"]`."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."

"""A single-value option given twice is a usage error (exit 2), not "the last one wins".

click keeps the last value of an option that takes one, silently: `connections --filter
'host 10.0.0.5' --filter 'port 22'` showed every connection on port 22, the host
forgotten, and `--format json ... --format table` printed a table to a script. Two filters
have no one meaning a user can count on (tcpdump and tshark take one expression; other
tools AND them, or OR values of one field), so the error says how to write the one
expression meant. Options that take several values (`--media-range`, `--media-server`,
...) are repeatable as documented; flags (`--ladder`/`--no-ladder`) take no value.
"""

from __future__ import annotations

from typing import Any

from flowcheck.errors import UsageError

# Options whose values are expressions: the error shows how to join them in one.
EXPRESSIONS = ("--filter", "--capture-filter")
# Commands left as they were: regress's command line is not changed by this (its
# `--junit`/`--format` keep click's last value).
UNCHECKED = ("regress",)


def refuse_repeats(group: Any, argv: list[str]) -> None:  # noqa: ANN401 - a click Group
    """UsageError naming the option and its values when argv gives a single-value option
    of its command more than once (before any `--`). `group`: the app's click Group;
    argv: the command line after the program's name (the command first)."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    name = next((word for word in words if not word.startswith("-")), None)
    command = getattr(group, "commands", {}).get(name) if name else None
    if command is None or name in UNCHECKED:
        return
    options: dict[str, Any] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            for spelling in (*param.opts, *param.secondary_opts):
                options[spelling] = param
    given: dict[str, list[str]] = {}
    spelled: dict[str, str] = {}
    rest = iter(words[words.index(name) + 1:])
    for word in rest:
        spelling, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if not equals and not word.startswith("--") and word[:2] in options and len(word) > 2:
            spelling, value, equals = word[:2], word[2:], "attached"  # -ilo
        param = options.get(spelling)
        if param is None:
            continue
        if param.is_flag or param.count:
            continue
        if not equals:
            value = next(rest, "")
        if not param.multiple:
            given.setdefault(param.name, []).append(value)
            spelled[param.name] = next(
                (each for each in param.opts if each.startswith("--")), spelling)
    for key, values in given.items():
        if len(values) > 1:
            option = spelled[key]
            shown = ", ".join(repr(value) for value in values)
            times = "twice" if len(values) == 2 else f"{len(values)} times"
            if option in EXPRESSIONS:
                joined = " and ".join(f"({value})" for value in values)
                raise UsageError(f"{option} given {times} ({shown}): give one "
                                 f"expression, joined with and/or as meant: {option} "
                                 f"'{joined}'")
            raise UsageError(f"{option} given {times} ({shown}): give it once")

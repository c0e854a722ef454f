"""Words that cite finding codes, with the codes as data: a step's detail is built from
such words, and Step.cites holds the codes they cite, so a report decides from the codes,
never by reading the words back (report.verdict_notes; stepcodes63).

A word builder that writes "(capture_loss)" (or "missed: capture_loss;") returns
Said(words, ["capture_loss"]): a str, so every use of its words is unchanged, that also
carries `cites`. The site that builds a Step gives make_step cites_of(its parts).
tests/test_step_cites.py checks, over every stored case, that a step's cites are the
codes its detail names, no more and no fewer.
"""

from __future__ import annotations

from collections.abc import Iterable


class Said(str):
    """Words (a str) and the finding codes they cite (`cites`: sorted, each once). A
    str method's result (`.removeprefix`, `+`, an f-string) is a plain str again: a
    site that changes the words passes cites_of(the parts) on."""

    __slots__ = ("cites",)
    cites: tuple[str, ...]

    def __new__(cls, words: str, cites: Iterable[str] = ()) -> Said:
        said = super().__new__(cls, words)
        said.cites = cited(cites)
        return said

    def __reduce__(self) -> tuple:
        # Pickled with its cites (tests/stored.py copies analyses by pickle).
        return (Said, (str(self), self.cites))


def cited(*codes: Iterable[str]) -> tuple[str, ...]:
    """The finding codes of every iterable given, sorted, each once. A str is refused
    (TypeError): its letters are no codes."""
    if any(isinstance(group, str) for group in codes):
        raise TypeError("cited() takes iterables of codes, not a str")
    return tuple(sorted({code for group in codes for code in group}))


def cites_of(*parts: object) -> tuple[str, ...]:
    """The codes the parts cite: each Said's cites, a Step's cites (its detail quoted),
    nothing of a plain str or None."""
    return cited(*(getattr(part, "cites", ()) for part in parts))

"""Findings' words ended as sentences.

A finding's message and fix are printed whole (JSON `message`, `fix`) and split into
sentences by the text report (report.answer.finding_parts: its cause, Fix:, Detail: and
Also: parts), so each must end as a sentence does: with a full stop, a question or
exclamation mark, or a closing bracket or quote after one. Some were built without one
(field check 78: capture_loss's fix, capture_duplicates' message and fix,
ndmp_vendor_message's "(2 times)" count), and the text report added the stop only where
an "Also:" part followed. `ended` adds it once, where every reading's findings leave
the pipeline (pipeline.analyze), so no check has to remember it, and where the decode
findings join the traffic (pipeline.traffic_from): `connections` and `ndmp` print those
without an analysis (review64k: ndmp_vendor_message's without its full stop there).
"""

from __future__ import annotations

import re
from dataclasses import replace

from flowcheck.model import Finding

# A sentence's end: . ! or ? and any closing brackets or quotes after it.
_END = re.compile(r"[.!?][\"'\u2019\u201d)\]]*$")


def sentence(text: str) -> str:
    """`text` ending as a sentence: as it is when it does ("" too), else with its
    trailing spaces dropped and a full stop added ("... (2 times)" -> "... (2 times).")."""
    kept = text.rstrip()
    return text if not kept or _END.search(kept) else kept + "."


def ended(findings: list[Finding]) -> list[Finding]:
    """`findings` with each message and fix ending as a sentence (sentence); a finding
    already so is kept as the same object."""
    out = []
    for finding in findings:
        message, fix = sentence(finding.message), sentence(finding.fix)
        out.append(finding if (message, fix) == (finding.message, finding.fix)
                   else replace(finding, message=message, fix=fix))
    return out

"""capture_duplicates' words for a capture of IPv6 alone: its packets have no IP ID
(RFC 8200 has none outside the fragment header) and a hop limit, not a TTL (RFC 8200 3),
so the copies' words, written for IPv4 and a mixture, name what the packets carry
(the other findings say "hop limit" of IPv6 hosts too: flowcheck.verify.ttl.ttl_word,
trial 28 D5). Lab matrix seed 122 runs 4, 6, 22 and 26 (IPv6 only, two capture points
merged) read "(same IP ID, TCP header and payload ...)" and "at a TTL one lower"."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from flowcheck.model import Connection

# The copies' identity as the IPv4 words say it, and as it reads without an IP ID (an
# IPv6 copy is told by its TCP header from the sequence number on, timestamps included).
_NO_ID = (("same IP ID, TCP header and payload", "same TCP header and payload"),
          ("a SYN-ACK, RST or bare ACK with IP ID 0 or over IPv6",
           "a SYN-ACK, RST or bare ACK (IPv6 has no IP ID)"))
_TTL = re.compile(r"\bTTL(s?)\b")


def ipv6_only(connections: Iterable[Connection]) -> bool:
    """Whether every connection of the capture runs over IPv6 (at least one)."""
    seen = False
    for conn in connections:
        if ":" not in conn.orig_h:
            return False
        seen = True
    return seen


def ipv6_words(text: str, paths: Iterable[str] = ()) -> str:
    """text (a capture_duplicates message or fix) with its IPv4 words said of IPv6: no
    "IP ID" in the copies' identity, "hop limit" for each "TTL". paths: the capture files'
    names, which the text may hold (bare, shell-quoted): kept as they are, so a file under
    "TTL-lab/" is named so in the words and in the commands they give (editcap -t ...)."""
    for old, new in _NO_ID:
        text = text.replace(old, new)
    # Only the names a "TTL" would change are kept apart (a short name, "a", may be a
    # piece of any word).
    names = sorted({name for path in paths for name in (path, shlex.quote(path))
                    if _TTL.search(name)}, key=len, reverse=True)
    if not names:
        return _hop_limit(text)
    parts = re.split("(" + "|".join(map(re.escape, names)) + ")", text)
    # re.split with one group: the words between the names at even places, names at odd.
    return "".join(part if i % 2 else _hop_limit(part) for i, part in enumerate(parts))


def _hop_limit(text: str) -> str:
    """text with "hop limit" for each "TTL" ("TTLs": "hop limits")."""
    return _TTL.sub(lambda m: "hop limit" + ("s" if m.group(1) else ""), text)

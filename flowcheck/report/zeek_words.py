"""Plain words for Zeek's connection state and history codes, as a legend under the
connections tables (text and HTML) that names only the codes the table shows."""

from __future__ import annotations

from collections.abc import Iterable

# Zeek's conn_state values (base/protocols/conn/main.zeek), in the backup admin's terms.
STATE_WORDS: dict[str, str] = {
    "S0": "SYN sent, no answer",
    "REJ": "refused",
    "S1": "opened, still open at the capture's end",
    "SF": "opened and closed normally",
    "S2": "opened, the originator closed, the responder did not",
    "S3": "opened, the responder closed, the originator did not",
    "RSTO": "reset by the originator",
    "RSTR": "reset by the responder",
    "RSTOS0": "SYN then a reset from the originator, no answer",
    "RSTRH": "SYN-ACK then a reset from the responder, no SYN seen",
    "SH": "SYN then FIN from the originator, no answer",
    "SHR": "SYN-ACK then FIN from the responder, no SYN seen",
    "OTH": "no SYN seen (open before the capture)",
}

# History letters, in the order the legend lists them (upper case: the originator's).
HISTORY_WORDS: dict[str, str] = {
    "^": "originator guessed (no SYN seen)",
    "S": "SYN", "H": "SYN-ACK", "A": "ACK", "D": "data", "F": "FIN", "R": "RST",
    "T": "resent", "G": "gap in the capture", "W": "zero window",
    "I": "inconsistent flags", "Q": "SYN with FIN or RST",
}


def state_legend(states: Iterable[str]) -> str:
    """`state: SF opened and closed normally; S0 SYN sent, no answer` for the states
    given, each once in the order first seen; "" for none."""
    shown = list(dict.fromkeys(state for state in states if state))
    if not shown:
        return ""
    unknown = "(Zeek's conn_state)"
    return "state: " + "; ".join(f"{state} {STATE_WORDS.get(state, unknown)}"
                                 for state in shown)


def history_legend(histories: Iterable[str]) -> str:
    """`history: upper case from the originator, lower case from the responder: S SYN,
    H SYN-ACK, ...` for the letters the histories hold; "" for none."""
    seen = {letter.upper() for history in histories for letter in history}
    letters = [letter for letter in HISTORY_WORDS if letter in seen]
    if not letters:
        return ""
    return ("history: upper case from the originator, lower case from the responder: "
            + ", ".join(f"{letter} {HISTORY_WORDS[letter]}" for letter in letters))

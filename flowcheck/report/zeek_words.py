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

# Zeek names these states for a handshake half seen (main.zeek's comments), but gives
# them whenever one side did that and the other sent no SYN: said so when a connection
# shown in the state lacks the packets its plain words name (newuser55: a lone RST+ACK
# with data read "SYN-ACK then a reset from the responder"). state -> (the history
# letters the plain words need, words true of every connection in the state).
_WITHOUT_HANDSHAKE: dict[str, tuple[str, str]] = {
    "RSTRH": ("h", "reset by the responder, no SYN from the originator seen"),
    "SHR": ("h", "FIN from the responder, no SYN from the originator seen"),
    "SH": ("S", "FIN from the originator, no SYN-ACK from the responder seen"),
}

# History letters, in the order the legend lists them (upper case: the originator's).
HISTORY_WORDS: dict[str, str] = {
    "^": "originator guessed (no SYN seen)",
    "S": "SYN", "H": "SYN-ACK", "A": "ACK", "D": "data", "F": "FIN", "R": "RST",
    "T": "resent", "G": "gap in the capture", "W": "zero window",
    "I": "inconsistent flags", "Q": "SYN with FIN or RST",
}


def state_legend(states: Iterable[str], histories: Iterable[str] | None = None) -> str:
    """`state: SF opened and closed normally; S0 SYN sent, no answer` for the states
    given, each once in the order first seen; "" for none. histories: each connection's
    (the same order): RSTRH, SHR and SH get words true of every connection shown in
    them when one lacks the handshake packet their usual words name (_WITHOUT_HANDSHAKE;
    an SH's responder sent nothing for "no answer")."""
    states = list(states)
    known = list(histories) if histories is not None else [None] * len(states)
    shown = list(dict.fromkeys(state for state in states if state))
    if not shown:
        return ""
    unknown = "(Zeek's conn_state)"
    plain = dict(STATE_WORDS)
    for state, (letter, words) in _WITHOUT_HANDSHAKE.items():
        of = [history for each, history in zip(states, known, strict=True) if each == state]
        if any(history is not None and (letter not in history or (
                state == "SH" and history.upper() != history)) for history in of):
            plain[state] = words
    return "state: " + "; ".join(f"{state} {plain.get(state, unknown)}" for state in shown)


def history_legend(histories: Iterable[str]) -> str:
    """`history: upper case from the originator, lower case from the responder: S SYN,
    H SYN-ACK, ...` for the letters the histories hold; "" for none."""
    seen = {letter.upper() for history in histories for letter in history}
    letters = [letter for letter in HISTORY_WORDS if letter in seen]
    if not letters:
        return ""
    return ("history: upper case from the originator, lower case from the responder: "
            + ", ".join(f"{letter} {HISTORY_WORDS[letter]}" for letter in letters))

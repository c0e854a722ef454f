"""stream_hidden's words for the bytes the capture lacks of a control connection.

They said "the sniffer missed N B of the control connection (capture loss)" of all of
Connection.missed_bytes, which also holds bytes the receiver never got (its ACKs stayed
below them: SideEvidence.lost, the network's) and bytes the capture cannot place
(SideEvidence.untold: the connection ended too soon after them). Only
Connection.sniffer_missed is the sniffer's; the rest is said hedged (tidy61).

The stored case: field check 48's CONFIG_GET_HOST_INFO reply deleted as the sniffer's
loss (captures/field48-matrix, seed 110 run 32): the media server's ACKs cover its 92 B.
No stored case holds a control connection's gap of the other kinds, so the same
connection's evidence is then read as the tracker would give it for one (as
test_verify_census sets a SideEvidence).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, SideEvidence
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.context import Context
from flowcheck.verify.stream_evidence import stream_hidden

CASE = Path(__file__).resolve().parents[1] / "captures" / "field48-matrix" / \
    "lost-host-info-reply-callback-dropped"


def _words(gap: str | None = None, share: int = 0) -> str | None:
    """stream_hidden of the case's session; gap ("lost" or "untold"): `share` B of the
    92 the capture lacks moved to that kind of the sending side's evidence."""
    config = build_config(load_file(CASE.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(CASE.with_suffix(".pcap.gz"))], config), config)
    assert analysis.profile is not None
    [session] = analysis.sessions
    control: Connection = next(c for c in analysis.traffic.connections
                               if c.uid == session.control_uid)
    assert (control.missed_bytes, control.sniffer_missed) == (92, 92)
    if gap is not None:
        # The side whose stream holds the gap: the agent's (the reply's sender).
        side = "resp" if control.resp_h == session.remote_agent else "orig"
        control.set_evidence(side, replace(control.evidence(side) or SideEvidence(),
                                           **{gap: share}))
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, config, analysis.profile)
    stream = ctx.stream_by_uid.get(session.control_uid)
    return stream_hidden(ctx, session, stream)


def test_the_sniffers_bytes_are_the_sniffers() -> None:
    assert _words() == "the sniffer missed 92 B of the control connection (capture loss)"


def test_bytes_the_receiver_never_got_are_not_the_sniffers() -> None:
    assert _words("lost", 92) == ("the capture lacks 92 B of the control connection (the "
                                  "network or the sniffer lost them)")


def test_the_sniffers_share_and_the_rest_are_said_apart() -> None:
    assert _words("untold", 40) == (
        "the sniffer missed 52 B of the control connection (capture loss), and the "
        "capture lacks 40 B more of it (the network or the sniffer lost them)")

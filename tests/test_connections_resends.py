"""Connection.orig_resends / resp_resends (a side's trailing retransmissions, after its
last new byte), _resends_acked (the same when the latest resend began below the peer's
highest captured ACK), _resent_ts and _resent_frame (the latest resend), on the
reference (one packet at a time), bulk and short-connection paths of the tracker, which
must agree; on the new-user trial's ndmjob captures (captures/ndmjob-firewall) whose data
connection stopped delivering mid-job (the frames and counts as tshark shows them:
"tcp.analysis.retransmission", spurious where the ACKs were captured).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)

TRIAL = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-firewall"

# name: (the sender's side, resends, of them of bytes the capture shows ACKed, last frame)
STALLS = {
    "v4-midjob-data-drop-at-media": ("orig", 5, 0, 958),
    "v4-restore-midjob-drop-at-agent": ("resp", 6, 0, 868),
    "v4-midjob-established-drop-at-agent": ("orig", 5, 5, 1005),
}


@pytest.mark.parametrize("name", list(STALLS))
def test_resends_agree_on_every_path(name: str, short_everywhere: None  # noqa: F811
                                     ) -> None:
    path = TRIAL / f"{name}.pcap"
    reference, _ = run(path, 1_000_000, fast=False)
    side, resends, acked, frame = STALLS[name]
    control, data = reference
    other = "resp" if side == "orig" else "orig"
    assert getattr(data, f"{side}_resends") == resends
    assert getattr(data, f"{side}_resends_acked") == acked
    assert getattr(data, f"{side}_resent_frame") == frame
    assert getattr(data, f"{side}_resent_ts") is not None
    assert (getattr(data, f"{other}_resends"), getattr(data, f"{other}_resent_ts")) == (0, None)
    for chunk in (50, 700, 1_000_000):
        assert run(path, chunk, fast=True)[0] == reference


def test_established_drop_shows_the_control_reply_resent_after_its_ack() -> None:
    """The agent's DATA_GET_STATE reply, ACKed in the capture, resent 7 times."""
    control, _ = run(TRIAL / "v4-midjob-established-drop-at-agent.pcap", 1_000_000,
                     fast=False)[0]
    assert (control.resp_resends, control.resp_resends_acked) == (7, 7)
    assert (control.orig_resends, control.resp_unacked) == (0, 0)

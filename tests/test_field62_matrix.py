"""Field check 62's lab matrix (captures/field62-matrix, README.md there), seed 125.

Run 6: two TLS restores over IPv6, `tcpdump -Q out` on the agents' host, job 2's agent
SIGKILLed mid-transfer: the file holds the agents' packets alone. `data_reset` said the
data connection was reset "after carrying 0 B agent -> media server and 0 B media server
-> agent" while the agent's ACKs in the file acknowledge 1245184 B the media server sent
it (flowcheck.verify.carried: a direction the capture lacks said by its receiver's ACKs).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field62-matrix"
KILLED = HERE / "two-tls-start-ipv6-restore-agent-killed-on-agent-out-pcapng.pcapng.gz"


def test_a_reset_of_a_direction_not_captured_says_what_its_receiver_acknowledged() -> None:
    """The media server's data in the agent's ACKs, not "0 B media server -> agent"."""
    analysis = shared_analysis(KILLED)
    assert analysis.verdict == "fail"
    [reset] = [f for f in analysis.findings if f.code == "data_reset"]
    assert reset.frames == [4681, 4683]
    assert ("was reset by the agent fd77::3 (RST, frame 4681) after carrying 0 B agent -> "
            "media server and 1245184 B media server -> agent, acknowledged by the agent "
            "(the capture holds no packet of that direction), before any FIN"
            in reset.message)
    assert "0 B media server -> agent" not in reset.message

"""What the control connection says of a connect (flowcheck.verify.connect_said), in a
module of its own so that the verify Context can keep each one it found (connects_said)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from flowcheck.model import NdmpMessage

Outcome = Literal["made", "failed", "pending"]
# What a ConnectSaid is found for: (session id, the announcements of the group as
# (control uid, frame, ip, port), the (frame, ts) of a cut announcement or None).
SaidKey = tuple[str, tuple[tuple[str, int, str, int], ...], tuple[int, float] | None]


class ConnectSaid(NamedTuple):
    """outcome: "made", "failed" or "pending" (no answer in the time the capture gave);
    message: the reply, halt or accepted start that says so, or the pending request;
    subject and said: what says it and what it says, for a finding ("DATA_CONNECT (frame
    11)", "was answered NDMP_CONNECT_ERR (frame 13) by the agent: its connect to the
    endpoint failed"); request: the frame of the CONNECT request it answers (0 for a
    halt, start or state reply); waited: for a pending request, the seconds of capture
    after it (0 otherwise)."""

    outcome: Outcome
    message: NdmpMessage
    subject: str
    said: str
    request: int = 0
    waited: float = 0.0

    @property
    def words(self) -> str:
        """"DATA_CONNECT (frame 11) was answered NDMP_CONNECT_ERR (frame 13) by ..."."""
        return f"{self.subject} {self.said}"

    def of(self, frame: int) -> str:
        """words, the request named "it" when it is the message in `frame` (the
        announcement a finding has just named)."""
        return f"it {self.said}" if self.request == frame else self.words

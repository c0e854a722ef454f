"""Whether the end of a control connection (its close or reset) can be ordered against
the job's start and halts when the capture stamps the two hosts on two clocks apart
(flowcheck.verify.two_clocks): control_closed and control_reset read "while the job was
running" from that order alone.

Two hosts' own captures merged (each host's `tcpdump -Q out`) stamp the agent's end of
the control connection on its clock and the media server's DATA_START_* on the other:
lab-trial19-refuse/w3-both-rst-close (three resources within 0.15 s, the agent resetting
the control connection after its last halt) merged with the agent's clock 0.5 s behind
had that RST stamped before the third resource's DATA_START_BACKUP, and read FAIL
control_reset "while the job's resource 3 was running" beside the job's true
data_halted_abnormally.
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session
from flowcheck.sessions.classify import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.replies import HALTS
from flowcheck.verify.two_clocks import clock_doubt, report_clocks_apart

__all__ = ["end_order_doubt"]


def end_order_doubt(ctx: Context, session: Session, stream: NdmpStream,
                    control: Connection, start: NdmpMessage | None,
                    end: tuple[str, int, float, str], reading: str, code: str) -> bool:
    """Whether the events the reading orders, the control connection's end `end`
    ((direction, frame, ts, words): its first FIN or the packet that shows it, or its
    first RST), the job's start (`start`) and the halts (NOTIFY_*_HALTED), include two
    of the two hosts' stamped within the proven lag of each other (two_clocks.clock_doubt):
    a halt stamped on the agent's clock before the start on the media server's may have
    come after it, an end before a halt or the start after them. Then capture_clocks_apart
    is reported instead (`reading`: what cannot be told; `code`: the finding not read),
    and True. The other host's later requests (a DATA_GET_STATE the closed socket
    answered with a RST) change nothing of the reading."""
    events = [end]
    events += [(m.direction, m.frame, m.ts, f"{message_op(m)} (frame {m.frame})")
               for m in stream.messages if m is start
               or (m.type != "reply" and message_op(m) in HALTS)]
    for direction, frame, ts, words in events:
        host, peer = ((control.orig_h, control.resp_h) if direction == "orig"
                      else (control.resp_h, control.orig_h))
        doubt = clock_doubt(ctx, host, peer, frame, ts,
                            ((f, t) for d, f, t, _ in events if d != direction))
        if doubt is not None:
            report_clocks_apart(ctx, session, control, doubt, words, reading, code)
            return True
    return False

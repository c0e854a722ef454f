"""The partner of a three-way job's CONNECT request when the nearer LISTEN reply is on a
control connection written out of time order (FileOrder.moved; review of today's change).

One DMA reuses the mover endpoint 10.0.0.9:5001 for two jobs: job 1's MOVER_LISTEN reply
R0 (frame 100, t=10.0) on control connection A, job 2's R1 (frame 900, t=50.0) on B,
whose own packets were written out of time order once (a NIC-queue swap: B moved), and
job 2's DATA_CONNECT Q (frame 905, t=50.01) on C. Q hands on R1, the latest reply before
it by time (a moved event is ordered by time) and by frame; it took R0, job 1's, because
only the replies on unmoved connections were compared by the file's order.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from flowcheck.config import build_config
from flowcheck.model import Announcement
from flowcheck.profiles import load_profile
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.verify.context import Context
from flowcheck.verify.shared import partner


def _context(order: FileOrder) -> tuple[Context, NS, Announcement]:
    """(the context, job 2's DMA-to-data-agent session, its DATA_CONNECT)."""
    replies = [Announcement("A", "10.0.0.9", 5001, 100, 10.0, "NDMP_MOVER_LISTEN", "mover"),
               Announcement("B", "10.0.0.9", 5001, 900, 50.0, "NDMP_MOVER_LISTEN", "mover")]
    request = Announcement("C", "10.0.0.9", 5001, 905, 50.01, "NDMP_DATA_CONNECT", "mover")
    controls = [NS(uid=uid, orig_h="10.0.0.1", resp_h=agent, ts=ts)
                for uid, agent, ts in (("A", "10.0.0.9", 9.0), ("B", "10.0.0.9", 49.0),
                                       ("C", "10.0.0.8", 49.5))]
    sessions = [NS(id="S1", control_uid="A", announced=[replies[0]]),
                NS(id="S2", control_uid="B", announced=[replies[1]]),
                NS(id="S3", control_uid="C", announced=[request])]
    ctx = Context(controls, [], sessions, build_config({}),  # type: ignore[arg-type]
                  load_profile("ndmp"), order=order)
    return ctx, sessions[2], request


@pytest.mark.parametrize("order", [FileOrder(frames=True),
                                   FileOrder(frames=True, moved=((900, 900),)),
                                   TIME_ORDER],
                         ids=["frames", "reply-moved", "time"])
def test_the_request_hands_on_the_latest_reply_before_it(order: FileOrder) -> None:
    ctx, session, request = _context(order)
    found = partner(ctx, session, request)  # type: ignore[arg-type]
    assert found is not None
    assert found[0].id == "S2" and found[1].frame == 900

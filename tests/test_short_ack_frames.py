"""A continuing record's ack_frame (flowcheck.connections.short_rare.add_ack_frames) as
the per-packet path keeps it: set only on an established record without one, whose
originator's ACK frame (the pass's acked_frame, responder's row) is known and one of
whose several SYN-ACKs came after it. The records are picked column-wise and by their
lists' max (speedH), so each condition is checked to still hold on its own."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from flowcheck.connections.short_rare import add_ack_frames
from flowcheck.model import Connection


def _record(synack_frames: list[int], established: bool = True, ack_frame: int = 0
            ) -> Connection:
    record = Connection(uid="C1", orig_h="10.0.0.1", orig_p=1000, resp_h="10.0.0.2",
                        resp_p=10000, ts=0.0)
    record.synack_frames, record.established = synack_frames, established
    record.ack_frame = ack_frame
    return record


def test_continuing_records_get_ack_frame_only_where_every_condition_holds() -> None:
    cases = [  # (record, the pass's ACK frame, ack_frame expected after)
        (_record([2, 9]), 4, 4),  # a SYN-ACK (9) after the ACK (4): set
        (_record([9, 2]), 4, 4),  # in any place of the list
        (_record([2, 3]), 4, 0),  # every SYN-ACK before the ACK
        (_record([2, 4]), 4, 0),  # one at the ACK's frame is not after it
        (_record([9]), 4, 0),  # a single SYN-ACK: none came again
        (_record([2, 9], established=False), 4, 0),
        (_record([2, 9], ack_frame=3), 4, 3),  # one set before stays
        (_record([2, 9]), 0, 0),  # no ACK frame known
        (_record([2, 5, 7, 9]), 8, 8),
    ]
    records = [record for record, _, _ in cases]
    acked = np.array([[0] * len(cases), [frame for _, frame, _ in cases]], np.int64)
    short = SimpleNamespace(acked_frame=acked)
    flows = np.arange(len(cases))
    add_ack_frames(short, flows, records, np.ones(len(cases), np.int64), None, fresh=False)
    assert [r.ack_frame for r in records] == [want for _, _, want in cases]


def test_no_synack_in_the_batch_changes_nothing() -> None:
    records = [_record([2, 9])]
    short = SimpleNamespace(acked_frame=np.array([[0], [4]], np.int64))
    add_ack_frames(short, np.arange(1), records, np.zeros(1, np.int64), None, fresh=False)
    assert records[0].ack_frame == 0

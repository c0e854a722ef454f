"""FileOrder.before: which of two events came first, by the file's order alone where it
has one (one sniffer's write order: frames), else by time within a slack
(flowcheck.sessions.file_order; read by sessions.threeway and verify.shared)."""

from __future__ import annotations

from flowcheck.sessions.file_order import TIME_ORDER, FileOrder

WRITTEN = FileOrder(frames=True)


def test_where_the_file_has_an_order_the_frames_alone_decide() -> None:
    # Frame 5 stamped 1 s after frame 9 (the clock set back between them): still before.
    assert WRITTEN.before(5, 101.0, 9, 100.0, slack=0.005)
    assert not WRITTEN.before(9, 100.0, 5, 101.0, slack=0.005)
    assert not WRITTEN.before(5, 100.0, 5, 100.0)


def test_by_time_an_event_stamped_within_the_slack_after_is_before() -> None:
    assert TIME_ORDER.before(9, 100.004, 5, 100.0, slack=0.005)
    assert not TIME_ORDER.before(9, 100.006, 5, 100.0, slack=0.005)
    assert TIME_ORDER.before(9, 99.0, 5, 100.0)
    assert not TIME_ORDER.before(5, 100.001, 9, 100.0)

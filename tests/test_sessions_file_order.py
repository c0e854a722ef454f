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


def _moved_traffic() -> object:
    """One file of one interface whose connection C1 (frames 10-50, a RST at 40, a stall
    at 30) was written out of time order (Traffic.time_ordered); C2 (frames 60-70) was
    not."""
    from types import SimpleNamespace as NS
    moved = NS(uid="C1", first_frame=10, last_frame=50, rst_frames=[40],
               written_first=(10, 1.0), written_last=(50, 5.0))
    kept = NS(uid="C2", first_frame=60, last_frame=70, rst_frames=[],
              written_first=None, written_last=None)
    return NS(one_stream=True, time_ordered={"C1"}, connections=[moved, kept], clock_epochs=None,
              streams=[NS(uid="C1", messages=[NS(frame=20)])])


def test_every_frame_of_a_moved_connection_is_ordered_by_time() -> None:
    """Its RST (rst_words.reset_frame), stall and FIN frames too, not only its first and
    last packet and NDMP messages (review of today's change: they passed by_frame as the
    file's order)."""
    from flowcheck.pipeline import file_order
    order = file_order(_moved_traffic())  # type: ignore[arg-type]
    for frame in (10, 20, 30, 40, 50):
        assert not order.by_frame(frame, 65)
    assert order.by_frame(60, 65) and order.by_frame(5, 70)


def test_a_moved_reply_between_is_ordered_by_time() -> None:
    """sessions.threeway._between with a reply written out of time order: by time (its
    frame is no event order), not by FileOrder.key's frame."""
    from flowcheck.model import Announcement
    from flowcheck.sessions.threeway import _between
    order = FileOrder(frames=True, moved=((40, 55),))
    reply = Announcement("A", "10.0.0.9", 5001, 60, 10.0, "NDMP_MOVER_LISTEN", "mover")
    other = Announcement("B", "10.0.0.9", 5001, 50, 20.0, "NDMP_MOVER_LISTEN", "mover")
    request = Announcement("C", "10.0.0.9", 5001, 70, 30.0, "NDMP_DATA_CONNECT", "mover")
    assert _between(other, reply, request, order)
    later = Announcement("B", "10.0.0.9", 5001, 50, 5.0, "NDMP_MOVER_LISTEN", "mover")
    assert not _between(later, reply, request, order)

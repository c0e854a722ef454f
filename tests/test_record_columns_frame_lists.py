"""record_columns.frame_lists (the short-connection pass's evidence lists) against a
plain per-flow reference: flows with no, one, two and more frames, the EVIDENCE_CAP cut,
NO_FRAMES shared, every other list a new one."""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import EVIDENCE_CAP
from flowcheck.connections.record_columns import frame_lists
from flowcheck.model.frames import NO_FRAMES


def _reference(frames: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    out: list[list[int]] = []
    for flow in range(mask.shape[1]):
        found = [int(frames[step, flow]) for step in range(mask.shape[0])
                 if mask[step, flow]][:EVIDENCE_CAP]
        out.append(found if found else NO_FRAMES)
    return out


def test_frame_lists_match_reference() -> None:
    rng = np.random.default_rng(7)
    for _ in range(400):
        steps = int(rng.integers(1, EVIDENCE_CAP + 6))
        flows = int(rng.integers(0, 25))
        frames = rng.integers(1, 10_000, (steps, flows))
        mask = rng.random((steps, flows)) < rng.choice([0.0, 0.1, 0.3, 0.7, 1.0])
        got = frame_lists(frames, mask)
        assert got == _reference(frames, mask)
        own = [found for found in got if found is not NO_FRAMES]
        assert all(found for found in own)  # an empty one is NO_FRAMES itself
        assert len({id(found) for found in own}) == len(own)  # each flow its own list


def test_frame_lists_one_frame_each() -> None:
    frames = np.array([[5, 6, 7], [8, 9, 10]])
    mask = np.array([[True, False, False], [False, True, False]])
    assert frame_lists(frames, mask) == [[5], [9], NO_FRAMES]
    assert frame_lists(frames, mask)[2] is NO_FRAMES

"""NDMP control streams: reassembly, record decoding, messages, announcements.

The capture engine feeds `NdmpCollector` (a model.SegmentSink) with the packets of each
tapped connection; `looks_like_ndmp` decides, on a connection's first payload, whether a
connection off the NDMP port is tapped. `collector.streams()` returns the decoded
`NdmpStream`s.

The names below are imported on first use, so that importing a submodule alone (the
lab's encoder takes its wire constants from `flowcheck.ndmp.protocol`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowcheck.ndmp.collector import NdmpCollector
    from flowcheck.ndmp.first_payload import looks_like_ndmp
    from flowcheck.ndmp.stream import NdmpStreamDecoder
    from flowcheck.ndmp.stream_events import NEED_DATA, DecodeProblem, RawMessage

_HOME = {"NdmpCollector": "collector", "looks_like_ndmp": "first_payload",
         "NEED_DATA": "stream_events", "DecodeProblem": "stream_events",
         "NdmpStreamDecoder": "stream",
         "RawMessage": "stream_events"}

__all__ = ["NEED_DATA", "DecodeProblem", "NdmpCollector", "NdmpStreamDecoder", "RawMessage",
           "looks_like_ndmp"]


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

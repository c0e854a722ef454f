"""NDMP control streams: reassembly, record decoding, messages, announcements.

The capture engine feeds `NdmpCollector` (a model.SegmentSink) with the packets of each
tapped connection; `looks_like_ndmp` decides, on a connection's first payload, whether a
connection off the NDMP port is tapped. `collector.streams()` returns the decoded
`NdmpStream`s.
"""

from flowcheck.ndmp.collector import NdmpCollector, looks_like_ndmp
from flowcheck.ndmp.stream import NEED_DATA, DecodeProblem, NdmpStreamDecoder, RawMessage

__all__ = ["NEED_DATA", "DecodeProblem", "NdmpCollector", "NdmpStreamDecoder", "RawMessage",
           "looks_like_ndmp"]

"""The per-packet path reads a packet's fields through memoryviews of the batch's columns
(per_packet.PerPacketPath._packet_columns): each item must be the Python value, of the
Python type, that ndarray.item gives, whatever the column's dtype or byte order (a
memoryview indexes native byte order only)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from flowcheck.connections.tracker import ConnectionTracker

FIELDS = ("tcp_flags", "tcp_seq", "tcp_ack", "tcp_window", "tcp_payload_len", "tcp_frame",
          "tcp_ts", "tcp_ttl")


def test_items_are_what_item_gives() -> None:
    dtypes = {"tcp_flags": np.int64, "tcp_seq": ">u4", "tcp_ack": np.int64,
              "tcp_window": "<u2", "tcp_payload_len": np.int64, "tcp_frame": np.int64,
              "tcp_ts": ">f8", "tcp_ttl": np.uint8}
    values = [0, 1, 255, 65535, 4294967295]
    columns = {name: np.array([v % (256 if dtype == np.uint8 else 1 << 31) + 0.5 * (
        name == "tcp_ts") for v in values]).astype(dtype) for name, dtype in dtypes.items()}
    tracker = ConnectionTracker()
    tracker._decoded = SimpleNamespace(**columns)  # type: ignore[assignment]
    tracker._copy = np.array([True, False, True, False, False])
    read = tracker._packet_columns()
    for k in range(len(values)):
        got = [column[k] for column in read]
        want = [columns[name].item(k) for name in FIELDS[:7]] + [tracker._copy.item(k),
                                                                  columns["tcp_ttl"].item(k)]
        assert got == want
        assert [type(v) for v in got] == [type(v) for v in want]

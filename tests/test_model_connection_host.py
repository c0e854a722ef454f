"""Connection.host(side): the address of a direction's end, which every reading that
names a packet's sender or its peer takes (a message's `direction`, a stall's `side`),
instead of choosing between orig_h and resp_h by hand in each (model.traffic)."""

from __future__ import annotations

from flowcheck.model import Connection, other_direction


def test_host_is_the_address_of_each_direction_and_its_other_end() -> None:
    conn = Connection("C1", "10.0.0.1", 40000, "fd00::2", 10000, ts=1.0, last_ts=2.0)
    assert (conn.host("orig"), conn.host("resp")) == ("10.0.0.1", "fd00::2")
    assert [conn.host(other_direction(side)) for side in ("orig", "resp")] == [
        "fd00::2", "10.0.0.1"]

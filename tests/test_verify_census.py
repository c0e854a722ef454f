"""verify.census: one pass gives what the capture-wide checks' own passes gave (the
capture's first and last packet, its directions, its payload seen and missed, the
connections a later pass reads one by one), on connections of every shape those passes
tell apart."""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.model.evidence import SideEvidence
from flowcheck.verify.census import take_census
from flowcheck.verify.evidence import missing_directions


def _conn(uid: str, orig_h: str, resp_h: str, ts: float, last_ts: float, *,
          orig_pkts: int = 1, resp_pkts: int = 1, history: str = "ShADadFf",
          syn: bool = True, synack: bool = True, **fields: object) -> Connection:
    return Connection(uid, orig_h, 40000, resp_h, 10000, ts, last_ts=last_ts,
                      history=history, orig_pkts=orig_pkts, resp_pkts=resp_pkts,
                      syn_frames=[1] if syn else [], synack_frames=[2] if synack else [],
                      **fields)  # type: ignore[arg-type]


def _connections() -> list[Connection]:
    lossy = _conn("C2", "10.0.0.1", "10.0.0.2", 1.0, 9.0, orig_bytes=5000, resp_bytes=40,
                  missed_bytes=1500)
    lossy.set_evidence("orig", SideEvidence(lost=500, untold=100))
    return [
        _conn("C1", "10.0.0.1", "10.0.0.2", 2.0, 3.0, orig_bytes=10, resp_bytes=20),
        lossy,
        # A RST's record may end before it starts (ts after last_ts): its ts counts.
        _conn("C3", "10.0.0.3", "10.0.0.2", 12.0, 0.0, resp_pkts=0, history="SA",
              synack=False),
        _conn("C4", "10.0.0.4", "10.0.0.2", 1.0, 4.0, orig_pkts=0, history="ha",
              syn=False),
        _conn("C5", "10.0.0.5", "10.0.0.2", 5.0, 6.0, orig_pkts=0, resp_pkts=0, history="",
              syn=False, synack=False),
        # One side silent between hosts whose both directions other connections hold.
        _conn("C6", "10.0.0.1", "10.0.0.2", 7.0, 8.0, resp_pkts=0, history="SA",
              synack=False),
    ]


def test_one_pass_gives_what_the_separate_passes_gave() -> None:
    conns = _connections()
    census = take_census(conns)
    assert census.first_ts == min(c.ts for c in conns) == 1.0
    assert census.end_ts == max(max(c.last_ts for c in conns), max(c.ts for c in conns)) == 12.0
    assert census.captured == ({(c.orig_h, c.resp_h) for c in conns if c.orig_pkts}
                               | {(c.resp_h, c.orig_h) for c in conns if c.resp_pkts})
    assert [c.uid for c in census.one_sided] == ["C3", "C4", "C5", "C6"]
    assert [c.uid for c in census.unopened] == ["C3", "C4", "C5", "C6"]
    assert census.missed == sum(c.sniffer_missed for c in conns) == 900
    assert census.loss_share() == (900, 5070, 900 / 5970)


def test_the_silent_sides_alone_give_the_missing_directions() -> None:
    """missing_directions over Census.one_sided, given Census.captured, is what it is over
    every connection."""
    conns = _connections()
    census = take_census(conns)
    assert missing_directions(census.one_sided, census.captured) == missing_directions(conns)
    assert list(missing_directions(conns)) == [("10.0.0.2", "10.0.0.3"),
                                               ("10.0.0.4", "10.0.0.2")]


def test_no_connection() -> None:
    census = take_census([])
    assert (census.first_ts, census.end_ts, census.captured, census.missed) == (0.0, 0.0,
                                                                                 set(), 0)
    assert census.loss_share() == (0, 0, 0.0)

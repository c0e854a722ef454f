"""A span said beside a limit it stays below never reads as that limit
(flowcheck.durations.span_below, review58c): three significant digits (task words58) made
a port used again 2.4398 s after its connection ended, within a 2.44 s hold, read "2.44
s after its previous connection ended, within the 2.44 s the port is held", and 239.6 s
beside a 240 s hold "240 s".

trial35-many's three-agents-failing.pcap (a real lab capture: media port 5016 used
again 2.4398 s after its connection ended) analysed with port_hold_seconds 2.44."""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.durations import span_below

CAPTURE = (Path(__file__).resolve().parents[1] / "captures" / "trial35-many"
           / "three-agents-failing.pcap")


def test_a_port_reused_just_within_the_hold_does_not_read_as_the_hold() -> None:
    analysis = stored_analysis(CAPTURE, port_hold_seconds=2.44)
    [reused] = [f for f in analysis.findings if f.code == "port_reused_within_hold"
                and f.message.startswith("Port 10.77.0.1:5016 ")]
    assert reused.message.endswith(
        "was used again by a new connection 2.4398 s after its previous connection ended, "
        "within the 2.44 s the port is held."), reused.message
    assert "held port 5016 2.4398 s at most, not the 2.44 s flowcheck counts" in reused.fix


def test_span_below_adds_digits_only_where_rounding_meets_the_limit() -> None:
    assert span_below(239.6, 240) == "239.6 s"
    assert span_below(0.9996, 1) == "999.6 ms"
    assert span_below(1.14, 60) == "1.14 s"  # far below: span_words' 3 digits
    assert span_below(3.0, 2) == "3 s"  # not below the limit: span_words

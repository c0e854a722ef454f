"""A full media range where no data connection tried the announced endpoint (step 4,
announced_not_used) leads the report (task nu64b, newuser64; captures/nu64b).

The media server ran 3 resources with the media range 5001-5003: the callback's port
and two data connections' held all three when the third DATA_LISTEN's endpoint came,
and it logged "no free port left in 5001-5003". The report led with announced_not_used,
"on 10.64.1.1 itself, allow TCP to 10.64.2.2:6003 in its outbound rules", and
range_too_small ("needed 4") was a warning below, tied to nothing.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.answer import answer_rows

CASES = Path(__file__).resolve().parent.parent / "captures" / "nu64b"
LEAD = "likely because 10.64.1.1's media range 5001-5003 had no port left"
# 5: the 3 held and what the job still needed, its third data connection's port and its
# control connection's (C1 left from 5027, outside the range; `plan --resources 3`
# counts 5 a job). It read 4, the held and the one asked for (newuser66 item 2).
WIDEN = "Widen the media range 5001-5003 (media range) first, to at least 5 ports"


def _analysis(**overrides: str) -> Analysis:
    config = build_config({**load_file(CASES / "media-range-full.toml"), **overrides})
    return analyze(read_traffic([str(CASES / "media-range-full.pcap")], config), config)


def test_a_full_media_range_leads_the_endpoint_never_tried() -> None:
    """All 3 ports of 5001-5003 held (C2, the callback's, open; C3 and C4 within the
    hold) as DATA_LISTEN frame 444 announced 10.64.2.2:6003: announced_not_used names
    the range, hedged, its fix widens it first and keeps the outbound rule after; the
    step and the verdict say it; range_too_small is tied to step 4."""
    result = _analysis()
    [unused] = [f for f in result.findings if f.code == "announced_not_used"]
    assert LEAD in unused.message
    assert "all 3 ports of 5001-5003 (media range) in use or held (60 s after use) as " \
           "DATA_LISTEN (frame 444) announced the endpoint: C2 on 5001 (open), C3 on 5002" \
           in unused.message
    assert "none left for the data connection's source port" in unused.message
    assert unused.fix.startswith(WIDEN)
    assert "If the job still fails with the range widened: on 10.64.1.1 itself, allow " \
           "TCP to 10.64.2.2:6003 in its outbound rules" in unused.fix
    [session] = result.sessions
    assert session.steps[3].status == "missing" and LEAD in session.steps[3].detail
    rows = dict(answer_rows(session, result.findings))
    assert LEAD in rows["cause:"] and rows["fix:"].startswith("widen the media range")
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert "step 4 of session S1 (announced_not_used)" in small.message
    assert unused.frames[0] in small.frames


def test_no_media_range_blamed_when_a_data_connection_left_outside_it() -> None:
    """The same capture read with the media range 5001-5002: both ports held (C2, C3)
    as frame 444 came, but C4 left the media server from 5003, outside the range: its
    data connections do not draw on the range alone, so no range is blamed (review62b's
    rule for callbacks) and the outbound rule stays the fix."""
    result = _analysis(media_range="5001-5002")
    [unused] = [f for f in result.findings if f.code == "announced_not_used"]
    assert "had no port left" not in unused.message
    assert unused.fix.startswith("On 10.64.1.1 itself, allow TCP to 10.64.2.2:6003")

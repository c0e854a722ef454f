"""Step 2 names the connections held only closing that may be a session's callback when
the capture cannot tell which one is (verify.closing_candidates, cblate63).

captures/field47-tls-matrix/agent-killed-tls.pcap (control connection in TLS) cut from
frame 1577 (as `editcap -r IN OUT 1577-100000` would): the data connection
10.77.0.1:5002 -> 10.77.1.2:6001 and the callback 10.77.1.2:6079 -> 10.77.0.1:5001 (the
whole capture's pairing) are both first seen at the media server's FIN, beside the
control connection's RST, their ports alike in shape (an agent-range port, a
media-range port). Neither is named the callback, and step 2 read "no callback in the
capture" though the callback's closing is there. Its FIN is not the nearest the control
connection's close either (the data connection's is 143 us before the RST, the
callback's 331 us after), so nearness names no callback here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.traffic import Analysis

MATRIX = CAPTURES / "field47-tls-matrix"


def _cut(tmp_path: Path, name: str, first: int) -> Path:
    """MATRIX/NAME.pcap.gz from frame `first` (1-based) on, written under tmp_path."""
    linktype, records = read_records(MATRIX / f"{name}.pcap.gz")
    return write_records(tmp_path / f"{name}-from-{first}.pcap", linktype,
                         records[first - 1:])


def _step2(analysis: Analysis) -> str:
    [session] = analysis.sessions
    return next(s for s in session.steps if s.step == 2).detail


def test_both_closing_candidates_are_named_and_neither_taken(tmp_path: Path) -> None:
    analysis = stored_analysis(_cut(tmp_path, "agent-killed-tls", 1577),
                               config_path=MATRIX / "agent-killed-tls.toml")
    [session] = analysis.sessions
    detail = _step2(analysis)
    by_ports = {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}
    callback, data = by_ports[frozenset((6079, 5001))], by_ports[frozenset((6001, 5002))]
    assert session.callback_uid is None  # neither is told from the other
    assert next(s for s in session.steps if s.step == 2).status == "unknown"
    assert "no callback in the capture" not in detail, detail
    assert f"{data} 10.77.1.2:6001 <-> 10.77.0.1:5002" in detail, detail
    assert f"{callback} 10.77.1.2:6079 <-> 10.77.0.1:5001" in detail, detail
    assert "may be this session's callback" in detail, detail


@pytest.mark.parametrize("first", [1581, 1582])
def test_one_closing_connection_is_named_too(tmp_path: Path, first: int) -> None:
    # From frame 1581 the data connection's frames are gone, the callback 6079 -> 5001
    # first seen at the media server's FIN beside the control connection's RST: step 2
    # said "no callback in the capture" though the callback's closing is there
    # (review63h). It names it, not taken for the callback (its direction unseen).
    analysis = stored_analysis(_cut(tmp_path, "agent-killed-tls", first),
                               config_path=MATRIX / "agent-killed-tls.toml")
    [session] = analysis.sessions
    detail = _step2(analysis)
    by_ports = {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}
    callback = by_ports[frozenset((6079, 5001))]
    assert session.callback_uid is None
    assert "no callback in the capture" not in detail, detail
    assert detail.startswith(f"unknown: {callback} 10.77.1.2:6079 <-> 10.77.0.1:5001 (its FIN "
                             ), detail
    assert "may be this session's callback: the capture holds no opening or payload of it" \
        in detail, detail


def test_a_candidate_whose_fin_was_lost_is_named_too(tmp_path: Path) -> None:
    # agent-killed-tls-loss.pcap from frame 729: the callback 10.77.1.2:6013 ->
    # 10.77.0.1:5001 held only closing (the agent's FIN 27 us before the control
    # connection's), the data connection 6001 -> 5002 only as the agent's ACK (its FIN
    # not captured: a capture with loss). Step 2 said "no callback in the capture" and
    # steps 4, 5 counted the callback as a data connection.
    analysis = stored_analysis(_cut(tmp_path, "agent-killed-tls-loss", 729),
                               config_path=MATRIX / "agent-killed-tls-loss.toml")
    [session] = analysis.sessions
    detail = _step2(analysis)
    by_ports = {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}
    callback, data = by_ports[frozenset((6013, 5001))], by_ports[frozenset((6001, 5002))]
    assert session.callback_uid is None
    assert "no callback in the capture" not in detail, detail
    assert f"{data} 10.77.1.2:6001 <-> 10.77.0.1:5002 (no FIN captured" in detail, detail
    assert f"{callback} 10.77.1.2:6013 <-> 10.77.0.1:5001 (its FIN" in detail, detail

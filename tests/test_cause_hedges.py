"""The verdict's cause line keeps its finding's hedge by a field the check sets
(Finding.hedges), not by a list of hedging words (review64g; report.answer.gist).

nu67b kept a long bracket in the cause line when it held "cannot be seen" or "cannot
tell": a check that worded its hedge otherwise lost it, and one rewording would drop
it. Stored cases whose cause lines were surer than their findings: trial28's ARP "for
10.77.0.99 got no answer", its bracket "(or for its gateway toward it)" left out, and
field38's "this capture was taken on the media server 10.77.0.1", its bracket "(or on
its network segment: ... a router between them)" left out (only the TTLs place it).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Severity
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.answer import finding_rows, gist
from flowcheck.verify.unresent import RESEND_UNSEEN

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _cause(finding: Finding) -> str:
    """The cause line under the verdict for one error finding."""
    return finding_rows(finding)[0][1]


def _error(case: str, code: str) -> Finding:
    capture = next(CAPTURES.glob(f"{case}.pcap*"))
    config = build_config(load_file(CAPTURES / f"{case}.toml"))
    analysis = analyze(read_traffic([str(capture)], config), config)
    [finding] = [f for f in analysis.findings
                 if f.code == code and f.severity == Severity.ERROR]
    return finding


def test_a_hedge_is_kept_by_the_field_whatever_its_words() -> None:
    """A bracket the finding names as its hedge stays, worded as it may be; the same
    words not named are left out like any long bracket."""
    bracket = "(the sniffer's ring overwrote whatever came after the last SYN)"
    message = f"The callback got no answer in the capture {bracket}: a firewall drops it."
    kept = Finding(code="callback_unanswered", severity=Severity.ERROR, message=message,
                   hedges=("the sniffer's ring overwrote",))
    assert bracket in _cause(kept)
    plain = Finding(code="callback_unanswered", severity=Severity.ERROR,
                    message=message.replace("overwrote whatever", "cannot tell what"))
    assert "(the sniffer" not in _cause(plain)


def test_a_hedge_past_the_limit_leaves_the_cut_where_it_was() -> None:
    """A hedge bracket after the limit goes with the words it hedges: the cut is the one
    the gist makes without it."""
    head = "The data connection was never answered: " + "x" * 150
    message = f"{head}, and more words: it was taken there (or on its segment, as TTLs show)"
    assert gist(message, keep=("or on its segment",)) == gist(message)


def test_the_gateway_stays_in_the_arp_cause() -> None:
    finding = _error("trial28-own-unreachable/any-v4-agent-down", "control_refused")
    assert "10.77.0.1's ARP for 10.77.0.99 (or for its gateway toward it) got no answer" \
        in _cause(finding)


def test_the_segment_stays_where_only_the_ttls_place_the_capture() -> None:
    finding = _error("field38-matrix/data-dropped-media-egress-routed", "announced_not_used")
    assert _cause(finding).endswith(
        "this capture was taken on the media server 10.77.0.1 (or on its network segment: "
        "10.77.0.1's packets arrive with TTL 64, an initial value, and 10.77.1.2's with 63: "
        "a router between them)")


def test_the_resend_hedge_is_set_by_the_check() -> None:
    """newuser67 item 7's cbstop: the hedge is the check's field, not a word match."""
    finding = _error("lab-trial67b/cbstop", "callback_unanswered")
    assert RESEND_UNSEEN in finding.hedges
    assert RESEND_UNSEEN in _cause(finding)

"""Field check 66's lab matrix (captures/field66-matrix, README.md there), seed 129.

Run 8: a dual-stack Backup Exec backup (control connection over IPv6, callback and
announced data endpoints over IPv4), the agent's output chain dropping its data ports'
SYN-ACKs, `tcpdump -Q in` on the media server. Step 4 read unknown because "the capture
holds no packet from fd77::1 to fd77::2 (one direction only), so a connection attempt from
fd77::1 could not be seen": the control connection's IPv6 way, while a connection to the
announced 10.77.0.2 comes from 10.77.0.1, and the capture holds 10.77.0.2's packets to
10.77.0.1 (the callback's) for seconds after each announcement with no answer from the
announced port among them. The connector's address is now the one of the announced
address's IP version that the session proves the host's (flowcheck.verify.attempts).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis, stored_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field66-matrix"
DUAL = HERE / "dual-data-synacks-dropped-by-agent-in-on-media-pcapng.pcapng.gz"


def test_an_ipv4_endpoint_of_an_ipv6_session_is_judged_on_the_ipv4_way() -> None:
    """The capture holds 10.77.0.2 -> 10.77.0.1 and no answer from the announced ports:
    announced_not_used for each, not "a connection attempt from fd77::1 could not be
    seen"."""
    analysis = shared_analysis(DUAL)
    assert analysis.verdict == "fail"
    unused = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert [f.frames for f in unused] == [[14], [16], [17]]
    assert ("no answer from it is in the capture, which holds only 10.77.0.2's direction: "
            "10.77.0.1's SYNs or 10.77.0.2's SYN-ACKs were dropped on the way"
            in unused[0].message)
    assert "the capture holds 10.77.0.2's packets to 10.77.0.1 for 10.5 s after it" in \
        unused[0].message
    [session] = analysis.sessions
    step4 = session.steps[3]
    assert step4.status == "missing"
    assert "fd77::1" not in step4.detail
    assert "no answer from 10.77.0.2:6001 in the capture" in step4.detail


def test_the_callback_proves_the_media_server_ipv4_address_without_the_config() -> None:
    """Configured by its IPv6 addresses alone, the callback from 10.77.0.2 to 10.77.0.1
    proves 10.77.0.1 the media server's: the same reading (it named "fd77::1's SYNs or
    fd77::2's SYN-ACKs" and "its packets to fd77::1", the control connection's way)."""
    analysis = stored_analysis(DUAL, media_servers=["fd77::1"], remote_agents=["fd77::2"])
    assert analysis.verdict == "fail"
    unused = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert [f.frames for f in unused] == [[14], [16], [17]]
    assert "10.77.0.1's SYNs or 10.77.0.2's SYN-ACKs" in unused[0].message
    assert "fd77::" not in analysis.sessions[0].steps[3].detail

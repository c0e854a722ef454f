"""A listen request its receiver closed the session on, unanswered: the fix
(flowcheck.verify.listen_unanswered.acked_words, note_closed_listens).

Field check 77, seed 140 run 11 (captures/field77-matrix, stored): a 2-resource Backup
Exec restore, agent range 6001-6002 (2 data ports + the callback's source port need 3),
captured `-Q in` on the agent: M's packets only. The second DATA_LISTEN (frame 165) got
no reply; M's FIN (frame 166, tshark: Ack=562) acknowledges one sequence number past
what the request's packet acknowledged (Ack=561): the agent's FIN. The fix said "(it
hung, closed the session, or could not bind a port in its range and did not report
it)": the FIN rules the hang out, and range_too_small (the range too small for 2
resources) names the likely cause; it said neither.
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

CLOSED = (Path(__file__).resolve().parents[1] / "captures" / "field77-matrix" /
          "restore-agent-range-of-two-agent-closed-on-listen-dual-in-on-agent.pcap.gz")


def test_a_listen_closed_on_says_the_range_first_and_no_hang() -> None:
    analysis = shared_analysis(CLOSED)
    assert analysis.verdict == "fail"
    [missing] = [f for f in analysis.findings if f.code == "step_missing"]
    assert missing.frames == [165]
    assert "fd77::1's FIN (frame 166) acknowledged one sequence number" in missing.message
    assert "hung" not in missing.fix
    # The full range, held on the agent's IPv4 address, is the step's stop
    # (verify.range_stops.range_owners), so its fix is the stop's, as on one stack.
    assert missing.fix.startswith(
        "Widen the agent range 6001-6002 (agent range) first, to at least 3 ports "
        "(Backup Exec: \"Enable remote agent TCP dynamic port range\""), missing.fix
    assert "it had no port left for the next resource's data port, likely why step 3 " \
           "failed" in missing.fix
    assert "If the job still fails with the range widened: see the log of the NDMP service " \
           "on fd77:1::2 at that time: it closed the control connection with no reply to the " \
           "request reaching fd77::1 (its FIN, which fd77::1's acknowledged, so it did not " \
           "hang)" in missing.fix
    [small] = [f for f in analysis.findings if f.code == "range_too_small"]
    assert "needs at least 3 there" in small.message

"""Field check 46's lab matrix on its new axes (captures/field46-matrix): two Backup
Exec jobs at once between dual-stack hosts, control over IPv6, callbacks and data over
IPv4; the first job's callback SYNs (from the agent's IPv4 address) dropped by the media
server's input. The callback is the first session's, under its IPv4 addresses, though
the media server's IPv4 address is also the other job's (its data connections came
from it): callback_unanswered, the other session ok (it read step_missing, and the
callback as an unannounced connection).
"""

from __future__ import annotations

from cli_json import ROOT, analyze_json

CASE = ROOT / "captures" / "field46-matrix" / "callback-dropped-dual-stack-two-jobs"


def test_a_dual_stack_callback_of_one_of_two_jobs_is_that_jobs() -> None:
    report = analyze_json(CASE.with_suffix(".pcapng"), CASE.with_suffix(".toml"),
                          exit_codes=(1,))
    by_agent = {s["remote_agent"]: s for s in report["sessions"]}
    failing, fine = by_agent["fd77::2"], by_agent["fd77::3"]
    assert {s["status"] for s in fine["steps"]} == {"ok"}
    assert [s["status"] for s in failing["steps"]][:2] == ["ok", "failed"]
    callback = next(c for c in report["connections"] if c["uid"] == failing["callback_uid"])
    assert (callback["orig_h"], callback["resp_h"], callback["resp_p"]) \
        == ("10.77.0.2", "10.77.0.1", 5001)
    codes = {(f["code"], f["session"]) for f in report["findings"]
             if f["severity"] in ("error", "warning")}
    assert codes == {("callback_unanswered", failing["id"])}

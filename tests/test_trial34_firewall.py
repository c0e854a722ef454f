"""Session 34's trial A: firewall faults made in the lab, flowcheck's fix applied.

The captures (captures/trial34-firewall, its README) are real jobs a new user broke with
nftables rules; these are the readings that were wrong or vaguer than the capture
allows: a SYN-ACK its originator's own stateless rule rejected, read as a connect that
had timed out; a range too small for the job whose fix asked to bind inside it; both
hosts' captures read vaguer than the agent's alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.answer import answer_rows

CASES = Path(__file__).resolve().parent.parent / "captures" / "trial34-firewall"


def analysis(*names: str | Path) -> Analysis:
    config = build_config(load_file(CASES / f"{Path(names[0]).stem}.toml"))
    paths = [str(name if isinstance(name, Path) else CASES / f"{name}.pcap") for name in names]
    return analyze(read_traffic(paths, config), config)


def finding(result: Analysis, code: str):  # noqa: ANN201 - a Finding
    [found] = [f for f in result.findings if f.code == code]
    return found


def test_a_synack_rejected_by_its_originators_rule() -> None:
    """The callback's SYN-ACK came 0.04 ms after its SYN, the agent's RST at once, then
    the agent sent the same SYN four more times: its connect was still waiting, so the
    SYN-ACK never reached it (its own `reject with tcp reset`). It read "the answer came
    late ... its connect timed out", with a fix (raise the connect timeout) that did
    nothing: the SYNs resent after the RST counted as SYNs resent before the answer."""
    result = analysis("callback-synack-rejected-agent")
    assert result.verdict == "fail"
    found = finding(result, "handshake_incomplete")
    assert "came late" not in found.message and "timed out" not in found.message
    assert "sent its SYN again (4 times) from the same port after the reset" in found.message
    assert "A rule on 10.77.1.2 rejects it" in found.message
    assert found.fix.startswith("Check the firewall on 10.77.1.2: make the rule stateful")
    assert "connect timeout" not in found.fix


def test_a_range_too_small_headlines_the_failure_and_widens_the_range() -> None:
    """Three resources, an agent range of two ports that the agent's firewall opens: the
    data connection to the third port (6003) went unanswered. The headline named the
    callback's source port outside the range (an outbound connection that worked), and
    the fix said to bind inside 6001-6002, which, applied, failed the job earlier."""
    result = analysis("agent-range-too-small")
    [session] = result.sessions
    rows = dict(answer_rows(session, result.findings))
    assert rows["cause:"].startswith(
        "the data connection from 10.77.0.1 to the announced endpoint 10.77.1.2:6003")
    assert "widened to at least 4 ports and opened so in the firewall" in rows["fix:"]
    for code in ("data_unanswered", "port_outside_agent_range"):
        for f in result.findings:
            if f.code == code:
                assert "6001-6002 (agent range) widened to at least 4 ports" in f.fix


def test_both_hosts_captures_place_the_agents_outbound_rules() -> None:
    """The agent's output chain dropped its data SYNs (ndmjob: the agent connects to the
    mover). The agent's capture alone said so (the TTLs show it was taken there); both
    hosts' captures together read vaguer: the TTLs of two points are no one host's."""
    alone = finding(analysis("agent-output-drops-data-agent"), "announced_not_used")
    both = finding(analysis("agent-output-drops-data-media", "agent-output-drops-data-agent"),
                   "announced_not_used")
    media = finding(analysis("agent-output-drops-data-media"), "announced_not_used")
    assert "this capture was taken on the agent 10.77.1.2" in alone.message
    assert "capture point on the agent 10.77.1.2's side" in both.message
    for found in (alone, both):
        assert "no SYN to it left that host" in found.message
        assert found.fix.startswith("On 10.77.1.2 itself, allow TCP to 10.77.0.1:")
    assert "no SYN to it left that host" not in media.message  # one point: cannot tell


def test_two_files_copies_open_no_files_own_gate() -> None:
    """The agent's file holds a SYN-ACK resent by its timer 80 us before the one
    answering the resent SYN (IP ID 0: no identity of its own). Alone, two SYN-ACKs;
    given with the media server's file, whose copies of the agent's other packets showed
    two capture points, one was taken for a copy of the other (a file's own copies of an
    answer without identity count only once that file duplicated an identified packet)
    and the file read as "appended" (mergecap -a)."""
    alone = analysis("router-drops-synacks-agent")
    both = analysis("router-drops-synacks-media", "router-drops-synacks-agent")

    def synacks(result: Analysis) -> int:
        [conn] = [c for c in result.traffic.connections if c.history == "Sh"]
        return len(conn.synack_frames)

    assert synacks(both) == synacks(alone) > 1
    said = finding(both, "capture_duplicates").message
    assert "appended" not in said and "copies of its own packets" not in said
    # Both points' captures placed the drop on the router (D5: the fix asked to analyze
    # one point's files at a time, undoing what made the reading precise).
    assert "keep giving both points' captures together" in finding(
        both, "capture_duplicates").fix


CONTROL_DROPPED = "control-dropped-agent-input"


def _first_syns(tmp_path: Path, name: str, count: int, *shift: str) -> Path:
    """The capture's first `count` frames (editcap -r), its times shifted by `shift`."""
    out = tmp_path / f"{name}.pcap"
    subprocess.run(["editcap", "-r", *shift, str(CASES / f"{name}.pcap"), str(out),
                    f"1-{count}"], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("variant", ["as captured", "agent clock +0.3 s, 5 SYNs"])
def test_control_syns_at_both_points_place_the_drop_beyond_them(tmp_path: Path,
                                                                variant: str) -> None:
    """Trial A D2: the agent's input chain drops the control connection's SYNs; both
    hosts' captures hold the SYNs and nothing else. Given together, the reading was one
    capture's ("may hold one direction only", "a capture on 10.77.1.2 shows which way"),
    the agent's capture being in the set; with the agent's clock apart and 5 SYNs (too
    few pairs for the points' offset) it also counted each SYN twice."""
    names: list[str | Path] = [f"{CONTROL_DROPPED}-media", f"{CONTROL_DROPPED}-agent"]
    syns = 9
    if variant != "as captured":
        syns = 5
        names = [_first_syns(tmp_path, f"{CONTROL_DROPPED}-media", syns),
                 _first_syns(tmp_path, f"{CONTROL_DROPPED}-agent", syns, "-t", "0.3")]
    found = finding(analysis(*names), "control_unanswered")
    assert f"sent {syns} SYNs" in found.message
    assert "its SYNs reached both capture points" in found.message
    assert "one direction only" not in found.message
    assert found.fix.startswith("On 10.77.1.2 itself, if one of the captures was taken there")
    assert "a capture of both directions on 10.77.1.2 shows it" not in found.fix


def test_control_syns_at_both_points_merged_into_one_file() -> None:
    """The same two captures merged with mergecap, the lab's clocks agreeing: each SYN and
    its copy microseconds apart (copies.py's near copies, not the points'), at TTL 64 and
    63: a router between two capture points, as two files or a clock offset show it."""
    found = finding(analysis(f"{CONTROL_DROPPED}-merged"), "control_unanswered")
    assert "sent 9 SYNs" in found.message
    assert "its SYNs reached both capture points" in found.message
    assert found.fix.startswith("On 10.77.1.2 itself, if one of the captures was taken there")


@pytest.mark.parametrize("side", ["media", "agent"])
def test_control_syns_in_one_capture_keep_one_captures_reading(side: str) -> None:
    """Either file alone holds each SYN once: no second point, the reading unchanged."""
    found = finding(analysis(f"{CONTROL_DROPPED}-{side}"), "control_unanswered")
    assert "sent 9 SYNs" in found.message
    assert "reached both capture points" not in found.message
    # As data_unanswered's since field check 59 (it read "A capture on 10.77.1.2, or of
    # both directions, shows which way is lost": a `-Q in` capture there shows nothing).
    assert ("This capture holds no packet from 10.77.1.2 to 10.77.0.1, so not whether "
            "10.77.1.2 answered: a capture of both directions on 10.77.1.2 shows it" in
            found.fix), found.fix
    assert "A capture on 10.77.1.2, or of both directions" not in found.fix

"""Data connections matched by direction and ports when the announcing NDMP message cannot
be read (its address cut by the snap length, or the message lost by the sniffer): the
result is the full capture's, less what only the address could show.

Inputs are built from the stored lab captures at test time: `editcap -s 96` (the snap
length old tcpdump versions default to) and `editcap` deleting frames (a lost packet).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
# Words only a cut capture has: the decode warning, and the note on the matching.
CUT_ONLY = {"ndmp_partial"}


def _analyze(capture: Path, name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _snap(tmp_path: Path, name: str, snaplen: int = 96) -> Path:
    out = tmp_path / f"{name}.s{snaplen}.pcap"
    subprocess.run(["editcap", "-s", str(snaplen), str(LAB / f"{name}.pcap"), str(out)],
                   check=True, capture_output=True)
    return out


def _summary(analysis: Analysis) -> tuple[str, list[list[str]], list[str]]:
    return (analysis.verdict, [[s.status for s in session.steps] for session in analysis.sessions],
            sorted(f.code for f in analysis.findings if f.code not in CUT_ONLY))


@pytest.mark.parametrize("name", [
    # DATA_CONNECT: the agent connects to the media server's mover (wrong way for
    # backup-exec-9: step 4 violated, step_out_of_order).
    "agent-connects-data",
    # Data over 10.77.0.x, control over 10.78.0.x: both pairs configured.
    "control-off-backup-network",
    # The capture ends with the data SYN, right after DATA_LISTEN, the control
    # connection still open.
    "stopped-after-data-syn",
])
def test_cut_announcement_matches_as_the_full_capture(tmp_path: Path, name: str) -> None:
    cut = _analyze(_snap(tmp_path, name), name)
    assert "ndmp_partial" in {f.code for f in cut.findings}
    assert "unannounced_connection" not in {f.code for f in cut.findings}
    assert _summary(cut) == _summary(_analyze(LAB / f"{name}.pcap", name))


def _data_unanswered(analysis: Analysis) -> str:
    (finding,) = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "fail"
    return finding.message


def test_cut_announcement_of_another_address_matches_the_connection_to_it(
        tmp_path: Path) -> None:
    """The agent announced 10.79.0.2 (not its control address 10.77.0.2); the media
    server's SYNs to it go unanswered."""
    message = _data_unanswered(_analyze(_snap(tmp_path, "announced-other-address"),
                                        "announced-other-address"))
    assert "10.79.0.2:6001" in message and "snap length" in message
    assert "It went to 10.79.0.2, not to the address the control connection reached the " \
           "agent at (10.77.0.2)" in message


def test_lost_announcement_of_another_address_matches_the_connection_to_it(
        tmp_path: Path) -> None:
    """The sniffer lost the DATA_LISTEN reply (frame 21) and two other packets."""
    out = tmp_path / "lost.pcap"
    subprocess.run(["editcap", str(LAB / "announced-other-address.pcap"), str(out),
                    "10", "21", "26"], check=True, capture_output=True)
    analysis = _analyze(out, "announced-other-address")
    assert "capture_loss" in {f.code for f in analysis.findings}
    message = _data_unanswered(analysis)
    assert "lost by the sniffer" in message and "It went to 10.79.0.2" in message


def test_cut_error_reply_is_no_announcement(tmp_path: Path) -> None:
    """The 2nd DATA_LISTEN is answered ILLEGAL_STATE_ERR in its body, which `-s 96` cuts:
    the reply (12 bytes of body on the wire, too short for a TCP address) must not take
    the 3rd resource's data connection, leaving the 3rd announcement "not used"."""
    full = _analyze(LAB / "listen-error.pcap", "listen-error")
    assert full.verdict == "fail" and "ndmp_error_reply" in {f.code for f in full.findings}
    cut = _analyze(_snap(tmp_path, "listen-error"), "listen-error")
    codes = {f.code for f in cut.findings}
    assert "announced_not_used" not in codes and "ndmp_partial" in codes
    (session,) = cut.sessions
    step = session.steps[2]
    assert step.status == "unknown" and "too short on the wire" in step.detail
    assert cut.verdict == "inconclusive"
    # Each of the two data connections is matched to its own resource's reply.
    matched = {frame: uid for frame, _, uid in session.cut_announcements}
    assert len(matched) == 2 and all(matched.values())
    assert len(set(matched.values())) == 2


@pytest.mark.parametrize(("addresses", "error", "fits"), [
    ([("10.77.0.2", 6001)], 0, True),
    ([], 19, False),  # ILLEGAL_STATE_ERR: the error and an empty address list
])
def test_listen_reply_length_tells_whether_it_can_hold_an_address(
        addresses: list[tuple[str, int]], error: int, fits: bool) -> None:
    """Bodies from the lab's own NDMP v4 encoder (flowcheck.lab.ndmp_wire)."""
    from flowcheck.lab.ndmp_wire import data_listen_reply
    from flowcheck.ndmp.protocol import can_hold_tcp_address

    body = data_listen_reply(addresses, error)
    assert can_hold_tcp_address(len(body), True, 4) is fits
    assert can_hold_tcp_address(len(body), True, None) is (fits or len(body) >= 16)


def test_cut_announcement_on_the_listeners_side_leads_with_the_way(tmp_path: Path) -> None:
    """newuser58: lab-trial26-words/data-drop-agent (a router drops the data SYNs, captured
    on the agent, the listener) under -s 96: the fix led with "check that the ports ... are
    free", where the whole capture's leads with the firewall between the hosts, the
    common cause on the listener's side (its TTLs show it); now the same lead, the ports
    kept after it. The media server's own capture (field38's media egress drop, equal
    TTLs: no side proven) keeps the ports first."""
    stored = LAB.parent / "lab-trial26-words"
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-s", "96", str(stored / "data-drop-agent.pcap"), str(cut)],
                   check=True, capture_output=True)
    config = build_config(load_file(stored / "data-drop-agent.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert "its address was cut by the capture's snap length" in finding.message
    assert finding.fix.startswith("If a capture on the connecting side shows SYNs to it, "
                                  "allow them on every firewall or NAT between the hosts")
    assert "are free on both hosts" in finding.fix
    other = LAB.parent / "field38-matrix"
    cut = tmp_path / "media.pcap"
    subprocess.run(["editcap", "-s", "96", str(other / "data-dropped-media-egress.pcap"),
                    str(cut)], check=True, capture_output=True)
    config = build_config(load_file(other / "data-dropped-media-egress.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    fixes = [f.fix for f in analysis.findings if f.code == "announced_not_used"]
    assert fixes and all(fix.startswith("Check that the ports") for fix in fixes)

"""Encapsulations flowcheck knows but does not read (PBB, L2TPv3, GTP-U, TZSP, MACsec:
field check trial 36 D3, D4): named, with the first frame, and never read as a sniffer
that saw none of the job's traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import stored_analysis
from unread_captures import FORMS, LAB, NAMES, one_way_with, wrapped

from flowcheck.model import Severity


@pytest.mark.parametrize("form", FORMS)
def test_a_whole_capture_in_an_unread_encapsulation_is_named(tmp_path: Path,
                                                              form: str) -> None:
    # Trial 36 D4: "30 of its 30 packets are ethertype 0x88e7, not IP (the sniffer saw
    # none of the job's traffic: the wrong interface, ...)", no frame named.
    path = wrapped(LAB / "data-port-rejected.pcap", tmp_path / f"dpr.{form}.pcap", form)
    analysis = stored_analysis(path, config_path=LAB / "data-port-rejected.toml")
    assert analysis.verdict == "inconclusive"
    (finding,) = [f for f in analysis.findings if f.code == "no_control_session"]
    assert finding.severity is Severity.WARNING
    assert f"30 of its 30 packets are {NAMES[form]} (" in finding.message
    assert "an encapsulation flowcheck does not read, from frame 1" in finding.message
    assert "the job's traffic may be inside it" in finding.message
    assert "saw none of the job's traffic" not in finding.message
    assert "wrong interface" not in finding.message
    assert "--ndmp-port" not in finding.fix
    assert finding.frames == [1]


@pytest.mark.parametrize("form", FORMS)
def test_one_direction_in_an_unread_encapsulation_is_not_a_missing_direction(
        tmp_path: Path, form: str) -> None:
    # Trial 36 D3: the agent's packets in PBB (L2TPv3, GTP-U), the media server's plain,
    # read FAIL step_missing "capture holds only 10.77.0.1's direction: 10.77.0.2's SYNs
    # were dropped on the way or never sent" with capture_one_direction.
    path = wrapped(LAB / "callback-blocked.pcap", tmp_path / f"cb.{form}.pcap", form,
                   only_from="10.77.0.2")
    analysis = stored_analysis(path, config_path=LAB / "callback-blocked.toml")
    codes = [f.code for f in analysis.findings]
    assert "capture_one_direction" not in codes
    assert "step_missing" not in codes and "callback_unanswered" not in codes
    assert analysis.verdict == "inconclusive"
    (finding,) = [f for f in analysis.findings if f.code == "capture_unread_encapsulation"]
    assert finding.severity is Severity.WARNING
    assert (f"14 frames are in an encapsulation flowcheck does not read ({NAMES[form]}, "
            "from frame 2), and the capture holds no packet flowcheck can read from "
            "10.77.0.2 to 10.77.0.1") in finding.message
    assert "what they hold is unknown" in finding.message
    assert 2 in finding.frames
    (session,) = analysis.sessions
    (step,) = [s for s in session.steps if s.step == 2]
    assert step.status == "unknown"
    assert "may be among them" in step.detail and "dropped" not in step.detail
    (step,) = [s for s in session.steps if s.step == 3]
    assert step.status == "unknown" and "may be among them" in step.detail


def test_unread_frames_beside_a_capture_of_both_directions_are_named(tmp_path: Path) -> None:
    # Every packet of the job plain, and other traffic in GTP-U: named, nothing missing.
    plain = wrapped(LAB / "callback-blocked.pcap", tmp_path / "cb.plain.pcap", "gtpu",
                    only_from="10.77.0.99")  # no such host: every frame stays plain
    gtpu = wrapped(LAB / "callback-blocked.pcap", tmp_path / "cb.gtpu.pcap", "gtpu")
    analysis = stored_analysis(plain, gtpu, config_path=LAB / "callback-blocked.toml")
    (finding,) = [f for f in analysis.findings if f.code == "capture_unread_encapsulation"]
    assert finding.severity is Severity.INFO
    assert "frames are in an encapsulation flowcheck does not read (GTP-U, from frame" \
        in finding.message
    assert "callback_unanswered" in [f.code for f in analysis.findings]


@pytest.mark.parametrize(("case", "keep", "extra", "code"), [
    ("data-port-dropped", "10.77.0.2", "udp1701", "announced_not_used"),
    ("data-port-dropped", "10.77.0.2", "vpn", "announced_not_used"),
    ("callback-blocked", "10.77.0.1", "udp4754", "step_missing"),
])
def test_unread_frames_of_other_hosts_leave_a_one_direction_failure(
        tmp_path: Path, case: str, keep: str, extra: str, code: str) -> None:
    # Review 25b: one UDP packet between unrelated hosts on port 1701 or 4754 (or an
    # L2TP VPN between them) turned a capture of one direction's FAIL into INCONCLUSIVE:
    # frames that cannot carry the missing direction do not hide it.
    path = one_way_with(LAB / f"{case}.pcap", tmp_path / f"{case}.{extra}.pcap", keep, extra)
    analysis = stored_analysis(path, config_path=LAB / f"{case}.toml")
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "fail"
    assert code in codes and "capture_one_direction" in codes
    (finding,) = [f for f in analysis.findings if f.code == "capture_unread_encapsulation"]
    assert finding.severity is Severity.INFO
    assert "cannot carry" in finding.message
    assert "every connection read shows both its sides" not in finding.message


def test_unread_frames_where_no_direction_reads_as_missing_claim_no_both_sides(
        tmp_path: Path) -> None:
    # Review 25b item 4: control-dropped holds no packet of the agent's at all; with one
    # UDP packet on port 1701 the info said "every connection read shows both its sides".
    path = one_way_with(LAB / "control-dropped.pcap", tmp_path / "cd.udp1701.pcap",
                        "10.77.0.1", "udp1701")  # every packet is 10.77.0.1's already
    analysis = stored_analysis(path, config_path=LAB / "control-dropped.toml")
    (finding,) = [f for f in analysis.findings if f.code == "capture_unread_encapsulation"]
    assert finding.severity is Severity.INFO
    assert "no direction reads as missing" in finding.message
    assert "every connection read shows both its sides" not in finding.message


def test_an_l2tp_vpn_carrying_the_missing_direction_keeps_it_unknown(tmp_path: Path) -> None:
    # Its outer addresses are other hosts', its inner IPv4 the agent's to the media
    # server: those packets may be the missing direction's (review 25b's fix, inner).
    path = one_way_with(LAB / "data-port-dropped.pcap", tmp_path / "dpd.vpn.pcap",
                        "10.77.0.2", "vpn", inner=("10.77.0.1", "10.77.0.2"))
    analysis = stored_analysis(path, config_path=LAB / "data-port-dropped.toml")
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive"
    assert "announced_not_used" not in codes and "capture_one_direction" not in codes
    (finding,) = [f for f in analysis.findings if f.code == "capture_unread_encapsulation"]
    assert finding.severity is Severity.WARNING
    assert "from 10.77.0.1 to 10.77.0.2" in finding.message


def test_an_l2tp_vpn_after_the_connections_cannot_carry_them(tmp_path: Path) -> None:
    # The same inner addresses, every frame after the connections' last packet.
    path = one_way_with(LAB / "data-port-dropped.pcap", tmp_path / "dpd.vpn.late.pcap",
                        "10.77.0.2", "vpn", inner=("10.77.0.1", "10.77.0.2"), after=60.0)
    analysis = stored_analysis(path, config_path=LAB / "data-port-dropped.toml")
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "fail"
    assert "announced_not_used" in codes and "capture_one_direction" in codes


def test_a_one_sided_browse_says_its_other_side_may_be_in_the_unread_frames(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The agent's packets in PBB: the browse's control connection reads as the media
    # server's side only, and the unread frames may hold the agent's replies. Told by
    # Session.job_unseen_one_way, not by the words' start: reworded, the note stays.
    import flowcheck.sessions.unseen as unseen

    monkeypatch.setattr(unseen, "_held_side", lambda conn, side: "one side only reached it")
    path = wrapped(LAB / "browse-only.pcap", tmp_path / "browse.pbb.pcap", "pbb",
                   only_from="10.77.0.2")
    analysis = stored_analysis(path, config_path=LAB / "browse-only.toml")
    (session,) = analysis.sessions
    assert session.job_unseen_one_way
    assert session.job_unseen.startswith("one side only reached it: the agent's replies")
    assert session.job_unseen.endswith(
        "(15 frames are in an encapsulation flowcheck does not read (PBB, from frame 2): "
        "they may be among them)"), session.job_unseen

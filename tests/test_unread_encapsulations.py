"""Encapsulations flowcheck knows but does not read (PBB, L2TPv3, GTP-U, TZSP, MACsec:
field check trial 36 D3, D4): named, with the first frame, and never read as a sniffer
that saw none of the job's traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import stored_analysis
from unread_captures import FORMS, LAB, NAMES, wrapped

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

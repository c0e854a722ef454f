"""A bridge's capture of several interfaces is one capture point, not one on each host
(field check trial 35 D3).

captures/trial35-bridge (README): `tcpdump -i any` on a Linux bridge holds every packet
twice, on the ingress and the egress port, both with the sender's initial TTL. The
agent's SYNs each in it twice with no SYN-ACK read as "reached the capture point on
10.77.0.12 ... a capture point on each": the agent's own firewall blamed, where a
firewall in the bridge or beyond it looks the same (verify.capture_points
.passed_capture_host). Both hosts' captures given together still place the drop on the
agent (tests/test_verify_path_devices.py).
"""

from __future__ import annotations

from pathlib import Path

from stored import failed_errors

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
BRIDGE = CAPTURES / "trial35-bridge" / "data-unanswered-bridge-any"
ROUTER = CAPTURES / "lab-router"


def test_bridge_copies_place_the_drop_at_or_beyond_the_capture_host() -> None:
    errors = failed_errors(BRIDGE.with_suffix(".toml"), BRIDGE.with_suffix(".pcap"))
    assert [f.code for f in errors] == ["data_unanswered"] * 4
    for f in errors:
        assert "10.77.0.12's own firewall drops them" not in f.message, f.message
        assert "reached the capture point on 10.77.0.12" not in f.message
        assert "at or beyond the capture host drops its SYNs or the SYN-ACKs (on the way " \
               "to 10.77.0.12 or on 10.77.0.12 itself)" in f.message
        assert "one capture of a bridge's or router's several interfaces" in f.message
        assert not f.fix.startswith("On 10.77.0.12 itself"), f.fix
        assert f.fix.startswith("Beyond the capture host"), f.fix
        assert "any firewall between the capture host and 10.77.0.12" in f.fix


def test_copies_told_by_interface_only_for_one_capture_of_several() -> None:
    config = build_config(load_file(BRIDGE.with_suffix(".toml")))
    assert read_traffic([str(BRIDGE.with_suffix(".pcap"))], config).interface_copies
    config = build_config(load_file(ROUTER / "out-drop-synack-media.toml"))
    both = read_traffic([str(ROUTER / f"out-drop-synack-{host}.pcap")
                         for host in ("media", "agent")], config)
    assert not both.interface_copies

"""A bridge's capture of several interfaces is one capture point, not one on each host
(field check trial 35 D3).

captures/trial35-bridge (README): `tcpdump -i any` on a Linux bridge holds every packet
twice, on the ingress and the egress port, both with the sender's initial TTL. The
agent's SYNs each in it twice with no SYN-ACK read as "reached the capture point on
10.77.0.12 ... a capture point on each": the agent's own firewall blamed, where a
firewall in the bridge or beyond it looks the same (verify.capture_points
.passed_capture_host). Both hosts' captures given together, a router between them, still
place the drop on the agent (tests/test_verify_path_devices.py); with no router between
them, on the agent only if a capture was taken there.
"""

from __future__ import annotations

import struct
import subprocess
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


LAB = CAPTURES / "lab" / "data-port-dropped"


def _two_hosts_merged(tmp: Path) -> Path:
    """The media server's and the agent's captures of data-port-dropped merged into one
    pcapng of two interfaces (mergecap -I none): the agent's copy 80 us after the media
    server's, no Linux cooked header nor epb_flags to say one host captured both."""
    media, shifted, merged = tmp / "media.pcapng", tmp / "agent.pcapng", tmp / "merged.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(LAB.with_suffix(".pcap")), str(media)],
                   check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", "-t", "0.00008", str(LAB.with_suffix(".pcap")),
                    str(shifted)], check=True, capture_output=True)
    subprocess.run(["mergecap", "-I", "none", "-F", "pcapng", "-w", str(merged), str(media),
                    str(shifted)], check=True, capture_output=True)
    return merged


def test_two_hosts_merged_by_mergecap_are_two_capture_points(tmp_path: Path) -> None:
    merged = _two_hosts_merged(tmp_path)
    config = build_config(load_file(LAB.with_suffix(".toml")))
    assert not read_traffic([str(merged)], config).interface_copies
    errors = failed_errors(LAB.with_suffix(".toml"), merged)
    assert [f.code for f in errors] == ["data_unanswered"]
    # No router between the hosts: each point sees both hosts' initial TTLs, so none is
    # placed on the agent (two points on the media server's own host read the same:
    # field check 36b), and copies in one file may be one SPAN point's: the reading
    # leaves both ways open, the agent's own firewall if the capture was taken there.
    assert "something drops its SYNs on the way to 10.77.0.2, or the SYN-ACKs on the way " \
        "back" in errors[0].message, errors[0].message
    assert "unless it was taken on 10.77.0.2 itself" in errors[0].message
    assert "reached the capture point on 10.77.0.2" not in errors[0].message
    assert "at or beyond the capture host" not in errors[0].message


def _agent_view(cooked: Path, out: Path) -> None:
    """`cooked` (a pcap of Linux cooked v2 frames, the media server's `tcpdump -i any`)
    as the agent's own `-i any` would have it: each packet type flipped, sent (4) <->
    to this host (0), byte 10 of the SLL2 header (pcap record headers of 16 bytes)."""
    data = bytearray(cooked.read_bytes())
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        kind = data[at + 16 + 10]
        data[at + 16 + 10] = {0: 4, 4: 0}.get(kind, kind)
        at += 16 + caplen
    out.write_bytes(bytes(data))


def test_two_hosts_any_captures_merged_are_two_capture_points(tmp_path: Path) -> None:
    """Two hosts' `tcpdump -i any` merged: each SYN is the media server's outgoing, then
    the agent's incoming, never a forwarding host's (in, then out)."""
    any_capture = CAPTURES / "lab" / "data-port-dropped-any.pcap"
    agent = tmp_path / "agent.pcap"
    _agent_view(any_capture, agent)
    media, shifted, merged = (tmp_path / "media.pcapng", tmp_path / "agent.pcapng",
                              tmp_path / "merged.pcapng")
    subprocess.run(["editcap", "-F", "pcapng", str(any_capture), str(media)],
                   check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", "-t", "0.00008", str(agent), str(shifted)],
                   check=True, capture_output=True)
    subprocess.run(["mergecap", "-I", "none", "-F", "pcapng", "-w", str(merged), str(media),
                    str(shifted)], check=True, capture_output=True)
    config = build_config(load_file(LAB.with_suffix(".toml")))
    assert not read_traffic([str(merged)], config).interface_copies

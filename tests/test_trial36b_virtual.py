"""Field check 36b: captures from virtualised deployments (captures/trial36b-virtual).

A cloud mirror to a load-balanced target reorders packets between the two directions: a
DATA_LISTEN reply captured before its request read as a request never answered, and a
job that worked failed. Two capture points on the media server's own ESXi host (its
VM's port and the uplink), no router between the hosts: both hosts' initial TTLs placed
a point on the agent, and the agent's own firewall was blamed for a drop between.
"""

from __future__ import annotations

from pathlib import Path

from stored import folder_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import NdmpMessage, Severity
from flowcheck.ndmp.reply_order import replies_after_requests
from flowcheck.pipeline import Analysis, analyze, read_traffic

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial36b-virtual"


def _analysis(name: str, config_name: str = "flowcheck") -> Analysis:
    return folder_analysis(FOLDER, name, config_name)


def test_a_reply_captured_before_its_request_answers_it() -> None:
    result = _analysis("aws-mirror-reordered-clean.pcap")
    assert result.verdict == "pass", [f.message for f in result.findings]
    [control] = [s for s in result.traffic.streams
                 if any(m.code == 0x409 for m in s.messages)]  # NDMP_DATA_LISTEN
    listen = [m for m in control.messages if m.code == 0x409]
    request = next(m for m in listen if m.type == "request")
    reply = next(m for m in listen if m.type == "reply")
    assert reply.frame < request.frame  # as captured
    messages = control.messages
    assert messages.index(reply) == messages.index(request) + 1  # as sent


def _message(direction: str, sequence: int, kind: str, reply_sequence: int,
             frame: int) -> NdmpMessage:
    return NdmpMessage(frame=frame, ts=float(frame), direction=direction,
                       sequence=sequence, type=kind, code=0x409, name="NDMP_DATA_LISTEN",
                       error=0, reply_sequence=reply_sequence)


def test_replies_move_after_their_requests_and_nothing_else_moves() -> None:
    early_reply = _message("resp", 7, "reply", 3, 10)
    other = _message("resp", 8, "post", 0, 11)
    request = _message("orig", 3, "request", 0, 12)
    later = _message("orig", 4, "request", 0, 13)
    assert replies_after_requests([early_reply, other, request, later]) == [
        other, request, early_reply, later]
    in_order = [request, early_reply, later]
    assert replies_after_requests(in_order) is in_order
    # A reply naming no request of the other side (or none at all) stays where it was.
    stray = _message("resp", 9, "reply", 99, 9)
    assert replies_after_requests([stray, request]) == [stray, request]


def test_two_points_on_one_host_place_no_point_on_the_agent() -> None:
    result = _analysis("esxi-port-and-uplink-datadrop.pcapng",
                       "esxi-port-and-uplink-datadrop")
    errors = [f for f in result.findings if f.severity == Severity.ERROR]
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for found in errors:
        assert "own firewall drops them" not in found.message.split(":")[1]
        assert "reached the capture point on 10.77.1.2" not in found.message
        assert "something drops its SYNs on the way to 10.77.1.2, or the SYN-ACKs on the " \
            "way back" in found.message
        assert not found.fix.startswith("On 10.77.1.2 itself")


def test_loss_in_a_mirror_tunnel_names_the_mirror_session(tmp_path: Path) -> None:
    """A segment missing from a mirror session's capture (frame 350 taken out): the
    receivers acknowledged it, so the network did not lose it; the collector's sniffer
    or the mirror session delivering it in VXLAN did (field check 36b: only the
    sniffer was named, with tcpdump's buffer as the whole fix)."""
    import subprocess
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(FOLDER / "aws-mirror-reordered-clean.pcap"), str(lossy),
                    "350"], check=True, capture_output=True)
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(lossy)], config), config)
    [found] = [f for f in result.findings if f.code == "capture_loss"]
    assert "or the mirror session that delivered them in a tunnel (vxlan 10.77.0.1 " \
        "10.77.5.50) dropped its copies" in found.message
    assert "If the packets came from a mirror session (they arrive in a tunnel), check it " \
        "drops none" in found.fix

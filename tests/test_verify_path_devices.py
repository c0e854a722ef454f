"""Where on the path a connection's SYNs were rejected or lost (trial 17 D2, D4, D5).

captures/lab-router (README): real flowcheck.lab jobs through a router 10.77.0.254.
- D2: the router's forward chain rejected the data SYNs with ICMP admin-prohibited sent
  from 10.77.0.254; before, the reject was read as the agent's answer and the fix named
  the two hosts' firewalls (Connection.icmp_sender, verify.context.rejecting_device).
- D5: on the agent's own capture, its output chain dropped its SYN-ACKs; before, "its
  own firewall drops its SYNs" (input) and the fix said inbound only (verify.opening).
- D4: both hosts' captures given together; the SYNs left the media server and never
  reached the agent's capture point; before, the words asked for a capture on the agent
  (verify.capture_points).
"""

from __future__ import annotations

from pathlib import Path

from scapy_files import read_packets, write_packets
from stored import failed_errors

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab-router"


def _errors(*names: str) -> list[Finding]:
    return failed_errors(LAB / f"{names[0]}.toml", *(LAB / f"{n}.pcap" for n in names))


def test_router_reject_names_the_router_and_its_forward_chain() -> None:
    errors = _errors("fwd-reject-data-media")
    assert [f.code for f in errors] == ["data_refused", "data_refused"]
    for f in errors:
        assert "from 10.77.0.254, not by 10.77.1.2" in f.message, f.message
        assert "10.77.1.2:6001 answered" not in f.message
        assert "in the forward chain of 10.77.0.254" in f.fix, f.fix
        assert "inbound on the agent" not in f.fix and "outbound on the media" not in f.fix


def test_agent_capture_names_input_or_output_chain_and_the_return_rule() -> None:
    errors = _errors("out-drop-synack-agent")
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for f in errors:
        assert "drops its SYNs:" not in f.message
        assert "its input chain drops the SYNs" in f.message, f.message
        assert "its output chain drops its SYN-ACKs" in f.message
        assert f.fix.startswith("On 10.77.1.2 itself"), f.fix
        assert "ct state established,related accept" in f.fix
        assert "its own firewall drops the SYNs" not in f.fix


def test_both_captures_place_the_drop_between_the_hosts() -> None:
    errors = _errors("fwd-drop-media", "fwd-drop-agent")
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for f in errors:
        assert "something between 10.77.0.1 and 10.77.1.2 drops its SYNs" in f.message, \
            f.message
        assert "never reached the other capture point" in f.message
        assert "a capture on 10.77.1.2" not in f.fix and "If this capture" not in f.fix, f.fix
        assert "in the forward chain of the router or firewall between the two capture " \
               "points" in f.fix


def test_both_captures_place_an_output_drop_on_the_agent() -> None:
    errors = _errors("out-drop-synack-media", "out-drop-synack-agent")
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for f in errors:
        assert "10.77.1.2's own firewall drops them" in f.message, f.message
        assert "the SYNs reached the capture point on 10.77.1.2" in f.message
        assert "If this capture" not in f.fix and f.fix.startswith("On 10.77.1.2 itself")


def test_one_capture_on_the_media_server_still_says_either_way() -> None:
    errors = _errors("fwd-drop-media")
    for f in errors:
        assert "or the SYN-ACKs on the way back" in f.message, f.message
        assert "this capture was taken on 10.77.0.1" in f.message


def test_a_capture_point_whose_files_end_before_the_syns_is_not_taken_to_have_missed_them(
        tmp_path: Path) -> None:
    """Trial 18 D3: the agent point's last ring file missing, its SYNs were "dropped
    between the hosts" and the fix went to a router; the set held the SYNs once because
    that point no longer captured. The one-point reading stays."""

    config = build_config(load_file(LAB / "fwd-drop-media.toml"))
    media = read_traffic([str(LAB / "fwd-drop-media.pcap")], config)
    first_syn = min(c.ts for c in media.connections if c.resp_p == 6001)
    agent = [p for p in read_packets(str(LAB / "fwd-drop-agent.pcap")) if float(p.time) < first_syn]
    cut = tmp_path / "fwd-drop-agent-cut.pcap"
    write_packets(str(cut), agent)
    analysis = analyze(read_traffic([str(LAB / "fwd-drop-media.pcap"), str(cut)], config),
                       config)
    errors = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert errors
    for f in errors:
        assert "never reached the other capture point" not in f.message, f.message
        assert "between the two capture points" not in f.fix

"""Field check 35's runs of the seeded lab matrix (captures/field35-matrix).

The control connection's SYNs rejected with ICMP admin-prohibited, captured with `tcpdump
-Q out` on the media server (its SYNs only, never the rejects): control_unanswered said a
SYN-ACK lost on the way back looks the same as none; a reject the capture lacks does too.
A restore whose data connection the agent's firewall let through for its SYN only: the
agent resent its SYN-ACK after the media server's ACK, the media server resent its data;
handshake_incomplete, not data_stalled (the resends were counted as acknowledged bytes).
The same fault on a backup captured with `tcpdump -Q out` on the media server: its ACK
repeated (answering the SYN-ACKs the agent resent, not in the capture), its FIN resent:
handshake_incomplete too (it read data_stalled).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "field35-matrix"


def _analysis(name: str) -> Analysis:
    case = FOLDER / name
    config = build_config(load_file(case.with_suffix(".toml")))
    return analyze(read_traffic([str(case.with_suffix(".pcap"))], config), config)


def test_rejects_a_one_direction_capture_lacks_are_named() -> None:
    result = _analysis("control-rejected-icmp-dir-out")
    assert result.verdict == "fail"
    [found] = [f for f in result.findings if f.code == "control_unanswered"]
    assert "may hold one direction only" in found.message
    assert "or a reject (RST, ICMP unreachable) the capture lacks, looks the same as no " \
        "answer at all. The retried SYNs show that no SYN-ACK or RST reached 10.77.0.1 (an " \
        "ICMP unreachable may have: TCP resends its SYN after one" in found.message
    assert "no answer reached" not in found.message  # its ICMP rejects reached it (seed 112 run 40)


def test_data_resent_after_an_unheard_handshake_ack_is_handshake_incomplete() -> None:
    result = _analysis("restore-ack-dropped-data-resent")
    assert result.verdict == "fail"
    errors = [f.code for f in result.findings if f.severity == Severity.ERROR]
    assert errors == ["handshake_incomplete"]
    [found] = [f for f in result.findings if f.code == "handshake_incomplete"]
    assert "the capture holds 10.77.0.1's ACK completing it (frame 23)" in found.message


def test_a_callback_unseen_one_way_names_the_listeners_own_output_chain() -> None:
    """Seed 37 run 5: the media server's output chain dropped its SYN-ACKs to the agent's
    callback, captured -Q out on it: neither the SYNs nor the SYN-ACKs are in it. The
    inbound rule alone, the fix it gave, would not have helped."""
    result = _analysis("callback-synack-dropped-media-egress-dir-out")
    assert result.verdict == "fail"
    [found] = [f for f in result.findings if f.code == "step_missing"]
    assert "A SYN-ACK dropped before the capture point looks the same: by 10.77.0.1's own " \
        "output chain when the capture was taken there" in found.message
    assert "and its answers back out (ct state established,related accept in the media " \
        "server's output chain)" in found.fix


def test_an_unheard_ack_seen_from_the_originator_alone_is_handshake_incomplete() -> None:
    """Seed 35 run 0: only the media server's packets; its ACK of the agent's SYN-ACK
    went out three times (frames 12, 15, 16: at +1 s and +3 s, the agent's resends), its
    FIN three times (frames 19, 24, 26), none acknowledged."""
    result = _analysis("backup-ack-dropped-dir-out")
    assert result.verdict == "fail"
    errors = [f.code for f in result.findings if f.severity == Severity.ERROR]
    assert errors == ["handshake_incomplete"]
    [found] = [f for f in result.findings if f.code == "handshake_incomplete"]
    assert found.message.startswith(
        "The data connection 10.77.0.1:5002 -> 10.77.0.2:6001 never opened on 10.77.0.2's "
        "side: the capture holds only 10.77.0.1's packets of it: its SYN once (frame 11), "
        "its ACK of 10.77.0.2's SYN-ACK (not captured) 3 times with the same numbers "
        "(again in frames 15, 16) and nothing else sent between, and its FIN, resent, "
        "never acknowledged (frames 19, 24, 26). Each repeat answers a SYN-ACK 10.77.0.2 "
        "resent")
    # The repeats (tshark's duplicate ACKs: Connection.ack_repeat_frames) listed too.
    assert found.frames == [11, 15, 16, 19, 24, 26]
    assert found.fix.startswith("On 10.77.0.2 (its input chain) and on any firewall between "
                                "the hosts, accept the whole connection, not only its SYN")
    [step4] = [s for s in result.sessions[0].steps if s.step == 4]
    assert step4.status == "failed"
    assert "answered 10.77.0.2's SYN-ACK 3 times (its resends, not captured)" in step4.detail

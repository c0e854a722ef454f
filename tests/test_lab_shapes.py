"""The lab's capture shapes (issue 9): clean jobs captured the way users capture them, and
an agent that announces an address other than the one the media server reached it on.

Each shape is checked from the capture itself (tshark, the pcap header), never from
flowcheck's verdict: stopped right after a named packet, one direction only, every frame
cut to 54 bytes, SYNs to the agent's second address retransmitted and unanswered, or
translated to the address the control connection reached. The stored captures
(captures/lab) are checked, and every scenario is run again live (root, namespaces,
tcpdump: marked `lab`) so a change to the lab cannot silently change a shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.lab.capture import capture_scenario
from flowcheck.lab.netns import LabError
from flowcheck.lab.scenarios import MEDIA as MEDIA_RANGE
from flowcheck.lab.scenarios import SCENARIOS
from flowcheck.lab.sniffer import STOP_TRIGGERS, stop_trigger

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
M, A, OTHER = "10.77.0.1", "10.77.0.2", "10.79.0.2"
_EXPECT = re.compile(r"#\s*expect:\s*verdict (\w+); findings (.+)")
_FIELDS = ("frame.number", "frame.cap_len", "frame.len", "ip.src", "ip.dst", "tcp.srcport",
           "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.len", "tcp.ack",
           "tcp.analysis.retransmission", "ndmp.msg", "ndmp.msg_type", "ndmp.addr.ip",
           "ndmp.addr.tcp_port")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as tshark dissects it (the independent reading of the capture)."""

    number: int
    cap_len: int
    wire_len: int
    src: str
    dst: str
    sport: int
    dport: int
    syn: bool
    ack_flag: bool
    payload: int
    ack: int  # relative acknowledgement number
    retransmission: bool
    ndmp: tuple[tuple[int, int], ...]  # (message code, type) of each NDMP message
    addresses: tuple[tuple[str, int], ...]  # ndmp_addr entries

    @property
    def pure_syn(self) -> bool:
        return self.syn and not self.ack_flag

    @property
    def syn_ack(self) -> bool:
        return self.syn and self.ack_flag


def _ints(text: str) -> list[int]:
    return [int(value, 0) for value in text.split(",") if value]


def frames(path: Path) -> list[Frame]:
    result = []
    for (number, cap_len, wire_len, src, dst, sport, dport, syn, ack_flag, payload, ack,
         retransmission, codes, types, ips, ports) in tshark_fork.fields(path, "", *_FIELDS):
        result.append(Frame(
            int(number), int(cap_len), int(wire_len), src, dst, int(sport or 0),
            int(dport or 0), syn in ("1", "True"), ack_flag in ("1", "True"),
            int(payload or 0), int(ack or 0), bool(retransmission),
            tuple(zip(_ints(codes), _ints(types), strict=True)),
            tuple(zip(ips.split(",") if ips else [], _ints(ports), strict=True))))
    return result


def in_media(port: int) -> bool:
    return 5001 <= port <= 5100


def in_agent(port: int) -> bool:
    return 6001 <= port <= 6100


# The named packet, written independently of the lab's own trigger (flowcheck.lab.sniffer).
STOPPED: dict[str, Callable[[Frame], bool]] = {
    "stopped-after-control-syn": lambda f: f.pure_syn and f.src == M and f.dport == 10000,
    "stopped-after-control-syn-ack":
        lambda f: f.syn_ack and f.src == A and f.sport == 10000,
    "stopped-after-callback-syn": lambda f: f.pure_syn and f.src == A and in_media(f.dport),
    "stopped-after-data-syn": lambda f: f.pure_syn and f.src == M and in_agent(f.dport),
    "stopped-after-data-syn-ack": lambda f: f.syn_ack and f.src == A and in_agent(f.sport),
}


def announced(capture: list[Frame]) -> list[tuple[str, int]]:
    """The endpoints DATA_LISTEN replies announced (Wireshark's NDMP dissector)."""
    return [address for f in capture if (0x409, 1) in f.ndmp for address in f.addresses]


def payload(capture: list[Frame], keep: Callable[[Frame], bool]) -> int:
    return sum(f.payload for f in capture if keep(f))


# shape checks: each takes a capture and asserts its shape ------------------------------

def check_stopped(name: str) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        capture = frames(path)
        last = capture[-1]
        # The named packet is the capture's last frame, and the first of its kind.
        assert [f.number for f in capture if STOPPED[name](f)] == [last.number]
        if name == "stopped-after-control-syn":
            assert len(capture) == 1
        elif name == "stopped-after-control-syn-ack":
            assert len(capture) == 2 and STOPPED["stopped-after-control-syn"](capture[0])
        else:
            # The control session ran before it: handshake and NDMP messages.
            assert any(f.syn_ack and f.sport == 10000 for f in capture)
            assert any((0x900, 1) in f.ndmp for f in capture)  # CONNECT_OPEN reply
        if name.startswith("stopped-after-data-"):
            # The data connection goes to the endpoint the DATA_LISTEN reply announced.
            agent_end = (last.dst, last.dport) if last.pure_syn else (last.src, last.sport)
            assert announced(capture) == [agent_end]
        if name == "stopped-after-data-syn-ack":
            assert STOPPED["stopped-after-data-syn"](capture[-2])
    return check


def check_one_direction(direction: str) -> Callable[[Path], None]:
    src, dst = (M, A) if direction == "out" else (A, M)

    def check(path: Path) -> None:
        capture = frames(path)
        assert len(capture) > 20
        assert all((f.src, f.dst) == (src, dst) for f in capture)
        # Both data connections of the job: M's SYNs, or A's SYN-ACKs (the callback's
        # source port is in the agent range too, but A sends its SYN, M its SYN-ACK).
        data_ports = ({f.dport for f in capture if f.pure_syn and in_agent(f.dport)}
                      if direction == "out" else
                      {f.sport for f in capture if f.syn_ack and in_agent(f.sport)})
        assert len(data_ports) == 2
        if direction == "out":
            # M's side of every connection: the control SYN, its answer to the callback,
            # and on each data connection ACKs for 200 KB received, never in the capture.
            assert any(f.pure_syn and f.dport == 10000 for f in capture)
            assert any(f.syn_ack and in_media(f.sport) for f in capture)
            for port in data_ports:
                assert max(f.ack for f in capture if f.dport == port) > 200_000
            assert payload(capture, lambda f: f.dport in data_ports) == 0
        else:
            # A's side: its answer on 10000, the callback SYN, the data itself; A's ACKs
            # on the control connection acknowledge M's requests, never in the capture.
            assert any(f.syn_ack and f.sport == 10000 for f in capture)
            assert any(f.pure_syn and in_media(f.dport) for f in capture)
            for port in data_ports:
                assert payload(capture, lambda f, p=port: f.sport == p) >= 200_000
            assert max(f.ack for f in capture if f.sport == 10000) > 100
    return check


def check_one_direction_drop(direction: str) -> Callable[[Path], None]:
    """Negative controls: a real drop, one direction captured. The sender's SYN is
    retransmitted (it never got an answer), whatever the capture cannot see."""
    src, dst = (M, A) if direction == "out" else (A, M)
    dropped = in_agent if direction == "out" else in_media

    def check(path: Path) -> None:
        capture = frames(path)
        assert all((f.src, f.dst) == (src, dst) for f in capture)
        assert any((f.syn_ack if direction == "in" else f.pure_syn) and 10000 in (
            f.sport, f.dport) for f in capture)  # the control connection's own side
        syns = [f for f in capture if f.pure_syn and dropped(f.dport)]
        assert len(syns) >= 3
        assert len({(f.sport, f.dport) for f in syns}) == 1
        assert all(f.retransmission for f in syns[1:])
    return check


def check_snaplen_54(path: Path) -> None:
    assert int.from_bytes(path.read_bytes()[16:20], "little") == 54  # pcap header snaplen
    capture = frames(path)
    assert len(capture) > 100
    assert all(f.cap_len == 54 <= f.wire_len for f in capture)
    # A clean job nonetheless: 2 x 200 KB of backup data on the wire.
    assert payload(capture, lambda f: f.src == A and in_agent(f.sport)) >= 2 * 200_000
    assert not any(f.ndmp for f in capture)  # no NDMP message readable


def check_other_address(path: Path) -> None:
    capture = frames(path)
    ((ip, port),) = announced(capture)
    assert ip == OTHER
    # The SYN really left M's veth and was retransmitted at least twice, same port pair.
    syns = [f for f in capture if f.dst == OTHER]
    assert len(syns) >= 3
    assert {(f.sport, f.dport, f.pure_syn) for f in syns} == {(syns[0].sport, port, True)}
    assert all(f.retransmission for f in syns[1:])
    # Never answered, and not reached under another address either: M's only other SYN
    # is the control connection's.
    assert not any(f.src == OTHER for f in capture)
    assert [(f.dst, f.dport) for f in capture
            if f.pure_syn and f.src == M and f.dst != OTHER] == [(A, 10000)]


def check_nat(path: Path) -> None:
    capture = frames(path)
    ((ip, port),) = announced(capture)
    assert ip == OTHER
    assert not any(OTHER in (f.src, f.dst) for f in capture)  # translated before capture
    # The connection reached the announced port under the control connection's address.
    assert len([f for f in capture if f.pure_syn and f.dst == A and f.dport == port]) == 1
    assert len([f for f in capture if f.syn_ack and f.src == A and f.sport == port]) == 1
    assert payload(capture, lambda f: f.src == A and f.sport == port) >= 200_000


SHAPES: dict[str, Callable[[Path], None]] = {
    **{name: check_stopped(name) for name in STOPPED},
    "one-direction-out": check_one_direction("out"),
    "one-direction-in": check_one_direction("in"),
    "one-direction-out-data-dropped": check_one_direction_drop("out"),
    "one-direction-in-callback-blocked": check_one_direction_drop("in"),
    "snaplen-54": check_snaplen_54,
    "announced-other-address": check_other_address,
    "announced-address-nat": check_nat,
}
# The job on the network: clean (exit code 0) except where a fault or the address breaks it.
JOB_FAILS = {"announced-other-address", "one-direction-out-data-dropped",
             "one-direction-in-callback-blocked"}
JOB_EXIT = {name: [1] if name in JOB_FAILS else [0] for name in SHAPES}


def test_stop_triggers_match_only_their_packet(tmp_path: Path) -> None:
    """The lab's trigger (bytes) and the tests' STOPPED (tshark fields) agree on the
    packets of one job's handshakes; the trigger never fires on ICMP or a frame cut
    before the TCP flags."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    def frame(src: str, dst: str, sport: int, dport: int, flags: str) -> bytes:
        return bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport,
                                                          flags=flags))

    packets = {
        "stopped-after-control-syn": frame(M, A, 5090, 10000, "S"),
        "stopped-after-control-syn-ack": frame(A, M, 10000, 5090, "SA"),
        "stopped-after-callback-syn": frame(A, M, 6090, 5001, "S"),
        "stopped-after-data-syn": frame(M, A, 5002, 6001, "S"),
        "stopped-after-data-syn-ack": frame(A, M, 6001, 5002, "SA"),
    }
    others = [frame(M, A, 5001, 6090, "SA"), frame(M, A, 5090, 10000, "A"),
              frame(A, M, 6001, 5002, "PA"), bytes(Ether() / IP(src=A, dst=M) / ICMP()),
              packets["stopped-after-data-syn"][:40]]
    assert set(STOP_TRIGGERS) == {name.removeprefix("stopped-after-") for name in packets}
    for name, packet in packets.items():
        trigger = stop_trigger(name.removeprefix("stopped-after-"), 10000, MEDIA_RANGE,
                               (6001, 6100))
        assert [trigger(p) for p in packets.values()] == [
            other == packet for other in packets.values()], name
        assert not any(trigger(p) for p in others), name
    wrpcap(str(tmp_path / "handshakes.pcap"), [Ether(p) for p in packets.values()])
    dissected = frames(tmp_path / "handshakes.pcap")
    for number, name in enumerate(packets):
        assert [STOPPED[name](f) for f in dissected] == [
            f.number == number + 1 for f in dissected], name
    with pytest.raises(LabError, match="unknown stop_after"):
        stop_trigger("fin", 10000, MEDIA_RANGE, (6001, 6100))


def test_every_shape_scenario_is_checked() -> None:
    # captures/lab's scenarios; the ndmjob ones (captures/ndmjob-lab, such as the tape
    # pauses whose host commands slow A's link) are checked by their own tests.
    shaped = {name for name, s in SCENARIOS.items()
              if s.kind == "backup-exec" and (s.shaped or s.host_commands)}
    assert shaped == set(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_stored_capture_has_its_shape(name: str) -> None:
    capture = LAB / f"{name}.pcap"
    SHAPES[name](capture)
    # The sidecar says how it was made and what to expect, from the scenario.
    text = capture.with_suffix(".toml").read_text()
    assert f"# made by: python -m flowcheck.lab capture {name} captures/lab/{name}.pcap" in text
    match = next(m for line in text.splitlines() if (m := _EXPECT.search(line)))
    scenario = SCENARIOS[name]
    assert match.group(1) == scenario.expect_verdict
    assert {c.strip() for c in match.group(2).split(",")} == set(scenario.expect_codes)
    for document in (LAB / "README.md", ROOT / "docs" / "lab.md"):
        assert name in document.read_text(), document


@pytest.mark.lab
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_scenario_run_live_has_its_shape(name: str, tmp_path: Path) -> None:
    result = capture_scenario(name, tmp_path / f"{name}.pcap")
    assert result.job_exit_codes == JOB_EXIT[name], result.log[-500:]
    SHAPES[name](result.path)

"""Field check 54's lab matrix (captures/field54-matrix, README.md there), seed 117.

Run 9: a restore over IPv6 through a router, captured with dumpcap on both hosts and
merged keeping their two interfaces (no incoming or outgoing mark): each packet twice, the
far host's copy one hop lower. Its capture_duplicates read "a router's or bridge's,
captured on several interfaces at once (tcpdump -i any on it)", fix "capture one
interface of the router ... instead of -i any" (connections.relay_words.unmarked_routed).
Run 15: two backups over IPv6 through a router, job 1's agent killed mid-transfer,
captured `-Q out` on the media server (its packets only). After DATA_START_BACKUP
(frame 173) the media server acknowledged 32 B of the agent's (frame 199) and then, with
its own FIN (frame 402), one sequence number more: the agent's FIN, no halt. It read
inconclusive, step 5 "whether the agent halted, reset its connections or went silent
first is in the direction the capture lacks" (verify.acked_no_halt).
Run 22: the agent host's output chain dropping its data SYN-ACKs, captured `-Q out` on
the media server: its data SYN sent 4 times. data_unanswered said "something drops or
rejects its SYNs", leaving out the SYN-ACKs lost on their way back, which its capture of
one direction cannot tell from the rest (verify.opening._silence).
Run 26: `tcpdump -i any` on a router (SLL2), the agent host's output chain dropping its
data SYN-ACKs: each SYN captured arriving (PACKET_HOST, hop limit 64) and leaving
(PACKET_OUTGOING, 63). data_unanswered read the copies as a bridge's: "a bridge forwards
with the sender's TTL ...", "a firewall in the bridge or beyond it", fix "(a bridge's own
too)" (verify.capture_points.passed_host_words).
Run 24: dual-stack, the callback's SYNs dropped by the router, both hosts' dumpcap
captures merged keeping their interfaces: the router held the media server's 3 control
SYNs while it resolved the agent's address, and the agent's point has all three 2.05 s
after the first, one hop lower, each with its TSval. Step 1 read "after 4 resent SYNs"
(connections.relay_copies.NEIGHBOUR_HOLD).
Run 6 (not stored: its verdict and codes right): a DNAT on the media server itself, both
hosts merged; announced_address_mismatch's fix said a capture on the media server shows
which address it uses, though its capture sees its packets after its own NAT rules
(verify.addresses); captures/lab/announced-address-nat reads the same fix.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import shared_analysis, sidecar, stored_analysis
from test_relay_copies import _captures

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.answer import gist

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "field54-matrix"
ROUTED_MERGED = HERE / "restore-routed-both-hosts-merged-pcapng-snap96-ipv6.pcapng.gz"
SYNACKS_DROPPED = HERE / "data-synacks-dropped-by-agent-captured-out-on-media-pcapng.pcapng.gz"
ROUTER_ANY = HERE / "ipv6-data-synacks-dropped-by-agent-router-any-sniffer-loss.pcap.gz"
HELD_SYNS = HERE / ("callback-syns-held-and-dropped-by-router-dual-stack-both-hosts-merged-"
                    "pcapng.pcapng.gz")
AGENT_KILLED = HERE / "two-jobs-agent-killed-routed-captured-out-on-media-ipv6.pcap.gz"
# Frame 199: the media server's ACK of the agent's 32 B after DATA_START_BACKUP (frame
# 173); frame 402: its FIN, one sequence number more (the agent's FIN).
ACK_AFTER_START, MEDIA_FIN = 199, 402
_ACK_AT = 14 + 40 + 8  # Ethernet, IPv6 (no extension header), TCP's acknowledgement

EITHER = ("the file marking neither as coming in or going out: a router's several "
          "interfaces captured at once (a mirror of two of its ports, a capture of two of "
          "its interfaces), each packet as it came in and as it left, or two capture "
          "points' captures a router apart (one on each side of it) merged into one file; "
          "the file does not tell which")


def test_routed_copies_on_two_unmarked_interfaces_are_not_said_a_routers_any() -> None:
    analysis = shared_analysis(ROUTED_MERGED)
    assert analysis.verdict == "inconclusive"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert "18 of them were told by where they were captured: another of the file's " \
           "interfaces or another MAC address pair, up to 2.1 ms after the original, its " \
           "hop limit one lower (routed), " in copies.message  # IPv6: no TTL (field check 59)
    assert EITHER in copies.message
    assert "tcpdump -i any on it" not in copies.message
    # Two capture points' copies are evidence: kept (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep both "
                                 "sides' packets together (what one point saw and the other "
                                 "did not places a loss between them")
    assert "analyze its packets alone" in copies.fix
    assert "instead of -i any" not in copies.fix


def test_syns_a_router_held_for_its_neighbour_are_copies_not_resends() -> None:
    analysis = shared_analysis(HELD_SYNS)
    assert analysis.verdict == "fail"
    control, callback = sorted(analysis.traffic.connections, key=lambda c: c.ts)
    assert (control.syn_retries, callback.syn_retries) == (2, 3)  # as M and A sent them
    step1 = analysis.sessions[0].steps[0]
    assert "after 2 resent SYNs, answered 2.05 s after the first" in step1.detail
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert ("; 2 of them over 1 s after the original with its TSval: held by a router "
            "while it resolved the next hop's link-layer address") in copies.message
    assert EITHER in copies.message
    assert [f.code for f in analysis.findings if f.severity == "error"] == [
        "callback_unanswered"]


def test_a_mirror_of_a_routers_two_ports_gets_the_same_words(tmp_path: Path) -> None:
    # Ethernet, one interface: the copies told by their MAC pairs, which a router
    # rewrites; no packet type marks one coming in (tests/test_relay_copies.py).
    both, _ = _captures(tmp_path)
    config = build_config({})
    analysis = analyze(read_traffic([str(both)], config), config)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert EITHER in copies.message
    assert "tcpdump -i any on it" not in copies.message
    # Two capture points' copies are evidence: kept (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep both "
                                 "sides' packets together (what one point saw and the other "
                                 "did not places a loss between them")


def test_agent_fin_with_no_room_for_a_halt_is_control_closed() -> None:
    analysis = shared_analysis(AGENT_KILLED)
    assert analysis.verdict == "fail"
    [closed] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert (closed.code, closed.session, closed.frames) == ("control_closed", "S1", [173, 402])
    assert closed.message.startswith(
        "The control connection [fd77::1]:5025 -> [fd77:1::2]:10000 was closed by the agent "
        "fd77:1::2 (its FIN, in the direction the capture lacks: [fd77::1]:5025's own FIN "
        "(frame 402) acknowledges it) while the job was running (DATA_START_BACKUP, frame "
        "173, no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED after it; last NDMP message: "
        "frame 173).")
    assert ("after DATA_START_BACKUP (frame 173) it acknowledged 32 B of them (the reply to "
            "it is 32 B, and the data flowed after it), then only fd77:1::2's FIN, which its "
            "own FIN acknowledges: too few for a halt besides the reply") in closed.message
    assert "never answered" not in closed.message
    s1, s2 = analysis.sessions
    # Step 3 ok on the data its ACKs prove, the address unchecked (new-user trial 54).
    assert [s.status for s in s1.steps] == ["ok", "ok", "ok", "ok", "failed"]
    assert "control_closed" in s1.steps[4].detail
    assert s2.steps[4].status == "ok"  # job 2's session untouched


def _acks_raised(tmp_path: Path, by: int) -> Path:
    """The stored run with the media server's ACKs at frames 199 and 402 `by` higher:
    the agent's bytes after DATA_START_BACKUP `by` more, its FIN still the last one."""
    linktype, records = read_records(AGENT_KILLED)
    for frame in (ACK_AFTER_START, MEDIA_FIN):
        data = bytearray(records[frame - 1].data)
        ack = struct.unpack_from(">I", data, _ACK_AT)[0]
        struct.pack_into(">I", data, _ACK_AT, (ack + by) % 2**32)
        records[frame - 1] = replace(records[frame - 1], data=bytes(data))
    path = write_records(tmp_path / "raised.pcap", linktype, records)
    path.with_suffix(".toml").write_text(sidecar(AGENT_KILLED).read_text())
    return path


def test_room_for_a_halt_leaves_it_unknown(tmp_path: Path) -> None:
    # 31 B more: 63 B after the request, one short of a reply and a v4 halt (32 + 32);
    # 32 B more: room for both, the halt may be among them: step 5 unknown as before.
    assert stored_analysis(_acks_raised(tmp_path, 31)).verdict == "fail"
    analysis = stored_analysis(_acks_raised(tmp_path, 32))
    assert analysis.verdict == "inconclusive"
    assert not [f for f in analysis.findings if f.code == "control_closed"]
    step5 = analysis.sessions[0].steps[4]
    assert step5.status == "unknown"
    assert "whether the agent halted, reset its connections or went silent first is in " \
           "the direction the capture lacks" in step5.detail


def test_retried_syns_one_way_name_the_synacks_lost_on_the_way_back() -> None:
    analysis = shared_analysis(SYNACKS_DROPPED)
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert unanswered.code == "data_unanswered"
    assert unanswered.frames == [11, 13, 14, 15]
    assert ("got no answer in the capture: something drops or rejects its SYNs or drops the "
            "SYN-ACKs on their way back (the capture holds no packet from 10.77.0.2 to "
            "10.77.0.1 (one direction only), the way a SYN-ACK, RST or ICMP unreachable would "
            "travel), so the job cannot move data") in unanswered.message
    # The headline keeps both readings (report.answer.gist: its first clause).
    assert "something drops or rejects its SYNs or drops the SYN-ACKs on their way back, " \
           "so the job cannot move data" in gist(unanswered.message)


def test_a_routers_own_capture_is_not_said_a_bridge() -> None:
    analysis = shared_analysis(ROUTER_ANY)
    assert analysis.verdict == "fail"
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["data_unanswered"] * 5
    for f in errors:
        assert ("(one capture of a bridge's or router's several interfaces, the file marking "
                "the copies coming in, then going out: capture_duplicates; not a capture point "
                "on each host, though both hosts' packets arrive with initial TTLs)"
                ) in f.message
        assert ("lost between that host and fd77:1::2 (a firewall on that bridge or router, "
                "or beyond it)") in f.message
        assert "bridge forwards" not in f.message and "in the bridge" not in f.message
        assert "(the capture host's own too)" in f.fix and "a bridge's own" not in f.fix


def test_the_nat_fix_allows_for_the_connectors_own_nat() -> None:
    analysis = shared_analysis(ROOT / "captures" / "lab" / "announced-address-nat.pcap")
    [mismatch] = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    assert mismatch.fix.endswith(
        "The job's settings (the agent's address in it) show which address it uses, and so "
        "does a capture on the media server 10.77.0.1 unless its own NAT rules translate it "
        "(a capture there sees its packets after them; its NAT table shows them).")
    assert "or a capture on the media server 10.77.0.1 show which" not in mismatch.fix

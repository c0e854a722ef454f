"""Stored captures cut to 68 bytes a frame (tcpdump's default before 4.0; a packet
broker's slicing): IPv4 keeps 2 bytes of TCP payload, not one NDMP header; IPv6 loses
the end of its TCP header. Each read FAIL whole captures pass; nothing of the NDMP
conversation can be read, so what rests on it is unknown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _sliced(tmp_path: Path, folder: str, name: str, snap: int = 68) -> tuple[Path, Path]:
    """(captures/FOLDER/NAME.pcap[.gz] cut to `snap` bytes a record, its NAME.toml)."""
    capture = next((CAPTURES / folder).glob(f"{name}.pcap*"))
    linktype, records = read_records(capture)
    cut = write_records(tmp_path / f"{name}-s{snap}.pcap", linktype,
                        [replace(r, data=r.data[:snap]) for r in records])
    return cut, CAPTURES / folder / f"{name}.toml"


def test_probes_of_other_hosts_stay_side_traffic(tmp_path: Path) -> None:
    """ndmjob-probes/probes-10000-media: the job's control connection carried payload
    both ways (its messages unread), so the probes of hosts outside the configuration
    are side traffic as in the whole capture, not three control_refused errors."""
    cut, config = _sliced(tmp_path, "ndmjob-probes", "probes-10000-media")
    analysis = stored_analysis(cut, config_path=config)
    assert not errors(analysis)
    assert "control_refused" not in {f.code for f in analysis.findings}


def test_no_callback_after_an_unreadable_conversation_is_unknown(tmp_path: Path) -> None:
    """trial23-other-protocol/webmin-on-media: HTTP on port 10000, its bytes unread: no
    callback is no evidence (a port check or another program asks for none)."""
    cut, config = _sliced(tmp_path, "trial23-other-protocol", "webmin-on-media")
    analysis = stored_analysis(cut, config_path=config)
    assert not errors(analysis)
    steps = [s for session in analysis.sessions for s in session.steps
             if s.step == 2 and s.status != "ok"]  # S2, the job, got its callback
    assert len(steps) == 2
    assert all(s.status == "unknown" and "cut every NDMP message" in s.detail for s in steps)


def test_a_backup_through_a_nat_in_front_of_the_agent_is_not_a_restore(
        tmp_path: Path) -> None:
    """trial31-dnat/dnat-good-media: the control connection to the NAT's address, the
    data connection from the agent's own; with no DATA_START_* to read, the bytes' way
    tells the kind: the agent's 307 kB to the media server are a backup (it read a
    restore with no bytes to the agent, and a step_missing that called itself a bug)."""
    cut, config = _sliced(tmp_path, "trial31-dnat", "dnat-good-media")
    analysis = stored_analysis(cut, config_path=config)
    assert not errors(analysis)
    assert analysis.sessions[0].kind == "backup"


def test_ipv6_records_cut_before_their_tcp_header_may_hide_the_control_connection(
        tmp_path: Path) -> None:
    """lab-trial19-callback/v6-dualstack: the control connection over IPv6 (cut inside
    its TCP header), the data over IPv4 (read): no NDMP control connection read is a
    warning naming the cut records, inconclusive, not an error."""
    cut, config = _sliced(tmp_path, "lab-trial19-callback", "v6-dualstack")
    analysis = stored_analysis(cut, config_path=config)
    [missing] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert str(missing.severity) == "warning"
    assert "before the end of their TCP header" in " ".join(missing.message.split())
    assert analysis.verdict == "inconclusive"


def test_a_dual_stack_backup_is_not_a_restore(tmp_path: Path) -> None:
    """lab-trial28-addresses/dualstack-v6ctl-v4data cut to 96 bytes: the control
    connection over IPv6, the data over IPv4, neither of the data connection's ends a
    control address: the originator (the media server, connecting) sent nothing, the
    agent the data, a backup (a first version of the NAT reading took it for a restore
    with no bytes, and a step_missing that called itself a bug)."""
    cut, config = _sliced(tmp_path, "lab-trial28-addresses", "dualstack-v6ctl-v4data", 96)
    analysis = stored_analysis(cut, config_path=config)
    assert not errors(analysis)
    assert analysis.sessions[0].kind == "backup"


def test_a_record_of_no_bytes_hides_no_control_connection(tmp_path: Path) -> None:
    """A capture of another protocol's TCP connection and one record of 0 bytes (fuzzed
    junk: tcpdump-tests' bgp_vpn_rt-oobr): no snap length cut anything, so no NDMP
    control connection stays the contract's error, not a warning."""
    from pcap_records import Record
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    frames = [Ether() / IP(src="10.1.0.1", dst="10.1.0.2") / TCP(sport=40000, dport=179,
                                                                   flags=flags, seq=seq)
              for flags, seq in (("S", 1), ("A", 2))]
    frames.insert(1, Ether() / IP(src="10.1.0.2", dst="10.1.0.1") / TCP(
        sport=179, dport=40000, flags="SA", seq=100, ack=2))
    records = [Record(1_000_000 + i, len(bytes(f)), bytes(f)) for i, f in enumerate(frames)]
    records.append(Record(1_000_010, 60, b""))  # 60 bytes on the wire, none kept
    capture = write_records(tmp_path / "junk.pcap", 1, records)
    (tmp_path / "junk.toml").write_text("")  # the defaults
    analysis = stored_analysis(capture)
    [missing] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert str(missing.severity) == "error"

"""Review 54i: an ICMP time exceeded for only some of an opening's SYNs (a route that
flapped: the later SYNs went through to whatever dropped them) proves nothing of the
others. ttlexceeded (review 54h) said "those SYNs never reached X, and no firewall
dropped them" with a "not a firewall rule" fix as soon as one SYN drew one, and counted
the messages, not the SYNs: one SYN's time exceeded captured twice read "each SYN drew".
Now a SYN draws one when a time exceeded follows it before the next SYN
(verify.ttl_exceeded._drawing), and only when each did are the words and the fix the
routing's alone; else the fix adds the unanswered opening's own.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import ICMP, IP, TCP, Ether, wrpcap
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CONFIG = Path(__file__).resolve().parents[1] / "captures" / "ndmjob" / "flowcheck.toml"
MEDIA, AGENT, ROUTER = "10.77.0.1", "10.77.0.2", "10.77.0.254"


def _syn() -> IP:
    return IP(src=MEDIA, dst=AGENT, ttl=64) / TCP(sport=5050, dport=10000, flags="S",
                                                 seq=1000)


def _opening(tmp_path: Path, times: tuple[float, ...], exceeded: dict[int, int]) -> Analysis:
    """SYNs from MEDIA:5050 to AGENT:10000 at `times`; SYN i (by index) drew
    exceeded[i] copies of ROUTER's ICMP time exceeded (code 0) quoting it, 1 ms apart."""
    frames = []
    for i, ts in enumerate(times):
        out = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / _syn()
        out.time = ts
        frames.append(out)
        for copy in range(exceeded.get(i, 0)):
            quoted = _syn()
            quoted[IP].ttl = 1
            back = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / \
                IP(src=ROUTER, dst=MEDIA, ttl=64) / ICMP(type=11, code=0) / quoted
            back.time = ts + 0.001 * (copy + 1)
            frames.append(back)
    path = tmp_path / "opening.pcap"
    wrpcap(str(path), frames)
    config = build_config(load_file(CONFIG))
    return analyze(read_traffic([str(path)], config), config)


def _finding(analysis: Analysis):
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding


def test_time_exceeded_for_the_first_syn_only_claims_nothing_of_the_others(
        tmp_path: Path) -> None:
    finding = _finding(_opening(tmp_path, (1.0, 2.0, 4.0, 8.0, 16.0), {0: 1}))
    assert (f"1 of its 5 SYNs drew an ICMP time exceeded from {ROUTER} (frame 2): its TTL "
            f"ran out on the way to {AGENT}, a routing loop or a path longer than the TTL, "
            f"so it never reached {AGENT}; the other 4 drew none (the route may have "
            "changed), and what became of them the capture does not show"
            in finding.message)
    assert "no firewall dropped them" not in finding.message
    assert "not a firewall rule" not in finding.fix
    assert finding.fix.startswith(f"Check the routing between {MEDIA} and {AGENT} (check "
                                  f"the route to {AGENT} on {ROUTER}")
    assert "the later SYNs drew no time exceeded, so also: Allow TCP from" in finding.fix


def test_one_syns_time_exceeded_captured_twice_is_not_each_syns(tmp_path: Path) -> None:
    finding = _finding(_opening(tmp_path, (1.0, 2.0), {0: 2}))
    assert "each SYN drew" not in finding.message
    assert (f"1 of its 2 SYNs drew an ICMP time exceeded from {ROUTER} (frames 2, 3)"
            in finding.message)
    assert "the other one drew none" in finding.message


def test_each_syn_drawing_one_stays_the_routings_alone(tmp_path: Path) -> None:
    finding = _finding(_opening(tmp_path, (1.0, 2.0, 4.0), {0: 1, 1: 1, 2: 1}))
    assert (f"each SYN drew an ICMP time exceeded from {ROUTER} (frames 2, 4, 6): its TTL "
            f"ran out on the way to {AGENT}" in finding.message)
    assert "no firewall dropped them" in finding.message
    assert finding.fix.startswith(f"The fix is the routing between {MEDIA} and {AGENT}, "
                                  "not a firewall rule")
    assert "Allow TCP" not in finding.fix.split("`flowcheck firewall`")[0]


def test_traceroute_probes_beside_a_good_job_are_no_failed_sessions(tmp_path: Path) -> None:
    """traceroute -T -p 10000 from the media server (a new source port and IP ID per
    probe, TTL 1 to 3, three probes each, each drawing a time exceeded from that hop's
    router) in the capture of a good ndmjob backup: the probes read as nine failed
    sessions, "its TTL ran out ..., a routing loop" (before review 54h: a firewall
    drop). Now step 1 says what they were and the capture passes; the job's reading
    stays the same."""
    job = read_packets(CONFIG.parent / "v3-backup.pcap")
    start = float(job[0].time) - 1
    probes = []
    for n in range(9):
        ttl = n // 3 + 1
        syn = IP(src=MEDIA, dst=AGENT, ttl=ttl, id=100 + n) / \
            TCP(sport=5081 + n, dport=10000, flags="S", seq=777 + n)
        out = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / syn
        quoted = syn.copy()
        quoted[IP].ttl = 1
        back = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / \
            IP(src=f"10.77.{ttl}.254", dst=MEDIA, ttl=64 - ttl) / ICMP(type=11) / quoted
        out.time, back.time = start + 0.05 * n, start + 0.05 * n + 0.0005 * ttl
        probes += [out, back]
    path = tmp_path / "traceroute.pcap"
    write_packets(path, sorted([*job, *probes], key=lambda packet: float(packet.time)))
    config = build_config(load_file(CONFIG))
    analysis = analyze(read_traffic([str(path)], config), config)
    assert [f.code for f in analysis.findings] == []
    assert [s.steps[0].status for s in analysis.sessions] == ["ok"] * 10
    assert [s.steps[1].status for s in analysis.sessions] == ["not_applicable"] * 9 + ["ok"]
    first, fourth = analysis.sessions[0].steps[0], analysis.sessions[3].steps[0]
    assert fourth.detail.startswith("a traceroute probe (traceroute -T, tcptraceroute), not "
                                    "a job: its SYN carried TTL 2 as captured")
    assert "10.77.1.254's ICMP time exceeded (frame 2)" in first.detail

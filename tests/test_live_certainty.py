"""When `live` may print a finding early: only once no later packet can take it back (a
new-user trial of live mode printed errors the final report then dropped).

- An unanswered SYN is certain only after a silence longer than its retries have
  lasted (TCP doubles its wait between retries for about two minutes): a data SYN
  answered 37 s after the first was printed as data_unanswered at 31 s.
- control_reset / control_closed depend on the session having no other root cause;
  data_stalled needs silence, so they wait until the whole session is quiet (an early
  control_reset was later dropped for data_stalled).
- A capture without TCP at all is inconclusive, not a fail (docs/cli.md: a sniffer that
  saw nothing).

Built from captures/lab/clean-3-resources.pcap (frame 22: the first data SYN, 5002 ->
6001; frame 300: inside resource 2).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lab_edits import LAB, lab_packets, last_from, next_seq, segment, write
from scapy.all import IP, TCP, UDP, Ether, Packet

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources import iter_batches

CONFIG = build_config(load_file(LAB / "clean-3-resources.toml"))


def _certain(path: Path, now: float) -> list[str]:
    """The codes a live check at packet time `now` prints for the capture so far."""
    verifier = LiveVerifier(CONFIG, interval=0.0)
    reader = iter_batches([str(path)])
    for batch in reader:
        verifier.tracker.feed(batch)
    verifier._now = now
    return [e.finding.code for e in verifier._certain_findings(reader.captures)
            if e.finding is not None]


def _again(packet: Packet, ts: Decimal, n: int) -> Packet:
    copy = packet.copy()
    copy[IP].id = (copy[IP].id + n) & 0xFFFF
    del copy[IP].chksum, copy[TCP].chksum
    copy.time = ts
    return copy


def test_an_unanswered_syn_waits_for_its_backed_off_retry(tmp_path: Path) -> None:
    packets = lab_packets("clean-3-resources", 22)  # up to the first data SYN
    syn = packets[-1]
    start = syn.time
    retries = [_again(syn, start + Decimal(delay), n + 1) for n, delay in enumerate((1, 3, 7, 15))]
    path = write(tmp_path, "syns", [*packets, *retries])
    last = float(start) + 15
    # Quiet for 12 s after the last retry: more than `settle`, less than the 15 s the
    # retries lasted plus the retransmission timeout: the next retry may still come.
    assert "data_unanswered" not in _certain(path, last + 12)
    assert "data_unanswered" in _certain(path, last + 19)


def test_control_reset_waits_until_its_session_is_quiet(tmp_path: Path) -> None:
    packets = lab_packets("clean-3-resources", 300)  # resource 2 running
    t = packets[-1].time
    reset = segment(last_from(packets, 10000, 5039), "R", next_seq(packets, 10000, 5039), 0,
                    t + Decimal("0.001"))
    # The media server's ACKs on the data connection (the agent's resends of its data
    # would be a data_stalled of their own, timed from the first: 5 s before the end).
    data = last_from(packets, 5003, 6002)
    more = [_again(data, t + Decimal(delay), n + 1) for n, delay in enumerate((5, 10))]
    path = write(tmp_path, "reset", [*packets, reset, *more])
    # The data connection still sent 10 s after the reset: a stall or reset of it may yet
    # make the control reset its consequence.
    assert "control_reset" not in _certain(path, float(t) + 15)
    assert "control_reset" in _certain(path, float(t) + 21)


def test_a_capture_without_tcp_is_inconclusive(tmp_path: Path) -> None:
    frame = Ether() / IP(src="10.77.0.1", dst="10.77.0.2") / UDP(sport=5353, dport=5353)
    frame.time = Decimal(1_700_000_000)
    path = write(tmp_path, "udp", [frame])
    analysis = analyze(read_traffic([str(path)], CONFIG), CONFIG)
    assert analysis.verdict == "inconclusive"
    [finding] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert str(finding.severity) == "warning" and "no TCP connection at all" in finding.message


def test_a_stall_is_one_event_while_its_resends_go_on() -> None:
    """data_stalled's first frame is the latest resend, which moves on while the sender
    resends: live printed it twice, with different frames."""
    from flowcheck.findings import make_finding
    from flowcheck.live import _finding_key

    early, later = (make_finding("data_stalled", "stalled.", uid="C3", session="S1",
                                 frames=[frame]) for frame in (4291, 4294))
    assert _finding_key(early) == _finding_key(later)
    refused = [make_finding("data_refused", "refused.", uid="C3", session="S1", frames=[f])
               for f in (12, 40)]
    assert _finding_key(refused[0]) != _finding_key(refused[1])

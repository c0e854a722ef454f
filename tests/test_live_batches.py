"""What `live` prints while the capture runs is what its final report says.

A finding printed early is never printed again, so its words must already be the
report's. Each stored capture here is read in fixed batches, a check after each
(tests/live_batches.py: the same batches whatever the machine's load), and every finding
printed is compared with the report's. Each capture is one where a finding printed early
read otherwise at the end (tests/live_sweep.py over every stored capture), or a finding
was never printed at all; together they cover the certainty classes of flowcheck.live:
certain once seen, after a silence (and a backed-off SYN), when the session is quiet,
after a reset's resends, for every session a connection fits, and the final report only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from live_batches import batch_events, capture_bytes, early_mismatches, unprinted

from flowcheck.regress_cases import find_cases

CAPTURES = Path(__file__).resolve().parent.parent / "captures"

# (capture, batch bytes, codes printed while it runs, codes that wait for the report).
CASES = [
    # port_reused_within_hold's fix counts the most ports the host held at once: printed
    # once C6 was quiet it said "held at most 19 at once", the report 30. Certain once
    # seen: the callbacks refused, the configured ranges overlapping; after their
    # backed-off silence: the data SYNs unanswered.
    ("trial35-many/three-agents-failing.pcap", 4096,
     {"callback_refused", "ranges_overlap", "data_unanswered"},
     {"port_reused_within_hold", "announced_address_mismatch"}),
    # range_too_small, no connection (it was two, the host's and the job's, and the
    # second was never printed; one since task rangesmall): printed with the report.
    ("trial34-firewall/agent-range-too-small.pcap", 4096,
     {"port_outside_agent_range"}, {"range_too_small"}),
    # control_off_backup_network names every connection off the network: printed at the
    # first data connection's SYN, the report's counts two.
    ("lab-trial19-network/as1-asymmetric-data.pcap.gz", 4096,
     set(), {"control_off_backup_network"}),
    # capture_loss: a warning for 48 B of 480 B; the report's an info for 284 B of 824 kB.
    ("ndmjob-sniffloss/par-ann-media.pcap.gz", 4096, set(), {"capture_loss"}),
    # ndmp_vendor_message printed before its second time: the report's says "(2 times)".
    ("trial36-firewall-devices/asa-callback-drop-nat.pcap", 4096,
     set(), {"ndmp_vendor_message"}),
    # A refused data connection both jobs fit alike, "of session S1 or S2", printed at
    # its RST: the report gives it to S2, in other words, once the other job's data
    # connection to the same port came. Certain once no connection to the endpoint has
    # come for `settle` seconds (and both jobs are quiet: test_a_failure_two_jobs_fit_...).
    ("field49-matrix/two-tls-jobs-dual-stack-port-in-use-snap96.pcap.gz", 4096,
     set(), set()),
    # data_reset by a duplicate address's RST: the agent resent at 17.7 s, 33.4 s and
    # 64.6 s and its job halted at 31.9 s; printed after 10 s of quiet, it named frame
    # 717 as the last data packet and no halt.
    ("trial37c-topology/duplicate-agent-address-media.pcap.gz", 4096, set(), {"data_reset"}),
]


@pytest.mark.parametrize(("name", "size", "early", "late"), CASES,
                         ids=[case[0] for case in CASES])
def test_each_finding_printed_reads_as_the_final_report(
        name: str, size: int, early: set[str], late: set[str]) -> None:
    [case] = find_cases([str(CAPTURES / name)])
    events, running = batch_events(capture_bytes(case.capture), case.config(), size)
    printed = {e.finding.code for e in events[:running] if e.finding is not None}
    assert early <= printed
    assert not late & printed
    assert late <= {e.finding.code for e in events[running:-1] if e.finding is not None}
    assert early_mismatches(events) == []
    # Every finding of the report was printed, word for word (a stall, printed once per
    # connection with the resend it had reached, is in none of these captures).
    assert unprinted(events) == []


def _with_second_attempt(tmp_path: Path) -> Path:
    """captures/lab/tls-data-port-in-use with the refused data connection (frames 29-30,
    10.77.0.1:5002 -> 10.77.0.2:6001, SYN and RST) tried again from port 5090 10 ms
    before the capture's end, refused alike: a connector that retries from a new port."""
    from decimal import Decimal

    from lab_edits import lab_packets, write
    from scapy.all import IP, TCP

    packets = lab_packets("tls-data-port-in-use")
    end = Decimal(str(packets[-1].time)) - Decimal("0.01")
    retry = []
    for n, sent in enumerate(packets[28:30]):
        again = sent.copy()
        if again[TCP].sport == 5002:
            again[TCP].sport = 5090
        else:
            again[TCP].dport = 5090
        again[IP].id = (again[IP].id + 1) & 0xFFFF
        del again[IP].chksum, again[TCP].chksum
        again.time = end + Decimal(n) / 10**6
        retry.append(again)
    return write(tmp_path, "retried", sorted([*packets, *retry], key=lambda p: p.time))


def test_a_refusal_waits_for_its_endpoint_to_be_quiet(tmp_path: Path) -> None:
    """data_refused counts the attempts to its endpoint: printed at the first RST, it
    lacked the report's "(2 attempts)" and the second attempt's frames."""
    [case] = find_cases([str(CAPTURES / "lab" / "tls-data-port-in-use.pcap")])
    path = _with_second_attempt(tmp_path)
    events, running = batch_events(path.read_bytes(), case.config(), 4096)
    [refused] = [f for f in events[-1].analysis.findings if f.code == "data_refused"]
    assert "refused (2 attempts)" in refused.message and len(refused.frames) == 4
    assert early_mismatches(events) == []
    assert unprinted(events) == []


def test_a_failure_two_jobs_fit_waits_for_both_to_be_quiet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The refused data connection of field49's two TLS jobs ("of session S1 or S2")
    with the endpoint's wait off: its candidates' later packets may tie it to one (the
    report's is S2's), so it is printed once both are quiet, in the report's words."""
    import flowcheck.live

    monkeypatch.setattr(flowcheck.live, "RETRIED_TO_ENDPOINT", frozenset(), raising=False)
    [case] = find_cases([str(CAPTURES / "field49-matrix" /
                             "two-tls-jobs-dual-stack-port-in-use-snap96.pcap.gz")])
    events, running = batch_events(capture_bytes(case.capture), case.config(), 4096)
    [refused] = [e.finding for e in events[:running]
                 if e.finding is not None and e.finding.code == "data_refused"]
    assert refused.session == "S2"
    assert early_mismatches(events) == []


def test_a_session_waiting_for_its_drive_waits_for_the_report() -> None:
    """TAPE_OPEN answered DEVICE_BUSY_ERR, the session open: read with settle 1, the
    session quiet for a second printed ndmp_error_reply ("The session was still open when
    the capture ended, ... no later TAPE_OPEN"), and the DMA's retry 6.4 s later got the
    drive: the report holds no such finding. Only the end of the capture decides it."""
    [case] = find_cases([str(CAPTURES / "trial40-rules" / "tape-busy-retry-succeeds.pcap")])
    events, running = batch_events(capture_bytes(case.capture), case.config(), 4096,
                                   settle=1.0)
    # S4's refusal (frame 69) waits; S2's error replies are still printed while it runs.
    printed = [(e.finding.code, e.finding.session) for e in events[:running] if e.finding]
    assert ("ndmp_error_reply", "S4") not in printed and ("ndmp_error_reply", "S2") in printed
    assert early_mismatches(events) == []
    assert unprinted(events) == []


@pytest.mark.parametrize("name", ["router-link-down-media", "agent-stops-answering-arp-media"])
def test_a_stall_waits_for_the_senders_next_resend(name: str) -> None:
    """Read with settle 1, a data connection whose sender's resends back off (each wait
    doubled) was printed as data_stalled after a second of quiet; the RST that came
    after a later resend made it data_reset in the report. A stall is certain once quiet
    for longer than its resends have lasted, plus the retransmission timeout."""
    [case] = find_cases([str(CAPTURES / "trial37c-topology" / f"{name}.pcap.gz")])
    events, running = batch_events(capture_bytes(case.capture), case.config(), 4096,
                                   settle=1.0)
    assert "data_reset" in {f.code for f in events[-1].analysis.findings}
    assert early_mismatches(events) == []

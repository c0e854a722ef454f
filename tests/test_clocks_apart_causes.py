"""Readings across two clocks that fell to a wrong cause (session 52's leftovers).

Stored captures split by sender, as each host's `tcpdump -Q out` (or a capture
filtered `src host X`) holds them, one host's half stamped `skew` seconds off
(`editcap -t`), merged by time as `mergecap` merges (tests/test_clocks_apart_close.py
builds them so). A reading the two clocks leave open is INCONCLUSIVE with
`capture_clocks_apart`, never a FAIL with a cause the job did not have.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import pytest
from pcap_records import Record, stored_records, tcp_of, write_records

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NDMJOB = CAPTURES / "ndmjob"
AGENT = "10.77.0.2"


def _sender(frame: bytes) -> bytes:
    """An Ethernet frame's IPv4 or IPv6 source address (b"" for any other frame)."""
    kind = frame[12:14]
    return frame[26:30] if kind == b"\x08\x00" else \
        frame[22:38] if kind == b"\x86\xdd" else b""


def _merged(path: Path, records: tuple[Record, ...] | list[Record], linktype: int,
            hosts: str, skew: float) -> Path:
    """`records` (Ethernet) with those whose IPv4 or IPv6 source is one of `hosts` (one
    host's addresses, comma-separated) stamped `skew` seconds later (earlier when
    negative), sorted by time as mergecap merges (stable: each host's own order kept),
    written to `path`."""
    sources = {ip_address(host).packed for host in hosts.split(",")}
    micros = round(skew * 1_000_000)
    moved = sorted((replace(r, micros=r.micros + micros) if _sender(r.data) in sources
                    else r for r in records), key=lambda r: r.micros)
    return write_records(path, linktype, moved)


def _analyze(path: Path, config: Path) -> Analysis:
    settings = build_config(load_file(config))
    return analyze(read_traffic([str(path)], settings), settings)


@functools.cache
def _late_started(tmp: Path) -> Analysis:
    """ndmjob/v4-backup, the agent's own capture started after its data connection's
    SYN (frame 12: its packets from frame 14 on), merged with its clock 10 s behind."""
    linktype, records = stored_records(NDMJOB / "v4-backup.pcap")
    agent = ip_address(AGENT).packed
    kept = [r for at, r in enumerate(records, 1) if at >= 14 or _sender(r.data) != agent]
    return _analyze(_merged(tmp / "late-started.pcap", kept, linktype, AGENT, -10.0),
                    NDMJOB / "flowcheck.toml")


def test_no_upper_bound_leaves_the_connection_unknown(tmp_path_factory) -> None:
    """The only proof is the data connection's (the agent's data stamped 9.994 s before
    the mover's SYN-ACK, its SYN not captured): nothing bounds the lag from above, and
    matching allowed its least, so the agent's connection, stamped 10.000 s before the
    DATA_CONNECT, was not the job's: FAIL announced_not_used beside a good backup
    (review 52b). Whether it followed the announcement is not read: INCONCLUSIVE,
    capture_clocks_apart, step 3 unknown."""
    result = _late_started(tmp_path_factory.getbasetemp())
    codes = {f.code for f in result.findings}
    assert "announced_not_used" not in codes
    assert not any(f.severity == "error" for f in result.findings)
    assert result.verdict == "inconclusive"
    (clocks,) = [f for f in result.findings if f.code == "capture_clocks_apart"]
    assert "nothing in the capture bounds the lag from above" in clocks.message
    assert "whether a connection to 10.77.0.1:5014 followed DATA_CONNECT (frame 1483) " \
           "cannot be told (announced_not_used is not read)" in clocks.message
    (session,) = [s for s in result.sessions if s.announced]
    step = session.steps[2]  # the data connection to the announced endpoint
    assert step.status == "unknown" and "(capture_clocks_apart)" in step.detail


@pytest.mark.parametrize("skew", [0.5, 3600.0])
def test_an_icmp_reject_on_the_agents_clock_ahead_stays_the_refusal(tmp_path: Path,
                                                                    skew: float) -> None:
    """lab/data-port-rejected: the agent's firewall rejects the mover's data SYN with an
    ICMP port unreachable (FAIL data_refused). Merged with the agent's clock ahead, its
    reject (stamped on the agent's clock) is written after the media server's FIN, and
    the refused connection read as a retry after the job: FAIL announced_not_used. The
    handshakes prove the lag, so the reject may have come before the close: FAIL
    data_refused, step 4 failed, as on one clock."""
    lab = CAPTURES / "lab"
    linktype, records = stored_records(lab / "data-port-rejected.pcap")
    result = _analyze(_merged(tmp_path / "rejected.pcap", records, linktype, AGENT, skew),
                      lab / "data-port-rejected.toml")
    codes = {f.code for f in result.findings if f.severity == "error"}
    assert codes == {"data_refused"} and result.verdict == "fail"
    (refused,) = [f for f in result.findings if f.code == "data_refused"]
    assert "ICMP port unreachable" in refused.message
    (session,) = result.sessions
    assert [s.status for s in session.steps][3:] == ["failed", "missing"]


@pytest.mark.parametrize("skew", [-0.5, -3600.0])
def test_a_dual_stack_callback_on_the_agents_clock_behind(tmp_path: Path, skew: float) -> None:
    """field46-matrix/callback-dropped-dual-stack-two-jobs (two Backup Exec jobs to a
    dual-stack agent host, control over IPv6, callbacks over IPv4; the media server's
    input drops job 1's callback SYNs: FAIL callback_unanswered). Merged with the agent
    host's clock behind, each callback (the agent's clock) is stamped before its job
    engine's vendor message (the media server's), the start of the window a callback
    under another address is taken in: neither job had its callback, FAIL step_missing
    and unannounced_connection. The window opens the lag's upper bound earlier: FAIL
    callback_unanswered for job 1, job 2's callback its own, as on one clock."""
    matrix = CAPTURES / "field46-matrix"
    name = "callback-dropped-dual-stack-two-jobs"
    linktype, records = stored_records(matrix / f"{name}.pcapng")
    agent = "10.77.0.2,10.77.0.3,fd77::2,fd77::3"  # the agent host's addresses
    result = _analyze(_merged(tmp_path / "dual.pcap", records, linktype, agent, skew),
                      matrix / f"{name}.toml")
    errors = {f.code for f in result.findings if f.severity == "error"}
    assert errors == {"callback_unanswered"} and result.verdict == "fail"
    assert "unannounced_connection" not in {f.code for f in result.findings}
    steps = {s.remote_agent: [step.status for step in s.steps] for s in result.sessions}
    assert steps["fd77::2"][:2] == ["ok", "failed"]
    assert steps["fd77::3"][:4] == ["ok"] * 4


def test_acks_before_every_synack_still_read_the_handshake(tmp_path: Path) -> None:
    """lab/control-ack-dropped (the agent's input drops the media server's packets
    after its control SYN: FAIL handshake_incomplete, its SYN-ACK resent 4 times).
    Merged with the agent's clock an hour ahead, the media server's ACKs and FINs are
    written before all five SYN-ACKs, which no handshake proves apart (no data: nothing
    stamped before its answer), and it read FAIL ndmp_no_reply ("accepted the control
    connection but never sent an NDMP message"). The originator went on before any
    SYN-ACK the capture holds, so the SYN-ACKs beyond one per SYN are resends after
    its ACK: FAIL handshake_incomplete, step 1 failed, as on one clock."""
    lab = CAPTURES / "lab"
    linktype, records = stored_records(lab / "control-ack-dropped.pcap")
    result = _analyze(_merged(tmp_path / "ack.pcap", records, linktype, AGENT, 3600.0),
                      lab / "control-ack-dropped.toml")
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["handshake_incomplete"]
    assert "resent its SYN-ACK 4 times" in errors[0].message
    (session,) = result.sessions
    assert session.steps[0].status == "failed"


def test_a_cut_announcement_across_two_clocks_keeps_its_connection(tmp_path: Path) -> None:
    """ndmjob-firewall/v3-snap96-media-drop (captured -s 96: the DATA_CONNECT's address
    cut; the media server's firewall drops the agent's data SYNs: FAIL data_unanswered,
    the connection matched by direction and ports). Merged with the agent's clock 0.5 s
    behind, its SYNs are stamped before the DATA_CONNECT, no candidate after it: FAIL
    ndmp_no_reply ("never answered DATA_CONNECT") and unannounced_connection. The match
    allows the lag's upper bound, as announcement matching does: FAIL data_unanswered."""
    firewall = CAPTURES / "ndmjob-firewall"
    linktype, records = stored_records(firewall / "v3-snap96-media-drop.pcap")
    result = _analyze(_merged(tmp_path / "cut.pcap", records, linktype, AGENT, -0.5),
                      firewall / "v3-snap96-media-drop.toml")
    codes = {f.code for f in result.findings}
    assert {f.code for f in result.findings if f.severity == "error"} == {"data_unanswered"}
    assert "unannounced_connection" not in codes
    (session,) = result.sessions
    assert [s.status for s in session.steps][2:] == ["failed", "missing"]


@pytest.mark.parametrize("skew", [-0.5, 0.5])
def test_abortive_closes_across_two_clocks_keep_the_halts(tmp_path: Path, skew: float) -> None:
    """lab-trial19-refuse/w3-both-rst-close: three resources within 0.15 s, each data
    connection reset by the media server right after the agent's FIN, each halt
    CONNECT_ERROR, the agent resetting the control connection after its last halt (FAIL
    data_halted_abnormally x3). Merged with the agent's clock 0.5 s behind, its control
    RST was stamped before the third DATA_START_BACKUP: FAIL control_reset "while the
    job's resource 3 was running" besides; 0.5 s ahead, each FIN was written after the
    RST: FAIL data_reset x3, "before any FIN". Neither order is read across the lag:
    FAIL data_halted_abnormally x3, as on one clock (capture_clocks_apart for the reset
    left unread)."""
    refuse = CAPTURES / "lab-trial19-refuse"
    linktype, records = stored_records(refuse / "w3-both-rst-close.pcap.gz")
    result = _analyze(_merged(tmp_path / "w3.pcap", records, linktype, AGENT, skew),
                      refuse / "w3-both-rst-close.toml")
    errors = [f.code for f in result.findings if f.severity == "error"]
    assert errors == ["data_halted_abnormally"] * 3 and result.verdict == "fail"
    clocks = [f for f in result.findings if f.code == "capture_clocks_apart"]
    assert len(clocks) == (skew < 0)
    if clocks:
        assert "(control_reset is not read)" in clocks[0].message


@pytest.mark.parametrize("skew", [-0.5, -2.0])
def test_a_dma_killed_keeps_its_data_reset(tmp_path: Path, skew: float) -> None:
    """ndmjob-kill/dma-sigint-media: the DMA (media server) interrupted mid-backup resets
    its data connection and closes the control connection 0.07 ms later (FAIL
    data_reset on one clock). Merged with the agent's clock behind, the agent's FIN
    answering the media server's is written first: the session read as ended before the
    reset, FAIL control_closed ("closed by the agent" at 2 s). That FIN acknowledges the
    media server's, whose own FIN, on the RST's clock, follows the RST: FAIL data_reset."""
    kill = CAPTURES / "ndmjob-kill"
    linktype, records = stored_records(kill / "dma-sigint-media.pcap.gz")
    result = _analyze(_merged(tmp_path / "sigint.pcap", records, linktype, AGENT, skew),
                      kill / "dma-sigint-media.toml")
    assert [f.code for f in result.findings if f.severity == "error"] == ["data_reset"]
    (reset,) = [f for f in result.findings if f.code == "data_reset"]
    assert "reset by the media server 10.77.0.1" in reset.message


def test_an_agent_crash_within_the_lag_is_not_read(tmp_path: Path) -> None:
    """ndmjob-kill/agent-crash-restore-names-media: the agent (10.77.1.2, a router away)
    crashes right after DATA_START_RECOVER, closing its data and control connections at
    once (FAIL control_closed, the data close its consequence). Merged with the agent's
    clock 0.5 s behind, both FINs are stamped before the DATA_START_RECOVER: no start
    before the close, and the data connection's close read as its own failure, FAIL
    data_aborted. The start may have come before the close (the lag): the close is not
    read, nor the data close apart from it: INCONCLUSIVE, capture_clocks_apart."""
    kill = CAPTURES / "ndmjob-kill"
    name = "agent-crash-restore-names-media"
    linktype, records = stored_records(kill / f"{name}.pcap.gz")
    result = _analyze(_merged(tmp_path / "crash.pcap", records, linktype, "10.77.1.2", -0.5),
                      kill / f"{name}.toml")
    assert not [f for f in result.findings if f.severity == "error"]
    assert result.verdict == "inconclusive"
    assert "capture_clocks_apart" in {f.code for f in result.findings}
    (session,) = result.sessions
    assert session.steps[-1].status == "unknown"


def test_a_callback_in_order_on_its_own_clock(tmp_path: Path) -> None:
    """field35-matrix/restore-ack-dropped-data-resent (the agent's input drops the data
    connection's packets after its SYN: FAIL handshake_incomplete). Merged with the
    agent's clock 0.5 s ahead, its callback's SYN (the agent's clock) is stamped and
    written after the media server's data SYN: FAIL step_out_of_order besides. On the
    agent's own packets (its data SYN-ACK) the callback came first: no step_out_of_order."""
    matrix = CAPTURES / "field35-matrix"
    name = "restore-ack-dropped-data-resent"
    linktype, records = stored_records(matrix / f"{name}.pcap")
    result = _analyze(_merged(tmp_path / "restore.pcap", records, linktype, AGENT, 0.5),
                      matrix / f"{name}.toml")
    assert [f.code for f in result.findings if f.severity == "error"] == ["handshake_incomplete"]
    (session,) = result.sessions
    assert session.steps[1].status == "ok"


@pytest.mark.parametrize("lost", [None, 410])
def test_a_late_callback_stays_out_of_order_across_two_clocks(tmp_path: Path,
                                                              lost: int | None) -> None:
    """lab/clean-3-resources with its callback's handshake moved 0.4 ms after the first
    data connection's SYN (FAIL step_out_of_order on one clock), merged with the agent's
    clock 0.5 s ahead: on the agent's own packets the callback's SYN still follows its
    data SYN-ACK: FAIL step_out_of_order, step 2 violated. So too with the third data
    connection's SYN-ACK (frame 411) left out, as the agent's capture may lose it: a
    data connection without the agent's opening tells nothing of the order, and the
    first one's still shows the callback later (it read PASS: review 53c)."""
    lab = CAPTURES / "lab"
    linktype, records = stored_records(lab / "clean-3-resources.pcap")
    callback_start, data_syn = records[16].micros, records[21].micros
    late = sorted((replace(r, micros=data_syn + 400 + r.micros - callback_start)
                   if at < 40 and (tcp := tcp_of(r.data)) is not None
                   and 6077 in (tcp.sport, tcp.dport) else r
                   for at, r in enumerate(records) if at != lost), key=lambda r: r.micros)
    result = _analyze(_merged(tmp_path / "late.pcap", late, linktype, AGENT, 0.5),
                      lab / "clean-3-resources.toml")
    assert [f.code for f in result.findings if f.severity == "error"] == ["step_out_of_order"]
    (session,) = result.sessions
    assert session.steps[1].status == "violated"


def test_a_reused_data_tuple_across_two_clocks_is_no_late_callback(tmp_path: Path) -> None:
    """lab/port-reused-within-hold (two good jobs, the second's data connection on the
    first's 4-tuple: PASS) merged with the agent's clock 3.5 s ahead: the tracker gives
    the first job's SYN-ACK to the second's connection, so on the agent's packets alone
    the second job's callback follows its data connection's opening. The file's and the
    stamps' order say otherwise: no step_out_of_order (it read FAIL when the agent's own
    packets alone decided), PASS."""
    lab = CAPTURES / "lab"
    linktype, records = stored_records(lab / "port-reused-within-hold.pcap")
    result = _analyze(_merged(tmp_path / "reused.pcap", records, linktype, AGENT, 3.5),
                      lab / "port-reused-within-hold.toml")
    assert result.verdict == "pass"
    assert "step_out_of_order" not in {f.code for f in result.findings}


def test_a_nat_rewritten_data_connection_across_two_clocks(tmp_path: Path) -> None:
    """lab/announced-address-nat (the agent announces an address a NAT rewrites; the
    data connection reaches the announced port at the control connection's address:
    FAIL announced_address_mismatch). Merged with the agent's clock 0.5 s ahead, the
    media server's data SYN is stamped before the DATA_LISTEN reply (the agent's clock),
    and the match at the control connection's address took none before it: INCONCLUSIVE
    capture_filtered and unannounced_connection. It allows the lag too: FAIL
    announced_address_mismatch, as on one clock."""
    lab = CAPTURES / "lab"
    linktype, records = stored_records(lab / "announced-address-nat.pcap")
    result = _analyze(_merged(tmp_path / "nat.pcap", records, linktype, AGENT, 0.5),
                      lab / "announced-address-nat.toml")
    assert [f.code for f in result.findings if f.severity == "error"] == \
        ["announced_address_mismatch"]
    assert not {"capture_filtered", "unannounced_connection"} & {f.code for f in result.findings}

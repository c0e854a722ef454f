"""Field check 38's randomized lab matrix (captures/field38-matrix): cases where the
injected fault is the expected answer and flowcheck gave a confident wrong one.

An agent killed mid-transfer, captured one way (-Q in on the media server: the agent's
packets, the direction its halts travel) or with -s 96 (every header kept): control_closed,
it passed. The same killed in a restore, captured -Q out (the media server's packets
only): control_closed read from the media server's ACKs (field check 54; inconclusive
before), it passed. A callback dropped by the agent's own output chain: the
fix names the agent first, it named the media server's inbound rules alone. The killed
agent's step 5 is failed beside control_closed (it read ok). Data SYNs dropped by the
media server's own output chain: announced_not_used names its outbound rules.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cli_json import ROOT, analyze_cli, run_json

CASE = ROOT / "captures" / "field38-matrix" / "agent-killed-one-direction-in"


def analyze_json(capture: Path, config: Path,
                 exit_codes: tuple[int, ...] = (0, 1, 5)) -> dict:
    """`analyze --config CONFIG --format json CAPTURE`'s document, run in this process:
    these tests read the document, not the process (the text of step 5 is read from a
    real one, analyze_cli)."""
    return run_json("analyze", "--config", str(config), "--format", "json", str(capture),
                    exit_codes=exit_codes)


def analyze(stem: Path) -> dict:
    return analyze_json(stem.with_suffix(".pcap"), stem.with_suffix(".toml"))


def test_agent_killed_one_direction_in_fails_control_closed() -> None:
    report = analyze(CASE)
    assert report["verdict"] == "fail"
    closed = [f for f in report["findings"] if f["code"] == "control_closed"]
    assert len(closed) == 1
    assert "10.77.0.2" in closed[0]["message"]  # the agent closed it
    assert "only" in closed[0]["message"]  # says the capture holds one direction
    assert "agent" in closed[0]["fix"]
    assert {f["code"] for f in report["findings"]} >= {"capture_one_direction"}


def test_agent_killed_snap96_fails_control_closed() -> None:
    """The snap length cut the bodies only (every header kept, both directions, no byte
    missed): the agent's FIN after DATA_START_BACKUP with no NOTIFY_DATA_HALTED header
    is the same evidence as in a whole capture; it passed."""
    report = analyze(CASE.with_name("agent-killed-snap96-two-points"))
    assert report["verdict"] == "fail"
    closed = [f for f in report["findings"] if f["code"] == "control_closed"]
    assert len(closed) == 1
    assert "10.77.1.2" in closed[0]["message"]
    assert "snap length" in closed[0]["message"]


def test_restore_cut_media_side_only_reads_the_agents_close_from_its_acks() -> None:
    """The media server's packets only: it closed the control connection after
    DATA_START_RECOVER with no DATA_STOP, DATA_ABORT or CONNECT_CLOSE; the agent's side is
    not in the capture, but the media server's ACKs are: after the request they count
    32 B of the agent's (its reply; the data flowed after it) and then its FIN, which the
    media server's own FIN (frame 191) acknowledges, no room for a halt. So the agent
    closed the session mid-job (control_closed, verify.acked_no_halt; field check 54
    read it so), never a pass and not a failure blamed on the media server (it read
    inconclusive, step 5 unknown, until then)."""
    report = analyze(CASE.with_name("restore-agent-killed-one-direction-out"))
    assert report["verdict"] == "fail"
    [closed] = [f for f in report["findings"] if f["severity"] == "error"]
    assert closed["code"] == "control_closed"
    assert closed["message"].startswith(
        "The control connection 10.77.0.1:5009 -> 10.77.0.2:10000 was closed by the agent "
        "10.77.0.2 (its FIN, in the direction the capture lacks: 10.77.0.1:5009's own FIN "
        "(frame 191) acknowledges it) while the job was running (DATA_START_RECOVER, frame "
        "13, no NOTIFY_DATA_HALTED")
    assert "it acknowledged 32 B of them" in closed["message"]
    step5 = next(s for s in report["sessions"][0]["steps"] if s["step"] == 5)
    assert step5["status"] == "failed"
    assert "control_closed" in step5["detail"]


def test_callback_dropped_by_agent_egress_fix_names_agent() -> None:
    """No callback SYN in a capture on the media server's segment (equal TTLs): the
    media server's firewall sees packets after the capture tap, so it cannot be the only
    place named; the agent's outbound rules and the devices between come first (it said
    'inbound on the media server' alone)."""
    report = analyze(CASE.with_name("callback-dropped-agent-egress"))
    assert report["verdict"] == "fail"
    missing = [f for f in report["findings"] if f["code"] == "step_missing"]
    assert len(missing) == 1
    assert "outbound on the agent" in missing[0]["fix"]
    assert "between them" in missing[0]["fix"]


def _data_flow_step(report: dict) -> dict:
    return next(s for s in report["sessions"][0]["steps"] if s["step"] == 5)


def test_agent_killed_step5_failed_on_control_closed() -> None:
    """The agent's FIN on the control connection mid-job, no halt (control_closed): the
    job ended before its data did, so step 5 is failed on that FIN, naming the finding,
    in the JSON and the text alike (it read `ok` on the bytes sent before the kill)."""
    for name, fin in (("agent-killed-one-direction-in", 109),
                      ("agent-killed-snap96-two-points", 1657)):
        report = analyze(CASE.with_name(name))
        step5 = _data_flow_step(report)
        assert report["verdict"] == "fail"
        assert step5["status"] == "failed", name
        assert "control_closed" in step5["detail"]
        assert f"FIN, frame {fin}" in step5["detail"]
        assert fin in step5["frames"]
        assert report["sessions"][0]["control_uid"] in step5["uids"]
    text = analyze_cli(CASE.with_suffix(".pcap"), CASE.with_suffix(".toml")).stdout
    row = next(line for line in text.splitlines() if line.startswith("5 "))
    assert " failed " in row and " ok " not in row


def test_data_dropped_by_media_egress_fix_names_its_outbound_rules() -> None:
    """No data SYN in a capture on the media server's segment (equal TTLs): its own
    output chain acts before its packet tap, so its outbound rules are a cause wherever
    the capture was taken; the fix names them beside the firewalls between (it named
    only those, and a capture on the connecting side, which shows none either)."""
    report = analyze(CASE.with_name("data-dropped-media-egress"))
    assert report["verdict"] == "fail"
    unused = [f for f in report["findings"] if f["code"] == "announced_not_used"]
    assert len(unused) == 2
    for finding in unused:
        assert "outbound on 10.77.0.1" in finding["fix"]
        assert "every firewall on the way" in finding["fix"]
        assert "its own outbound" in finding["message"]


def test_data_dropped_by_media_egress_routed_names_media_server_only() -> None:
    """Captured on the media server's side of a router (its packets at an initial TTL,
    the agent's one lower): no SYN left it, so neither the router nor the agent's
    firewall is the cause; the fix starts with its own outbound rules."""
    report = analyze(CASE.with_name("data-dropped-media-egress-routed"))
    assert report["verdict"] == "fail"
    unused = [f for f in report["findings"] if f["code"] == "announced_not_used"]
    assert len(unused) == 1
    assert unused[0]["fix"].startswith("On 10.77.0.1 itself, allow TCP to 10.77.1.2:6001 in "
                                       "its outbound rules")
    assert "every firewall on the way" not in unused[0]["fix"]
    assert "no SYN to it left that host" in unused[0]["message"]


def test_agent_killed_with_loss_before_the_start_fails_control_closed() -> None:
    """Seed 49 run 28: the sniffer lost one reply before DATA_START_BACKUP; every byte
    after it is in the capture, so the agent's FIN with no NOTIFY_DATA_HALTED after the
    start is the same evidence as in a whole stream; it passed."""
    stem = CASE.with_name("agent-killed-loss-before-start")
    report = analyze_json(stem.with_suffix(".pcap.gz"), stem.with_suffix(".toml"),
                          exit_codes=(1,))
    [closed] = [f for f in report["findings"] if f["code"] == "control_closed"]
    assert "closed by the agent 10.77.0.2 (FIN, frame 768) while the job was running" in \
        " ".join(closed["message"].split())


def _one_way(tmp_path: Path, capture: Path, source: str, keep: bool) -> Path:
    """capture with only the packets whose IPv4 source is `source` (keep) or the others:
    one direction, as `tcpdump -Q out` or `-Q in` on the media server takes it."""
    from pcap_records import read_records, write_records

    linktype, records = read_records(capture)
    wanted = bytes(int(part) for part in source.split("."))
    kept = [r for r in records if (r.data[26:30] == wanted) == keep]
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / f"{capture.name.split('.')[0]}-{keep}.pcap", linktype, kept)


def _analyze_cut(cut: Path, stem: Path) -> dict:
    return analyze_json(cut, stem.with_suffix(".toml"))


def test_agent_killed_with_loss_before_the_start_cut_to_the_agents_side(
        tmp_path: Path) -> None:
    """Seed 49 run 28 cut to the agent's direction: its reply to DATA_START_BACKUP stands
    for the request, the sniffer's loss came before it, so its FIN with no halt after the
    reply is control_closed as in the whole capture (it passed: any missed byte of the
    control connection hid the one-way start)."""
    stem = CASE.with_name("agent-killed-loss-before-start")
    cut = _one_way(tmp_path, stem.with_suffix(".pcap.gz"), "10.77.0.1", keep=False)
    report = _analyze_cut(cut, stem)
    assert report["verdict"] == "fail"
    [closed] = [f for f in report["findings"] if f["code"] == "control_closed"]
    assert "The capture holds only 10.77.0.2's packets" in " ".join(closed["message"].split())


def test_agent_killed_snap96_cut_to_each_side(tmp_path: Path) -> None:
    """The -s 96 capture (every header kept) cut to one direction: the agent's side holds
    its FIN with no halt header after its start reply (control_closed); the media
    server's, its close after DATA_START_BACKUP with no DATA_STOP, its FIN acknowledging
    32 B of the agent's after the request and then the agent's FIN: no room for a halt
    besides the reply (control_closed too, verify.acked_no_halt; field check 54: step 5
    unknown before). Both passed: a snap-cut stream counted as unread."""
    stem = CASE.with_name("agent-killed-snap96-two-points")
    agent = _analyze_cut(_one_way(tmp_path, stem.with_suffix(".pcap"), "10.77.0.1",
                                  keep=False), stem)
    assert agent["verdict"] == "fail"
    assert [f["code"] for f in agent["findings"] if f["severity"] == "error"] == [
        "control_closed"]
    media = _analyze_cut(_one_way(tmp_path, stem.with_suffix(".pcap"), "10.77.0.1",
                                  keep=True), stem)
    assert media["verdict"] == "fail"
    [closed] = [f for f in media["findings"] if f["severity"] == "error"]
    assert closed["code"] == "control_closed"
    assert ("closed by the agent 10.77.1.2 (its FIN, in the direction the capture lacks: "
            "10.77.0.1:5007's own FIN (frame 157) acknowledges it)") in closed["message"]
    assert "it acknowledged 32 B of them" in closed["message"]
    assert _data_flow_step(media)["status"] == "failed"


LISTEN_CASE = CASE.with_name("range-small-listen-unanswered-snap96")


def test_listen_never_answered_under_a_snap_length_fails_step_3() -> None:
    """Lab matrix seed 55 run 26 (-s 96 on the router, 2 records unread): the agent's
    sequence numbers show it sent nothing after the third DATA_LISTEN (frame 457) before
    its FIN, so the request was never answered, as in a whole capture; it passed."""
    report = analyze(LISTEN_CASE)
    assert report["verdict"] == "fail"
    [missing] = [f for f in report["findings"] if f["code"] == "step_missing"]
    assert missing["frames"] == [457]
    assert "DATA_LISTEN request (frame 457) was never answered by 10.77.1.2" in \
        " ".join(missing["message"].split())
    [step3] = [s for s in report["sessions"][0]["steps"] if s["step"] == 3]
    assert step3["status"] == "missing"
    # The finding's time is the request's (frame 457, 88 ms in), not the control
    # connection's opening.
    control = [f for f in report["findings"] if f["code"] == "ndmp_partial"][0]
    assert missing["ts"] - control["ts"] > 0.08


def test_listen_reply_lost_by_the_sniffer_is_not_never_answered(tmp_path: Path) -> None:
    """The same capture with the agent's FIN and last ACK 32 bytes further on, as if the
    sniffer had lost a 32-byte reply between the request and the FIN: the gap leaves the
    reply possible, so no step_missing (the silence is the capture's, not the agent's)."""
    from pcap_records import read_records, write_records
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import Ether

    linktype, records = read_records(LISTEN_CASE.with_suffix(".pcap"))
    edited = []
    for number, record in enumerate(records, start=1):
        if number in (459, 461):  # the agent's FIN and its ACK of the media server's
            packet = Ether(record.data)
            packet[TCP].seq += 32
            del packet[TCP].chksum
            record = replace(record, data=bytes(packet))
        edited.append(record)
    cut = write_records(tmp_path / "reply-lost.pcap", linktype, edited)
    report = _analyze_cut(cut, LISTEN_CASE)
    assert "step_missing" not in {f["code"] for f in report["findings"]}
    [step3] = [s for s in report["sessions"][0]["steps"] if s["step"] == 3]
    assert step3["status"] != "missing"


def test_data_connect_never_answered_under_a_snap_length(tmp_path: Path) -> None:
    """ndmjob's three-way job whose agent never answered DATA_CONNECT (its connection to
    the tape agent dropped) cut to 96 bytes a frame, as `tcpdump -s 96` takes it: the
    agent sent nothing after the request, so ndmp_no_reply as in the whole capture, with
    the connecting reading though the snap length cut the endpoint (it read
    inconclusive)."""
    from pcap_records import read_records, write_records

    stem = ROOT / "captures" / "ndmjob-threeway" / "D-v4-3way-datadrop-dma"
    linktype, records = read_records(stem.with_suffix(".pcap.gz"))
    cut = write_records(tmp_path / "snap96.pcap", linktype,
                        [replace(r, data=r.data[:96]) for r in records])
    report = _analyze_cut(cut, stem)
    assert report["verdict"] == "fail"
    [silent] = [f for f in report["findings"] if f["code"] == "ndmp_no_reply"]
    words = " ".join(silent["message"].split())
    assert "never answered DATA_CONNECT (frame 31)" in words
    assert "still connecting to the endpoint it named (the capture's snap length cut" in words
    assert "restart" not in silent["fix"]

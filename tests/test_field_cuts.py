"""Stored captures cut as they come from the field (stopped early, one direction):
readings the sweeps of every stored failing case cut at half and at four fifths of its
frames, and to each direction, found wrong."""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

from flowcheck.model import Finding

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _first(tmp_path: Path, capture: Path, frames: int) -> Path:
    """capture's first `frames` records: a capture stopped there."""
    linktype, records = read_records(capture)
    assert frames < len(records)
    return write_records(tmp_path / f"first-{frames}.pcap", linktype, records[:frames])


def _only_error(tmp_path: Path, folder: str, name: str, frames: int) -> tuple[Finding, str]:
    """The one error of captures/FOLDER/NAME.pcap's first `frames` records (analysed with
    NAME.toml), and its message on one line."""
    capture = _first(tmp_path, CAPTURES / folder / f"{name}.pcap", frames)
    [error] = errors(stored_analysis(capture, config_path=CAPTURES / folder / f"{name}.toml"))
    return error, " ".join(error.message.split())


def test_a_callback_not_yet_due_when_the_capture_stopped_is_unknown(tmp_path: Path) -> None:
    """trial37-impairments/callback-synacks-lost-agent's first 14 frames: the control
    connection's handshake took 7 s (its SYN-ACKs lost), its NDMP conversation began at
    21.7 s and the capture stops right after CONFIG_GET_HOST_INFO: the callback comes
    after the DMA's requests, so it is unknown, not step_missing (it read 'no connection
    from the agent ... after the control connection opened': 21 s after its SYN)."""
    folder = CAPTURES / "trial37-impairments"
    capture = _first(tmp_path, folder / "callback-synacks-lost-agent.pcap", 14)
    analysis = stored_analysis(capture, config_path=folder / "flowcheck.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    step = session.steps[1]
    assert step.status == "unknown"
    assert ("after the control connection's last NDMP message (CONFIG_GET_HOST_INFO, frame "
            "14), while its conversation went on") in " ".join(step.detail.split())
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert 14 in early.frames and "whether the agent called the job engine back" in \
        " ".join(early.message.split())


def test_a_session_given_up_on_a_sender_that_sent_no_data_is_no_crash(
        tmp_path: Path) -> None:
    """trial25-cause/pmtu-blackhole-no-data stopped right after the media server's FINs
    (its first 31 frames, as a user stops the capture when the job fails): the agent's
    packets over 1000 B lost before the sniffer, nothing came from it for 30 s after its
    DATA_START_BACKUP reply, then the media server closed the session: it gave the job up
    waiting for data (it read 'its service stopped, restarted or crashed')."""
    error, message = _only_error(tmp_path, "trial25-cause", "pmtu-blackhole-no-data", 31)
    assert error.code == "control_closed"
    assert ("gave the job up after the agent 10.77.0.2 went silent before any data: nothing "
            "came from the agent 10.77.0.2 on any of the session's connections for 30 s") \
        in message
    assert "had carried no data since it opened" in message
    assert "crashed" not in message


def test_a_data_connection_given_up_after_waiting_is_no_cancelled_job(
        tmp_path: Path) -> None:
    """field35-matrix/backup-ack-dropped-dir-out (`tcpdump -Q out` on the media server, the
    agent's input chain dropping every packet after the SYN) stopped right after the
    media server's FINs 30 s on (its first 22 frames): its ACK of the handshake went out
    3 times (answering resent SYN-ACKs), nothing of the agent's came, then it closed the
    data connection: a data timeout on a connection that never opened at the agent, not
    'closed it itself (the job was cancelled, or an error on its side)'."""
    error, message = _only_error(tmp_path, "field35-matrix", "backup-ack-dropped-dir-out", 22)
    assert error.code == "data_aborted"
    assert "10.77.0.1 closed it 30 s after it opened, no byte of the agent 10.77.0.2's" in message
    assert "it gave up waiting for the data (a data timeout)" in message
    assert "Its ACK completing the handshake went out 3 times" in message
    assert "the job was cancelled" not in message
    assert error.fix.startswith("Check the firewall on 10.77.0.2")


def test_a_data_connection_its_side_never_closed_is_unknown(tmp_path: Path) -> None:
    """trial37b-firewall-features/synproxy-dataport-closed-media with the media server's
    packets only (`tcpdump -Q out`): a SYN proxy completed the handshake, the agent's
    kernel reset the connection it opened (its data port in use). The media server's
    side shows C3's SYN and ACK, then nothing, while it closed the other data
    connections and the control connection: a RST it got, which the capture lacks, ended
    C3; step 5 is unknown, not ok (it read PASS)."""
    from pcap_records import read_records, write_records

    folder = CAPTURES / "trial37b-firewall-features"
    linktype, records = read_records(folder / "synproxy-dataport-closed-media.pcap.gz")
    media = bytes([10, 77, 0, 1])
    cut = write_records(tmp_path / "media-only.pcap", linktype,
                        [r for r in records if r.data[26:30] == media])
    analysis = stored_analysis(cut, config_path=folder / "flowcheck.toml")
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    step = session.steps[-1]
    assert step.status == "unknown"
    detail = " ".join(step.detail.split())
    assert ("C3 (10.77.0.1:5002 -> 10.77.1.2:6001) carried nothing and 10.77.0.1 never "
            "closed it (no FIN or RST of its own)") in detail


def test_gaps_with_the_receiver_unseen_are_not_said_to_be_the_sniffers(
        tmp_path: Path) -> None:
    """trial38-stack/jumbo-switch-1500-halt-after-media with the agent's packets only
    (`tcpdump -Q in` on the media server): a switch dropped every full-size segment, so
    62,636 of 63,488 bytes are a gap before the agent's FIN. With no ACK of the media
    server's in the capture, the sender going on proves no sniffer loss: capture_loss
    says so (it said only "so the sniffer lost them, not the network")."""
    from pcap_records import read_records, write_records

    folder = CAPTURES / "trial38-stack"
    name = "jumbo-switch-1500-halt-after-media"
    linktype, records = read_records(folder / f"{name}.pcap")
    media = bytes([10, 77, 0, 1])
    cut = write_records(tmp_path / "agent-only.pcap", linktype,
                        [r for r in records if r.data[26:30] != media])
    config = folder / f"{name}.toml"
    analysis = stored_analysis(cut, config_path=config if config.exists()
                               else folder / "flowcheck.toml")
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    message = " ".join(loss.message.split())
    assert ("The capture missed 62,636 B of TCP payload in 1 gap (at least as many "
            "segments) of the sender's stream across 1 connection whose receiver's packets "
            "the capture does not hold, one direction") in message
    assert ("No ACK of the receiver's is in the capture to tell whether they arrived, so "
            "who lost them cannot be told") in message
    assert "the sniffer lost them" not in message
    # Step 5's count says so too (verify.acked_missed: "segments the sniffer missed").
    [detail] = [step.detail for step in analysis.sessions[0].steps
                if "62,636 B more" in step.detail]
    assert ("62,636 B more that the capture lacks and the agent never resent (segments the "
            "sniffer or the network lost: capture_loss;") in detail


def _from_others(tmp_path: Path, capture: Path, media_server: str) -> Path:
    """capture without the packets whose IPv4 source is the media server: the agent's
    direction only, as `tcpdump -Q in` on the media server takes it."""
    linktype, records = read_records(capture)
    media = bytes(int(part) for part in media_server.split("."))
    kept = [r for r in records if r.data[26:30] != media]
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / "agent-side.pcap", linktype, kept)


def test_a_halt_with_nothing_after_it_in_the_agents_direction_is_unknown(
        tmp_path: Path) -> None:
    """ndmjob-idle/idle-rst-agent cut to the agent's packets: its NOTIFY_DATA_HALTED
    SUCCESSFUL, answered by a router's RST in the media server's name (not captured), is
    the last thing it sent: no DATA_STOP reply, no FIN. Whether the halt reached the DMA
    and the job ended is in the direction the capture lacks: step 4 unknown (it passed)."""
    folder = CAPTURES / "ndmjob-idle"
    capture = _from_others(tmp_path, folder / "idle-rst-agent.pcap.gz", "10.77.0.1")
    analysis = stored_analysis(capture, config_path=folder / "idle-rst-agent.toml")
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    step = session.steps[-1]
    assert step.status == "unknown"
    assert ("after its NOTIFY_DATA_HALTED (frame 3403) it sent nothing more"
            in " ".join(step.detail.split()))


def test_a_finished_job_in_the_agents_direction_still_passes(tmp_path: Path) -> None:
    """ndmjob/v4-backup cut to the agent's packets: after its halt the agent answers the
    DMA's DATA_STOP and the rest of the job's end, which shows the job ended: pass."""
    folder = CAPTURES / "ndmjob"
    capture = _from_others(tmp_path, folder / "v4-backup.pcap", "10.77.0.1")
    analysis = stored_analysis(capture, config_path=folder / "flowcheck.toml")
    assert analysis.verdict == "pass"
    assert all(step.status == "ok" for step in analysis.sessions[0].steps)


def test_a_busy_drive_the_session_still_waited_for_is_unknown(tmp_path: Path) -> None:
    """trial40-rules/tape-busy-retry-succeeds stopped before the retry (its first 100
    frames): TAPE_OPEN answered DEVICE_BUSY_ERR (frame 69), the session still open, no
    later TAPE_OPEN. The DMA may try the drive again (it did, frame 126, and the job ran):
    a warning and the later steps unknown, inconclusive (it read a failed job)."""
    folder = CAPTURES / "trial40-rules"
    capture = _first(tmp_path, folder / "tape-busy-retry-succeeds.pcap", 100)
    analysis = stored_analysis(capture, config_path=folder / "tape-busy-retry-succeeds.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [busy] = [f for f in analysis.findings if f.code == "ndmp_error_reply"]
    assert busy.frames == [69]
    assert "whether the job got it cannot be seen" in " ".join(busy.message.split())
    assert busy.fix.startswith("Capture until the job ends. If it failed there: let the other")
    waiting = [s for s in analysis.sessions if s.steps[1].status == "unknown"]
    assert len(waiting) == 1
    assert "waited for the tape drive: TAPE_OPEN was answered DEVICE_BUSY_ERR (frame 69)" in \
        " ".join(waiting[0].steps[1].detail.split())


def test_a_busy_drive_the_session_closed_after_stays_a_failure(tmp_path: Path) -> None:
    """The same refusal with the session's close after it (trial39-server-errors'
    tape-open-device-busy: the DMA gave up): the job failed on it, an error."""
    folder = CAPTURES / "trial39-server-errors"
    analysis = stored_analysis(folder / "tape-open-device-busy.pcap",
                               config_path=folder / "flowcheck.toml")
    [busy] = [f for f in errors(analysis) if f.code == "ndmp_error_reply"]
    assert "DEVICE_BUSY_ERR" in busy.message
    assert analysis.verdict == "fail"

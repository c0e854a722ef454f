"""Field check 39: jobs that fail for a reason that is not the network
(captures/trial39-server-errors).

The NDMP server's own error replies and notifications say why: a tape device not open, a
write-protected or busy tape, a full tape, an authentication type refused. They read as
port problems, harmless polls or an operator's cancel; and a control message that never
reached its peer was taken as proof that only the data connection lost packets. The
whole results are regress expectations; here the words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import errors, folder_analysis

from flowcheck.pipeline import Analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial39-server-errors"


def _analysis(name: str) -> Analysis:
    return folder_analysis(FOLDER, name)


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_listen_refused_for_no_open_tape_is_not_a_port() -> None:
    [error] = errors(_analysis("mover-listen-no-tape-open.pcap"))
    assert error.code == "ndmp_error_reply"
    assert "no tape device was open in the session" in _words(error.message)
    assert "port" not in error.fix
    assert error.fix.endswith("(tape agent 10.77.0.2); not a network failure.")


@pytest.mark.parametrize(("name", "why", "fix"), [
    ("tape-open-write-protected.pcap", "the tape in the drive is write-protected",
     "Load a writable tape"),
    ("tape-open-device-busy.pcap", "another session holds the drive",
     "Let the other job finish or end the session that holds the drive"),
])
def test_a_tape_open_refusal_that_ended_the_job_fails_it(name: str, why: str,
                                                         fix: str) -> None:
    analysis = _analysis(name)
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == "ndmp_error_reply"
    message = _words(error.message)
    assert message.startswith("TAPE_OPEN was answered")
    assert f"The server refused it because {why}" in message
    assert "Real jobs answer some polls" not in message
    assert error.fix.startswith(fix)


def test_a_mover_aborted_after_end_of_medium_names_the_full_tape() -> None:
    [error] = errors(_analysis("tape-full-mover-paused-eom.pcap"))
    assert error.code == "data_halted_abnormally"
    message = _words(error.message)
    assert ("The mover had paused before it with reason EOM (NOTIFY_MOVER_PAUSED, frame 48): "
            "the tape was full") in message
    assert "operator" not in message + error.fix
    assert error.fix.startswith("Give the job room on tape")
    assert error.frames == [48, 77]


def test_a_refused_authentication_type_is_not_the_password() -> None:
    [error] = errors(_analysis("auth-type-none-refused.pcap"))
    assert "does not accept the authentication type" in _words(error.message)
    assert "password" not in error.fix
    assert error.fix.startswith("Set the backup application to an authentication type")


def test_a_control_message_resent_unanswered_is_no_sign_the_receiver_was_reachable() -> None:
    [error] = errors(_analysis("agent-firewall-drops-media-midjob.pcap.gz"))
    assert error.code == "data_stalled"
    message = _words(error.message)
    assert "still up and reachable" not in message
    assert "only this connection's packets were lost" not in message
    assert ("its DATA_GET_STATE on the control connection (frame 1311) never reached "
            "10.77.0.2 either") in message
    assert "the host firewall on 10.77.0.2 (a rule that drops 10.77.0.1's packets)" in \
        _words(error.fix)


def test_a_reset_after_the_host_stopped_mid_transfer_is_a_restart_not_an_idle_timeout(
        ) -> None:
    [error] = errors(_analysis("agent-host-rebooted-midjob.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert ("the agent had gone silent on its data connection too, in the middle of sending "
            "(its last data in frame 1135, then nothing, no FIN)") in message
    assert "Either its host stopped (a reboot, a power loss, a crash" in message
    # A paused source behind an idle timeout looks the same (field check 40 h2): second.
    assert "or it paused sending (a slow source) longer than an idle timeout" in message
    assert "drops an idle connection's state after its idle timeout" not in message
    assert error.fix.startswith("See 10.77.0.2's system log for an unexpected shutdown")
    assert error.fix.index("system log") < error.fix.index("raise the TCP idle timeout")


def test_a_reset_followed_by_the_media_servers_own_abort_is_its_job_engines() -> None:
    [error] = errors(_analysis("resident-tape-full-dma-abort.pcap.gz"))
    assert error.code == "data_reset"
    assert "The media server then aborted the job itself (DATA_ABORT, frame 813)" in \
        _words(error.message)
    assert "firewall" not in error.fix
    assert error.fix.startswith("See the media server's job log")
    assert 813 in error.frames


def test_a_start_refused_before_any_data_connection_names_the_missing_step() -> None:
    [error] = errors(_analysis("start-backup-before-data-connect.pcap"))
    assert error.code == "ndmp_error_reply"
    assert "no DATA_CONNECT or DATA_LISTEN came before it in the session" in error.fix
    assert "backup type" not in error.fix

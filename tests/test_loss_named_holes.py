"""One control packet the sniffer lost, whose place the NDMP sequence numbers name, hides
nothing of a failed job's end (flowcheck.verify.hidden_ends): each stored failing capture
below, without that one frame, read PASS."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import case_config, errors, stored_analysis, without_frame

from flowcheck.model import NdmpMessage
from flowcheck.ndmp.lost import hole_contents

CAPTURES = Path(__file__).resolve().parents[1] / "captures"

# (folder, capture, frame removed (1-based), the finding the whole capture reads)
CUTS = [
    # the agent's DATA_START_BACKUP reply: a hole of one message, the reply to a request
    ("ndmjob-kill", "agent-kill9-media", 20, "control_closed"),
    # the DMA's DATA_START_BACKUP request: the agent's reply names it
    ("ndmjob-kill", "agent-kill9-media", 19, "control_closed"),
    # the DMA's DATA_GET_STATE request, behind a router
    ("ndmjob-kill", "agent-kill9-router-media", 20, "control_closed"),
    # a DATA_GET_STATE request 60 s before the reset
    ("ndmjob-idle", "idle-rst-65s-media", 20, "control_reset"),
    # the agent's DATA_LISTEN reply, with loss already in the capture
    ("field38-matrix", "agent-killed-loss-before-start", 20, "control_closed"),
    # a file-history segment inside a message whose header was read
    ("ndmjob-pathloss", "dma-killed-pathloss-media", 31, "control_closed"),
    # the agent's DATA_GET_STATE reply
    ("trial41-paths", "control-reset-agent-firewall-route-back", 20, "control_reset"),
    # a three-way job's MOVER_LISTEN request: the tape agent's reply names it
    ("trial27-three-way", "3w-moverkill-t", 19, "control_closed"),
    # the agent's direction only: its DATA_LISTEN reply, just before its DATA_START_BACKUP
    # reply (the hole is known by the start's own packet: it lies before it)
    ("field38-matrix", "agent-killed-one-direction-in", 11, "control_closed"),
]


@pytest.mark.parametrize(("folder", "name", "frame", "code"), CUTS,
                         ids=[f"{c[1]}-{c[2]}" for c in CUTS])
def test_one_named_packet_lost_keeps_the_failure(tmp_path: Path, folder: str, name: str,
                                                  frame: int, code: str) -> None:
    cut = without_frame(tmp_path, CAPTURES / folder, name, frame)
    analysis = stored_analysis(cut, config_path=case_config(CAPTURES / folder, name))
    assert analysis.verdict == "fail"
    assert code in {f.code for f in errors(analysis)}
    assert any(f.code in ("capture_loss", "ndmp_partial") for f in analysis.findings)


def _message(frame: int, direction: str, sequence: int, kind: str, name: str,
             reply_sequence: int = 0) -> NdmpMessage:
    return NdmpMessage(frame=frame, ts=float(frame), direction=direction,  # type: ignore[arg-type]
                       sequence=sequence, type=kind, code=0,  # type: ignore[arg-type]
                       name=name, error=0, reply_sequence=reply_sequence)


def test_hole_contents_names_replies_and_requests_never_posts() -> None:
    """A hole of the agent's between its messages 4 and 6 held one message: the reply to
    the DMA's unanswered DATA_START_BACKUP; a hole of the DMA's between its messages 1 and
    3 held its request 2, which the agent's reply names; a hole of the agent's between 6
    and 8 may hold a post (no request left unanswered): not named."""
    messages = [
        _message(1, "orig", 1, "request", "NDMP_CONNECT_OPEN"),
        _message(2, "resp", 3, "reply", "NDMP_CONNECT_OPEN", 1),
        _message(4, "resp", 4, "reply", "NDMP_CONNECT_CLIENT_AUTH", 2),
        _message(5, "orig", 3, "request", "NDMP_DATA_START_BACKUP"),
        _message(7, "resp", 6, "reply", "NDMP_DATA_GET_STATE", 4),
        _message(6, "orig", 4, "request", "NDMP_DATA_GET_STATE"),
        _message(9, "resp", 8, "reply", "NDMP_DATA_GET_STATE", 4),
    ]
    messages.sort(key=lambda m: m.frame)
    assert hole_contents("orig", [5], messages) == [("NDMP_CONNECT_CLIENT_AUTH",)]
    assert hole_contents("resp", [7, 9], messages) == [("NDMP_DATA_START_BACKUP",), None]


@pytest.mark.parametrize(("folder", "name", "frame"), [
    # the DMA's DATA_CONNECT request (the mover's address): the tape agent's reset of the
    # data connection, the root cause, cannot be tied to the session
    ("trial27-three-way", "3w-full-a.pcap.gz", 11),
    # the agent's error reply to DATA_START_BACKUP: the DMA closed the session at once
    ("trial39-server-errors", "start-backup-before-data-connect.pcap", 17),
], ids=["announcement", "start-reply"])
def test_a_named_hole_that_hides_the_job_itself_keeps_it_unjudged(
        tmp_path: Path, folder: str, name: str, frame: int) -> None:
    """A lost announcement with no data connection tied to the session, or a lost reply
    to the start followed by signs it refused the job, leaves the control connection's
    end unread: inconclusive, not control_closed / control_reset (a wrong root cause)."""
    stem = name.removesuffix(".gz").removesuffix(".pcap")
    cut = without_frame(tmp_path, CAPTURES / folder, stem, frame)
    analysis = stored_analysis(cut, config_path=case_config(CAPTURES / folder, stem))
    assert analysis.verdict == "inconclusive"
    assert not {"control_closed", "control_reset"} & {f.code for f in analysis.findings}

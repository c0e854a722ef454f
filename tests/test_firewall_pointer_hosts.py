"""The `flowcheck firewall` command a fix of allow rules ends with names the hosts the
fix's rules are for, each address as a whole (note61 "Left" 2): a fix naming 10.0.0.10
named 10.0.0.1 too for a plain substring test, and a three-way job's other agent at
10.0.0.1, never in the rules, joined the command as `--remote-agent 10.0.0.1`; fd00::1
alike in a fix naming fd00::10. What the rules are for is the finding's data
(Finding.allows, set by the check that writes the fix), not the fix's words: a fix
reworded, or one whose words name no rule's host, points at the same command.

Built in-process: one session (verify.fix_notes reads its hosts, its three-way roles and
its announcements), one finding without a connection (the session's hosts and the
agents the rules are for), the pointer as verify.fix_notes.note_fixes adds it.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from flowcheck.config import build_config
from flowcheck.model import Allows, Finding, Severity
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.fix_notes import firewall_pointer


def _pointer(media: str, agent: str, other: str, fix: str, allows: Allows | None) -> str:
    """The pointer firewall_pointer gives the finding of `fix`, its rules for `allows`,
    in a job of `media` and `agent` whose three-way data connection had `other` as its
    tape agent."""
    session = NS(id="S1", side=False, steps=[], announced=[], control_uid="C1",
                 cut_announcements=[], callback_uid=None, media_server=media,
                 remote_agent=agent, server_roles={other: "tape agent", agent: "data agent"},
                 callback_hosts=None)
    ctx = Context([], [], [session], build_config({"media_range": "5001-5100",  # type: ignore[list-item]
                                                  "agent_range": "6001-6100"}),
                  load_profile("ndmp"))
    ctx.session_by_id = {"S1": session}  # type: ignore[dict-item]
    finding = Finding("step_missing", Severity.ERROR, "no data connection", fix=fix,
                      session="S1", allows=allows)
    return firewall_pointer(ctx, finding)


@pytest.mark.parametrize(("media", "agent", "other", "named"), [
    ("10.0.0.5", "10.0.0.10", "10.0.0.1", "10.0.0.10:6001"),
    ("fd00::5", "fd00::10", "fd00::1", "[fd00::10]:6001"),
])
def test_a_host_whose_address_starts_another_named_is_left_out(
        media: str, agent: str, other: str, named: str) -> None:
    pointer = _pointer(media, agent, other,
                       f"Allow TCP from {media} to {named} inbound on {agent}, and its "
                       "return traffic.", Allows((media, agent)))
    assert f"--media-server {media} --remote-agent {agent} --media-range" in pointer, pointer
    assert f"--remote-agent {other} " not in pointer, pointer


@pytest.mark.parametrize(("media", "agent", "other"), [
    ("10.0.0.5", "10.0.0.10", "10.0.0.1"),
    ("fd00::5", "fd00::10", "fd00::1"),
])
def test_the_other_agent_the_rules_name_joins_the_command(
        media: str, agent: str, other: str) -> None:
    pointer = _pointer(media, agent, other,
                       f"Allow TCP from {agent} to {other} ports 6001-6100 inbound on {other}, "
                       "and its return traffic.", Allows((agent, other)))
    assert f"--media-server {media} --remote-agent {agent} --remote-agent {other} " \
           "--media-range" in pointer, pointer


def test_the_pointer_follows_the_data_not_the_words() -> None:
    """A fix whose words name no allow rule but whose check says it gives one (a
    rewording) is pointed at; one whose words read "Allow TCP" but gives none is not."""
    reworded = _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1",
                        "Let 10.0.0.10 reach 10.0.0.1 on ports 6001-6100.",
                        Allows(("10.0.0.10", "10.0.0.1")))
    assert "--remote-agent 10.0.0.10 --remote-agent 10.0.0.1 --media-range" in reworded, \
        reworded
    assert _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1",
                    "Allow TCP from nothing: see the agent's log.", None) == ""


def test_the_other_table_note_is_said_once_by_the_data() -> None:
    """A fix whose check gave the other-table note itself (Allows.noted: a quoted nft
    accept of established connections) gets the command without it; one that did not,
    with it."""
    fix = "Allow TCP from 10.0.0.5 to 10.0.0.10 port 10000 whatever its flags."
    noted = _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1", fix,
                     Allows(("10.0.0.5", "10.0.0.10"), noted="drop"))
    plain = _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1", fix, Allows(("10.0.0.5", "10.0.0.10")))
    note = "an accept in one nftables table or chain does not undo a drop"
    assert noted.startswith(" `flowcheck firewall ") and note not in noted, noted
    assert f"; {note}" in plain, plain


def test_a_fix_that_quotes_the_command_is_told_by_the_data() -> None:
    """Whether the fix quotes `flowcheck firewall` itself is Allows.pointed (verify.opening
    .lost_where's Where.quoted), not the command's name in its words: a fix naming the
    command in passing still gets the pointer; one that quotes it gets none."""
    fix = ("Allow TCP from 10.0.0.5 to 10.0.0.10 port 10000 (not `flowcheck firewall` "
           "alone: its rules are the job's).")
    passing = _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1", fix,
                       Allows(("10.0.0.5", "10.0.0.10")))
    assert passing.startswith(" `flowcheck firewall --media-server 10.0.0.5 "), passing
    assert _pointer("10.0.0.5", "10.0.0.10", "10.0.0.1", "Allow TCP from 10.0.0.5 to "
                    "10.0.0.10 port 10000.", Allows(("10.0.0.5", "10.0.0.10"),
                                                    pointed=True)) == ""


def test_a_router_s_quote_of_the_command_is_the_fix_s_pointer() -> None:
    """captures/lab-router/fwd-drop-media: each data_unanswered's fix names the routers
    between and quotes `flowcheck firewall` for their forward chain (Allows.pointed):
    the command once, no other pointer after it."""
    from stored import CAPTURES, stored_analysis

    analysis = stored_analysis(CAPTURES / "lab-router" / "fwd-drop-media.pcap")
    errors = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert len(errors) == 2
    for error in errors:
        assert error.allows is not None and error.allows.pointed
        assert "forward chain too (`flowcheck firewall`: \"on a firewall or router between " \
            "them\")" in error.fix, error.fix
        assert error.fix.count("flowcheck firewall") == 1, error.fix

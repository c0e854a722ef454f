"""Field check 43 (captures/trial43-local, captures/trial43-callback-limit, READMEs): a
local backup's host-local connections are not judged against the port ranges; a
callback dropped right after an earlier one passed the same way reads as a limit on new
connections. The whole results are regress expectations; here the words, the rule's
edges and the lab's link-local fix."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from stored import errors, stored_analysis

from flowcheck.lab.roles import reached, sockaddr
from flowcheck.model import Connection
from flowcheck.verify.ranges import host_local

ROOT = Path(__file__).resolve().parents[1] / "captures"
LOCAL = ROOT / "trial43-local"
_RANGE_CODES = {"port_outside_media_range", "port_outside_agent_range",
                "control_port_outside_media_range"}


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("name", "host", "why"), [
    ("local-backup-loopback.pcap.gz", "127.0.0.1", "loopback addresses"),
    ("local-backup-own-address.pcap.gz", "10.43.0.1", "one address at both ends"),
])
def test_a_local_backups_callback_port_is_not_judged(name: str, host: str, why: str) -> None:
    analysis = stored_analysis(LOCAL / name)
    assert analysis.verdict == "pass"
    assert not {f.code for f in analysis.findings} & _RANGE_CODES
    [session] = analysis.sessions
    callback = next(step for step in session.steps if step.step == 2)
    assert callback.status == "ok"
    assert (f"not judged against the ranges: the connection never leaves {host} ({why})"
            in _words(callback.detail))


@pytest.mark.parametrize("name", ["ndmjob-local-loopback.pcap.gz",
                                  "ndmjob-local-own-address.pcap.gz"])
def test_ndmjobs_local_data_connection_is_not_judged(name: str) -> None:
    analysis = stored_analysis(LOCAL / name)
    assert analysis.verdict == "pass" and not errors(analysis)
    assert not {f.code for f in analysis.findings} & _RANGE_CODES


@pytest.mark.parametrize(("name", "code", "ports", "where"), [
    ("local-callback-dropped.pcap.gz", "callback_unanswered", [5001], "the host"),
    ("local-data-dropped.pcap.gz", "data_unanswered", [6001, 6002], "10.43.0.1"),
    ("local-control-dropped.pcap.gz", "control_unanswered", [10000], "10.43.0.1"),
])
def test_a_local_drop_is_the_hosts_own_loopback_rules(name: str, code: str, ports: list[int],
                                                      where: str) -> None:
    found = errors(stored_analysis(LOCAL / name))
    assert [f.code for f in found] == [code] * len(ports)
    for error, port in zip(found, ports, strict=True):
        message, fix = _words(error.message), _words(error.fix)
        assert f"The connection never leaves {where}" in message
        assert f"{where}'s own firewall drops these SYNs on its loopback interface" in message
        assert "between the hosts" not in message and "on the way back" not in message
        assert fix.startswith(f"On {where}, allow TCP to port {port} over the loopback")


def _conn(orig: str, resp: str) -> Connection:
    return Connection(uid="C1", orig_h=orig, orig_p=40000, resp_h=resp, resp_p=5001, ts=0.0)


@pytest.mark.parametrize(("orig", "resp", "local"), [
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.2", True),
    ("::1", "::1", True),
    ("10.43.0.1", "10.43.0.1", True),
    ("::ffff:10.43.0.1", "10.43.0.1", True),
    ("10.43.1.1", "10.43.1.2", False),
    ("fe80::1", "fe80::2", False),
])
def test_host_local_edges(orig: str, resp: str, local: bool) -> None:
    assert host_local(_conn(orig, resp)) is local


def test_a_callback_dropped_after_one_passed_names_a_limit() -> None:
    capture = ROOT / "trial43-callback-limit" / "callback-limited-second-job.pcapng.gz"
    analysis = stored_analysis(capture)
    [error] = errors(analysis)
    assert error.code == "callback_unanswered"
    message = _words(error.message)
    assert "Yet C2, from 10.43.1.2 to 10.43.1.1 port 5001, opened 8.98 s before" in message
    assert "a limit on new connections" in message
    assert _words(error.fix).startswith("On the firewalls between 10.43.1.2 and 10.43.1.1, "
                                        "look for a limit on new connections")


def test_the_lab_reaches_a_link_local_peer_with_its_zone() -> None:
    index = socket.if_nametoindex("lo")
    assert reached("0.0.0.0", "fe80::43:1%lo") == "fe80::43:1%lo"
    assert reached("0.0.0.0", "::ffff:10.43.1.1") == "10.43.1.1"
    assert reached("10.43.1.2", "fe80::43:1%lo") == "10.43.1.2"
    assert sockaddr("fe80::43:1%lo", 6001)[3] == index


SYN_FILTER = ROOT / "trial43-syn-filter"


@pytest.mark.parametrize("name", ["syn-filter-two-jobs.pcap.gz",
                                  "syn-display-filter-router.pcapng.gz"])
def test_a_syn_only_capture_shows_no_blocked_return_path(name: str) -> None:
    analysis = stored_analysis(SYN_FILTER / name)
    assert analysis.verdict == "inconclusive" and not errors(analysis)
    control = next(step for step in analysis.sessions[0].steps if step.step == 1)
    assert control.status == "unknown"
    assert "was never resent, nor its SYN, although the capture ran on" in _words(
        control.detail)
    assert not any("handshake incomplete" in f.message for f in analysis.findings)

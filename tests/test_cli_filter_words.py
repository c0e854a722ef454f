"""no_control_session names a recorded capture filter as what left the job out only when
it could have: when it drops a plain control connection's packets (a SYN to the NDMP
port and its SYN-ACK between the hosts, tried with libpcap: verify.capture_filter
.keeps_control). New-user trial: `live --capture-filter 'tcp'` that saw no TCP read "the
capture filter 'tcp' ... left it out", though 'tcp' keeps the NDMP port; it can leave out
only a job whose packets were encapsulated (trial 22 D2: VXLAN's UDP), and says so.
Real `flowcheck live` runs on the loopback of a network namespace of their own: no
other test's TCP reaches it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from flowcheck.bpf import libpcap
from flowcheck.config import build_config
from flowcheck.decode.skipped import Skipped
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo
from flowcheck.verify.capture_contents import explain_unreadable

pytestmark = [pytest.mark.skipif(libpcap() is None, reason="needs libpcap"),
              pytest.mark.skipif(shutil.which("tcpdump") is None or shutil.which("unshare")
                                 is None, reason="needs tcpdump and unshare")]


def _no_control_session(capture_filter: str) -> str:
    """The no_control_session message of `live --capture-filter` on an idle loopback."""
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
         sys.executable, "-m", "flowcheck", "live", "--interface", "lo", "--duration", "2",
         "--capture-filter", capture_filter, "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 5, result.stderr  # inconclusive: nothing to judge
    report = next(event for event in map(json.loads, result.stdout.splitlines())
                  if event.get("event") == "report")
    [message] = [f["message"] for f in report["findings"] if f["code"] == "no_control_session"]
    return message


def test_only_a_filter_dropping_the_ndmp_port_is_said_to_have_left_the_job_out() -> None:
    message = _no_control_session("tcp")
    assert "'tcp' left it out" not in message
    assert "the capture filter 'tcp' keeps TCP to and from the NDMP port 10000, so it " \
           "left the job out only if its packets were VLAN-tagged, inside a tunnel" in message
    assert '--capture-filter "" keeps those too' in message


def test_a_filter_dropping_tcp_is_named_as_the_cause() -> None:
    """`live --capture-filter udp` on an idle link, in this process: the filter reaches
    no_control_session as the live run above shows with 'tcp' (the same CaptureInfo and
    configuration, the defaults); udp drops TCP, so it is named as the cause, as
    before, and not said to keep TCP."""
    finding = make_finding("no_control_session", "No NDMP control connection", "Check")
    captures = [CaptureInfo("live", packets=0, capture_filter="udp")]
    [explained] = explain_unreadable([finding], captures, [], Skipped(), build_config({}))
    assert "or the capture filter 'udp' left it out" in explained.message
    assert "keeps TCP" not in explained.message


CASES = [
    ("tcp or (vlan and tcp)", "left the job out only if its packets were inside a tunnel"),
    ("tcp port 10000", "keeps TCP to and from the NDMP port 10000 between the hosts"),
    # Could have left out the hosts' or the port's packets: named, as before.
    ("host 10.77.0.9", "or the capture filter 'host 10.77.0.9' left it out"),
    ("tcp and not port 10000", "or the capture filter 'tcp and not port 10000' left it"),
]


def test_the_words_follow_what_the_filter_keeps() -> None:
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"]})
    finding = make_finding("no_control_session", "No NDMP control connection", "Check")
    for capture_filter, said in CASES:
        captures = [CaptureInfo("live", packets=0, capture_filter=capture_filter)]
        [explained] = explain_unreadable([finding], captures, [], Skipped(), config)
        assert said in explained.message, capture_filter

"""Words of session 63's last readings: a port reused toward another peer
(captures/newuser66-twojobs), range_too_small's fix where several jobs stopped on the
range (captures/newuser66), and where to capture both directions when the capture shows
where it was taken."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from cooked_rewrite import as_cooked
from lab_edits import sent_by
from pcap_records import read_records, write_records
from stored import stored_analysis

from flowcheck.config import build_config
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}
# A Linux cooked v2 header's packet type (its byte 10): sent by the capture host, or
# addressed to it.
SLL2_PKTTYPE, OUTGOING, HOST = 10, 4, 0


def _findings(capture: Path, code: str, **settings: object) -> list[Finding]:
    """The findings of `code` analyze reports for `capture` under `settings`."""
    config = build_config(settings)
    result = analyze(read_traffic([str(capture)], config), config)
    return [f for f in result.findings if f.code == code]


def test_a_port_reused_toward_another_peer_says_tcp_allows_it() -> None:
    # 10.66.1.1:5005 connected to 10.66.2.2:6002, then to 10.66.3.2:6002 4.95 s later:
    # the contract's warning stays, and says the held port did not stop the connection.
    [reused] = _findings(CAPTURES / "newuser66-twojobs" / "twojobs-s96.pcap",
                         "port_reused_within_hold", **RANGES)
    assert reused.severity.value == "warning"
    assert "It connected to another peer endpoint than before (10.66.2.2:6002, then " \
        "10.66.3.2:6002): TCP lets a port connect again to another peer endpoint " \
        "while its earlier connection waits in TIME-WAIT" in reused.message, reused.message
    assert "a note on the range's capacity only" in reused.message
    # The fix is the one it was: the new connection failed for its own reason.
    assert reused.fix.startswith("C8 on the reused port did not work, but nothing shows "
                                 "the port as the cause"), reused.fix


def _config_of(case: Path) -> dict:
    """The settings a stored case was recorded with (its NAME.toml)."""
    return tomllib.loads(case.with_name(case.name.split(".")[0] + ".toml").read_text())


def test_range_too_small_of_several_jobs_says_start_fewer_at_once() -> None:
    # Four 1-resource jobs 0.5 s apart in agent range 6001-6004, jobs 3 and 4 stopped on
    # it: fewer jobs within the hold is a fix, not only fewer resources.
    case = CAPTURES / "newuser66" / "agent-range-timewait.pcap.gz"
    [small] = _findings(case, "range_too_small", **_config_of(case))
    assert small.fix.endswith(", or start fewer jobs within port_hold_seconds (60 s) of "
                              "each other, or run fewer resources at once."), small.fix


def test_range_too_small_of_one_job_keeps_fewer_resources() -> None:
    # One 3-resource job in agent range 6001-6002: no other job shared the range.
    case = CAPTURES / "rangesmall" / "agent-range-small.pcap"
    [small] = _findings(case, "range_too_small", **_config_of(case))
    assert small.fix.endswith("docs/configuration.md), or run fewer resources at once."), \
        small.fix


FIELD70 = CAPTURES / "field70-matrix" / "clean-backup-on-media-sll2-s96"


@pytest.fixture(scope="module")
def one_way(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finding]:
    """capture_loss of field70's clean backup taken on the media server (`tcpdump -i
    any`, Linux cooked v2) cut to one direction, as `-Q out` ("out": the media server's
    packets, its 28-byte request of frame 13 removed) or `-Q in` ("in": the agent's, its
    data segment of frame 29 removed) would have captured it."""
    folder = tmp_path_factory.mktemp("words63-one-way")
    linktype, records = read_records(FIELD70.with_suffix(".pcap.gz"))
    ways = {"out": (OUTGOING, 13), "in": (HOST, 29)}  # (SLL2 packet type, frame lost)
    found = {}
    for name, (kind, lost) in ways.items():
        cut = [r for number, r in enumerate(records, 1)
               if r.data[SLL2_PKTTYPE] == kind and number != lost]
        analysis = stored_analysis(write_records(folder / f"{name}.pcap", linktype, cut),
                                   config_path=FIELD70.with_suffix(".toml"))
        [found[name]] = [f for f in analysis.findings if f.code == "capture_loss"]
    return found


def test_one_way_loss_fix_names_the_capture_point_the_marks_prove(
        one_way: dict[str, Finding]) -> None:
    # The media server's own SYNs are marked sent by the capture host: it told "on the
    # media server itself" to a capture taken there.
    fix = one_way["out"].fix
    assert fix.startswith("This capture was taken on the media server 10.77.0.1 itself "
                          "(its Linux cooked headers mark 10.77.0.1's SYNs to 10.77.0.2 "
                          "sent by the capture host, at TTL 64, an initial value), so "
                          "capturing there again as before misses the same direction: "
                          "capture both directions there (tcpdump without -Q: -Q in/out "
                          "keeps one), or on the agent 10.77.0.2, or a SPAN"), fix
    assert "on the media server itself" not in fix
    assert "so the receivers' ACKs tell whether the sniffer or the network lost" in fix


def test_one_way_loss_fix_without_proof_names_no_point(
        one_way: dict[str, Finding]) -> None:
    # The arriving side alone proves no capture host (a router's arrivals look alike):
    # no point is named as the one to go to instead (words64: "on the media server
    # itself", where the capture may have been taken).
    assert one_way["in"].fix.startswith("Capture both directions (tcpdump without -Q: -Q "
                                        "in/out keeps one, where this capture was taken "
                                        "or on these connections' hosts; or a SPAN session"), \
        one_way["in"].fix
    assert "itself" not in one_way["in"].fix


ENDED = CAPTURES / "ndmjob-ended" / "v2-ended-late-rst-media"


def _closed_job_fix(path: Path) -> str:
    """The fix of the v2 ended job's error reply, seen from the agent's side only."""
    [reply] = [f for f in stored_analysis(path, config_path=ENDED.with_suffix(".toml")).findings
               if f.code == "ndmp_error_reply"]
    return reply.fix


def test_a_closed_jobs_answer_names_the_capture_point_the_marks_prove(
        tmp_path: Path) -> None:
    # ndmjob-ended's late UNDEFINED_ERR, the agent's packets alone as `tcpdump -i any -Q
    # out` on the agent writes them (cooked, its own SYN leaving at TTL 64): it read
    # "Capture both directions (on the media server itself, ...)" whatever the point.
    agent_side = sent_by(tmp_path, ENDED.with_suffix(".pcap"), "10.77.1.2")
    fix = _closed_job_fix(as_cooked(agent_side, tmp_path / "on-agent.pcap", "10.77.1.2",
                                    flat_ttl=64))
    assert fix.startswith("This capture was taken on the agent 10.77.1.2 itself (its Linux "
                          "cooked headers mark 10.77.1.2's SYNs to 10.77.0.1 sent by the "
                          "capture host, at TTL 64, an initial value): capture there again, "
                          "both directions (tcpdump without -Q: -Q in/out keeps one), or on "
                          "the media server 10.77.0.1, from before the job starts to judge "
                          "it;"), fix
    # The Ethernet cut places no capture point: both hosts alike (words64: "on the media
    # server itself", whatever the point).
    assert _closed_job_fix(agent_side).startswith(
        "Capture both directions (tcpdump without -Q on the media server 10.77.0.1 or the "
        "agent 10.77.1.2, or a SPAN of both rx and tx) from before the job starts")

"""A callback the agent's own firewall rejected, captured on the agent, and a verdict
line surer than its finding (newuser67 items 2 and 7; captures/lab-trial67b and its
README).

cbrst-agent: an nft output rule on the agent rejects its callback with a locally
generated reset ("Connection refused" in its log), which never reaches the wire; the
capture, unfiltered on the agent, holds only the control connection. step_missing read
it as a capture that a filter may have cut to the NDMP port, its fix "inbound on the
media server" and "capture on the agent". cbrst-media: the same job on the media server,
read right. cbstop: the media server's input chain drops the callback, the capture ends
with the second SYN; the verdict's cause line left out the finding's hedge.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from capture_factory import _block, _option, epb, shb
from pcap_records import read_records

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "lab-trial67b"


@pytest.fixture(scope="module")
def results() -> dict[str, Analysis]:
    out = {}
    for name in ("cbrst-agent", "cbrst-media"):
        config = build_config(load_file(CASES / f"{name}.toml"))
        out[name] = analyze(read_traffic([str(CASES / f"{name}.pcap")], config), config)
    return out


def _missing(result: Analysis) -> Finding:
    [finding] = [f for f in result.findings if f.code == "step_missing"]
    return finding


def _tshark(name: str, fields: list[str], where: str) -> list[str]:
    """tshark's field lines of the capture's packets that match `where`."""
    args = ["tshark", "-r", str(CASES / f"{name}.pcap"), "-Y", where, "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return done.stdout.split("\n")[:-1]


def test_the_capture_holds_no_callback_and_was_taken_on_the_agent() -> None:
    """What the readings below stand on, in tshark: no packet of cbrst-agent.pcap goes to
    or comes from the media range, and the agent's packets have TTL 64, the media
    server's 63 (a router between them: taken on the agent or its segment)."""
    assert _tshark("cbrst-agent", ["frame.number"],
                   "tcp.port >= 5001 && tcp.port <= 5100 && !(tcp.port == 10000)"
                   " && !(tcp.srcport == 5015 || tcp.dstport == 5015)") == []
    ttls = set(_tshark("cbrst-agent", ["ip.src", "ip.ttl"], "ip"))
    assert ttls == {"10.67.2.2\t64", "10.67.1.1\t63"}


def test_a_capture_on_the_agent_reads_its_own_reject(results) -> None:  # noqa: ANN001
    """Taken on the agent, the job stopped there (CONNECT_CLOSE, FINs), no callback SYN in
    it: the agent never sent one out of this interface (its own output rule or a local
    connect failure, its log saying which); no "inbound on the media server", no capture
    on the agent asked for (it said both). The capture holds nothing but the NDMP port's
    TCP, as a pcap filtered 'port 10000' would (captures/lab-review64g/filtered-agent.pcap,
    a router's drop, has the same packets' shape): that stays a condition of the reading,
    not the lead it was (review64g)."""
    finding = _missing(results["cbrst-agent"])
    assert "This capture was taken on the agent 10.67.2.2 (or on its network segment: " \
           "10.67.2.2's packets arrive with TTL 64" in finding.message
    assert "the agent never sent the callback SYN out of this interface, its own " \
           "firewall's output rule dropping or rejecting it" in finding.message
    assert "or its connect failing locally" in finding.message
    assert "The capture holds only connections to the NDMP port" not in finding.message
    assert "unless a capture filter kept only the NDMP port 10000 (tcpdump 'port 10000': " \
           "this capture holds nothing else" in finding.message
    assert finding.fix.startswith("If this capture was filtered to the NDMP port (tcpdump "
                                  "'port 10000'), capture again without a filter; else read "
                                  "the agent 10.67.2.2's log at that time: a connect "
                                  "that failed \"Connection refused\" or timed out with no "
                                  "SYN in this capture is its own firewall's output rule")
    assert "in the agent's own outbound rules" in finding.fix
    for each in results["cbrst-agent"].findings:
        words = f"{each.message} {each.fix}".lower()
        assert "capture on the agent" not in words
        assert "inbound on the media server" not in words


def test_a_recorded_port_filter_keeps_the_hint(tmp_path: Path) -> None:
    """The same packets in a pcapng whose interface records the capture filter 'port
    10000' (dumpcap's if_filter): the callback's SYNs may have left the agent and been
    filtered out, so the capture-filter hint stays and no "never sent" is claimed."""
    linktype, records = read_records(CASES / "cbrst-agent.pcap")
    interface = _block("<", 1, struct.pack("<HHI", linktype, 0, 262144)
                       + _option("<", 11, b"\x00port 10000") + _option("<", 0, b""))
    saved = tmp_path / "filtered.pcapng"
    saved.write_bytes(shb() + interface + b"".join(
        epb(0, r.micros / 1e6, r.data) for r in records))
    config = build_config(load_file(CASES / "cbrst-agent.toml"))
    finding = _missing(analyze(read_traffic([str(saved)], config), config))
    assert "if a capture filter kept only that port (tcpdump 'port 10000'), capture " \
           "again without it" in finding.message
    assert "never sent" not in finding.message


def test_the_same_job_on_the_media_server_reads_as_before(results) -> None:  # noqa: ANN001
    """The same job captured on the media server: no SYN reached it, the agent's
    outbound rules or a device between, a capture on the agent to tell which; unless a
    filter kept only the NDMP port (nothing else is in it: review64g's filtered-media)."""
    finding = _missing(results["cbrst-media"])
    assert "This capture was taken on the media server 10.67.1.1" in finding.message
    assert "no SYN of the callback is in it, so, unless a capture filter kept only the " \
           "NDMP port 10000" in finding.message
    assert "The capture holds only connections to the NDMP port" not in finding.message
    assert "capture on the agent to see its SYNs leave" in finding.fix


def test_the_verdict_line_keeps_the_findings_hedge(capsys) -> None:  # noqa: ANN001
    """cbstop: 2 unanswered SYNs, the capture ending with the last. The finding says
    whether that one or a later resend got through cannot be seen; the verdict's cause
    line said only "10.67.1.1's own firewall drops them"."""
    run(["analyze", str(CASES / "cbstop.pcap"), "--config", str(CASES / "cbstop.toml")])
    out = capsys.readouterr().out
    cause = " ".join(out.split("    fix:")[0].split("cause:", 1)[1].split())
    assert "10.67.1.1's own firewall drops them" in cause
    assert "whether that one or a later resend got through cannot be seen" in cause

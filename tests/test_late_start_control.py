"""no_control_session when the capture started during the job's data transfer (trial 29
D1): a capture (or `live`) started while the control connection sits idle holds only the
data connection, already open, and read FAIL "check --ndmp-port". With the data
connection's evidence (opened before the capture, bulk data one way, between the
configured media server and agent, ports in their ranges) it is a warning and the
verdict inconclusive; a capture of connections opened in it to another port (a wrong
--ndmp-port) stays an error.

Built from captures/lab/clean-3-resources.pcap: frames 30-90 are resource 1's data
transfer (10.77.0.2:6001 -> 10.77.0.1:5002) with the control connection silent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import pcap_bytes
from lab_edits import LAB, lab_packets, sent_by, write
from scapy.all import TCP, Packet
from scapy_files import read_packets

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

SETTINGS = load_file(LAB / "clean-3-resources.toml")
NDMJOB = LAB.parent / "ndmjob"
HOSTS = ("media_servers", "remote_agents")


def _late(tmp_path: Path, first: int = 30, last: int = 90, name: str = "late") -> Path:
    """Frames first..last of the lab job: resource 1's data transfer only."""
    return write(tmp_path, name, lab_packets("clean-3-resources")[first - 1:last])


def _analysis(path: Path, drop: tuple[str, ...] = (), **changes: object) -> Analysis:
    """The lab job's settings, less the keys in `drop`, with `changes`."""
    config = build_config({**{k: v for k, v in SETTINGS.items() if k not in drop}, **changes})
    return analyze(read_traffic([str(path)], config), config)


def _no_control(analysis: Analysis) -> Finding:
    [finding] = [f for f in analysis.findings if f.code == "no_control_session"]
    return finding


def test_a_capture_started_mid_transfer_is_inconclusive(tmp_path: Path) -> None:
    analysis = _analysis(_late(tmp_path))
    assert analysis.verdict == "inconclusive"
    finding = _no_control(analysis)
    assert str(finding.severity) == "warning"
    assert "already open" in finding.message
    assert "from the agent 10.77.0.2:6001 to the media server 10.77.0.1:5002" in finding.message
    assert "idle while" in finding.message and "steps 1-3" in finding.message
    assert "before the job starts" in finding.fix and "--ndmp-port" in finding.fix
    assert finding.frames  # the connection's first captured packet


def test_the_cli_exits_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In the test's process (cli.main.run): the exit code and words are the point.
    code = run(["analyze", str(_late(tmp_path)), "--config",
                str(LAB / "clean-3-resources.toml")])
    out, err = capsys.readouterr()
    assert code == 5, out + err
    assert "INCONCLUSIVE" in out and "already open" in out


def test_ndmjob_data_connection_mid_transfer_is_inconclusive(tmp_path: Path) -> None:
    """Plain NDMP (the agent connects to the mover): frames 100-1000 of the v4 backup."""
    packets = read_packets(NDMJOB / "v4-backup.pcap", 1000)[99:]
    path = write(tmp_path, "ndmjob-late", packets)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(path)], config), config)
    assert analysis.verdict == "inconclusive"
    finding = _no_control(analysis)
    assert str(finding.severity) == "warning" and "steps 1-2" in finding.message


def test_one_direction_of_the_transfer_is_enough(tmp_path: Path) -> None:
    """The agent's data alone, or the media server's ACKs alone (their bytes known from
    the ACKs; frames 30-200, before the control connection speaks again at 209): the same
    connection, the same reading."""
    late = _late(tmp_path, 30, 200)
    for sender in ("10.77.0.2", "10.77.0.1"):
        analysis = _analysis(sent_by(tmp_path, late, sender))
        assert analysis.verdict == "inconclusive", sender
        assert str(_no_control(analysis).severity) == "warning"


def test_live_decides_the_same_at_its_end(tmp_path: Path) -> None:
    config = build_config(SETTINGS)
    with _late(tmp_path).open("rb") as stream:
        events = list(LiveVerifier(config, interval=0.5).run(stream))
    report = events[-1].analysis
    assert report is not None and report.verdict == "inconclusive"
    said = [e.finding for e in events if e.finding is not None
            and e.finding.code == "no_control_session"]
    assert said and all(str(f.severity) == "warning" for f in said)


def test_narrowed_ranges_without_hosts_are_enough(tmp_path: Path) -> None:
    analysis = _analysis(_late(tmp_path), drop=HOSTS)
    assert analysis.verdict == "inconclusive"


def test_without_configuration_it_stays_an_error_and_names_the_connection(
        tmp_path: Path) -> None:
    """Default ranges and no hosts: any bulk transfer between two dynamic ports looks the
    same, so nothing ties the connection to a job rather than a wrong --ndmp-port."""
    path = _late(tmp_path)
    config = build_config({})
    analysis = analyze(read_traffic([str(path)], config), config)
    assert analysis.verdict == "fail"
    finding = _no_control(analysis)
    assert str(finding.severity) == "error"
    assert "10.77.0.2:6001" in finding.message and "--remote-agent" in finding.fix


def test_other_hosts_or_ports_stay_an_error(tmp_path: Path) -> None:
    path = _late(tmp_path)
    for drop, changes in (((), {"remote_agents": ["10.77.0.9"]}),
                          ((), {"agent_range": "7001-7100"}),
                          (HOSTS, {"agent_range": "1025-65535"})):  # one range narrowed
        analysis = _analysis(path, drop, **changes)
        assert analysis.verdict == "fail", changes
        assert str(_no_control(analysis).severity) == "error", changes


def test_a_few_segments_are_no_bulk_transfer(tmp_path: Path) -> None:
    analysis = _analysis(_late(tmp_path, 30, 40))  # 5 data segments, 7 kB
    assert analysis.verdict == "fail"


def _to_port(packets: list[Packet], old: int, new: int) -> list[Packet]:
    """The packets with TCP port `old` (either end) made `new`."""
    moved = []
    for packet in packets:
        copy = packet.copy()
        if TCP in copy:
            if copy[TCP].sport == old:
                copy[TCP].sport = new
            if copy[TCP].dport == old:
                copy[TCP].dport = new
            del copy[TCP].chksum
        copy.time = packet.time
        moved.append(copy)
    return moved


def _cut(path: Path, packets: list[Packet], snap: int = 66) -> Path:
    """The packets written with a snap length of `snap` bytes (tcpdump -s 66): the TCP
    headers kept, the NDMP they carry not (nothing finds NDMP by its content)."""
    frames = [bytes(p) for p in packets]
    cut = [(float(p.time), f[:snap]) for p, f in zip(packets, frames, strict=True)]
    path.write_bytes(pcap_bytes(cut, snaplen=snap, wirelens=[len(f) for f in frames]))
    return path


def test_a_wrong_ndmp_port_stays_an_error(tmp_path: Path) -> None:
    """The agent on port 10001, the default port configured, the capture cut to the
    headers: every connection opened in the capture (SYN seen), none to the NDMP port,
    the data connections' bulk data among them."""
    path = _cut(tmp_path / "port-10001.pcap",
                _to_port(lab_packets("clean-3-resources"), 10000, 10001))
    for config in (build_config({}), build_config(SETTINGS)):
        analysis = analyze(read_traffic([str(path)], config), config)
        assert analysis.verdict == "fail"
        finding = _no_control(analysis)
        assert str(finding.severity) == "error" and "--ndmp-port" in finding.fix


def test_a_connection_opened_between_the_hosts_keeps_the_error(tmp_path: Path) -> None:
    """The late transfer and a control connection opened in the capture on port 10001
    (a wrong --ndmp-port shows its opening; cut to the headers): not a late start only."""
    packets = lab_packets("clean-3-resources")
    control = _to_port([p for p in packets[:16] if 10000 in (p[TCP].sport, p[TCP].dport)],
                       10000, 10001)
    path = _cut(tmp_path / "late-and-opened.pcap",
                sorted([*packets[29:90], *control], key=lambda p: p.time))
    analysis = _analysis(path)
    assert analysis.verdict == "fail"
    assert str(_no_control(analysis).severity) == "error"


def test_a_side_pinned_by_nothing_stays_an_error(tmp_path: Path) -> None:
    """Review of the fix: only the media server configured and the agent range the
    default, any host on any dynamic port fits the agent's side (an iSCSI transfer
    beside a job on the wrong --ndmp-port read as a late start)."""
    path = _late(tmp_path)
    for drop, changes in ((("remote_agents",), {"agent_range": "1025-65535"}),
                          (("media_servers",), {"media_range": "1025-65535"})):
        analysis = _analysis(path, drop, **changes)
        assert analysis.verdict == "fail", (drop, changes)
        assert str(_no_control(analysis).severity) == "error"
    # Pinned by its hosts on one side and by a narrowed range on the other: enough.
    assert _analysis(path, ("remote_agents",)).verdict == "inconclusive"

"""A capture that holds each packet twice, plain and inside VXLAN (tcpdump -i any on a
VXLAN endpoint; trial 8, D4): one job, judged once, and a capture_duplicates finding.

Built from a stored lab capture: its VXLAN copy (bench/build_encap.py) merged with it by
time (mergecap), as the kernel hands both interfaces' copies to the sniffer.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.connections.tunnel_copies import tunnel_copies_finding
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"


def _build_vxlan(source: Path, target: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_encap", ROOT / "bench" / "build_encap.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.build_vxlan(source, target)


def _both(tmp_path: Path, name: str, shift: float = 0.0) -> Path:
    """The lab capture merged with its VXLAN copy, the copy `shift` seconds later."""
    wrapped = tmp_path / "vxlan.pcap"
    _build_vxlan(LAB / f"{name}.pcap", wrapped)
    if shift:
        shifted = tmp_path / "shifted.pcap"
        subprocess.run(["editcap", "-t", str(shift), str(wrapped), str(shifted)], check=True,
                       capture_output=True)
        wrapped = shifted
    out = tmp_path / "both.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(out), str(LAB / f"{name}.pcap"),
                    str(wrapped)], check=True, capture_output=True)
    return out


def _analyze(name: str, path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _codes(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings)


@pytest.mark.parametrize("name", ["data-port-dropped", "clean-3-resources"])
def test_plain_and_vxlan_copies_are_one_job(tmp_path: Path, name: str) -> None:
    plain = _analyze(name, LAB / f"{name}.pcap")
    both = _analyze(name, _both(tmp_path, name))
    assert both.verdict == plain.verdict
    assert len(both.sessions) == len(plain.sessions) == 1
    assert _codes(both) == sorted([*_codes(plain), "capture_duplicates"])
    assert len(both.traffic.connections) == len(plain.traffic.connections)
    [copies] = [f for f in both.findings if f.code == "capture_duplicates"]
    assert f"{len(plain.traffic.connections)} connections are in the capture twice" in \
        copies.message


def test_one_copied_connection_is_named_alone() -> None:
    """One pair: "1 connection is", no "and others" (there are none)."""
    kept = Connection("C1", "10.77.0.1", 5001, "10.77.0.2", 10000, 1.0)
    copy = Connection("C2", "10.77.0.1", 5001, "10.77.0.2", 10000, 1.0,
                      tunnel="VXLAN 192.168.80.1 -> 192.168.80.2 VNI 42")
    finding = tunnel_copies_finding([(kept, copy)])
    assert finding is not None
    assert finding.message.startswith(
        "1 connection is in the capture twice, inside a tunnel and out of it: "
        "10.77.0.1:5001 -> 10.77.0.2:10000: C2 (in VXLAN")
    assert "and others" not in finding.message


def test_same_endpoints_at_another_time_are_not_copies(tmp_path: Path) -> None:
    """The same job 10 s later inside VXLAN (another tenant, or a rerun): two jobs."""
    name = "data-port-dropped"
    both = _analyze(name, _both(tmp_path, name, shift=10.0))
    assert len(both.sessions) == 2
    assert "capture_duplicates" not in _codes(both)


@pytest.mark.parametrize("shift", [0.0, 2.3, -40.0])
def test_a_tunnelled_copy_from_a_second_point_is_one_job(tmp_path: Path, shift: float) -> None:
    """The host's capture and a second point's tunnelled copy of it (a switch's mirror
    session, here VXLAN) given as two files, the second point's clock `shift` s off:
    one job, the copies left out and said to be two capture points', the offset taken
    out (session 33's trial 3: ERSPAN 2.3 s off read as two sessions and a false
    port_reused_within_hold; the points' offset was never learnt, a tunnelled packet's
    fingerprint holding its tunnel)."""
    name = "clean-3-resources"
    wrapped = tmp_path / "vxlan.pcap"
    _build_vxlan(LAB / f"{name}.pcap", wrapped)
    second = tmp_path / "mirror.pcap"
    subprocess.run(["editcap", "-t", str(shift), str(wrapped), str(second)], check=True,
                   capture_output=True)
    config = build_config(load_file(LAB / f"{name}.toml"))
    plain = _analyze(name, LAB / f"{name}.pcap")
    both = analyze(read_traffic([str(LAB / f"{name}.pcap"), str(second)], config), config)
    assert both.verdict == plain.verdict == "pass"
    assert len(both.sessions) == 1
    assert _codes(both) == sorted([*_codes(plain), "capture_duplicates"])
    [copies] = [f for f in both.findings if f.code == "capture_duplicates"]
    assert "two capture points' captures of the same traffic" in copies.message
    assert "tcpdump -i any" not in copies.message
    if shift:
        assert f"mirror.pcap's clock reads {shift:+.3f} s against the others'" in copies.message
    else:
        assert "their clocks agree" in copies.message


def test_the_copy_kept_is_the_one_the_capture_holds_more_of() -> None:
    """Segmentation offload on the plain interface (13 packets of up to 64 KB) and a
    filter that kept the tunnel's first fragments only (145 packets, 7,140 bytes missed):
    the plain copy is kept, not the tunnelled one for its packets (third new-user trial:
    capture_loss then reported bytes the plain copy holds)."""
    from flowcheck.connections.tunnel_copies import fold_tunnel_copies

    plain = Connection("C5", "fd88::1", 5014, "fd88::2", 6015, 1.0, orig_pkts=7, resp_pkts=6,
                       orig_bytes=200_000, syn_ts=1.0)
    tunnelled = Connection("C6", "fd88::1", 5014, "fd88::2", 6015, 1.0, orig_pkts=80,
                           resp_pkts=65, orig_bytes=192_860, missed_bytes=7_140,
                           syn_ts=1.0, tunnel="vxlan 10.77.0.1 10.77.0.2")
    kept, pairs = fold_tunnel_copies([plain, tunnelled])
    assert kept == [plain] and pairs == [(plain, tunnelled)]
    # Neither missed anything: the one with more packets, as before.
    tunnelled.orig_bytes, tunnelled.missed_bytes = 200_000, 0
    kept, pairs = fold_tunnel_copies([plain, tunnelled])
    assert kept == [tunnelled] and pairs == [(tunnelled, plain)]

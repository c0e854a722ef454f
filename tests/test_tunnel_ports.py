"""--vxlan-port / --geneve-port: a tunnel on a port flowcheck does not read by itself
(Cisco ACI's iVXLAN on 48879, a collector's own port) is decoded once named (trial 22
D6), by analyze, live's default capture filter and crosscheck's tshark alike."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_capture_contents import job, vxlan_frame
from test_connections_util import ethernet, ipv4, write_pcap

from flowcheck.bpf import filter_results, libpcap
from flowcheck.cli.main import run as run_cli
from flowcheck.config import Config, build_config
from flowcheck.decode.tunnels import TunnelPorts
from flowcheck.errors import UsageError
from flowcheck.ndmp.crosscheck import tshark_decode_as
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources.capture_filter import default_filter, vlan_filter


def geneve_frame(inner: bytes, port: int) -> bytes:
    geneve = struct.pack("!BBHI", 0, 0, 0x6558, 42 << 8) + ethernet(inner, pad=False)
    udp = struct.pack("!HHHH", 50000, port, 8 + len(geneve), 0) + geneve
    return ethernet(ipv4("10.9.0.1", "10.9.0.2", 17, udp))


@pytest.mark.parametrize(("wrap", "key"), [(vxlan_frame, "vxlan_ports"),
                                           (geneve_frame, "geneve_ports")])
def test_a_named_port_is_decoded(tmp_path: Path, wrap, key: str) -> None:  # noqa: ANN001
    path = write_pcap(tmp_path / "tunnel.pcap", 1, [wrap(p, 48879) for p in job()])
    plain = read_traffic([str(path)], Config())
    assert plain.connections == []
    config = build_config({key: [48879]})
    traffic = read_traffic([str(path)], config)
    [conn] = traffic.connections
    assert (conn.orig_h, conn.resp_p) == ("10.77.0.1", 10000)
    assert conn.tunnel is not None and conn.tunnel.startswith(key.split("_")[0])
    codes = {f.code for f in analyze(traffic, config).findings}
    assert "no_control_session" not in codes


def test_the_flags_and_keys() -> None:
    config = build_config({"vxlan_port": 48879}, {"geneve_port": ["7000,7001"]})
    assert config.vxlan_ports == (48879,) and config.geneve_ports == (7000, 7001)
    assert config.as_dict()["vxlan_ports"] == [48879]
    with pytest.raises(UsageError, match="--vxlan-port: 8472 is read as VXLAN already"):
        build_config(flag_values={"vxlan_port": ["8472"]})
    with pytest.raises(UsageError, match="port 7000 is given as both VXLAN"):
        build_config({"vxlan_ports": [7000]}, {"geneve_port": ["7000"]})
    with pytest.raises(UsageError, match="--geneve-port: port 70000 is outside 1-65535"):
        build_config(flag_values={"geneve_port": ["70000"]})


def test_the_cli_takes_the_flag(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "aci.pcap", 1, [vxlan_frame(p, 48879) for p in job()])
    assert run_cli(["connections", "--vxlan-port", "48879", str(path)]) == 0
    assert run_cli(["analyze", "--vxlan-port", "4789", str(path)]) == 2


@pytest.mark.skipif(libpcap() is None, reason="libpcap needed")
def test_live_default_filter_keeps_a_named_port() -> None:
    frame = vxlan_frame(job()[0], 48879)
    assert filter_results(vlan_filter(), [frame]) == [False]
    assert filter_results(vlan_filter((48879,)), [frame]) == [True]
    assert "udp port 48879" in default_filter("lo", (48879,))


def test_crosscheck_tells_tshark_the_ports() -> None:
    assert tshark_decode_as(TunnelPorts()) == {"udp.port==8472": "vxlan"}
    assert tshark_decode_as(TunnelPorts.adding((48879,), (7000,))) == {
        "udp.port==8472": "vxlan", "udp.port==48879": "vxlan", "udp.port==7000": "geneve"}

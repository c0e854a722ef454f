"""review64n: a return drop that is no firewall's. captures/review64n (its README): A
10.64.1.1 with rp_filter 1 and no firewall rule, 10.64.1.2's SYN-ACKs routed back to A's
other interface; `tcpdump -i any` (LINUX_SLL2) on A; `nstat` TcpExtIPReversePathFilter 8."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "review64n"
CASE = FOLDER / "rpfilter-synacks-any.pcap"


def test_the_capture_shows_the_synacks_arriving_on_another_interface() -> None:
    """tshark: A's SYNs leave by index 2 (outgoing), 10.64.1.2's SYN-ACKs arrive on index
    3 (to this host), no ACK of A's."""
    done = subprocess.run(["tshark", "-r", str(CASE), "-Y", "tcp", "-T", "fields", "-e",
                           "sll.ifindex", "-e", "sll.pkttype", "-e", "ip.src", "-e",
                           "tcp.flags.str"], capture_output=True, text=True, check=True)
    rows = {tuple(line.split("\t")) for line in done.stdout.splitlines()}
    assert rows == {("2", "4", "10.64.1.1", "··········S·"),
                    ("3", "0", "10.64.1.2", "·······A··S·")}


def test_synacks_arriving_on_another_interface_name_the_reverse_path_filter() -> None:
    """handshake_incomplete taken on the originator by its marks, the SYN-ACKs arriving on
    another interface than its SYNs leave by: it said "10.64.1.1's own firewall drops the
    SYN-ACKs" though no firewall rule existed (the kernel's strict reverse-path filter
    dropped them); now the message names both, the fix leads with nstat and rp_filter."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(CASE)], config), config)
    [found] = [f for f in result.findings if f.code == "handshake_incomplete"]
    assert "10.64.1.1's own firewall drops the SYN-ACKs" not in found.message
    assert ("10.64.1.2's packets arriving on interface index 3 while 10.64.1.1's to it leave "
            "by index 2 (asymmetric routing): 10.64.1.1 drops the SYN-ACKs itself as they "
            "arrive, its reverse-path filter (Linux rp_filter 1, strict") in found.message
    assert found.fix.startswith(
        "On 10.64.1.1 itself (this capture was taken there: the SYN-ACKs reached it): "
        "`nstat -az TcpExtIPReversePathFilter` on 10.64.1.1 counting up is its reverse-path "
        "filter dropping them: set `sysctl -w net.ipv4.conf.all.rp_filter=2`")
    # Its firewall stays, after it.
    assert "; else, in its input chain (and its output chain for the ACKs)" in found.fix
    assert "bridging" not in found.message + found.fix  # the marks place the host itself


def test_a_linux_cooked_capture_on_the_host_gives_no_windows_words() -> None:
    """The same lab with A's ip_default_ttl 128: its Linux cooked marks prove the capture
    taken on A itself, so A runs Linux; the fix led "its TTL starts at 128, Windows'
    default" and Windows Defender Firewall before the netfilter commands."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    path = FOLDER / "rpfilter-ttl128-any.pcap"
    result = analyze(read_traffic([str(path)], config), config)
    [found] = [f for f in result.findings if f.code == "handshake_incomplete"]
    assert "its Linux cooked headers mark each SYN" in found.message
    assert "TTL 128" in found.message  # the capture's TTLs are 128
    assert "Windows" not in found.fix
    assert "; else, in its input chain (and its output chain for the ACKs)" in found.fix

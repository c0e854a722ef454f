"""`--filter` expressions on connections: primitives, src/dst sides, boolean algebra,
and one-line usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.connections.filter import compile_filter
from flowcheck.errors import UsageError
from flowcheck.model import Connection

CONTROL = Connection("C1", "10.77.0.1", 5081, "10.77.0.2", 10000, 0.0)
DATA = Connection("C2", "10.77.0.2", 6015, "10.77.0.1", 5014, 0.0)
V6 = Connection("C3", "fd00::1", 40000, "fd00::2", 443, 0.0)


def selected(expr: str) -> list[str]:
    keep = compile_filter(expr)
    return [c.uid for c in (CONTROL, DATA, V6) if keep(c)]


@pytest.mark.parametrize(("expr", "uids"), [
    ("port 10000", ["C1"]),
    ("host 10.77.0.1", ["C1", "C2"]),
    ("src host 10.77.0.1", ["C1"]),
    ("dst host 10.77.0.1", ["C2"]),
    ("net 10.77.0.0/16", ["C1", "C2"]),
    ("net fd00::/8", ["C3"]),
    ("src portrange 6001-6100", ["C2"]),
    ("portrange 5001-5100 and not port 10000", ["C2"]),
    ("port 443 or port 10000", ["C1", "C3"]),
    ("!(port 443 || port 10000)", ["C2"]),
    ("dst port 5014 && src net 10.77.0.2/32", ["C2"]),
    ("not port 1 and (port 443 or host 10.77.0.2) and not dst port 10000", ["C2", "C3"]),
    ("HOST 10.77.0.2 AND PORT 6015", ["C2"]),
    # tcpdump's protocol qualifiers, as its users type them.
    ("tcp port 10000", ["C1"]),
    ("tcp src port 6015", ["C2"]),
    ("tcp", ["C1", "C2", "C3"]),
    ("ip6 or tcp dst port 5014", ["C2", "C3"]),
    ("ip and not (tcp)", []),
    ("ip host 10.77.0.2", ["C1", "C2"]),
    ("ip6 net fd00::/8 and port 443", ["C3"]),
    ("ip port 443", []),
    ("net 10.77.0.1", ["C1", "C2"]),
])
def test_expressions_select_connections(expr: str, uids: list[str]) -> None:
    assert selected(expr) == uids


@pytest.mark.parametrize("expr", [
    "", "port", "port x", "port 70000", "host 10.0.0", "net 10.0.0.0/40", "portrange 10",
    "portrange 9-3", "(port 1", "port 1)", "port 1 port 2", "src", "bogus 1", "port 1 and",
    "not", "port 1 & port 2", "port ²", "portrange ¹-²", "port +5", "portrange 5001-",
    "udp port 53", "tcp tcp port 1", "tcp and", "src tcp port 1", "net 10.77.0.1/24",
])
def test_invalid_expressions_are_usage_errors(expr: str) -> None:
    with pytest.raises(UsageError) as error:
        compile_filter(expr)
    assert "\n" not in str(error.value) and "--filter" in str(error.value)


@pytest.mark.parametrize(("expr", "said"), [
    ("udp port 53", "'udp': flowcheck's connections are TCP, so it would select none"),
    ("src net 10.77.0.1/24", "'10.77.0.1/24' has host bits set: give the network, "
                             "10.77.0.0/24"),
])
def test_usage_errors_say_why(expr: str, said: str) -> None:
    with pytest.raises(UsageError) as error:
        compile_filter(expr)
    assert str(error.value) == f"--filter {expr!r}: {said}"


def test_connections_path_imports_no_heavy_library() -> None:
    capture = Path(__file__).resolve().parent.parent / "captures/ndmjob/v4-backup.pcap"
    code = ("import sys; from flowcheck.connections import track_connections;"
            "from flowcheck.connections.filter import compile_filter;"
            "keep = compile_filter('port 10000');"
            f"[c for c in track_connections([{str(capture)!r}]).connections if keep(c)];"
            "print(sorted(m for m in ('scapy', 'pyshark', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"

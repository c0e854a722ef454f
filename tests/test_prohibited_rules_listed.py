"""The reject rules flowcheck's refusal findings quote are found, word for word, in what
`nft list ruleset` and `iptables -S` / `ip6tables -S` print (review58h).

flowcheck quoted nft's rules as `reject with icmp type host-unreachable`: nft 1.0.6
accepts that as input but lists it `reject with icmp host-unreachable` (nft(8)
REJECT_WITH), so a user who searched the listing of their ruleset for the quoted text
found nothing. Each quoted rule is loaded into a network namespace the test creates and
deletes (an inet table, and the ip or ip6 table of its IP version unless it is icmpx's
family-free reject), and the listing must hold the quoted text; likewise iptables'
`REJECT --reject-with ...` after `iptables -A`. Root and nft / iptables: skipped without
them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from test_firewall_pasted import _in, fresh_host, needs_root

from flowcheck.verify.prohibited_rules import prohibited_rule, routing_rule

# Every (IP version, ICMP code) the findings name a rule for: the filter codes, the
# routing codes, one no reject rule sends (IPv4 7) and none known.
_PROHIBITED = [(4, 9), (4, 10), (4, 13), (6, 1), (6, 5), (6, 6), (4, None), (6, None)]
_ROUTING = [(4, 0), (4, 1), (4, 7), (6, 0), (6, 3), (6, None)]


def _quoted() -> list[tuple[int, str]]:
    """(IP version, words) of every quoted rule sentence."""
    return ([(v, prohibited_rule(v, c)) for v, c in _PROHIBITED]
            + [(v, routing_rule(v, c)) for v, c in _ROUTING])


def _nft_rules() -> set[tuple[int, str]]:
    """(IP version, nft rule) quoted: each backticked `reject ...`."""
    return {(v, rule) for v, words in _quoted()
            for rule in re.findall(r"`(reject[^`]*)`", words)}


def _iptables_rules() -> set[tuple[int, str]]:
    """(IP version, `REJECT --reject-with CODE`) quoted."""
    return {(v, rule) for v, words in _quoted()
            for rule in re.findall(r"`(REJECT --reject-with [^`]*)`", words)}


@pytest.fixture
def host() -> Iterator[str]:
    """A network namespace of its own (no table, no rule), deleted afterwards."""
    with fresh_host() as name:
        yield name


def _ok(host: str, *argv: str, script: str | None = None) -> str:
    """ARGV's standard output in `host`; it must exit 0."""
    done = _in(host, *argv, script=script)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def test_every_quoted_rule_is_found() -> None:
    """The sentences quote an nft rule for each case, and an iptables one for a code."""
    assert all("`reject with " in words for _, words in _quoted())
    assert len(_nft_rules()) >= 12 and len(_iptables_rules()) == 10


@needs_root
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_nft_list_ruleset_prints_the_quoted_rules(host: str) -> None:
    rules = sorted(_nft_rules())
    tables = {"inet": [rule for _, rule in rules],
              "ip": [rule for v, rule in rules if v == 4 and "icmpx" not in rule],
              "ip6": [rule for v, rule in rules if v == 6 and "icmpx" not in rule]}
    script = "".join(
        f"table {family} nftwords {{\n chain input {{\n"
        "  type filter hook input priority 0; policy accept;\n"
        + "".join(f"  tcp dport {port} {rule}\n" for port, rule in enumerate(chain, 1000))
        + " }\n}\n" for family, chain in tables.items())
    _ok(host, "nft", "-f", "-", script=script)
    listed = _ok(host, "nft", "list", "ruleset")
    for family, chain in tables.items():
        table = listed[listed.index(f"table {family} nftwords {{"):]
        table = table[:table.index("\n}\n")]
        missing = [rule for port, rule in enumerate(chain, 1000)
                   if f"tcp dport {port} {rule}\n" not in table]
        assert not missing, f"table {family}: not as listed: {missing}\n{table}"


@needs_root
@pytest.mark.skipif(shutil.which("iptables") is None or shutil.which("ip6tables") is None,
                    reason="iptables / ip6tables is not installed")
def test_iptables_s_prints_the_quoted_rules(host: str) -> None:
    rules = sorted(_iptables_rules())
    for port, (version, rule) in enumerate(rules, 1000):
        tool = "ip6tables" if version == 6 else "iptables"
        _ok(host, tool, "-A", "INPUT", "-p", "tcp", "--dport", str(port), "-j", *rule.split())
    listed = {4: _ok(host, "iptables", "-S"), 6: _ok(host, "ip6tables", "-S")}
    missing = [rule for port, (version, rule) in enumerate(rules, 1000)
               if f"--dport {port} -j {rule}\n" not in listed[version]]
    assert not missing, f"not as `iptables -S` lists them: {missing}\n{listed}"
    if "nf_tables" in _ok(host, "iptables", "--version") and shutil.which("nft"):
        # iptables-nft's table, which nft lists in the `icmp type` form (the exception
        # flowcheck.verify.prohibited_rules' docstring names: its words are iptables -S's)
        assert "reject with icmp type host-unreachable" in _ok(host, "nft", "list", "ruleset")

"""The nft accept of established connections a fix quotes works where the drop is, and
says that an accept in another table does not undo it (newuser62: the quoted
`nft insert rule inet filter input ...` failed "No such file or directory" on a host
with no `inet filter` table, and on a host whose own table dropped the packets the
accept added elsewhere let nothing through; flowcheck.verify.established_accept).

The lab test runs nft for real in two network namespaces (prefix nq-) joined by a veth
pair: the listener's own table (`ip nq_own`) lets in a connection's SYN only, as a rule
matching `ct state new` with no accept of established connections ahead of its drop.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stored import stored_analysis

from flowcheck.verify.established_accept import (
    NFT_PLACEHOLDERS,
    established_accept,
    other_table_note,
)

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "captures" / "lab"
VERIFY = ROOT / "flowcheck" / "verify"
PORT = 6001
OWN_TABLE = f"""table ip nq_own {{
    chain in {{
        type filter hook input priority 0; policy accept;
        tcp dport {PORT} ct state new accept
        tcp dport {PORT} drop
    }}
}}"""
# One connection: the listener prints "accepted" once the handshake completed on its side
# (its ACK arrived), "timeout" when it did not within 2 s; the client sends a byte.
LISTEN = (f"import socket;s=socket.socket();s.bind(('10.99.62.2',{PORT}));s.listen();"
          "s.settimeout(2)\ntry:\n c,_=s.accept();print('accepted')\n"
          "except OSError:\n print('timeout')")
CONNECT = (f"import socket;s=socket.create_connection(('10.99.62.2',{PORT}),timeout=2);"
           "s.send(b'x')")


def _quoted_nft(words: str) -> list[str]:
    """The nft commands `words` quotes (between backticks)."""
    return [q for q in re.findall(r"`([^`]+)`", words) if q.startswith("nft ")]


def test_verify_quotes_nft_accepts_only_through_established_accept() -> None:
    """No other module of flowcheck.verify spells an `nft insert` or `nft add` command
    of its own (each named `inet filter`, a table a stock host lacks)."""
    spelled = [f"{path.name}:{n}" for path in sorted(VERIFY.glob("*.py"))
               if path.name != "established_accept.py"
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if re.search(r"nft (insert|add) ", line)]
    assert spelled == []


def test_handshake_incomplete_quotes_the_accept_where_the_drop_is() -> None:
    """lab/data-ack-dropped: the agent's input drops the media server's ACK. The fix
    quoted `nft insert rule inet filter input ...` and lacked the note data_unanswered's
    allow rules carry (fix_notes.firewall_pointer)."""
    analysis = stored_analysis(LAB / "data-ack-dropped.pcap")
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    fix = " ".join(finding.fix.split())
    assert "inet filter" not in fix
    assert _quoted_nft(fix) == ["nft insert rule FAMILY TABLE CHAIN ct state "
                                "established,related accept", "nft list ruleset",
                                "nft list ruleset"]
    assert "in the table and chain on the input hook that hold the drop" in fix
    assert other_table_note("drop") in fix
    # The note is in the sentence that quotes the command: the verdict's fix shows it.
    assert fix.index(other_table_note("drop")) < fix.index(". ")
    assert fix.count("does not undo") == 1


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """(connector, listener): namespaces nq-PID-c and nq-PID-l, 10.99.62.1 and .2/24 on
    a veth pair, no nftables table in either; deleted afterwards."""
    names = (f"nq-{os.getpid()}-c", f"nq-{os.getpid()}-l")
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", names[0], "link", "add", "v0", "type", "veth", "peer",
                        "name", "v1", "netns", names[1]], check=True)
        for name, ifname, address in ((names[0], "v0", "10.99.62.1/24"),
                                      (names[1], "v1", "10.99.62.2/24")):
            subprocess.run(["ip", "-n", name, "addr", "add", address, "dev", ifname],
                           check=True)
            subprocess.run(["ip", "-n", name, "link", "set", ifname, "up"], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def _in(namespace: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], input=stdin,
                          capture_output=True, text=True, timeout=30, check=False)


def _nft(namespace: str, command: str) -> subprocess.CompletedProcess:
    """A quoted nft command run as a shell would split it."""
    return _in(namespace, *command.split())


def _handshake(connector: str, listener: str) -> str:
    """"accepted" when a connection from connector to listener port PORT completed on the
    listener's side, else "timeout"."""
    server = subprocess.Popen(["ip", "netns", "exec", listener, sys.executable, "-c", LISTEN],
                              stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(50):  # until it listens
            if f":{PORT}" in _in(listener, "ss", "-ltnH").stdout:
                break
            _in(listener, "sleep", "0.05")
        _in(connector, sys.executable, "-c", CONNECT)
        return server.communicate(timeout=30)[0].strip()
    finally:
        server.kill()
        server.wait()


def _holding_chain(namespace: str) -> list[str]:
    """FAMILY, TABLE, CHAIN of the input-hook base chain holding a drop, from
    `nft -j list ruleset` (as a user reads `nft list ruleset`)."""
    ruleset = json.loads(_in(namespace, "nft", "-j", "list", "ruleset").stdout)["nftables"]
    chains = {(c["chain"]["family"], c["chain"]["table"], c["chain"]["name"])
              for c in ruleset if "chain" in c and c["chain"].get("hook") == "input"}
    holding = [r["rule"] for r in ruleset if "rule" in r
               and any("drop" in e for e in r["rule"]["expr"])]
    [where] = {(r["family"], r["table"], r["chain"]) for r in holding
               if (r["family"], r["table"], r["chain"]) in chains}
    return list(where)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
def test_the_quoted_accept_runs_and_undoes_a_drop_in_a_table_of_its_own(
        namespaces: tuple[str, str]) -> None:
    connector, listener = namespaces
    words = established_accept("input")
    [command, *listings] = _quoted_nft(words)
    listing = "nft list ruleset"
    assert set(listings) == {listing}
    # A stock host: no table, the command listing the rules works; the old quote did not.
    assert _nft(listener, listing).returncode == 0 and not _nft(listener, listing).stdout
    old = "nft insert rule inet filter input ct state established,related accept"
    assert "No such file or directory" in _nft(listener, old).stderr
    # A table of its own drops the ACK: the handshake never completes on the listener.
    assert _in(listener, "nft", "-f", "-", stdin=OWN_TABLE).returncode == 0
    assert _handshake(connector, listener) == "timeout"
    # The old quote, its table created as `flowcheck firewall` creates it: the accept in
    # another table changes nothing (the note's words).
    for line in ("nft add table inet filter",
                 "nft add chain inet filter input { type filter hook input priority 0 ; }",
                 old):
        assert _nft(listener, line).returncode == 0, line
    assert _handshake(connector, listener) == "timeout"
    # The quoted command with the names of the chain that holds the drop: it passes.
    filled = dict(zip(NFT_PLACEHOLDERS, _holding_chain(listener), strict=True))
    assert filled == {"FAMILY": "ip", "TABLE": "nq_own", "CHAIN": "in"}
    run = _nft(listener, " ".join(filled.get(word, word) for word in command.split()))
    assert run.returncode == 0, run.stderr
    assert _handshake(connector, listener) == "accepted"

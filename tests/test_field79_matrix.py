"""Field check 79's lab matrix (captures/field79-matrix, README.md there), seed 142.

Run 18: a dual-stack Backup Exec restore (control over IPv6 in TLS from its first byte,
data to the agent's IPv4 address); the agent's input chain rejected its 5 data SYNs with
ICMP port unreachable; both hosts' `tcpdump -i any` (Linux cooked) merged, 1.14% of the
frames deleted: each SYN and each reject in it twice, the rejects' copies frames 68, 76,
84, 92 and 100, TCP copies before and after them (to frame 114). capture_duplicates read
the marks of the 47 TCP copies (its sample reads TCP packets only) and said "The first
47 copies' marks tell where they were captured", as if the 5 copies not read came after
them (flowcheck.connections.relay_words.near_words).

Run 26 (a run beyond the 20): a dual-stack backup in TLS over a router, the agent's
output chain dropping its control SYN-ACKs, `tcpdump -Q out` on the router's side toward
the media server: no TCP, 3 packets, the first the router's duplicate address detection
for its own link-local address (a neighbour solicitation from ::). no_control_session
read it as "a host resolving a neighbour's address ... so the job may have failed before
it started" (flowcheck.verify.capture_contents._flow).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field79-matrix"
DAD = HERE / "dual-control-synacks-dropped-tls-routed-router-out-dad-only.pcapng.gz"
REJECTED = HERE / "dual-data-icmp-rejected-restore-tlsstart-both-sll-loss.pcap.gz"


def test_copies_of_icmp_errors_are_named_apart_from_the_tcp_copies_read() -> None:
    """52 copies, 5 of them the ICMP errors' (between the TCP ones): the words name the
    47 TCP copies read and the 5 not read, never "the first 47"."""
    analysis = shared_analysis(REJECTED)
    assert analysis.verdict == "fail"
    assert len([f for f in analysis.findings if f.code == "data_refused"]) == 5
    [finding] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert finding.message.startswith("52 of the 105 TCP packets and ICMP errors compared "
                                      "are copies")
    assert ("The marks of the 47 TCP copies (the 5 copies of ICMP errors are not read) "
            "tell where they were captured: the file's Linux cooked headers mark each "
            "original as sent by the host that captured it (outgoing)") in finding.message
    assert "The first 47 copies'" not in finding.message


def test_a_duplicate_address_probe_is_not_read_as_a_host_resolving_its_peer() -> None:
    """Frame 1: a neighbour solicitation from :: (RFC 4862's probe of an address of the
    sender's own): named so, with the sniffer's usual causes and fix, never the words and
    fix of a host that could not resolve the agent."""
    analysis = shared_analysis(DAD)
    assert analysis.verdict == "inconclusive"
    [finding] = analysis.findings
    assert finding.code == "no_control_session"
    assert ("1 of its 3 packets is ICMPv6 between :: and ff02::1:ff83:cfca (neighbour "
            "solicitations from the unspecified address for an address ending in 83:cfca: "
            "duplicate address detection, RFC 4862, a host checking that an address of its "
            "own is free before it uses it, not resolving a peer's) (the sniffer saw none "
            "of the job's traffic: ") in finding.message
    assert "resolving a neighbour's address" not in finding.message
    assert "may have failed before it started" not in finding.message
    assert "--remote-agent" not in finding.fix


def test_a_cut_short_sample_beside_icmp_copies_says_only_how_many_were_read() -> None:
    """Each of near_words' leads by its counts (no capture: 5,000 TCP copies past a
    NEAR_SAMPLE of 4,096 read, 5 ICMP copies besides): a sample both cut short and short
    of the ICMP copies is "N of the M copies", never "the N TCP copies" (which would say
    every TCP copy was read) nor "the first N"."""
    from flowcheck.connections.copy_family import copy_family
    from flowcheck.connections.relay_copies import RelayCopies
    from flowcheck.connections.relay_words import near_words

    def lead(read: int, copies: int, icmp: int) -> str:
        relays = RelayCopies(near_read=read, near_handed=read)
        return near_words(relays, copies, copy_family(copies), icmp).split(" tell ")[0]

    assert lead(4_096, 5_005, 5) == ("The marks of 4,096 of the 5,005 copies (those read: "
                                     "not every copy's is)")
    assert lead(47, 52, 5) == ("The marks of the 47 TCP copies (the 5 copies of ICMP "
                               "errors are not read)")
    assert lead(47, 47, 0) == "The copies' marks"
    assert lead(4_096, 5_000, 0) == ("The marks of 4,096 of the 5,000 copies (those read: "
                                     "not every copy's is)")

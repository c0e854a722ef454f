"""Field check 79's lab matrix (captures/field79-matrix, README.md there), seed 142.

Run 18: a dual-stack Backup Exec restore (control over IPv6 in TLS from its first byte,
data to the agent's IPv4 address); the agent's input chain rejected its 5 data SYNs with
ICMP port unreachable; both hosts' `tcpdump -i any` (Linux cooked) merged, 1.14% of the
frames deleted: each SYN and each reject in it twice, the rejects' copies frames 68, 76,
84, 92 and 100, TCP copies before and after them (to frame 114). capture_duplicates read
the marks of the 47 TCP copies (its sample reads TCP packets only) and said "The first
47 copies' marks tell where they were captured", as if the 5 copies not read came after
them (flowcheck.connections.relay_words.near_words).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field79-matrix"
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

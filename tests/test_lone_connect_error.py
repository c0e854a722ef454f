"""ndmp_error_reply for a CONNECT error right after the data connection's lone SYN
(flowcheck.verify.lone_connect_error).

Field check 77's hand-made run (index 901, not stored): ndmjob's agent connecting to the
media server, whose input chain rejected with a TCP reset, captured `-Q out` on the
agent: one SYN, NDMP_CONNECT_ERR 0.03 ms after it. The finding said only "DATA_CONNECT
was answered CONNECT_ERR by the agent", and its fix ended "remove or narrow that drop".
Built here from the stored run 18 (the agent's packets only, `-Q in` on the media
server): its first SYN (frame 6) removed, its second moved to 30 us before the
CONNECT_ERR reply: the same shape (tshark: frame 7 SYN 6007 -> 5042, frame 8 DATA_CONNECT
Reply NDMP Error:CONNECT_ERR, 0.030 ms apart).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import LINUX_SLL2, read_records, write_records
from stored import sidecar, stored_analysis

REJECTED = (Path(__file__).resolve().parents[1] / "captures" / "field77-matrix" /
            "ndmjob-data-rejected-by-media-sll2-dir-in.pcap.gz")


def _lone(tmp_path: Path, micros_before: int) -> Path:
    """REJECTED with one SYN, `micros_before` before the CONNECT_ERR reply (frame 8)."""
    _linktype, records = read_records(REJECTED)
    syn, reply = records[7], records[8]
    lone = replace(syn, micros=reply.micros - micros_before)
    return write_records(tmp_path / "lone.pcap", LINUX_SLL2,
                         [*records[:5], records[6], lone, *records[8:]])


def test_a_connect_error_right_after_a_lone_syn_reads_as_a_reject(tmp_path: Path) -> None:
    analysis = stored_analysis(_lone(tmp_path, 30), config_path=sidecar(REJECTED))
    assert analysis.verdict == "fail"
    [error] = [f for f in analysis.findings
               if f.code == "ndmp_error_reply" and "DATA_CONNECT" in f.message]
    assert error.frames == [7, 8]
    assert error.reading == "likely_rejected"
    assert ("The agent's connect failed 0.03 ms after its only SYN to 10.77.0.1:5042 "
            "(frame 7), not resent: a connect fails that fast on a reject (a RST or an ICMP "
            "unreachable, which the capture lacks) or an unreachable host, not on a drop"
            ) in error.message.replace("0.0298 ms", "0.03 ms"), error.message
    assert error.message.endswith("so it was most likely rejected.")
    assert error.fix.endswith("remove or narrow that drop or reject.")


def test_a_connect_error_a_while_after_a_lone_syn_is_not_tied_to_it(tmp_path: Path) -> None:
    """The same reply 3 s after the SYN: TCP may have resent it (the capture lacks
    them), so nothing reads a reject."""
    analysis = stored_analysis(_lone(tmp_path, 3_000_000), config_path=sidecar(REJECTED))
    [error] = [f for f in analysis.findings
               if f.code == "ndmp_error_reply" and "DATA_CONNECT" in f.message]
    assert error.reading == ""
    assert "most likely rejected" not in error.message
    assert error.fix.endswith("remove or narrow that drop.")


def test_a_connect_error_later_than_at_once_keeps_the_connect_timeout_open(
        tmp_path: Path) -> None:
    """review64m: the reply 900 ms after the lone SYN (a Linux agent resends at 1 s): the
    agent's own connect timeout may have run out first, as fast_connect_error says of
    resent SYNs; the reading stays, hedged."""
    analysis = stored_analysis(_lone(tmp_path, 900_000), config_path=sidecar(REJECTED))
    [error] = [f for f in analysis.findings
               if f.code == "ndmp_error_reply" and "DATA_CONNECT" in f.message]
    assert error.reading == "likely_rejected"
    assert error.message.endswith(
        "so it was most likely rejected (unless the agent's own connect timeout ran out just "
        "then)."), error.message

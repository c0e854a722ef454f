"""Words tied to one system, or saying more than the capture shows (task words65).

- "a dropped SYN is resent for a minute or more" is Linux's (and the BSDs'): Windows,
  which most Backup Exec hosts run, gives a connect up after 2 resends, about 21 s
  (TcpMaxConnectRetransmissions 2, TcpInitialRTT 3 s), or on recent releases after 4,
  31 s (review64j: "Initial RTO : 1000", "Max SYN Retransmissions : 4"). The SYN's TTL
  shows the system's initial one: the words name it for 64 or 128, else say both
  (verify.syn_give_up; the lone SYN's readings verify.gave_up and verify.lone_data_syn).
- A capture the Linux cooked marks place on the media server, its agent's TCP left out
  by a filter, was told to capture "on the media server itself" (verify.one_way_point
  .left_out_fix; captures/words65).
- "each is in the capture twice" was said uncounted of SYNs whose connection had an
  answer, or packets of the originator's besides (verify.arrival.twice_words).
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

from flowcheck.model import Connection
from flowcheck.verify.arrival import twice_words

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
PORT_IN_USE = CAPTURES / "field53-matrix" / "port-in-use-routed-captured-in-on-agent.pcap.gz"
REJECTED = CAPTURES / "ndmjob-firewall" / "v4-media-reject-adminprohib.pcap"
LEFT_OUT = CAPTURES / "words65" / "ndmjob-clean-any-on-media-agent-tcp-left-out.pcap.gz"
MERGED = (CAPTURES / "field58-matrix"
          / "ndmjob-control-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz")
# Where the IPv4 header starts, by link type: Ethernet, Linux cooked v1 and v2.
_IP_AT = {1: 14, 113: 16, 276: 20}


def _with_ttl(record: Record, linktype: int, ttl: int) -> Record:
    """The record with its IPv4 TTL set to `ttl` and the header checksum made anew."""
    at = _IP_AT[linktype]
    data = bytearray(record.data)
    assert data[at] >> 4 == 4
    size = (data[at] & 0x0F) * 4
    data[at + 8] = ttl
    data[at + 10:at + 12] = b"\0\0"
    total = sum(struct.unpack(f">{size // 2}H", bytes(data[at:at + size])))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    data[at + 10:at + 12] = struct.pack(">H", ~total & 0xFFFF)
    return replace(record, data=bytes(data))


def _edited(tmp_path: Path, capture: Path, name: str, frames: dict[int, int],
            drop: frozenset[int] = frozenset()) -> Path:
    """The capture with each frame of `frames` (number from 1: TTL) given that TTL and
    the frames of `drop` left out."""
    linktype, records = read_records(capture)
    kept = [_with_ttl(r, linktype, frames[n]) if n in frames else r
            for n, r in enumerate(records, 1) if n not in drop]
    return write_records(tmp_path / f"{name}.pcap", linktype, kept)


def _gave_up_message(path: Path) -> str:
    [finding] = [f for f in stored_analysis(path, config_path=sidecar(PORT_IN_USE)).findings
                 if f.code == "data_unanswered"]
    return " ".join(finding.message.split())


def test_a_lone_syn_given_up_at_once_says_how_long_its_system_resends(tmp_path: Path
                                                                       ) -> None:
    """field53 run 1: the media server's one data SYN (frame 11, TTL 63: Linux's 64 one
    router on) and its CONNECT_CLOSE 0.145 ms later. As captured the words name the
    systems starting at 64; the SYN at 127 (Windows' 128 one router on) names Windows'
    21 to 31 s (2 resends, or 4 on recent releases: review64j, "2 resends by default"
    was said of every Windows); at 254 (a network OS's 255) both. "a minute or more" was
    said of all three."""
    linux = " ".join(next(f for f in shared_analysis(PORT_IN_USE).findings
                          if f.code == "data_unanswered").message.split())
    assert ("before TCP would have resent the SYN (within 3 s; TCP gives a dropped SYN up "
            "only after resending it, for a minute or more on the systems whose TTL starts "
            "at 64 as this SYN's (63) does, two minutes or more on Linux): a connect fails "
            "that fast on a reject") in linux
    windows = _gave_up_message(_edited(tmp_path, PORT_IN_USE, "windows", {11: 127}))
    assert ("before TCP would have resent the SYN (within 3 s; TCP gives a dropped SYN up "
            "only after resending it, within about 21 to 31 s on Windows (2 resends by "
            "default, 4 on recent releases), whose TTL starts at 128 as this SYN's (127) "
            "does): a connect fails that fast") in windows
    assert "a minute" not in windows and "Linux" not in windows
    neither = _gave_up_message(_edited(tmp_path, PORT_IN_USE, "neither", {11: 254}))
    assert ("(within 3 s; TCP gives a dropped SYN up only after resending it: within about "
            "21 to 31 s on Windows (2 resends by default, 4 on recent releases), two minutes "
            "or more on Linux)") in neither


def test_a_connect_error_at_once_says_how_long_a_windows_connector_resends(
        tmp_path: Path) -> None:
    """ndmjob-firewall's v4-media-reject-adminprohib less the resent SYN (frame 15) and
    the ICMP rejects (frames 14, 17; tshark: the agent's CONNECT_ERR then 1 s after its
    one SYN, frame 12): the agent's SYN sent at TTL 128 reads Windows' resends, not "a
    minute or more"; at 64, as captured, the systems starting at 64."""
    icmp = {int(n) for n in subprocess.run(
        ["tshark", "-r", str(REJECTED), "-Y", "icmp", "-T", "fields", "-e", "frame.number"],
        check=True, capture_output=True, text=True).stdout.split()}
    assert icmp and 15 not in icmp
    config = REJECTED.with_suffix(".toml")
    for ttl, words in ((128, "within about 21 to 31 s on Windows (2 resends by default, 4 "
                             "on recent releases), whose TTL starts at 128 as this SYN's "
                             "(128) does"),
                       (64, "for a minute or more on the systems whose TTL starts at 64 as "
                            "this SYN's (64) does, two minutes or more on Linux")):
        path = _edited(tmp_path, REJECTED, f"ttl{ttl}", {12: ttl}, frozenset(icmp | {15}))
        [finding] = [f for f in stored_analysis(path, config_path=config).findings
                     if f.code == "data_unanswered"]
        message = " ".join(finding.message.split())
        assert ("1.01 s after its SYN: a connect fails that fast on a reject (a RST or an "
                "ICMP unreachable, which the capture lacks) or an unreachable host, not on a "
                f"drop (TCP gives a dropped SYN up only after resending it, {words}), so it "
                "was most likely rejected") in message, message


def test_a_capture_placed_on_the_media_server_is_not_sent_there() -> None:
    """`tcpdump -i any` on the media server, the agent's TCP left out, its ARP and UDP
    kept: the cooked marks place the capture on 10.77.0.1, which the fix said to capture
    on ("where both directions' TCP pass (on the media server itself)")."""
    [finding] = [f for f in shared_analysis(LEFT_OUT).findings
                 if f.code == "capture_one_direction"]
    assert "only its TCP is missing" in finding.message
    assert "on the media server itself" not in finding.fix
    assert finding.fix == (
        "Capture 10.77.0.2's TCP to 10.77.0.1 too: a capture filter that holds both "
        "directions' TCP (or none). This capture was taken on the media server 10.77.0.1 "
        "itself (its Linux cooked headers mark 10.77.0.1's SYNs to 10.77.0.2 sent by the "
        "capture host, at TTL 64, an initial value), which both directions' TCP pass: "
        "capture there again so, on every interface (tcpdump -i any), or on the agent "
        "10.77.0.2.")


def _merged_control() -> Connection:
    """field58's control connection: 9 SYNs, each captured leaving M and arriving at A
    (18 packets of M's), no answer."""
    [conn] = [c for c in shared_analysis(MERGED).traffic.connections
              if c.role == "control"]
    assert (conn.syn_retries, conn.orig_pkts, conn.resp_pkts) == (8, 18, 0)
    return conn


def test_syn_copies_are_counted_whatever_the_peer_answered() -> None:
    """The originator sent nothing but its SYNs: its packets are their copies, whatever
    the responder sent (a reject's RST, "r"); it read "each is in the capture twice"
    uncounted once the responder had a packet."""
    conn = _merged_control()
    answered = replace(conn, resp_pkts=1, history=conn.history + "r")
    assert twice_words(answered) == "the 9 are in the capture 18 times"
    assert twice_words(replace(answered, orig_pkts=17)) == (
        "8 of the 9 are in the capture twice (the other once: the capture lacks its other "
        "copy)")
    assert twice_words(replace(answered, orig_pkts=9), "each SYN") == (
        "the 9 SYNs are in the capture once each")


def test_syn_copies_are_not_counted_among_the_originators_other_packets() -> None:
    """An ACK, data, a FIN or a RST of the originator's is among orig_pkts: the copies
    cannot be told per SYN, so no count is said ("each is in the capture twice" was)."""
    conn = _merged_control()
    for other in (replace(conn, orig_pkts=20, resp_pkts=2, history=conn.history + "hA"),
                  replace(conn, orig_pkts=19, orig_rst=True, history=conn.history + "R"),
                  replace(conn, orig_pkts=20, orig_bytes=10, history=conn.history + "hAD")):
        assert twice_words(other) == "copies of them are in the capture"
        assert twice_words(other, "each SYN") == "copies of the SYNs are in the capture"

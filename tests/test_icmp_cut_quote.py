"""Field check 46: ICMP unreachables whose quote the snap length cut before the TCP ports
(flowcheck.decode.cut_quote, flowcheck.connections.icmp_cut, flowcheck.verify.cut_icmp).

The stored all-IPv6 restore captured with `tcpdump -i any -y LINUX_SLL2 -s 96` keeps 28
bytes of each ICMPv6 reject's quote: it read callback_unanswered, "no SYN-ACK, RST or
ICMP". An IPv4 capture in ERSPAN (a 64-byte header before the inner IP) cut with
`editcap -s` likewise. Ties are made only when one connection attempt fits: the same
capture with a second SYN beside each of the agent's reads no refusal, and no "no ICMP".
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import stored_analysis

from flowcheck.model import Connection
from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
SNAP96 = CAPTURES / "field46-matrix" / "callback-icmpv6-reject-snap96-sll2.pcap"
ERSPAN = CAPTURES / "lab-trial22-tunnels" / "callback-rejected.erspan2split.pcap.gz"
_SLL2, _IPV6 = 20, 40  # header bytes before the TCP header of the SLL2 capture's SYNs


def _texts(analysis: Analysis) -> list[str]:
    """Every finding's message and fix, and every step's detail."""
    texts = [f"{f.message} {f.fix}" for f in analysis.findings]
    return texts + [step.detail for s in analysis.sessions for step in s.steps]


def _callback(analysis: Analysis) -> Connection:
    [conn] = [c for c in analysis.traffic.connections if c.resp_p == 5001]
    return conn


def test_icmpv6_reject_cut_at_96_bytes_is_the_callbacks_refusal() -> None:
    analysis = stored_analysis(SNAP96)
    conn = _callback(analysis)
    # Both rejects, the first one 2 ms after the control connection's SYN-ACK from the
    # same host (answered by then: not an open attempt).
    assert conn.icmp_frames == [21, 26]
    assert conn.icmp_sender == "fd77::1" and conn.icmp_to == "fd77::2"
    assert conn.icmp_cut is not None and conn.icmp_cut[0] == 28 and conn.icmp_cut[2] == "host"
    codes = {f.code for f in analysis.findings if str(f.severity) == "error"}
    assert codes == {"callback_refused"}
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    assert "administratively prohibited" in refused.message
    assert "snap length cut its quote after 28 bytes" in refused.message
    assert "tied to this connection by addresses and time" in refused.message
    assert "the only connection attempt between fd77::2 and fd77::1 then" in refused.message
    assert 21 in refused.frames
    assert not any("RST or ICMP" in text for text in _texts(analysis))


def _twin_syns(tmp_path: Path) -> Path:
    """SNAP96 with a second SYN from fd77::2 to fd77::1 (another source port and
    sequence number) 1 us after each of the callback's, before each reject."""
    linktype, records = read_records(SNAP96)
    out = []
    for number, record in enumerate(records, 1):
        out.append(record)
        if number in (20, 25):
            data = bytearray(record.data)
            tcp = _SLL2 + _IPV6
            data[tcp:tcp + 2] = (6077).to_bytes(2, "big")
            data[tcp + 4:tcp + 8] = (int.from_bytes(data[tcp + 4:tcp + 8], "big") ^ 0x5A5A5A5A
                                     ).to_bytes(4, "big")
            out.append(replace(record, micros=record.micros + 1, data=bytes(data)))
    return write_records(tmp_path / "twin-syns.pcap", linktype, out)


def test_two_attempts_fit_no_tie_and_no_no_icmp(tmp_path: Path) -> None:
    analysis = stored_analysis(_twin_syns(tmp_path),
                               config_path=SNAP96.with_suffix(".toml"))
    conns = [c for c in analysis.traffic.connections if c.resp_p == 5001]
    assert len(conns) == 2
    for conn in conns:
        assert conn.icmp_frames == []  # never invented
        assert conn.icmp_untied is not None
        assert conn.icmp_untied[2:] == ("fd77::1", 2)
    assert not any(f.code == "callback_refused" for f in analysis.findings)
    texts = _texts(analysis)
    assert not any("RST or ICMP" in text for text in texts)
    assert any("whose quote the capture's snap length cut (frame 22) came from fd77::1"
               in text and "tied to none" in text for text in texts)
    # The message may be the callback's reject: not "never got an answer".
    unanswered = next(f for f in analysis.findings if f.code == "callback_unanswered")
    assert "(step 2) and got no SYN-ACK or RST: " in unanswered.message
    assert "never got an answer" not in unanswered.message


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap (Wireshark) needed")
@pytest.mark.parametrize("snap", [112, 114])
def test_ipv4_in_erspan_cut_before_the_ports(tmp_path: Path, snap: int) -> None:
    """ERSPAN II: 14 + 20 + 8 (GRE) + 8 (ERSPAN) + 14 bytes before the inner IPv4 header,
    then IPv4 (20) and ICMP (8): -s 112 keeps the quoted IPv4 header only, -s 114 its
    source port too. The reject arrives in the media server's switch's tunnel, the SYN
    in the agent's (two ERSPAN sessions: connections.tunnel_halves)."""
    cut = tmp_path / f"erspan-{snap}.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-s", str(snap), str(ERSPAN), str(cut)],
                   check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=ERSPAN.with_name(
        "callback-rejected.erspan2split.toml"))
    conn = _callback(analysis)
    assert conn.icmp_frames == [18]
    assert conn.icmp_cut is not None and conn.icmp_cut[0] == snap - 92
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    assert 'ICMP unreachable "communication administratively prohibited by filtering" (code 13)' \
        in refused.message
    assert f"snap length cut its quote after {snap - 92} bytes" in refused.message
    assert not any("RST or ICMP" in text for text in _texts(analysis))


def _edited(tmp_path: Path, name: str, edit) -> Path:
    """SNAP96 with each reject (frames 21, 26) replaced by edit(record): a list."""
    linktype, records = read_records(SNAP96)
    out = []
    for number, record in enumerate(records, 1):
        out.extend(edit(record) if number in (21, 26) else [record])
    return write_records(tmp_path / name, linktype, out)


def test_a_capture_copy_of_a_cut_reject_is_no_second_reject(tmp_path: Path) -> None:
    """Each reject captured twice 10 us apart (`-i any` on a router): one each."""
    capture = _edited(tmp_path, "copies.pcap",
                      lambda r: [r, replace(r, micros=r.micros + 10)])
    conn = _callback(stored_analysis(capture, config_path=SNAP96.with_suffix(".toml")))
    assert conn.icmp_frames == [21, 27]


def test_a_routers_cut_reject_names_the_router(tmp_path: Path) -> None:
    """The same rejects from fd77::fe (their IPv6 source rewritten): a third address,
    the only connection attempt of fd77::2 then."""
    router = bytes.fromhex("fd77" + "00" * 12 + "00fe")

    def from_router(record):
        data = bytearray(record.data)
        data[_SLL2 + 8:_SLL2 + 24] = router
        return [replace(record, data=bytes(data))]

    analysis = stored_analysis(_edited(tmp_path, "router.pcap", from_router),
                               config_path=SNAP96.with_suffix(".toml"))
    conn = _callback(analysis)
    assert conn.icmp_frames == [21, 26]
    assert conn.icmp_sender == "fd77::fe" and conn.icmp_cut[2] == "router"
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    assert "sent by fd77::fe, not an end of it," in refused.message
    assert "the only connection attempt of fd77::2 then" in refused.message
    assert "from fd77::fe" in refused.message


@pytest.mark.parametrize("chunk", [200, 300, 700])
def test_ties_across_read_chunks(tmp_path: Path, chunk: int) -> None:
    """Read a few frames at a time (chunk bytes): each reject in another batch than its
    SYN in some of them; the ties and the untied twins stay as read whole."""
    from flowcheck.connections import track_connections

    def rejects(capture: Path) -> list[tuple[int, list[int], object]]:
        result = track_connections([str(capture)], chunk_size=chunk)
        return [(c.orig_p, list(c.icmp_frames), c.icmp_untied)
                for c in result.connections if c.resp_p == 5001]

    assert rejects(SNAP96) == [(6028, [21, 26], None)]
    twins = rejects(_twin_syns(tmp_path))
    assert [(port, frames) for port, frames, _ in twins] == [(6028, []), (6077, [])]
    assert all(untied is not None for _, _, untied in twins)


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap (Wireshark) needed")
def test_three_syns_in_flight_each_tied_by_its_ip_identification(tmp_path: Path) -> None:
    """Field check 46's router rejects three data SYNs to one host within 0.7 ms (net
    unreachable from 10.77.0.254); cut at 62 bytes (Ethernet 14, IPv4 20, ICMP 8: the
    quoted IPv4 header alone) each message still ties to its own SYN: the quoted IPv4
    identification tells the three apart (addresses and time alone would not)."""
    whole = CAPTURES / "field46-matrix" / "data-router-net-unreachable-dual-stack.pcap"
    cut = tmp_path / "router-62.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-s", "62", str(whole), str(cut)],
                   check=True, capture_output=True)
    from flowcheck.connections import track_connections

    tied = {(c.resp_p, tuple(c.icmp_frames), c.icmp_sender, c.icmp_cut[0], c.icmp_cut[2])
            for c in track_connections([str(cut)]).connections if c.icmp_frames}
    assert tied == {(6001, (62,), "10.77.0.254", 20, "router"),
                    (6002, (68,), "10.77.0.254", 20, "router"),
                    (6003, (74,), "10.77.0.254", 20, "router")}

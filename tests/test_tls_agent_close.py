"""A TLS job's agent killed mid-job (flowcheck.verify.tls_close): lab matrix seeds 110 and
109 run 14, captures/field47-tls-matrix/agent-killed-tls*.

The agent's FIN on the control connection came 11-20 ms after its data connection's last
byte, with no packet with payload on the control connection in between: control_closed,
where it read inconclusive with steps 4-5 `ok`. The same capture with one TLS record
inserted before that FIN (the agent's halt, or the media server's CONNECT_CLOSE) must
not read so: the close may then be the job's end. The frames the finding names are
checked against tshark's reading of the capture.
"""

from __future__ import annotations

import functools
import gzip
import io
import re
from pathlib import Path

import pytest
import tshark_fork
from capture_factory import write_pcapng
from scapy.all import IP, TCP, Packet, Raw, rdpcap, wrpcap
from stored import errors, stored_analysis

from flowcheck.model import Finding

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "field47-tls-matrix"
CASES = ["agent-killed-tls", "agent-killed-tls-loss"]
NDMP_PORT = 10000
RECORD = 24  # bytes: a TLS 1.3 record of a short NDMP message (or a close_notify alert)


def unpacked(tmp_path: Path, name: str) -> Path:
    """captures/field47-tls-matrix/NAME.pcap.gz, unpacked under tmp_path."""
    out = tmp_path / f"{name}.pcap"
    out.write_bytes(gzip.decompress((FOLDER / f"{name}.pcap.gz").read_bytes()))
    return out


@functools.cache  # three tests edit copies of it; none changes a packet of it
def killed_packets(name: str) -> tuple[Packet, ...]:
    """captures/field47-tls-matrix/NAME.pcap.gz as scapy reads it (half a second of CPU
    for its 1,588 packets): the tests build their edits from copies of the packets they
    change and lists of the rest."""
    return tuple(rdpcap(io.BytesIO(gzip.decompress((FOLDER / f"{name}.pcap.gz").read_bytes()))))


def tshark_fields(capture: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """tshark's -T fields rows of the packets the filter keeps."""
    return tshark_fork.fields(capture, display_filter, *fields)  # one start a filter


def closed(analysis_errors: list[Finding]) -> Finding:
    """The analysis' one control_closed error."""
    found = [f for f in analysis_errors if f.code == "control_closed"]
    assert len(found) == 1, [f.code for f in analysis_errors]
    return found[0]


@pytest.mark.parametrize("name", CASES)
def test_agent_killed_in_a_tls_job_closed_the_control_connection(tmp_path: Path,
                                                                 name: str) -> None:
    capture = unpacked(tmp_path, name)
    analysis = stored_analysis(capture, config_path=FOLDER / f"{name}.toml")
    assert analysis.verdict == "fail"
    finding = closed(errors(analysis))
    # tshark: the agent's first FIN and first RST on the control connection, and the
    # first frame carrying the data sender's highest byte (its later copies aside).
    fin = tshark_fields(capture, f"tcp.srcport == {NDMP_PORT} && tcp.flags.fin == 1",
                        "frame.number")[0][0]
    rst = tshark_fields(capture, f"tcp.srcport == {NDMP_PORT} && tcp.flags.reset == 1",
                        "frame.number")[0][0]
    data = tshark_fields(capture, "tcp.srcport >= 6001 && tcp.srcport <= 6100 && tcp.len > 0",
                         "frame.number", "tcp.nxtseq")
    highest = max(int(nxt) for _frame, nxt in data)
    last = next(frame for frame, nxt in data if int(nxt) == highest)
    assert finding.frames == [int(last), int(fin), int(rst)]
    assert "closed by the agent 10.77.1.2" in finding.message
    assert "neither side sent any payload on the control connection" in finding.message
    session = analysis.sessions[0]
    assert [s.status for s in session.steps][3:] == ["ok", "failed"]
    assert "control_closed" in session.steps[4].detail


def _record_before_fin(packets: list[Packet], sender: str) -> list[Packet]:
    """The packets with one RECORD-byte packet with payload (and its capture copy, as the
    capture holds every packet twice) sent by `sender` ("agent", "media") on the control
    connection just before the agent's FIN, the later packets' sequence and
    acknowledgement numbers moved past it."""
    fin_at = next(i for i, p in enumerate(packets) if TCP in p
                  and p[TCP].sport == NDMP_PORT and p[TCP].flags.F)
    fin = packets[fin_at]
    if sender == "agent":
        record = fin.copy()
        record[TCP].flags = "PA"
    else:  # the media server's: its next sequence number, acknowledging the agent's bytes
        record = next(p for p in reversed(packets[:fin_at]) if TCP in p
                      and p[TCP].dport == NDMP_PORT).copy()
        record[TCP].seq, record[TCP].ack, record[TCP].flags = fin[TCP].ack, fin[TCP].seq, "PA"
    record[TCP].remove_payload()
    record[TCP].add_payload(Raw(bytes([23, 3, 3, 0, RECORD - 5]) + bytes(RECORD - 5)))
    record.time = fin.time - 0.0001
    moved: list[Packet] = []
    for p in packets[fin_at:]:
        if TCP in p and NDMP_PORT in (p[TCP].sport, p[TCP].dport):
            p = p.copy()
            from_sender = (p[TCP].sport == NDMP_PORT) == (sender == "agent")
            if from_sender:
                p[TCP].seq = (p[TCP].seq + RECORD) % (1 << 32)
            elif p[TCP].flags.A:
                p[TCP].ack = (p[TCP].ack + RECORD) % (1 << 32)
            del p[IP].chksum, p[TCP].chksum
        moved.append(p)
    del record[IP].chksum, record[IP].len, record[TCP].chksum
    return [*packets[:fin_at], record, record.copy(), *moved]


@pytest.mark.parametrize("sender", ["agent", "media"])
def test_a_record_after_the_data_leaves_the_close_to_the_job(tmp_path: Path,
                                                             sender: str) -> None:
    name = CASES[0]
    edited = tmp_path / f"{name}-{sender}-record.pcap"
    wrpcap(str(edited), _record_before_fin(list(killed_packets(name)), sender))
    analysis = stored_analysis(edited, config_path=FOLDER / f"{name}.toml")
    assert "control_closed" not in {f.code for f in analysis.findings}
    # The edit is whole: tshark reads the inserted record (the first of its size on the
    # control connection; its copy after it) as new bytes, and no byte missed.
    shown = tshark_fields(edited, f"tcp.len == {RECORD} && tcp.port == {NDMP_PORT}",
                          "frame.number", "tcp.srcport", "tcp.analysis.retransmission")
    assert shown[0][1:] == [str(NDMP_PORT) if sender == "agent" else "5059", ""]
    assert not tshark_fields(edited, "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment",
                             "frame.number")


CLEAN = Path(__file__).resolve().parents[1] / "captures" / "lab" / "tls-clean.pcap"
SKEW = 0.0005  # seconds: the data NIC's stamps behind the control NIC's


def _two_interfaces(path: Path) -> tuple[float, float, float]:
    """captures/lab/tls-clean.pcap (a clean 3-resource TLS job: the agent's halt, the media
    server's CONNECT_CLOSE, then the agent's FIN first) as a pcapng of two interfaces, the
    control connection on one and every other connection on the other, stamped SKEW
    later: a fast agent, its job's end on the control connection moved up to its data's
    last byte. Returns (the media server's last payload on the control connection, the
    data's last byte, the agent's FIN), as stamped; that payload the last before the FIN."""
    packets = list(rdpcap(str(CLEAN)))

    def control(p: Packet) -> bool:
        return NDMP_PORT in (p[TCP].sport, p[TCP].dport)

    data_end = max(float(p.time) for p in packets if not control(p) and len(p[TCP].payload))
    after = min(float(p.time) for p in packets if control(p) and float(p.time) > data_end)
    stamped = [(0, float(p.time) - (after - data_end) if float(p.time) > data_end else
                float(p.time), p) if control(p) else (1, float(p.time) + SKEW, p)
               for p in packets]
    stamped.sort(key=lambda s: s[1])
    write_pcapng(path, [1, 1], [(i, t, bytes(p)) for i, t, p in stamped])
    fin = min(t for i, t, p in stamped if i == 0 and p[TCP].flags.F)
    media = max(t for i, t, p in stamped if i == 0 and p[TCP].dport == NDMP_PORT
                and len(p[TCP].payload) and t < fin)
    return media, data_end + SKEW, fin


def test_a_record_within_two_interfaces_jitter_of_the_data_end_is_after_it(
        tmp_path: Path) -> None:
    # Ordered by time, the data's last byte lands between the media server's
    # CONNECT_CLOSE and the agent's FIN: no record "after" it by the stamps, though the
    # job ended well (it read control_closed).
    edited = tmp_path / "tls-clean-two-interfaces.pcapng"
    media, data_end, fin = _two_interfaces(edited)
    assert media < data_end < fin
    analysis = stored_analysis(edited, config_path=CLEAN.with_suffix(".toml"))
    assert "control_closed" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"


def test_a_pure_ack_in_the_silence_is_not_called_nothing_sent(tmp_path: Path) -> None:
    # The media server's ACK (no payload) on the control connection between the data's
    # last byte and the agent's FIN: still no record, so still control_closed, but
    # "neither side sent anything" would be false.
    name = CASES[0]
    packets = list(killed_packets(name))
    fin_at = next(i for i, p in enumerate(packets) if TCP in p
                  and p[TCP].sport == NDMP_PORT and p[TCP].flags.F)
    fin = packets[fin_at]
    ack = next(p for p in reversed(packets[:fin_at]) if TCP in p
               and p[TCP].dport == NDMP_PORT).copy()
    ack[TCP].seq, ack[TCP].ack, ack[TCP].flags = fin[TCP].ack, fin[TCP].seq, "A"
    ack[TCP].remove_payload()
    ack.time = fin.time - 0.001
    del ack[IP].chksum, ack[IP].len, ack[TCP].chksum
    edited = tmp_path / f"{name}-ack.pcap"
    wrpcap(str(edited), [*packets[:fin_at], ack, ack.copy(), *packets[fin_at:]])
    shown = tshark_fields(edited, f"tcp.dstport == {NDMP_PORT} && tcp.len == 0 && "
                          f"frame.time_epoch > {float(fin.time) - 0.002}", "frame.number")
    assert len(shown) >= 2  # the ACK and its copy, before the FIN
    finding = closed(errors(stored_analysis(edited, config_path=FOLDER / f"{name}.toml")))
    assert "sent anything" not in finding.message
    assert "neither side sent any payload on the control connection" in finding.message


def test_one_other_connection_closed_is_named_in_the_singular(tmp_path: Path) -> None:
    # Without the data connection's FINs (the sniffer lost them and their copies), the
    # agent's only other close named is its callback's: "its first FIN on it".
    name = CASES[0]
    packets = list(killed_packets(name))
    sender = next(p[TCP].sport for p in packets if TCP in p and len(p[TCP].payload) > 1000)
    kept = [p for p in packets if not (TCP in p and p[TCP].sport == sender and p[TCP].flags.F)]
    assert len(kept) < len(packets)
    edited = tmp_path / f"{name}-no-data-fin.pcap"
    wrpcap(str(edited), kept)
    finding = closed(errors(stored_analysis(edited, config_path=FOLDER / f"{name}.toml")))
    [words] = re.findall(r"It closed [^:]*:", finding.message)
    assert " and " not in words.split("too")[0]  # one connection named
    assert "its first FIN on it after the data's last byte" in words

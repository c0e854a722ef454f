"""A NAT that forwards the NDMP port alone (task natfix, newuser62; captures/lab-natfix).

M 10.77.0.1 -- router 10.77.0.254 | 10.78.0.254 -- A 10.78.0.2; the router DNATs
10.77.0.254:10000 to the agent and nothing else, its forward chain dropping the rest. The
agent announces its own 10.78.0.2 (its callback comes from it): flowcheck proves the port
forward of the NDMP port alone, but the fix under the verdict said only "make the agent
announce ... (10.77.0.254)". The lab shows that alone still fails (the router resets the
data connections to 10.77.0.254) and that it works once the agent range is forwarded too,
so the headline now names both halves, or the route without NAT.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, write_records
from stored import errors, folder_analysis, stored_analysis

from flowcheck.report.answer import answer_rows, finding_parts

ROOT = Path(__file__).resolve().parents[1] / "captures"
FOLDER = ROOT / "lab-natfix"
OWN = "port-forward-ndmp-only-agent-announces-own-media.pcap"


def _headline_fix(folder: Path, name: str, config: str = "flowcheck") -> tuple[str, list]:
    """The fix row under the verdict of the capture's one failing session, and its
    errors."""
    result = folder_analysis(folder, name, config)
    [session] = result.sessions
    rows = dict(answer_rows(session, result.findings))
    return rows["fix:"], errors(result)


def test_the_headline_fix_forwards_the_data_range_too() -> None:
    fix, found = _headline_fix(FOLDER, OWN)
    assert {f.code for f in found} == {"announced_address_mismatch"}
    assert fix.startswith("make the agent announce the address the media server 10.77.0.1 "
                          "reaches it on (10.77.0.254) and have the device that forwards "
                          "10.77.0.254's NDMP port 10000 to 10.78.0.2 forward 10.77.0.254's "
                          "ports 6001-6100 (agent range) to it as well"), fix
    # The other way, in the same sentence: a route to the agent's own address, no NAT.
    assert ", or reach 10.78.0.2 without NAT: give the media server 10.77.0.1 a route to " \
        "10.78.0.2 and allow TCP from 10.77.0.1 to 10.78.0.2 ports 6001-6100" in fix
    for finding in found:
        assert "10.78.0.2 is the agent's own address: its callback (C2) came from it" in \
            finding.message
        # The capture holds no connection to 10.77.0.254 on the data range: whether the
        # device forwards it too is not in it (it said "of the NDMP port alone"; final61a).
        assert "through a port forward or NAT of the NDMP port (whether it forwards the " \
            "agent range too, this capture does not show)." in finding.message, \
            finding.message
        # Findings say why announcing alone is not enough, after the headline's sentence.
        also = dict(finding_parts(finding))["Also:"]
        assert also.startswith("Announcing 10.77.0.254 alone is not enough"), also
        assert "does not help" not in finding.fix


def test_field_check_37b_forward_reads_the_same() -> None:
    # The stored field check of the same shape (10.77.1.100:10000 forwarded to 10.77.1.2).
    folder = ROOT / "trial37b-firewall-features"
    fix, _ = _headline_fix(folder, "port-forward-ndmp-only-vip-media.pcap.gz",
                           "port-forward-ndmp-only-vip-media")
    assert "(10.77.1.100) and have the device that forwards 10.77.1.100's NDMP port 10000 " \
        "to 10.77.1.2 forward 10.77.1.100's ports 6001-6100 (agent range) to it as well" in fix
    assert "or reach 10.77.1.2 without NAT" in fix


def test_the_lab_ground_truth() -> None:
    # Announcing the forwarded address with port 10000 forwarded alone fails; with the
    # agent range forwarded too the job passes: what the headline now asks for.
    alone = folder_analysis(FOLDER, "port-forward-ndmp-only-agent-announces-forwarded-media.pcap")
    assert alone.verdict == "fail"
    assert {f.code for f in errors(alone)} == {"data_refused"}
    both = folder_analysis(FOLDER, "port-forward-ndmp-and-range-agent-announces-forwarded-"
                           "media.pcap.gz")
    assert both.verdict == "pass"


def test_the_forwarders_own_reset_names_the_forward() -> None:
    # The old headline applied: announcing 10.77.0.254 with port 10000 forwarded alone.
    # The router's own stack resets the data SYNs (TTL 64; the agent's packets 63): it
    # read a `reject with tcp reset` in the router's forward rules only, the fix an allow
    # rule in its forward chain, which does nothing for an address of the router's own.
    fix, found = _headline_fix(FOLDER, "port-forward-ndmp-only-agent-announces-forwarded-"
                               "media.pcap")
    assert fix.startswith("if 10.77.0.254 is a forwarded address (a port forward or DNAT on "
                          "the device in front of the host), forward 6001-6100 (agent range) "
                          "to the host too, as port 10000 is; else: allow TCP"), fix
    for finding in found:
        assert finding.code == "data_refused"
        assert "Yet 10.77.0.254 answered C1 on port 10000 at the same time, and the agent's " \
            "callback (C2) came from 10.78.0.2, not from 10.77.0.254" in finding.message
        # The forward reading squares the TTLs it read as "a RST 10.77.0.254 did not send":
        # the 63 are the agent's packets forwarded, the 64 the device's own (final61a).
        assert finding.message.endswith(
            "whose own stack resets the connections to its other ports: then the packets "
            "from 10.77.0.254 that arrive with TTL 63 are the agent's, passed on by the "
            "device, and the RST with 64 is the device's own."), finding.message


def test_no_data_connection_seen_gets_the_same_fix(tmp_path: Path) -> None:
    # The data SYNs cut out (editcap): "no connection to 10.78.0.2:6001 was seen", the
    # callback still proving 10.78.0.2 the agent's own. It said "Opening firewall ports
    # for the data range does not help" beside "through a port forward or NAT of the
    # NDMP port alone".
    cut = tmp_path / "no-data-syns.pcap"
    subprocess.run(["editcap", str(FOLDER / OWN), str(cut),
                    *map(str, (22, 24, 25, 26, 30, 31, 32, 33, 37, 38, 39, 40))],
                   check=True, capture_output=True)
    result = stored_analysis(cut, config_path=FOLDER / "flowcheck.toml")
    [session] = result.sessions
    fix = dict(answer_rows(session, result.findings))["fix:"]
    assert "(10.77.0.254) and have the device that forwards 10.77.0.254's NDMP port 10000 " \
        "to 10.78.0.2 forward 10.77.0.254's ports 6001-6100 (agent range) to it as well, or " \
        "reach 10.78.0.2 without NAT" in fix, fix
    for finding in errors(result):
        assert finding.code == "announced_address_mismatch"
        assert "no connection to 10.78.0.2:600" in finding.message
        assert "does not help" not in finding.fix
        # The command prints the rules the fix names for the agent's own 10.78.0.2 (its
        # callback's source, its DATA_LISTEN address), as with the data SYNs (tidy61:
        # no connection of the finding's, it named 10.77.0.254 alone).
        assert "`flowcheck firewall --media-server 10.77.0.1 --remote-agent 10.77.0.254 " \
            "--remote-agent 10.78.0.2 --media-range" in finding.fix, finding.fix


def _ndmp_port_moved(records: list[Record], old: int, new: int) -> list[Record]:
    """Ethernet IPv4 TCP records with the port `old` renumbered `new` at either end, the
    TCP checksum made anew (RFC 793's pseudo-header sum)."""
    moved = []
    for record in records:
        frame = bytearray(record.data)
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            moved.append(record)
            continue
        ip = 14
        tcp = ip + (frame[ip] & 0x0F) * 4
        for at in (tcp, tcp + 2):
            if struct.unpack_from("!H", frame, at)[0] == old:
                struct.pack_into("!H", frame, at, new)
        length = struct.unpack_from("!H", frame, ip + 2)[0] - (tcp - ip)
        struct.pack_into("!H", frame, tcp + 16, 0)
        segment = bytes(frame[ip + 12:ip + 20]) + struct.pack("!HH", 6, length) + \
            bytes(frame[tcp:tcp + length])
        segment += b"\0" * (len(segment) % 2)
        total = sum(struct.unpack(f"!{len(segment) // 2}H", segment))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        struct.pack_into("!H", frame, tcp + 16, ~total & 0xFFFF)
        moved.append(replace(record, data=bytes(frame)))
    return moved


def test_the_forward_fix_names_the_ndmp_port_set(tmp_path: Path) -> None:
    # The same capture with the NDMP port 10010: the fix said "as port 10000 is"
    # whatever the port (verify.forwarded.forwarded_fix), the message "port 10010".
    linktype, records = read_records(FOLDER / "port-forward-ndmp-only-agent-announces-"
                                     "forwarded-media.pcap")
    moved = write_records(tmp_path / "ndmp-port-10010.pcap", linktype,
                          _ndmp_port_moved(records, 10000, 10010))
    result = stored_analysis(moved, config_path=FOLDER / "flowcheck.toml", ndmp_port=10010)
    found = errors(result)
    assert {f.code for f in found} == {"data_refused"}
    for finding in found:
        assert "answered C1 on port 10010 at the same time" in finding.message
        assert "to the host too, as port 10010 is; else: allow TCP" in finding.fix, \
            finding.fix
        assert "10000" not in finding.fix

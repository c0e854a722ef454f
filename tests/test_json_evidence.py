"""The JSON document's evidence against tshark (field check 37): every frame a finding,
a session step, an NDMP message or a connection cites is a packet of the capture and of
the connection it is cited for, and every `ts` is the time of one of its frames
(docs/json.md: "ts ... the time of one of its frames ... Null only for a finding without
frames that no packet dates"); the document is strict JSON (no NaN, no duplicate key)
and its verdict agrees with its findings and the exit code (contract.md).

tshark is the oracle: `frame.number`, `frame.time_epoch` and the packet's addresses and
TCP ports (an ICMP error's: those of the packet it quotes). The cases are stored
captures of each kind the sweep found (field check 37: 1,085 captures, the project's,
ndmjob's and tcpdump's test suite); the wrong values they showed are in the tests'
comments.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "tcpdump-tests"
LAB = ROOT / "captures" / "lab"
EXIT = {"pass": 0, "fail": 1, "inconclusive": 5}


class Packet:
    """One frame as tshark reads it: its time and the addresses and ports it carries."""

    def __init__(self, time: str, addresses: str, sports: str, dports: str) -> None:
        self.ts = float(time)
        self.addresses = set(filter(None, addresses.split(",")))
        self.ports = set(zip(sports.split(","), dports.split(","), strict=False))

    def of(self, conn: dict) -> bool:
        """Is this frame a packet of `conn` (either direction), or an ICMP error quoting
        one of its packets?"""
        ends = {(str(conn["orig_p"]), str(conn["resp_p"])),
                (str(conn["resp_p"]), str(conn["orig_p"]))}
        return bool(self.ports & ends) and {conn["orig_h"], conn["resp_h"]} <= self.addresses


def tshark_packets(path: Path) -> dict[int, Packet]:
    fields = ("frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src",
              "ipv6.dst", "tcp.srcport", "tcp.dstport")
    command = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300).stdout
    packets = {}
    for line in out.splitlines():
        number, time, *addresses, sports, dports = line.split("\t")
        packets[int(number)] = Packet(time, ",".join(addresses), sports, dports)
    return packets


def _no_constants(name: str) -> float:
    raise AssertionError(f"{name} in the JSON document")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return dict(pairs)


def analyze_json(capture: Path, config: Path | None) -> tuple[dict, int]:
    """`flowcheck analyze --format json` as a script runs it: its document (parsed
    strictly: standard output holds it alone) and exit code."""
    command = [sys.executable, "-m", "flowcheck", "analyze", "--format", "json", str(capture)]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    document = json.loads(done.stdout, parse_constant=_no_constants,
                          object_pairs_hook=_no_duplicates)
    return document, done.returncode


def _same_time(ts: float | None, packet: Packet) -> bool:
    return ts is not None and abs(ts - packet.ts) < 2e-6  # float64 epoch, microseconds


CASES = [
    # Trial 36 D4's words, no_control_session with frames [1] and ts null: MACsec (and
    # every unread encapsulation: MPLS-in-UDP, NSH, L2TP; 11 of tcpdump's captures).
    (CORPUS / "macsec-snap.pcap", None),
    # A connection open at the capture's start (no_control_session names its first
    # packet, frames [1], ts null: 11 BIG TCP captures and of10_inv_OFPST_FLOW).
    (CORPUS / "bigtcp-ipv4.pcap", None),
    (LAB / "data-port-dropped.pcap", LAB / "data-port-dropped.toml"),
    (LAB / "browse-only.pcap", LAB / "browse-only.toml"),
    (LAB / "one-direction-in.pcap", LAB / "one-direction-in.toml"),
]


@pytest.mark.parametrize(("capture", "config"), CASES, ids=[c[0].name for c in CASES])
def test_evidence_frames_and_times_are_tsharks(capture: Path, config: Path | None) -> None:
    document, code = analyze_json(capture, config)
    packets = tshark_packets(capture)
    conns = {c["uid"]: c for c in document["connections"]}

    def cited(frame: int, uids: list[str], what: str) -> None:
        assert frame in packets, f"{what}: frame {frame} is not in the capture"
        if uids:
            assert any(packets[frame].of(conns[u]) for u in uids), \
                f"{what}: frame {frame} is no packet of {uids}"

    for conn in document["connections"]:
        for key in ("first_frame", "last_frame"):
            cited(conn[key], [conn["uid"]], f"{conn['uid']} {key}")
    for stream in document["ndmp"]:
        for message in stream["messages"]:
            cited(message["frame"], [stream["uid"]], message["name"])
            assert _same_time(message["ts"], packets[message["frame"]]), message
    for finding in document["findings"]:
        for frame in finding["frames"]:
            cited(frame, [], finding["code"])
        if finding["frames"]:
            assert any(_same_time(finding["ts"], packets[f]) for f in finding["frames"]), \
                (finding["code"], finding["ts"], finding["frames"])
    for session in document.get("sessions", []):
        for step in session["steps"]:
            for frame in step["frames"]:
                cited(frame, [*step["uids"], session["control_uid"]],
                      f"{session['id']} step {step['step']}")
        for announced in session["announced"]:
            cited(announced["frame"], [session["control_uid"]], "announcement")
            assert _same_time(announced["ts"], packets[announced["frame"]])
    errors = [f for f in document["findings"] if f["severity"] == "error"]
    assert (document["verdict"] == "fail") == bool(errors)
    assert code == EXIT[document["verdict"]]

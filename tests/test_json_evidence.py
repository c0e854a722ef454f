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

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tshark_fork

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
    packets = {}
    for number, time, *addresses, sports, dports in tshark_fork.fields(  # one start
            path, "", *fields, options=("-E", "occurrence=a"), check=False, timeout=300):
        packets[int(number)] = Packet(time, ",".join(addresses), sports, dports)
    return packets


def _no_constants(name: str) -> float:
    raise AssertionError(f"{name} in the JSON document")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    return dict(pairs)


def analyze_text(captures: list[Path], config: Path | None, seed: str = "random"
                 ) -> tuple[str, int]:
    """`flowcheck analyze --format json` as a script runs it: its standard output and
    exit code; seed: the process's PYTHONHASHSEED."""
    command = [sys.executable, "-m", "flowcheck", "analyze", "--format", "json",
               *map(str, captures)]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONHASHSEED": seed})
    return done.stdout, done.returncode


def analyze_json(captures: list[Path], config: Path | None,
                 capsys: pytest.CaptureFixture[str]) -> tuple[dict, int]:
    """The document of `flowcheck analyze --format json` (parsed strictly: standard output
    holds it alone) and its exit code, run in the test's process from the repository's
    root (cli.main.run: a python -m flowcheck start was most of each case's time;
    analyze_text runs it as a script does, for the hash seed)."""
    from flowcheck.cli.main import run

    command = ["analyze", "--format", "json", *map(str, captures)]
    if config is not None:
        command += ["--config", str(config)]
    capsys.readouterr()
    with contextlib.chdir(ROOT):
        code = run(command)
    stdout = capsys.readouterr().out
    document = json.loads(stdout, parse_constant=_no_constants,
                          object_pairs_hook=_no_duplicates)
    return document, code


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
    # ERSPAN from two switches, one direction each: one connection, tshark's one stream.
    (ROOT / "captures" / "lab-trial22-tunnels" / "callback-rejected.erspan2split.pcap.gz",
     ROOT / "captures" / "lab-trial22-tunnels" / "callback-rejected.erspan2split.toml"),
    # A connection known only from ICMPv6 quotes: its frames are the quoting messages.
    (ROOT / "captures" / "trial28-own-unreachable" / "any-v6-agent-down.pcap.gz",
     ROOT / "captures" / "trial28-own-unreachable" / "any-v6-agent-down.toml"),
]


@pytest.mark.parametrize(("capture", "config"), CASES, ids=[c[0].name for c in CASES])
def test_evidence_frames_and_times_are_tsharks(capture: Path, config: Path | None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    document, code = analyze_json([capture], config, capsys)
    assert_evidence(document, code, tshark_packets(capture))


POINTS = ROOT / "captures" / "ndmjob-points"


def _two_points(tmp_path: Path) -> tuple[Path, Path]:
    """Both hosts' captures of one job (ndmjob-points), the agent's clock 5 s ahead
    (pcapng, as editcap writes by default)."""
    media, agent = tmp_path / "media.pcap", tmp_path / "agent.pcapng"
    subprocess.run(["editcap", "-F", "pcap", str(POINTS / "backup-media.pcap.gz"),
                    str(media)], check=True)
    subprocess.run(["editcap", "-t", "5", str(POINTS / "backup-agent.pcap.gz"), str(agent)],
                   check=True)
    return media, agent


def test_two_runs_print_the_same_document(tmp_path: Path) -> None:
    """Field check 37: the two capture points' clock shift was the median of pairs that
    packet fingerprints ordered, and a fingerprint hashed the flow key with Python's
    hash(), which PYTHONHASHSEED changes: PYTHONHASHSEED=1 read the agent's file shifted
    by -4.999966 s, =2 by -4.999953 s, which put an ARP of the agent's file before the
    media server's SYN-ACK (step 1 frames [11, 14] -> [11, 13]) and moved every time."""
    media, agent = _two_points(tmp_path)
    runs = {seed: analyze_text([media, agent], POINTS / "backup-agent.toml", seed)
            for seed in ("1", "2")}
    assert runs["1"] == runs["2"]


def test_two_capture_points_are_numbered_as_the_finding_says(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both hosts' captures, the agent's clock 5 s ahead: frames are numbered, and times
    given, as `editcap -t SECONDS` (the seconds capture_duplicates gives) then mergecap
    number and time them in Wireshark (docs/formats.md)."""
    media, agent = _two_points(tmp_path)
    document, code = analyze_json([media, agent], POINTS / "backup-agent.toml", capsys)
    (said,) = [f["message"] for f in document["findings"] if f["code"] == "capture_duplicates"]
    seconds = said.split("shifted by ")[1].split(" s")[0]
    shifted, merged = tmp_path / "shifted.pcap", tmp_path / "merged.pcap"
    subprocess.run(["editcap", "-t", seconds, str(agent), str(shifted)], check=True)
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), str(media), str(shifted)],
                   check=True)
    assert_evidence(document, code, tshark_packets(merged))


def test_a_ring_is_numbered_as_mergecap_numbers_its_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ring buffer's folder: frames 1, 2, 3, ... over the files merged by time, as
    mergecap then Wireshark number them (docs/formats.md)."""
    ring = ROOT / "captures" / "lab-ring"
    parts = sorted(p for p in ring.iterdir() if ".pcap" in p.name)
    merged = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), *map(str, parts)],
                   check=True)
    document, code = analyze_json([ring], ring / "flowcheck.toml", capsys)
    assert len(document["captures"]) == len(parts) > 1
    assert_evidence(document, code, tshark_packets(merged))


def assert_evidence(document: dict, code: int, packets: dict[int, Packet]) -> None:
    """The document's cited frames are tshark's `packets` of the connections cited, its
    times their times, its verdict its findings' and the exit code its verdict's."""
    conns = {c["uid"]: c for c in document["connections"]}

    def cited(frame: int, uids: list[str], what: str) -> None:
        assert frame in packets, f"{what}: frame {frame} is not in the capture"
        if uids:
            assert any(packets[frame].of(conns[u]) for u in uids), \
                f"{what}: frame {frame} is no packet of {uids}"

    for conn in document["connections"]:
        first = packets.get(conn["first_frame"])
        assert first is not None and _same_time(conn["ts"], first), conn
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

"""A file of a capture cut into files that holds no TCP packet, in a connection's time
(review58j).

verify.unjudged_files warns for each file of a set that holds no TCP packet (a WireGuard
capture beside a readable job, review56d), except a ring's or a time rotation's part. A
capture cut into files with other names (`editcap -c 3`, files named by hand) leaves
files of only ARP and ICMPv6 where the job was quiet: lab-trial17's mtu-blackhole-media
cut by `editcap -c 3` into files named a.pcap .. x.pcap read three extra
no_control_session, one of them for the ICMPv6 and ARP packets met while the data
connection waited for its 15,928 B. A file no other file overlaps while a connection has
packets before and after it is one capture's slice: no warning.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASE = CAPTURES / "lab-trial17" / "mtu-blackhole-media"


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark)")
def test_a_file_of_arp_inside_a_connections_time_reads_as_the_whole(tmp_path: Path) -> None:
    """Frames 34-36 (ICMPv6, two ARP), between the data connection's last packet before
    its stall (frame 33's neighbours) and its FIN (frame 39), in a file of their own:
    the set reads FAIL data_aborted as the whole file does, no no_control_session; the
    same three packets overlapping another file's time (a second capture point) still
    warn."""
    whole = CASE.with_suffix(".pcap.gz")
    config = build_config(load_file(CASE.with_suffix(".toml")))
    files = {"c.pcap": "1-33", "b.pcap": "34-36", "a.pcap": "37-47"}
    for name, frames in files.items():
        subprocess.run(["editcap", "-r", str(whole), str(tmp_path / name), frames],
                       check=True, capture_output=True)
    alone = analyze(read_traffic([str(whole)], config), config)
    cut = analyze(read_traffic([str(tmp_path / name) for name in files], config), config)
    assert sorted(f.code for f in alone.findings) == ["data_aborted", "ndmp_vendor_message"]
    assert sorted(f.code for f in cut.findings) == sorted(f.code for f in alone.findings)
    assert cut.verdict == alone.verdict == "fail"
    assert [s.status for s in cut.sessions[0].steps] == \
        [s.status for s in alone.sessions[0].steps]
    # The ARP file beside the whole capture: its time is the job's, another capture point.
    beside = analyze(read_traffic([str(whole), str(tmp_path / "b.pcap")], config), config)
    assert [f.message.split(":")[0] for f in beside.findings
            if f.code == "no_control_session"] == \
        [f"The file {tmp_path / 'b.pcap'} of the capture set holds no TCP packet"]


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark)")
def test_a_file_of_a_reject_quoting_an_earlier_files_syn_reads_as_the_whole(
        tmp_path: Path) -> None:
    """field57's control connection refused with ICMP net unreachable, cut inside its
    second attempt: trace holds both SYNs and the first reject (frames 1-3), trace1 the
    second reject alone (frame 4), quoting the retransmitted SYN of trace. FAIL
    control_refused as the whole file reads, no no_control_session for trace1."""
    case = CAPTURES / "field57-matrix" / \
        "ndmjob-control-rejected-net-unreachable-by-agent-any-on-agent-sll2"
    whole = case.with_suffix(".pcap.gz")
    config = build_config(load_file(case.with_suffix(".toml")))
    for name, frames in (("trace", "1-3"), ("trace1", "4")):
        subprocess.run(["editcap", "-r", str(whole), str(tmp_path / name), frames],
                       check=True, capture_output=True)
    alone = analyze(read_traffic([str(whole)], config), config)
    cut = analyze(read_traffic([str(tmp_path)], config), config)
    assert [f.code for f in alone.findings] == ["control_refused"]
    assert [f.code for f in cut.findings] == ["control_refused"]
    assert cut.verdict == alone.verdict == "fail"


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark)")
def test_a_piece_of_two_files_holds_in_the_plural(tmp_path: Path) -> None:
    """lab's one-direction-out cut after frame 80 into out-a.pcap and out-b.pcap (its
    connections go on across: one piece), given after nontcpback's echo file days before
    (another piece): "The files out-a.pcap and out-b.pcap of the capture set hold no
    packet from 10.77.0.2 ...", not "holds" (review58j: field62's two-tls-start restore
    cut by editcap -i read "The files trace1 and trace2 of the capture set holds")."""
    one_way = CAPTURES / "lab" / "one-direction-out.pcap"
    echo = CAPTURES / "nontcpback" / "control-dropped-echo-reply.pcap"
    config = build_config(load_file(one_way.with_suffix(".toml")))
    for name, frames in (("out-a.pcap", "1-80"), ("out-b.pcap", "81-175")):
        subprocess.run(["editcap", "-r", str(one_way), str(tmp_path / name), frames],
                       check=True, capture_output=True)
    merged = analyze(read_traffic([str(echo), str(tmp_path / "out-a.pcap"),
                                   str(tmp_path / "out-b.pcap")], config), config)
    said = [f.message for f in merged.findings if f.code == "capture_one_direction"
            and "out-a.pcap" in f.message]
    assert len(said) == 1, said
    assert said[0].startswith("The files out-a.pcap and out-b.pcap of the capture set hold "
                              "no packet from 10.77.0.2 to 10.77.0.1, although"), said[0]


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark)")
def test_a_ring_of_files_out_of_record_order_is_not_a_wrapped_one(tmp_path: Path) -> None:
    """lab-pcapng-interfaces' two-nics-data-block-first (two interfaces' records written
    in turns, out of time order) cut by `editcap -c 238` into dumpcap ring names: the
    second file starts with an earlier packet than the first but ends later. No
    capture_ring_gap "number 0 missing" (a wrap read from the first packets alone);
    the set reads as the whole file."""
    case = CAPTURES / "lab-pcapng-interfaces" / "two-nics-data-block-first"
    config = build_config(load_file(case.with_suffix(".toml")))
    whole = case.with_suffix(".pcapng.gz")
    subprocess.run(["editcap", "-c", "238", str(whole), str(tmp_path / "cut.pcapng")],
                   check=True, capture_output=True)
    ring = tmp_path / "ring"
    ring.mkdir()
    for number, part in enumerate(sorted(tmp_path.glob("cut*.pcapng")), start=1):
        part.rename(ring / f"x_{number:05d}_20261202094733.pcapng")
    alone = analyze(read_traffic([str(whole)], config), config)
    cut = analyze(read_traffic([str(ring)], config), config)
    assert sorted(f.code for f in cut.findings) == sorted(f.code for f in alone.findings) \
        == ["ndmp_vendor_message"]
    assert cut.verdict == alone.verdict

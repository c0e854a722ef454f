"""unannounced_connection names a session only when the group is that one job's (new-user
trial 12, D5: HTTP fetches every 4 s all night were attached to S1, the job that ran when
the first of them started).

captures/ndmjob/v4-backup.pcap (one job, 3.07 s) with HTTP fetches from the media server
to the agent added: to port 8080 during the job and 10 s after it ended; to port 8081
twice during the job.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pcap_records import Record, stored_records, write_records
from scapy.all import Ether
from test_sessions_ring_gap_start import NDMJOB, _fetch

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic


def _unannounced_sessions(tmp_path: Path) -> dict[int, str | None]:
    # The job's frames written as read (pcap_records: wrpcap's file of rdpcap's packets,
    # test_pcap_records), not dissected and rebuilt by scapy (2,163 frames: most of the
    # test's time); only the fetches are built, from its first frame's addresses. The
    # same file byte for byte as scapy's read and write of every packet made.
    linktype, job = stored_records(NDMJOB / "v4-backup.pcap")
    first = Ether(job[0].data)
    start = Decimal(job[0].micros) / 1_000_000
    fetches = [*_fetch(first, 5060, start + Decimal("0.5"), syn=True),
               *_fetch(first, 5061, start + 13, syn=True)]
    probes = [*_fetch(first, 5062, start + 1, syn=True),
              *_fetch(first, 5063, start + 2, syn=True)]
    for packet in probes:  # the same fetches, to port 8081
        packet.sport, packet.dport = [8081 if p == 8080 else p
                                      for p in (packet.sport, packet.dport)]
    added = [Record(int(packet.time * 1_000_000), len(data), data)
             for packet in (*fetches, *probes) for data in [bytes(packet)]]
    path = write_records(tmp_path / "v4-backup-http.pcap", linktype,
                         sorted([*job, *added], key=lambda r: r.micros))
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(path)], config), config)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    return {by_uid[f.uid].resp_p: f.session for f in analysis.findings
            if f.code == "unannounced_connection" and f.uid}


def test_group_beyond_one_session_names_none(tmp_path: Path) -> None:
    found = _unannounced_sessions(tmp_path)
    assert found[8080] is None  # one fetch during S1, one after it: not S1's
    assert found[8081] == "S1"  # both during S1


def test_the_fix_names_only_the_loss_findings_there_are() -> None:
    """A session whose control connection lost bytes: the fix names ndmp_partial only
    when the decoder met the hole (bytes the peer acknowledged after the stream's last
    captured byte leave none; second new-user trial: the fix named an absent finding)."""
    from types import SimpleNamespace

    from flowcheck.findings import make_finding
    from flowcheck.model import Connection, NdmpStream, Session
    from flowcheck.verify.unannounced import _unannounced_fix

    control = Connection("C1", "10.77.0.1", 5051, "10.77.0.2", 10000, 0.0, missed_bytes=48)
    session = Session(id="S1", control_uid="C1", media_server="10.77.0.1",
                      remote_agent="10.77.0.2", version=4, kind="browse")
    stream = NdmpStream(uid="C1")
    ctx = SimpleNamespace(by_uid={"C1": control}, stream_by_uid={"C1": stream})
    assert "(sniffer loss: capture_loss)," in _unannounced_fix(ctx, session)
    stream.findings.append(make_finding("ndmp_partial", "a hole", uid="C1"))
    assert "(sniffer loss: ndmp_partial, capture_loss)," in _unannounced_fix(ctx, session)

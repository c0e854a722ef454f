"""A capture's complete result does not depend on the read chunk's size.

Which path of the tracker reads a connection (the short-connection pass, the bulk path,
the per-packet path) depends on where batches are cut, so on the read chunk: live reads
in small batches, analyze in 16 MiB chunks. Every path must give the same record, or
`live` and `analyze` of the same packets differ, and so would two versions' readings
after a change of the default chunk. speedC (session 54) found the short pass leaving
each side's last packet time, the first FIN's time and the peer's last time at it
(orig_last_ts, resp_last_ts, fin_ts, fin_peer_last_ts) None where the per-packet path
keeps them: 10 connections of bench capture (c) read in 256 KiB chunks against 16 MiB;
and it left fin_answer_rst 0 (a RST without ACK answering the other side's FIN).

Read at 16 MiB, 256 KiB, 64 KiB and 4 KiB, every record's every field (compare=False and
rare ones too, SideEvidence's), the findings and the verdict (the JSON document) are
equal: for a sample of the stored captures (captures/**: the first capture of two
folders in every three, 62) read as analyze reads them (flowcheck.pipeline.read_traffic,
then analyze); for a third of that sample and for 3,000 short connections of four
shapes read by track_connections alone (no NDMP sink, as `flowcheck connections`: the
NDMP hosts' connections keep the per-packet path under a sink, connections.ndmp_hosts,
so only there the short pass reads a session's hosts).
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from test_connections_states import handshake, pkt
from test_connections_util import ACK, FIN, PSH, RST
from test_connections_util import write_pcap as write

from flowcheck.connections import track_connections
from flowcheck.model import Connection
from flowcheck.model.rare_fields import NAMES as RARE_NAMES
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.regress_cases import Case, find_cases
from flowcheck.report.json_doc import analysis_document

ROOT = Path(__file__).resolve().parent.parent
SIZES = (16 << 20, 256 << 10, 64 << 10, 4 << 10)
LARGEST = 600_000  # bytes: a larger capture read in 4 KiB chunks costs seconds
_NAMES = [f.name for f in fields(Connection) if f.name != "rare"]


def _plain(value: Any) -> Any:
    """value with lists and tuples as lists and dataclasses (SideEvidence) as dicts of
    every field: the paths keep frame lists as lists, tuples or NO_FRAMES."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def record_fields(c: Connection) -> dict[str, Any]:
    """Every field of a record by name: Connection's and RareFields' (read from its
    RareFields, so a record without one gets none attached)."""
    rare = c.rare
    out = {name: _plain(getattr(c, name)) for name in _NAMES}
    for name in RARE_NAMES:
        out[name] = _plain(getattr(rare, name) if rare is not None
                           else getattr(Connection(uid="", orig_h="", orig_p=0, resp_h="",
                                                   resp_p=0, ts=0.0), name))
    return out


def _sample() -> list[Case]:
    """The first case by name of two folders under captures/ in every three (files of
    at most LARGEST bytes)."""
    by_folder: dict[Path, list[Case]] = {}
    for case in find_cases([str(ROOT / "captures")]):
        if case.problem is None and case.capture.is_file() \
                and case.capture.stat().st_size <= LARGEST:
            by_folder.setdefault(case.capture.parent, []).append(case)
    firsts = [min(cases, key=lambda c: c.capture.name)
              for _, cases in sorted(by_folder.items())]
    return [case for n, case in enumerate(firsts) if n % 3 != 2]


SAMPLE = _sample()


def _differences(readings: dict[int, Any]) -> dict[str, Any]:
    """Each chunk size's reading that differs from the 16 MiB one, as the items that
    differ (records by first frame and ends, field by field; other items whole)."""
    base = readings[SIZES[0]]
    out: dict[str, Any] = {}
    for size, reading in readings.items():
        if reading == base:
            continue
        records, other = reading
        base_records, base_other = base
        diff: dict[str, Any] = {}
        for uid in sorted(set(records) | set(base_records)):
            mine, theirs = records.get(uid), base_records.get(uid)
            if mine is None or theirs is None:
                diff[uid] = ("missing" if mine is None else "extra")
            elif mine != theirs:
                diff[uid] = {k: (theirs[k], mine[k]) for k in mine if mine[k] != theirs[k]}
        if other != base_other:
            diff["document"] = "differs"
        out[f"{size >> 10} KiB"] = diff
    return out


def _analyzed(case: Case, chunk: int, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """(records by uid, JSON document) of analyze reading the case in `chunk` bytes."""
    monkeypatch.setitem(track_connections.__kwdefaults__, "chunk_size", chunk)
    try:
        config = case.config()
        traffic = read_traffic([str(case.capture)], config)
        doc = analysis_document(analyze(traffic, config))
    finally:
        monkeypatch.undo()
    return _by_packets(traffic.connections), json.loads(json.dumps(doc, default=str))


def _by_packets(connections: list[Connection]) -> dict[str, dict[str, Any]]:
    """record_fields of each record by its first frame and ends, its uid left out (the
    documents and _tracked compare uids: a difference of numbering alone is told apart
    from one of the records)."""
    out = {}
    for c in connections:
        fields_of = record_fields(c)
        del fields_of["uid"]
        out[f"{c.first_frame} {c.orig_h}:{c.orig_p} {c.resp_h}:{c.resp_p}"] = fields_of
    return out


def _tracked(path: Path, chunk: int) -> tuple:
    """(records by first frame and ends, (their uids in that order, the captures'
    descriptions)) of track_connections alone."""
    result = track_connections([str(path)], chunk_size=chunk)
    return (_by_packets(result.connections),
            ([c.uid for c in result.connections], [_plain(info) for info in result.captures]))


def test_the_sample_is_varied() -> None:
    assert len(SAMPLE) >= 50, len(SAMPLE)


# Sample cases whose document still depends on the chunk, and why (their records do
# not). Uids follow first_frame within a batch and the batches' order across them
# (connections.tracker), so a pcapng of several interfaces, read in time order while its
# frame numbers are the file's (sources.interface_order), numbers its connections by
# frame in one 16 MiB batch and by time across 4 KiB ones: docs/json.md's decision. A
# case that reads the same fails here, to be taken off. (Until orderfix,
# capture_duplicates' count of the copies whose interfaces or marks were read,
# near_copies.note_near, depended on the batches too: a batch's copies read whole until
# the sample was reached, and none whose original ended the batch before: field52's
# merged pcapng, trial35's bridge and trial31's DNAT capture.)
UIDS = "uids follow first_frame within a batch, the batches' order across them"
KNOWN = {"captures/lab-pcapng-interfaces/two-nics-data-block-first.pcapng.gz": UIDS}
# A known case stays in the sample whatever the stride picks (the stride moves as stored
# cases are added: the case above left it silently once).
SAMPLE += [case for case in find_cases([str(ROOT / "captures")])
           if str(case.capture.relative_to(ROOT)) in KNOWN
           and all(case.capture != kept.capture for kept in SAMPLE)]


@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: str(c.capture.relative_to(ROOT)))
def test_analyze_reads_the_same_in_any_chunk(case: Case,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    readings = {size: _analyzed(case, size, monkeypatch) for size in SIZES}
    records = {size: (reading[0], None) for size, reading in readings.items()}
    assert not _differences(records)
    known = KNOWN.get(str(case.capture.relative_to(ROOT)))
    differences = _differences(readings)
    if known is None:
        assert not differences
        return
    assert differences, "reads the same now: take it off KNOWN"
    base = readings[SIZES[0]][1]
    for size, (_, doc) in readings.items():  # the findings' codes and the verdict
        assert sorted(f["code"] for f in doc["findings"]) == \
            sorted(f["code"] for f in base["findings"]), size
        assert doc["verdict"] == base["verdict"], size
    pytest.xfail(known)


@pytest.mark.parametrize("case", SAMPLE[::3], ids=lambda c: str(c.capture.relative_to(ROOT)))
def test_connections_read_the_same_in_any_chunk(case: Case) -> None:
    readings = {size: _tracked(case.capture, size) for size in SIZES}
    if KNOWN.get(str(case.capture.relative_to(ROOT))) != UIDS:
        assert not _differences(readings)
        return
    # The sample is every third stored case, so which cases it holds moves as cases are
    # added: a case known for its uid numbering alone must still read the same records.
    records = {size: (reading[0], None) for size, reading in readings.items()}
    assert not _differences(records)
    assert _differences(readings), "reads the same now: take it off KNOWN"
    pytest.xfail(UIDS)


def _short_connections(path: Path, count: int) -> Path:
    """count short connections one after the other, client ports 1024 upward, in four
    shapes by turn: closed by the client, then the server; the client's FIN answered by
    the server's RST without ACK (Connection.fin_answer_rst); closed by the server
    first; reset by the client after its data."""
    packets = []
    for k in range(count):
        port = 1024 + k
        packets += [*handshake(mport=port), pkt(True, PSH | ACK, 101, 901, data=20, mport=port)]
        shape = k % 4
        if shape == 0:
            packets += [pkt(False, ACK, 901, 121, mport=port),
                        pkt(True, FIN | ACK, 121, 901, mport=port),
                        pkt(False, FIN | ACK, 901, 122, mport=port),
                        pkt(True, ACK, 122, 902, mport=port)]
        elif shape == 1:
            packets += [pkt(False, ACK, 901, 121, mport=port),
                        pkt(True, FIN | ACK, 121, 901, mport=port),
                        pkt(False, RST, 901, 0, mport=port)]
        elif shape == 2:
            packets += [pkt(False, FIN | ACK, 901, 121, mport=port),
                        pkt(True, ACK, 121, 902, mport=port),
                        pkt(True, FIN | ACK, 121, 902, mport=port),
                        pkt(False, ACK, 902, 122, mport=port)]
        else:
            packets += [pkt(False, ACK, 901, 121, mport=port),
                        pkt(True, RST | ACK, 121, 901, mport=port)]
    return write(path, 1, packets)


def test_short_connections_read_the_same_in_any_chunk(tmp_path: Path) -> None:
    """3,000 connections of 6 to 8 packets one after the other (bench capture (c)'s
    shape): the short pass takes most, a batch's edge hands some to the per-packet
    path, which one depending on the chunk."""
    path = _short_connections(tmp_path / "short.pcap", 3000)
    readings = {size: _tracked(path, size) for size in SIZES}
    assert not _differences(readings)
    records = readings[SIZES[0]][0]
    assert len(records) == 3000
    for n, record in enumerate(records.values()):  # in the order made: C1, C2, ...
        assert record["orig_last_ts"] is not None and record["resp_last_ts"] is not None
        assert (record["fin_ts"] is None) == (n % 4 == 3), (n, record["fin_ts"])
        assert bool(record["fin_answer_rst"]) == (n % 4 == 1), (n, record["fin_answer_rst"])

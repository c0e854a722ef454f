"""Two capture points merged into one file, their copies some milliseconds apart at one
TTL (captures/lab-merged): copies beyond copies.py's 0.5 ms are taken by their IPv4 ID,
TTL and TSval (copy_window.WIDE_COPY_WINDOW), never a resend.

The stored runs: a lab job whose data SYNs A's input drops, M and A on one segment
through a bridge that delays each frame 20 ms, or adds nothing but its own scheduling
(0.04-7.4 ms: the shape of lab matrix seed 110 run 42), flowcheck.lab.delay_bridge;
captured on M's and A's veths and merged with mergecap. Each point's own file is stored
beside the merge. The truth is tshark's reading of M's own file: the SYNs M sent to each
data port. Before the wide window the 20 ms merge read 5 SYNs on one port (a copy 37 ms
after its SYN, 17 ms off the learnt offset), as did the 0 ms one (a SYN copy 1.1 ms after).
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tshark_fork
from cli_json import run_json
from test_connections_util import internet_checksum

from flowcheck.durations import span_words

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab-merged"
STEMS = ("data-port-dropped-bridge-20ms", "data-port-dropped-bridge-0ms")
MEDIA = LAB / f"{STEMS[0]}-media.pcap"  # the resend tests' file
CONFIG = LAB / f"{STEMS[0]}.toml"  # every run's configuration is the same


def files(stem: str) -> tuple[Path, Path, Path]:
    """The merged capture, M's own and A's own."""
    return LAB / f"{stem}.pcap", LAB / f"{stem}-media.pcap", LAB / f"{stem}-agent.pcap"

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")


def analyze(*captures: Path) -> dict:
    """flowcheck analyze --format json on the captures given as one set."""
    return run_json("analyze", "--config", str(CONFIG), "--format", "json",
                    *map(str, captures), exit_codes=(0, 1))


def tshark(capture: Path, display: str, *fields: str) -> list[list[str]]:
    """tshark's fields of the packets the display filter shows, one list per packet. A
    stored capture's (captures/lab-merged: never written) once per worker: the merged and
    two-files cases of a stem ask for the same."""
    if capture.is_relative_to(LAB):
        return [list(row) for row in _stored_tshark(capture, display, fields)]
    return _tshark(capture, display, fields)


def _tshark(capture: Path, display: str, fields: tuple[str, ...]) -> list[list[str]]:
    # One start a filter (tshark_fork); a packet without the one field asked: no row.
    return [row for row in tshark_fork.fields(capture, display, *fields) if row != [""]]


@functools.cache
def _stored_tshark(capture: Path, display: str,
                   fields: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(map(tuple, _tshark(capture, display, fields)))


def sender_syns(capture: Path) -> dict[int, int]:
    """Per data port (agent range 6001-6100): the SYNs the capture holds to it (tshark)."""
    counts: dict[int, int] = {}
    for (port,) in tshark(capture, "tcp.flags.syn==1 && tcp.flags.ack==0 && "
                          "tcp.dstport>=6001 && tcp.dstport<=6100", "tcp.dstport"):
        counts[int(port)] = counts.get(int(port), 0) + 1
    return counts


def data_syns(doc: dict) -> dict[int, int]:
    """Per data connection's port: the SYNs flowcheck read (its first and its retries)."""
    return {c["resp_p"]: c["syn_retries"] + 1 for c in doc["connections"]
            if c["role"] == "data"}


def copies(doc: dict) -> int:
    found = [f for f in doc["findings"] if f["code"] == "capture_duplicates"]
    return int(found[0]["message"].split(" of ")[0].replace(",", "")) if found else 0


@needs_tshark
@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("merged", [True, False], ids=["merged", "two-files"])
def test_syns_and_retransmits_are_the_senders(stem: str, merged: bool) -> None:
    MERGED, MEDIA, AGENT = files(stem)  # noqa: N806
    given = (MERGED,) if merged else (MEDIA, AGENT)
    truth = sender_syns(MEDIA)
    assert truth and all(count > 1 for count in truth.values())  # SYNs were retried
    assert sender_syns(AGENT) == truth  # every SYN passed both points
    # The merge holds the SYNs twice.
    assert {port: 2 * count for port, count in truth.items()} == sender_syns(MERGED)
    doc = analyze(*given)
    assert data_syns(doc) == truth
    # Nothing else was resent: M's file holds no retransmission but the SYN retries.
    resent = tshark(MEDIA, "tcp.analysis.retransmission && !(tcp.flags.syn==1)",
                    "frame.number")
    assert sum(c["retransmits"] for c in doc["connections"]) == len(resent) == 0
    # Every packet passed both points: each second copy of a packet with an IPv4 ID is
    # a copy (at any lag here; an ID-0 SYN-ACK's only within the learnt offset's 10 ms).
    identified = len(tshark(MEDIA, "tcp && ip.id != 0", "frame.number"))
    assert identified <= copies(doc) <= len(tshark(MEDIA, "tcp", "frame.number"))
    assert doc["verdict"] == "fail"
    assert {f["code"] for f in doc["findings"] if f["severity"] == "error"} == {
        "data_unanswered"}


@needs_tshark
def test_wide_copies_are_said() -> None:
    """The merge with most copies within 0.5 ms (one capture point's words) says how many
    were more than 0.5 ms after their original and the longest lag: those tshark shows
    between two packets of one direction with the same non-zero IPv4 ID, TCP numbers,
    flags and TSval."""
    merged = files(STEMS[1])[0]
    first: dict[tuple[str, ...], float] = {}
    lags = []
    for epoch, *key in tshark(merged, "tcp && ip.id != 0", "frame.time_epoch", "ip.src",
                              "ip.id", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
                              "tcp.len", "tcp.options.timestamp.tsval"):
        if tuple(key) in first:
            lags.append(float(epoch) - first.pop(tuple(key)))
        else:
            first[tuple(key)] = float(epoch)
    wide = [lag for lag in lags if lag > 0.0005]
    assert wide and len(wide) < len(lags)
    message = next(f["message"] for f in analyze(merged)["findings"]
                   if f["code"] == "capture_duplicates")
    assert "at most 0.5 ms later" in message
    assert (f"{len(wide)} of them were captured more than 0.5 ms after their original, "
            f"up to {span_words(max(wide))}, each with its original's IPv4 ID, TTL and TCP "
            "timestamp (TSval)") in message


# -- a resend with the same IPv4 ID ----------------------------------------------------

def _records(data: bytes) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """A classic little-endian pcap's header and its records (seconds, microseconds,
    frame)."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    out, at = [], 24
    while at < len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, at)
        out.append((sec, usec, data[at + 16:at + 16 + incl]))
        at += 16 + incl
    return data[:24], out


def _write(path: Path, header: bytes, records: list[tuple[int, int, bytes]]) -> None:
    path.write_bytes(header + b"".join(struct.pack("<IIII", s, u, len(f), len(f)) + f
                                       for s, u, f in records))


def _tsval_at(frame: bytes) -> int:
    """The offset of the TSval in an Ethernet/IPv4/TCP frame's TCP options."""
    ihl = (frame[14] & 0x0F) * 4
    tcp = 14 + ihl
    at, end = tcp + 20, tcp + (frame[tcp + 12] >> 4) * 4
    while at < end:
        kind = frame[at]
        if kind == 1:
            at += 1
            continue
        if kind == 8:
            return at + 2
        at += frame[at + 1]
    raise AssertionError("no timestamp option")


def _resend_at_same_id(tmp_path: Path, same_tsval: bool) -> tuple[Path, int]:
    """M's own capture with the first data connection's first SYN retry (sent 1 s after
    its SYN, the next IPv4 ID, a later TSval) given its SYN's IPv4 ID (a stack that keeps
    the ID on a resend) and moved to 10 ms after the SYN, within WIDE_COPY_WINDOW;
    with same_tsval, its TSval made the SYN's too (a copy in all but its time). Returns
    the file and the port."""
    header, records = _records(MEDIA.read_bytes())
    syns = [n for n, (_, _, f) in enumerate(records)
            if f[12:14] == b"\x08\x00" and f[23] == 6
            and f[14 + (f[14] & 15) * 4 + 13] & 0x12 == 0x02
            and 6001 <= struct.unpack_from("!H", f, 14 + (f[14] & 15) * 4 + 2)[0] <= 6100]
    first, retry = syns[0], syns[1]
    frame = bytearray(records[retry][2])
    original = records[first][2]
    assert frame[34:38] == original[34:38] and frame[18:20] != original[18:20]
    frame[18:20] = original[18:20]  # the IPv4 ID
    if same_tsval:
        at = _tsval_at(bytes(frame))
        frame[at:at + 4] = original[at:at + 4]
    ihl = (frame[14] & 0x0F) * 4
    frame[24:26] = b"\0\0"
    frame[24:26] = struct.pack("!H", internet_checksum(bytes(frame[14:14 + ihl])))
    sec, usec, _ = records[first]
    moved = (sec + (usec + 10_000) // 1_000_000, (usec + 10_000) % 1_000_000, bytes(frame))
    rest = [r for n, r in enumerate(records) if n != retry]
    rest.insert(first + 1, moved)
    path = tmp_path / ("copy.pcap" if same_tsval else "resend.pcap")
    _write(path, header, rest)
    port = struct.unpack_from("!H", frame, 14 + ihl + 2)[0]
    return path, port


@needs_tshark
def test_resend_at_same_ip_id_later_tsval_stays_a_resend(tmp_path: Path) -> None:
    truth = sender_syns(MEDIA)
    path, port = _resend_at_same_id(tmp_path, same_tsval=False)
    rows = tshark(path, f"tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport=={port}",
                  "frame.time_epoch", "ip.id", "tcp.options.timestamp.tsval")
    assert rows[0][1] == rows[1][1] and rows[0][2] != rows[1][2]  # same ID, later TSval
    assert 0.0005 < float(rows[1][0]) - float(rows[0][0]) < 0.1
    doc = analyze(path)
    assert data_syns(doc) == truth  # still a SYN retry
    assert copies(doc) == 0


@needs_tshark
def test_same_id_and_tsval_is_a_copy(tmp_path: Path) -> None:
    """The control of the test above: the same packet with the SYN's TSval as well is a
    copy (so the test above can fail)."""
    truth = sender_syns(MEDIA)
    path, port = _resend_at_same_id(tmp_path, same_tsval=True)
    doc = analyze(path)
    assert data_syns(doc) == {**truth, port: truth[port] - 1}
    assert copies(doc) == 1


# -- the identity itself -----------------------------------------------------------------

def _stamps(capture: Path) -> dict[int, int]:
    """Per frame number: stamped_identities of every TCP packet of the capture."""
    from test_connections_util import read_batches

    from flowcheck.connections.packet_identity import batch_bytes, captured_ends
    from flowcheck.connections.stamped_identity import stamped_identities
    from flowcheck.decode import decode_batch

    out: dict[int, int] = {}
    for batch in read_batches(capture, chunk=100_000):
        d = decode_batch(batch)
        rows = np.arange(d.tcp_index.shape[0])
        stamps = stamped_identities(d, batch_bytes(batch, d), captured_ends(batch, d), rows)
        out.update(zip(d.tcp_frame.tolist(), stamps.tolist(), strict=True))
    return out


@needs_tshark
def test_stamped_identity_is_the_tsval_and_header(tmp_path: Path) -> None:
    """A packet and its copy (same IPv4 ID and TCP numbers) have one stamped identity; a
    SYN and its retry (the next ID, a later TSval) two; a packet whose options the snap
    length cut (54 bytes: Ethernet, IPv4, TCP without options) none."""
    merged = files(STEMS[0])[0]
    stamps = _stamps(merged)
    rows = tshark(merged, "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport>=6001",
                  "frame.number", "ip.id", "tcp.options.timestamp.tsval")
    by_id: dict[str, list[int]] = {}
    for frame, ip_id, _ in rows:
        by_id.setdefault(ip_id, []).append(int(frame))
    pairs = list(by_id.values())
    assert len(pairs) >= 4 and all(len(pair) == 2 for pair in pairs)
    for one, other in pairs:
        assert stamps[one] == stamps[other] not in (0, -1)
    firsts = [stamps[pair[0]] for pair in pairs]
    assert len(set(firsts)) == len(firsts)  # each retry its own
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-s", "54", str(merged), str(cut)], check=True)
    assert set(_stamps(cut).values()) == {0}


@pytest.mark.parametrize("stem", STEMS)
def test_a_syns_wide_copy_a_batch_later_is_a_copy(stem: str) -> None:
    """Read one packet a batch (a live pipe's batches gather 50 ms; a read chunk ends
    anywhere), a SYN's copy beyond 0.5 ms is always in the batch after its SYN: the tail
    keeps the SYNs of the last WIDE_COPY_WINDOW (copies_tail.wide_syns) before any wide
    copy showed, so the SYNs read are M's, as in one batch (it read each SYN sent twice on
    the 20 ms merge: no wide copy ever within one batch)."""
    from test_connections_util import read_batches

    from flowcheck.connections.tracker import ConnectionTracker

    merged, media, _ = files(stem)
    readings = []
    for chunk in (1, 100_000):
        tracker = ConnectionTracker()
        for batch in read_batches(merged, chunk=chunk):
            tracker.feed(batch)
        readings.append({c.resp_p: c.syn_retries + 1 for c in tracker.finish()
                         if 6001 <= c.resp_p <= 6100})
    one_packet, whole = readings
    assert whole == one_packet
    if shutil.which("tshark"):
        assert whole == sender_syns(media)


def test_how_many_copies_a_sentence_is_about_takes_the_verb_in_their_number() -> None:
    """capture_duplicates' sentences on some of its copies (the wide ones, the relay
    copies) say "1 of them was", not "1 of them were" (session 50's note)."""
    from flowcheck.connections.relay_words import of_them

    assert of_them(1) == "1 of them was"
    assert of_them(2) == "2 of them were"
    assert of_them(12_345) == "12,345 of them were"

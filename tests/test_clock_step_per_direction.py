"""A clock stepped back while one host captured each direction apart (field check trial 36 D1/D2).

The capturing host's clock steps back (an NTP step) while it writes a pcapng of one
interface per direction (what it sends on one, what it receives on the other), or two
taps write one file per direction: both streams step at the same moment, each keeps
its own order. Merged by each stream's running maximum, every post-step packet of one
stream came before the other's, putting NDMP replies before their requests
(`control_closed` on a good job, `data_unanswered`, a false `capture_loss`). Merged by
(clock epoch, timestamp), the verdict and findings are the unstepped capture's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from capture_factory import epb, idb, shb, write_pcap
from lab_edits import lab_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources import iter_batches

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _stepped_directions(name: str, back: float) -> list[tuple[int, float, bytes]]:
    """The lab capture in its order, each packet with its direction (0: sent by the
    media server, 1: received) and the clock set back by `back` s at half the packets."""
    packets = lab_records(name)
    media_mac = packets[0][1][6:12]
    half = len(packets) // 2
    return [(0 if data[6:12] == media_mac else 1, ts - back if n >= half else ts, data)
            for n, (ts, data) in enumerate(packets)]


def _outcome(name: str, inputs: list[str]) -> tuple[str, list[str], list[dict[str, str]]]:
    """The verdict, finding codes (but capture_clock_stepped) and step statuses of
    `inputs` analysed with the lab case `name`'s configuration; of the lab capture
    itself (inputs [LAB/NAME.pcap]), from the run's shared analysis of the case
    (stored.shared_analysis, the same configuration: 24 cases here made it again)."""
    if inputs == [str(LAB / f"{name}.pcap")]:
        return _outcome_of(shared_analysis(LAB / f"{name}.pcap"))
    config = build_config(load_file(LAB / f"{name}.toml"))
    return _outcome_of(analyze(read_traffic(inputs, config), config))


def _outcome_of(analysis: Analysis) -> tuple[str, list[str], list[dict[str, str]]]:
    """_outcome's verdict, codes and steps of an analysis."""
    steps = [{str(step.step): step.status for step in session.steps}
             for session in analysis.sessions]
    codes = sorted(f.code for f in analysis.findings if f.code != "capture_clock_stepped")
    return analysis.verdict, codes, steps


def _pcapng(packets: list[tuple[int, float, bytes]], path: Path) -> Path:
    path.write_bytes(b"".join([shb(), idb(1, tsresol=9), idb(1, tsresol=9)]
                              + [epb(i, ts, data, tsresol=9) for i, ts, data in packets]))
    return path


def _taps(packets: list[tuple[int, float, bytes]], tmp_path: Path) -> list[str]:
    return [str(write_pcap(tmp_path / f"{tap}.pcap", [
        (ts, data) for i, ts, data in packets if i == direction]))
        for direction, tap in enumerate(("tapA", "tapB"))]


@pytest.mark.parametrize("back", [0.005, 0.3, 30.0])
@pytest.mark.parametrize("form", ["pcapng", "taps"])
@pytest.mark.parametrize("chunk_size", [4096, 8 << 20])
def test_streams_stepped_together_merge_in_the_order_they_came(
        back: float, form: str, chunk_size: int, tmp_path: Path) -> None:
    """Each stream's packets after the step interleave with the other's as they came."""
    packets = _stepped_directions("clean-3-resources", back)
    inputs = ([str(_pcapng(packets, tmp_path / "two.pcapng"))] if form == "pcapng"
              else _taps(packets, tmp_path))
    ts = np.concatenate([b.ts for b in iter_batches(inputs, chunk_size=chunk_size,
                                                    read_ahead=False)])
    assert np.allclose(ts, [t for _i, t, _d in packets], rtol=0, atol=1e-6)


def test_one_stream_stepping_alone_keeps_its_running_maximum(tmp_path: Path) -> None:
    """A step in one interface the other does not follow (records written out of
    order there) keys that interface by its running maximum, as before."""
    packets = [(0, 10.0, b"\x00" * 60), (1, 10.001, b"\x01" * 60), (0, 10.5, b"\x02" * 60),
               (0, 10.2, b"\x03" * 60), (1, 10.6, b"\x04" * 60), (1, 12.0, b"\x05" * 60),
               (0, 12.5, b"\x06" * 60)]
    path = _pcapng(packets, tmp_path / "a.pcapng")
    ts = np.concatenate([b.ts for b in iter_batches([str(path)])])
    # 10.2 keys at 10.5 on its interface: after 10.5, before 10.6
    assert ts.tolist() == [10.0, 10.001, 10.5, 10.2, 10.6, 12.0, 12.5]


CASES = [(name, back) for name in ("concurrent-jobs", "data-port-rejected",
                                   "clean-3-resources", "callback-blocked")
         for back in (0.005, 30.0)]


@pytest.mark.parametrize(("name", "back"), CASES)
def test_pcapng_one_interface_per_direction_stepped_together(
        name: str, back: float, tmp_path: Path) -> None:
    packets = _stepped_directions(name, back)
    stepped = _outcome(name, [str(_pcapng(packets, tmp_path / f"{name}.pcapng"))])
    assert "capture_loss" not in stepped[1]
    assert stepped == _outcome(name, [str(LAB / f"{name}.pcap")])


@pytest.mark.parametrize(("name", "back"), CASES)
def test_one_file_per_direction_stepped_together(
        name: str, back: float, tmp_path: Path) -> None:
    packets = _stepped_directions(name, back)
    stepped = _outcome(name, _taps(packets, tmp_path))
    assert "capture_loss" not in stepped[1]
    assert stepped == _outcome(name, [str(LAB / f"{name}.pcap")])


def _glitched(name: str, glitches: list[tuple[int, float, float]],
              ) -> list[tuple[int, float, bytes]]:
    """The lab capture per direction, one record of direction d written late (after
    the stream's first record `behind` s or more after it, then the stream goes on
    above): a NIC queue's out-of-order record, for each (d, at fraction of the
    stream's packets, behind)."""
    packets = _stepped_directions(name, 0.0)
    for direction, at, behind in glitches:
        rows = [n for n, (i, _t, _d) in enumerate(packets) if i == direction]
        n = rows[int(at * len(rows))]
        record = packets.pop(n)
        stream = [m for m, (i, _t, _d) in enumerate(packets) if i == direction]
        late = next(m for m in stream if packets[m][1] >= record[1] + behind)
        packets.insert(late + 1, record)
    return packets


def _merged_ts(inputs: list[str], chunk_size: int) -> list[float]:
    return np.concatenate([b.ts for b in iter_batches(
        inputs, chunk_size=chunk_size, read_ahead=False)]).tolist()


def _running_max_order(packets: list[tuple[int, float, bytes]]) -> list[float]:
    """main's merged order: each stream keyed by its running maximum, stable."""
    keyed, top = [], {}
    for n, (i, ts, _d) in enumerate(packets):
        top[i] = max(top.get(i, -np.inf), ts)
        keyed.append((top[i], n, ts))
    return [ts for _k, _n, ts in sorted(keyed)]


GLITCHES = {
    "one each": [(0, 0.3, 0.003), (1, 0.6, 0.002)],
    "several": [(0, 0.15, 0.002), (1, 0.35, 0.002), (0, 0.55, 0.003), (1, 0.9, 0.002)],
}


# A set of files read in small chunks used to hand on a late record's stream's packets
# in the new epoch before its step was undone (sources.merge held nothing back).
FORMS = [(form, chunk_size) for form in ("taps", "pcapng") for chunk_size in (4096, 8 << 20)]


@pytest.mark.parametrize("glitches", list(GLITCHES), ids=list(GLITCHES))
@pytest.mark.parametrize(("form", "chunk_size"), FORMS)
def test_records_out_of_order_in_both_streams_are_no_clock_step(
        glitches: str, form: str, chunk_size: int, tmp_path: Path) -> None:
    """One record a few ms behind in each stream, close together in time, then each
    stream goes on above its maximum: no clock step, the running-maximum order, and
    the analysis of the capture in its order."""
    name = "clean-3-resources"
    packets = _glitched(name, GLITCHES[glitches])
    gaps = [abs(a - b) for (_i, a, _d), (_j, b, _e) in zip(packets, packets[1:],
                                                            strict=False)]
    assert max(gaps) < 1.0  # the glitches' streams all within TOGETHER
    inputs = ([str(_pcapng(packets, tmp_path / "two.pcapng"))] if form == "pcapng"
              else _taps(packets, tmp_path))
    assert _merged_ts(inputs, chunk_size) == _running_max_order(packets)
    verdict, codes, steps = _outcome(name, inputs)
    clean = _outcome(name, [str(LAB / f"{name}.pcap")])
    # the records out of time order are a finding of their own, as on main
    assert (verdict, codes, steps) == (
        clean[0], sorted([*clean[1], "capture_written_out_of_order"]), clean[2])


def _glitch_then_step() -> tuple[list[tuple[int, float, bytes]], list[float]]:
    """The lab capture per direction, one record of the media server's written 3 ms
    late, then the clock set back 30 s at half the packets; and the merged order
    wanted: the running-maximum order before the step, the order they came after it."""
    name = "clean-3-resources"
    packets = _stepped_directions(name, 30.0)
    half = len(packets) // 2
    before = _glitched(name, [(0, 0.2, 0.003)])[:half]
    assert sorted(p[1] for p in before) == sorted(p[1] for p in packets[:half])
    packets = before + packets[half:]
    return packets, _running_max_order(packets[:half]) + [ts for _i, ts, _d in packets[half:]]


@pytest.mark.parametrize("chunk_size", [4096, 8 << 20])
@pytest.mark.parametrize("form", ["pcapng", "taps"])
def test_a_glitch_then_a_real_step_in_both(form: str, chunk_size: int,
                                           tmp_path: Path) -> None:
    """A record out of order in one stream, then the clock steps back in both: the
    step is still found, the streams interleave as they came (the jump back of the
    clock undoes the pending step of the late record, even in the same chunk)."""
    packets, expected = _glitch_then_step()
    inputs = ([str(_pcapng(packets, tmp_path / "two.pcapng"))] if form == "pcapng"
              else _taps(packets, tmp_path))
    assert np.allclose(_merged_ts(inputs, chunk_size), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("form", ["pcapng", "taps"])
def test_a_late_record_in_the_last_second_is_no_clock_step(form: str, tmp_path: Path) -> None:
    """A record written late in one stream less than TOGETHER before the streams end:
    no other stream can step with it any more, so it keys by its running maximum (it
    was handed on in a clock epoch of its own, after the other stream's last packets)."""
    packets = _glitched("clean-3-resources", [(1, 0.95, 0.002)])
    inputs = ([str(_pcapng(packets, tmp_path / "two.pcapng"))] if form == "pcapng"
              else _taps(packets, tmp_path))
    assert _merged_ts(inputs, 8 << 20) == _running_max_order(packets)


def _chunk_cases() -> list[tuple[str, list[tuple[int, float, bytes]], list[float] | None]]:
    """(case, packets per direction, the merged order wanted; None: as they came)."""
    cases: list[tuple[str, list[tuple[int, float, bytes]], list[float] | None]] = [
        (f"back {back}", _stepped_directions("clean-3-resources", back), None)
        for back in (0.003, 0.005, 0.3, 30.0)]
    for glitches in ({"end": [(1, 0.95, 0.002)]} | GLITCHES).items():
        packets = _glitched("clean-3-resources", glitches[1])
        cases.append((glitches[0], packets, _running_max_order(packets)))
    cases.append(("glitch, step", *_glitch_then_step()))
    return cases


def test_the_merged_order_is_the_same_at_every_chunk_size(tmp_path: Path) -> None:
    """Each capture above, as a pcapng and as two taps' files, read in chunks of 1 KB,
    64 KB and 8 MB: one merged order, the one wanted (a step is confirmed or undone on
    what the streams show, not on where a chunk ends)."""
    for case, packets, wanted in _chunk_cases():
        expected = [ts for _i, ts, _d in packets] if wanted is None else wanted
        for form in ("pcapng", "taps"):
            inputs = ([str(_pcapng(packets, tmp_path / "two.pcapng"))] if form == "pcapng"
                      else _taps(packets, tmp_path))
            # 2 and 8 KB (45% of the reads' time) walked no branch of flowcheck that 1 KB,
            # 64 KB and 8 MB do not (branch coverage over every case, session 48). A
            # pcapng's 1 KB reads (70% of the test's time) walk the same arcs in every
            # case, those of "glitch, step" (branch coverage of flowcheck over the test,
            # session 53: 3,614 arcs either way); the taps' in every case.
            sizes = (64 << 10, 8 << 20)
            if form == "taps" or case == "glitch, step":
                sizes = (1 << 10, *sizes)
            for chunk_size in sizes:
                merged = _merged_ts(inputs, chunk_size)
                assert np.allclose(merged, expected, rtol=0, atol=1e-6), (
                    case, form, chunk_size)

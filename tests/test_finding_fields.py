"""Every stored capture's findings agree with the rest of their document (trial 16 D7,
D8): `session` is the session the document ties the finding's connection to, in the
JSON of `analyze`, `connections` and `ndmp` alike, and `ts` is the time of one of the
finding's frames (docs/json.md, `findings[]`; capture_loss too since trial 25 D6), read
with flowcheck's own reader; and every message and fix, and every part the text report
prints of them (its cause, Fix:, Detail:, Also:), ends as a sentence (field check 78:
capture_loss's fix and capture_duplicates' detail ended without a full stop)."""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from stored import case_analysis, case_traffic, stored_cases

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import label_connections
from flowcheck.regress import Case
from flowcheck.report.answer import finding_parts
from flowcheck.report.json_doc import analysis_document, traffic_document
from flowcheck.sources import iter_batches

ROOT = Path(__file__).resolve().parent.parent
CASES = stored_cases()


def _name(case: Case) -> str:
    return str(case.capture.relative_to(ROOT / "captures"))


def _documents(case: Case) -> tuple[dict, dict]:
    """The case's `analyze` JSON document, and its `connections` (= `ndmp`) one."""
    return _documents_of(case.capture, case.config_path)


@cache
def _documents_of(capture: Path, config_path: Path | None) -> tuple[dict, dict]:
    config = build_config(load_file(config_path) if config_path else {})
    analysis = case_analysis(capture, config_path)  # shared: read only
    traffic = case_traffic(capture, config_path)  # read_traffic's, this test's copy
    label_connections(traffic, config)
    return analysis_document(analysis), traffic_document(traffic)


@cache  # once a capture a process: test_control_closed_ts_is_its_fin reads one again
def _frame_times(capture: Path) -> np.ndarray:
    """Each frame's timestamp (epoch seconds), frame N at index N - 1 (a pcapng of several
    interfaces is read in time order, its frames numbered as in the file; a frame
    Wireshark numbers that holds no packet, a custom block, has NaN). Read only."""
    frames, times = [], []
    # No read-ahead thread (the same batches, iter_batches says): over every stored
    # capture, about 0.8 CPU-s here against 1.0-1.2 with it.
    for batch in iter_batches([str(capture)], read_ahead=False):
        frames.append(batch.frame_numbers(np.arange(len(batch))))
        times.append(batch.ts.copy())
    numbers, ts = np.concatenate(frames), np.concatenate(times)
    out = np.full(int(numbers.max(initial=0)), np.nan)
    out[numbers - 1] = ts
    return out


def _misplaced_sessions(document: dict) -> list[str]:
    session_of = {c["uid"]: c["session"] for c in document["connections"] if c["session"]}
    return [f"{f['code']} {f['uid']}: {f['session']} (connection's: {session_of[f['uid']]})"
            for f in document["findings"]
            if f["uid"] in session_of and f["session"] != session_of[f["uid"]]]


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_finding_session_is_its_connections_session(case: Case) -> None:
    analyzed, listed = _documents(case)
    assert _misplaced_sessions(analyzed) == []
    assert _misplaced_sessions(listed) == []


# A sentence's end: . ! or ? and any closing brackets or quotes after it.
_SENTENCE_END = re.compile(r"[.!?][\"')\]\u2019\u201d]*$")


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_finding_words_end_as_sentences(case: Case) -> None:
    analyzed, listed = _documents(case)  # `connections` and `ndmp` print listed's too
    printed = [(f["code"], what, f[what]) for document in (analyzed, listed)
               for f in document["findings"] for what in ("message", "fix") if f[what]]
    printed += [(f.code, label or "cause", text)
                for f in case_analysis(case.capture, case.config_path).findings
                for label, text in finding_parts(f)]
    assert [(code, what, text[-60:]) for code, what, text in printed
            if not _SENTENCE_END.search(text)] == []


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_finding_ts_is_one_of_its_frames(case: Case) -> None:
    analyzed, _ = _documents(case)
    times = _frame_times(case.capture)
    wrong = []
    for finding in analyzed["findings"]:
        if not finding["frames"]:
            continue
        at = [float(times[frame - 1]) for frame in finding["frames"]]
        if finding["ts"] is None or not np.isclose(at, finding["ts"], rtol=0, atol=1e-7).any():
            wrong.append(f"{finding['code']}: ts {finding['ts']}, frames "
                         f"{finding['frames']} at {at}")
    assert wrong == []


def test_control_closed_ts_is_its_fin() -> None:
    """The FIN the message names first (frame 872), not the connection's last packet
    (frame 874, an ACK after it)."""
    [case] = [c for c in CASES if c.capture.name == "dma-killed-pathloss-media.pcap.gz"]
    analyzed, _ = _documents(case)
    [closed] = [f for f in analyzed["findings"] if f["code"] == "control_closed"]
    assert "(FIN, frame 872)" in closed["message"]
    assert closed["ts"] == float(_frame_times(case.capture)[871])


def test_live_vendor_message_names_its_session() -> None:
    """`live` streams ndmp_vendor_message on session S1's control connection with S1,
    as its final report and `analyze` have it."""
    lab = ROOT / "captures" / "lab"
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    data = (lab / "clean-3-resources.pcap").read_bytes()
    events = list(LiveVerifier(config).run(io.BytesIO(data)))
    streamed = [e.finding for e in events if e.kind == "finding"
                and e.finding.code == "ndmp_vendor_message"]
    assert [(f.uid, f.session) for f in streamed] == [("C1", "S1")]
    final = events[-1].analysis.findings
    assert [(f.uid, f.session) for f in final if f.code == "ndmp_vendor_message"] == \
        [("C1", "S1")]

"""dumps_indented writes exactly json.dumps(indent=2)'s text, on any document."""

from __future__ import annotations

import io
import json
import math
import random
from enum import IntEnum, StrEnum
from pathlib import Path

import pytest
from stored import case_analysis, default_traffic, stored_cases

from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.pipeline import Analysis, analyze
from flowcheck.report.json_doc import analysis_document, write_json
from flowcheck.report.json_text import dumps_indented, write_indented

CAPTURES = Path(__file__).parent.parent / "captures"


class Colour(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


TEXTS = ["", "a", "C12", "quote \" and \\ backslash", "line\nbreak\ttab", "},\n  {",
         "\u00e9t\u00e9 \u2192 \U0001f600", "\x00\x1f", "  ", "[]", "{}"]
NUMBERS = [0, -1, 2**70, 1.5, -0.0, 1e-300, 1764547200.123456, math.inf, -math.inf,
           math.nan, True, False, None]


def scalar(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(TEXTS)
    if roll < 0.85:
        return rng.choice(NUMBERS)
    if roll < 0.9:
        return rng.random() * 10 ** rng.randint(-5, 12)
    return rng.choice([Colour.RED, Level.HIGH])


def document(rng: random.Random, depth: int = 0) -> object:
    """A random JSON-able value: nested dicts and lists (some empty, some of scalars
    only), tuples, enum values, keys json converts (int, float, bool, None)."""
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        return scalar(rng)
    size = rng.choice([0, 1, 2, 5])
    if roll < 0.6:
        keys = [rng.choice(TEXTS + [f"k{n}" for n in range(8)]) for _ in range(size)]
        if rng.random() < 0.1:
            keys.append(rng.choice([7, 2.5, True, None]))
        return {key: document(rng, depth + 1) for key in keys}
    items = [document(rng, depth + 1) for _ in range(size)]
    return tuple(items) if rng.random() < 0.1 else items


@pytest.mark.parametrize("seed", range(300))
def test_random_documents(seed: int) -> None:
    value = document(random.Random(seed))
    expected = json.dumps(value, indent=2)
    assert dumps_indented(value) == expected
    stream = io.StringIO()
    write_indented(value, stream, pieces=1 + seed % 4)  # written a few pieces at a time
    assert stream.getvalue() == expected


def test_flat_records_in_lists_and_dicts() -> None:
    records = [{"uid": f"C{n}", "ts": n / 7, "history": "ShAFf", "tunnel": None,
                "ok": n % 2 == 0} for n in range(50)]
    value = {"connections": records, "frames": list(range(20)), "empty": [], "none": {},
             "nested": [[1, 2], [], [{"a": []}]]}
    assert dumps_indented(value) == json.dumps(value, indent=2)


def test_unencodable_raises_as_json_does() -> None:
    with pytest.raises(TypeError):
        json.dumps({"a": [{1, 2}]}, indent=2)
    with pytest.raises(TypeError):
        dumps_indented({"a": [{1, 2}]})


@pytest.mark.parametrize("capture", sorted(str(p.relative_to(CAPTURES))
                                           for p in CAPTURES.glob("*/*.pcap*")))
def test_every_stored_capture_analysis(capture: str) -> None:
    """The analyze document of every stored capture: the text is json's own. The text
    `analyze CAPTURE --format json` writes (flowcheck.cli.commands.analyze: the analysis,
    its document with the connections streamed, write_json) with the capture's stored
    configuration: the run's one analysis of each stored case (stored.case_analysis,
    which test_finding_fields, test_report_session_status and test_verify_unexplained
    read; the defaults' analysis was this test's own, about 2.4 CPU-s a run), or with
    the defaults for a file that is no case of its own (a ring's files). The writer's
    text is json's on either document; test_cli_text_is_the_commands_own holds
    _analyze_text (the defaults) to the command's output."""
    path = (CAPTURES / capture).resolve()
    case = _CASES.get(path)
    text = _analyze_text(path) if case is None else _document_text(
        case_analysis(case.capture, case.config_path))
    document = json.loads(text)
    assert text == json.dumps(document, indent=2) + "\n"
    stream = io.StringIO()
    write_json(document, stream)
    assert stream.getvalue() == text


# The stored cases by capture file (a ring's folder is a case, its files are not).
_CASES = {case.capture.resolve(): case for case in stored_cases()}


def _document_text(analysis: Analysis) -> str:
    """What `analyze --format json` writes of `analysis` (its connections streamed)."""
    stream = io.StringIO()
    write_json(analysis_document(analysis, streamed=True), stream)
    return stream.getvalue()


def _analyze_text(path: Path) -> str:
    """What `analyze PATH --format json` writes, from stored.default_traffic's read."""
    return _document_text(analyze(default_traffic(path), build_config({})))


@pytest.mark.parametrize("capture", ["ndmjob/v4-backup.pcap",
                                     "trial34-big/agent-input-drops-mid-transfer.pcap.gz"])
def test_cli_text_is_the_commands_own(capture: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The command itself writes _analyze_text's text (a small capture, and the largest
    stored one: many streamed connections)."""
    assert run(["analyze", str(CAPTURES / capture), "--format", "json"]) in (0, 1, 2)
    assert capsys.readouterr().out == _analyze_text(CAPTURES / capture)


def test_many_records_in_few_pieces() -> None:
    """A list of flat records (a report's connections) is encoded a chunk of records per
    C call, not one Python-level step per record: the pieces stay few as records grow,
    and the text is json's own across chunk boundaries (ROWS records each)."""
    from flowcheck.report import json_text

    rows = getattr(json_text, "ROWS", 1024)
    count = 2 * rows + 3
    records = [{"uid": f"C{n}", "ts": 1764547200 + n / 7, "history": "},\n      {",
                "tunnel": None, "session": "S1" if n % 3 else None} for n in range(count)]
    value = {"connections": records, "ndmp": []}
    pieces = list(json_text.iter_indented(value))
    assert "".join(pieces) == json.dumps(value, indent=2)
    assert len(pieces) <= count // rows + 8  # chunks, keys and brackets; not a record each

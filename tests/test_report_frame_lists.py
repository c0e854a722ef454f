"""A finding's frames read the same in every form (trial 20 D13): the text showed 8, the
HTML and JSON 20, each list ended by a bare comma, and frames beyond 20 were in no form.
Now every form lists the same frames and says "and N more" for the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flowcheck.cli.main import run
from flowcheck.findings import make_finding
from flowcheck.frame_names import frames_words

CAPTURE = (Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
           / "v4-control-synack-dropped-at-media.pcap")  # 22 frames, all evidence
CONFIG = CAPTURE.parent / "flowcheck.toml"


def test_frame_words() -> None:
    assert frames_words([250]) == "frame 250"
    assert frames_words([901, 969]) == "frames 901, 969"
    assert frames_words([1, 2, 3, 4, 9]) == "frames 1-4, 9"
    assert frames_words(list(range(1, 21)), 2) == "frames 1-20 and 2 more"
    assert frames_words([]) == ""


def test_finding_counts_the_frames_it_leaves_out() -> None:
    finding = make_finding("handshake_incomplete", "m", frames=list(range(22, 0, -1)))
    assert finding.frames == list(range(1, 21)) and finding.frames_more == 2
    assert finding.as_dict()["frames_more"] == 2


def test_every_form_lists_the_same_frames(tmp_path: Path, capsys) -> None:
    html = tmp_path / "report.html"
    run(["analyze", str(CAPTURE), "--config", str(CONFIG), "--no-ladder",
         "--html", str(html)])
    text = capsys.readouterr().out
    run(["analyze", str(CAPTURE), "--config", str(CONFIG), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    (finding,) = [f for f in document["findings"] if f["code"] == "handshake_incomplete"]
    assert finding["frames"] == list(range(1, 21)) and finding["frames_more"] == 2
    words = "frames 1-20 and 2 more"
    assert f"connection C1, {words}, at +" in text, text
    assert f"connection C1, {words}, at +" in html.read_text()
    # No frame list ends in a bare comma before the next part.
    assert not re.search(r"frames [0-9,]+, at", text)

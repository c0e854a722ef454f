"""Words a new user's trial (newuser60) tripped on, on the 1 GB sniffer-loss backup and
stored captures cut with editcap as a capture stopped early cuts them: one
capture_ended_early for one end of the capture, the connections table's session named
apart from Zeek's state S1, and one style of byte figure."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from frame_cuts import CAPTURES, frame_range

from flowcheck.cli.main import run

NDMJOB = CAPTURES / "ndmjob"
CONFIG = ["--config", str(NDMJOB / "flowcheck.toml")]


@pytest.fixture(scope="module")
def cut_at_poll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v4-backup cut after frame 2143: its data connection closed (FINs 2138, 2140), the
    media server's DATA_GET_STATE (frame 2142) acknowledged, not answered, no halt."""
    out = tmp_path_factory.mktemp("newuser60") / "cut2143.pcap"
    return frame_range(NDMJOB / "v4-backup.pcap", out, 1, 2143)


def _out(argv: list[str], capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # one line per table row
    run(argv)
    return capsys.readouterr().out


def test_one_end_of_the_capture_is_one_finding(
        cut_at_poll: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """It read two capture_ended_early warnings for the one end: "The capture ended 40.8
    ms after the control connection ... carried DATA_GET_STATE, before the answer ..."
    and "The capture stopped before the backup's halt was reported ..."."""
    document = json.loads(_out(["analyze", *CONFIG, str(cut_at_poll), "--format", "json"],
                               capsys, monkeypatch))
    [early] = [f for f in document["findings"] if f["code"] == "capture_ended_early"]
    assert early["uid"] == "C1" and 2142 in early["frames"] and 16 in early["frames"]
    message = early["message"]
    assert message.startswith("The capture stopped before the backup's halt was reported")
    assert (" after its request DATA_GET_STATE (frame 2142), before the answer came (an "
            "NDMP peer answers at once; 30 s of silence would show it stopped): whether it "
            "came cannot be seen.") in message
    assert "at least 30 s after the last NDMP message" in early["fix"]
    assert document["verdict"] == "inconclusive"


def test_the_connections_table_names_the_session_apart_from_the_state(
        cut_at_poll: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The control connection, still open (Zeek state S1), read "S1 ... control S1":
    one token, two meanings in a row. The session is "session 1" in the text and HTML
    tables; JSON keeps the id S1."""
    table = _out(["connections", *CONFIG, str(cut_at_poll)], capsys, monkeypatch)
    [row] = [line for line in table.splitlines() if " C1 " in line]
    assert " S1 " in row and "control of session 1" in row
    assert len(re.findall(r"\bS1\b", row)) == 1, row  # the state's only
    [data] = [line for line in table.splitlines() if " C2 " in line]
    assert "data of session 1" in data
    document = json.loads(_out(["connections", *CONFIG, str(cut_at_poll), "--format",
                                "json"], capsys, monkeypatch))
    assert [(c["role"], c["session"], c["conn_state"]) for c in document["connections"]][0] \
        == ("control", "S1", "S1")
    html = tmp_path / "cut.html"
    _out(["analyze", *CONFIG, str(cut_at_poll), "--html", str(html)], capsys, monkeypatch)
    page = html.read_text()
    [cells] = [line for line in page.splitlines() if line.startswith("<tr><td>C1</td>")]
    assert "<td>control</td><td><a href=\"#session-S1\">session 1</a></td>" in cells


# A byte figure written without separators ("2036312 B"), or in the other unit
# ("1,448 bytes"): each read as the report's other style (newuser60).
_UNSEPARATED = re.compile(r"(?<![\d,.])\d{4,} (B|bytes)\b")
_BYTES_WORD = re.compile(r"\d bytes of TCP payload|\d bytes (more|were|are) ")


def test_one_style_of_byte_figure_and_which_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """v4-backup without the agent's 100th data segment (frame 142): capture_loss read
    "1,448 bytes ... of the 2,039,096 bytes it saw sent or acknowledged" beside step 4's
    "2036312 B ... 2037760 B in all": two styles, and two totals of one stream with
    nothing saying which count each is."""
    capture = tmp_path / "without142.pcap"
    subprocess.run(["editcap", str(NDMJOB / "v4-backup.pcap"), str(capture), "142"],
                   check=True, capture_output=True)
    html = tmp_path / "report.html"
    text = _out(["analyze", *CONFIG, str(capture), "--html", str(html)], capsys,
                monkeypatch)
    document = json.loads(_out(["analyze", *CONFIG, str(capture), "--format", "json"],
                               capsys, monkeypatch))
    [loss] = [f for f in document["findings"] if f["code"] == "capture_loss"]
    assert loss["message"].startswith(
        "The capture missed 1,448 B of TCP payload in 1 gap (at least as many segments) "
        "across 1 connection (0.071% of 2,039,096 B, the TCP payload of every packet "
        "captured (resends included, as tshark sums it) and the bytes missed)")
    [step] = [s for s in document["sessions"][0]["steps"] if s["step"] == 4]
    assert step["detail"].startswith(
        "2,036,312 B agent -> media server (backup) over 1 data connection, and 1,448 B "
        "more that the capture lacks and the media server acknowledged (segments the "
        "sniffer missed: capture_loss; 2,037,760 B in all, each byte once)")
    words = [f["message"] for f in document["findings"]] + [
        s["detail"] for s in document["sessions"][0]["steps"]]
    for said in [*words, text, html.read_text()]:
        assert not _UNSEPARATED.search(said) and not _BYTES_WORD.search(said), said
    data = [c for c in document["connections"] if c["role"] == "data"]
    assert data[0]["orig_bytes"] == 2036312  # JSON keeps the integers

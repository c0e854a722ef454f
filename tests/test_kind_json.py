"""`sessions[].kind` of a capture cut short: the JSON says what the text says (new-user
trial of session 53: a capture stopped early read "kind unknown" or "backup or restore"
in the text, while the JSON's `kind`, which keeps the contract's three values, said
"browse" or "backup" alone). `kind_known`, `kind_candidates` and `kind_text` carry the
text's reading (flowcheck.model.session.Session.kind_words). Cut here with editcap from
the stored ndmjob v4 backup: stopped after the control connection's opening, after the
announcement (no DATA_START_* nor data), and whole."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import pytest
from cli_json import run_json

from flowcheck.cli.main import run

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
CONFIG = str(NDMJOB / "flowcheck.toml")


def _text(capture: Path) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run(["analyze", "--config", CONFIG, "--no-ladder", str(capture)])
    return printed.getvalue()


@pytest.mark.parametrize(("frames", "kind", "known", "candidates", "words"), [
    (6, "browse", False, ["backup", "restore", "browse"], "kind unknown (the capture ended "),
    (14, "backup", False, ["backup", "restore"], "backup or restore (no DATA_START_* or data "
                                                 "in the capture to tell which; its "
                                                 "DATA_CONNECT names no direction"),
    (None, "backup", True, ["backup"], "backup"),
])
def test_the_json_kind_says_what_the_text_says(tmp_path: Path, frames: int | None, kind: str,
                                               known: bool, candidates: list[str],
                                               words: str) -> None:
    capture = NDMJOB / "v4-backup.pcap"
    if frames is not None:
        cut = tmp_path / f"first-{frames}.pcap"
        subprocess.run(["editcap", "-r", str(capture), str(cut), f"1-{frames}"], check=True)
        capture = cut
    document = run_json("analyze", "--config", CONFIG, str(capture), "--format", "json")
    (session,) = document["sessions"]
    assert session["kind"] == kind  # the contract's value, by its documented rule
    assert session["kind_known"] is known
    assert session["kind_candidates"] == candidates
    assert session["kind_text"].startswith(words)
    assert f"Session S1: {session['kind_text']}, NDMP v4" in " ".join(_text(capture).split())


def test_a_job_stopped_at_a_missing_callback_is_browse_by_the_documented_rule() -> None:
    """field38-matrix/callback-dropped-agent-egress: the callback (step 2) never in the
    capture and the job stopped: the text says "kind unknown (the job stopped after step
    2 was missing, ...)", the JSON and regress's summary `browse` (contract.md: backup,
    restore or browse, no unknown). The text keeps its hedge (it cannot say "browse":
    the job stopped before anything showed one) and docs/json.md's `kind` names this case
    with `kind_known` false; docs/cli.md says regress's summary stores the JSON's kind."""
    folder = NDMJOB.parent / "field38-matrix"
    capture = folder / "callback-dropped-agent-egress.pcap"
    document = run_json("analyze", "--config", str(folder / "callback-dropped-agent-egress.toml"),
                        str(capture), "--format", "json")
    (session,) = document["sessions"]
    assert session["steps"][1]["status"] == "missing"
    assert (session["kind"], session["kind_known"]) == ("browse", False)
    assert session["kind_text"].startswith("kind unknown (the job stopped after step 2 was "
                                           "missing")
    docs = NDMJOB.parent.parent / "docs"
    kind_row = next(line for line in (docs / "json.md").read_text().splitlines()
                    if line.startswith("| `kind` |"))
    assert "'not reached: the job stopped after step 2 was missing'" in kind_row
    assert "`regress`'s summary stores `browse`" in kind_row
    assert "`browse` where the text says \"kind unknown\"" in " ".join(
        (docs / "cli.md").read_text().split())

"""A new user's trial of the error lines (cliedges): each says what is wrong in the words
of what the user wrote (a tcpdump filter, a TOML file, a pipe), exit 2 as before; and
the escape sequences of the progress line on a terminal (NO_COLOR, TERM=dumb)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

SGR = re.compile(rb"\x1b\[[0-9;]*m")  # a colour or a style (bold, dim)
CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "lab-ring" / "ring.pcap0"


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("flowcheck: error: ") and err.count("\n") == 1
    return err.removeprefix("flowcheck: error: ").rstrip("\n")


@pytest.mark.parametrize(("expression", "said"), [
    # Was: "cannot read ' & 2 != 0'".
    ("tcp[13] & 2 != 0", "byte-offset expressions (proto[offset]) are not supported"),
    ("tcp[tcpflags] & tcp-syn != 0", "byte-offset expressions (proto[offset]) are not "
                                     "supported"),
    ("port 22 & 3", "arithmetic and comparisons (&, |, =, <, >) are not supported"),
])
def test_tcpdump_byte_offsets_and_arithmetic_are_named(
        expression: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(["connections", str(CAPTURE), "--filter", expression], capsys)
    assert said in message
    assert "host, net, port, portrange" in message  # and what is supported


def test_a_link_layer_address_is_not_kept_per_connection(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Was: "flowcheck's connections are TCP, so it would select none" (the wrong reason).
    message = _error(["connections", str(CAPTURE), "--filter",
                      "ether host aa:bb:cc:dd:ee:ff"], capsys)
    assert "link-layer (MAC) addresses are not kept per connection" in message
    assert "TCP" not in message


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flowcheck-test.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("text", "said"), [
    ("resources = true\n", "resources: true is not a whole number"),  # was: True
    ("port_hold_seconds = false\n", "port_hold_seconds: false is not a number of seconds"),
    ('media_range = [true, "5001-5100"]\n', "media_range: true is not a port or LO-HI range"),
    ("port_hold_seconds = nan\n", "port_hold_seconds: nan is not a finite number of seconds"),
])
def test_toml_values_are_shown_in_tomls_spelling(
        text: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, text)
    assert _error(["analyze", str(CAPTURE), "--config", config], capsys) == \
        f"{said} (in {config})"


@pytest.mark.parametrize("text", ["[flowcheck]\nresources = 2\n[other]\nx = 1\n",
                                  "[other]\nx = 1\n"])
def test_another_table_is_not_a_flowcheck_setting(
        text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Was: "settings both at the top level (other) and under [flowcheck]".
    config = _config(tmp_path, text)
    message = _error(["analyze", str(CAPTURE), "--config", config], capsys)
    assert "a table [other] is not a flowcheck setting" in message
    assert "both at the top level" not in message


def test_an_unknown_key_suggests_the_nearest(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, 'media_rnage = "5001-5100"\n')
    assert _error(["analyze", str(CAPTURE), "--config", config], capsys) == \
        f"unknown configuration key 'media_rnage' in {config}: did you mean media_range?"


def test_an_unknown_key_far_from_any_suggests_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "colour = 1\n")
    assert _error(["analyze", str(CAPTURE), "--config", config], capsys) == \
        f"unknown configuration key 'colour' in {config}"


def test_crosscheck_of_standard_input_says_it_cannot_be_read_twice() -> None:
    # Was: the advice for a ring directory (merge with mergecap).
    with CAPTURE.open("rb") as capture:
        result = subprocess.run([sys.executable, "-m", "flowcheck", "crosscheck", "-"],
                                stdin=capture, capture_output=True, text=True, check=False,
                                timeout=120)
    assert result.returncode == 2
    assert "standard input cannot be read twice" in result.stderr
    assert "save it to a file" in result.stderr and "mergecap" not in result.stderr


def _on_a_terminal(env: dict[str, str]) -> bytes:
    """What `analyze` writes to its terminal's standard error (script(1) gives it one);
    the report goes to /dev/null."""
    command = (f"{sys.executable} -m flowcheck analyze {CAPTURE} --all-sessions "
               ">/dev/null")
    result = subprocess.run(["script", "-qfec", command, "/dev/null"], capture_output=True,
                            check=False, timeout=120,
                            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode in (0, 1, 5), result.stdout  # a verdict's code
    return result.stdout


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script (util-linux)")
def test_no_color_progress_line_has_no_colour_and_term_dumb_no_escape() -> None:
    """NO_COLOR (no-color.org) asks for no colour: none comes (no SGR sequence); the
    progress line's cursor control stays, which the standard leaves alone. TERM=dumb is
    how to ask for no escape sequence at all: rich draws no progress line then."""
    coloured = _on_a_terminal({"NO_COLOR": "1", "TERM": "xterm-256color"})
    assert b"reading" in coloured  # the progress line was drawn
    assert b"\x1b[?25l" in coloured and not SGR.search(coloured)
    assert b"\x1b" not in _on_a_terminal({"TERM": "dumb"})

"""`live --write -`: the capture as a pcap stream on standard output (`| wireshark -k -i
-`), the findings and the report on standard error (cliedges; was a file named `-`). On
the loopback interface (CI runs as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_json import run_json
from live_process import (
    FIN,
    ended,
    ended_if_failing,
    send_on_loopback,
    wait_until_listening,
    wait_until_written,
)

LIVE = [sys.executable, "-m", "flowcheck", "live", "--interface", "lo"]
PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
              b"\xa1\xb2\x3c\x4d")


@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_the_capture_goes_to_standard_output_and_the_report_to_standard_error(
        sniffer: str, tmp_path: Path) -> None:
    saved = tmp_path / "stdout.pcap"  # standard output redirected to a file: `> saved`
    with saved.open("wb") as stdout:
        process = subprocess.Popen([*LIVE, "--duration", "120", "--write", "-", "--sniffer",
                                    sniffer, "--format", "json"], stdout=stdout,
                                   stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                                   start_new_session=True)
        with ended_if_failing(process):
            wait_until_listening(process, saved)
            port = send_on_loopback(5000)
            # Stopped as `kill` stops it once its copy holds the listener's FIN (the
            # --duration timer calls the same stop; 120 s only ends a failed test's run).
            wait_until_written(process, saved, port, FIN)
        process.terminate()
        code, _, err = ended(process)
    assert code in (0, 1, 5), err  # a verdict's code: no error
    events = [json.loads(line) for line in err.splitlines()]
    assert events[-1]["event"] == "report"
    assert any(c["resp_p"] == port for c in events[-1]["connections"])
    assert saved.read_bytes()[:4] in PCAP_MAGIC
    listing = run_json("connections", str(saved), "--format", "json", exit_codes=(0,))
    assert any(c["resp_p"] == port for c in listing["connections"])
    assert not (tmp_path / "-").exists()


def test_its_reader_leaving_stops_the_capture_with_the_verdicts_code(
        tmp_path: Path) -> None:
    # Wireshark closed: as `live ... | head`, the capture stops, the report is made (on
    # standard error) and the verdict gives the exit code, no error for the broken pipe.
    process = subprocess.Popen([*LIVE, "--duration", "100", "--write", "-", "--format",
                                "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tmp_path, start_new_session=True)
    assert process.stdout is not None
    header = process.stdout.read(24)  # the pcap file header: the sniffer listens
    assert header[:4] in PCAP_MAGIC
    started = time.monotonic()
    send_on_loopback(5000)
    process.stdout.close()  # the reader leaves
    code, _, err = ended(process)  # type: ignore[arg-type]
    assert time.monotonic() - started < 60  # not the 100 s of --duration
    text = err.decode()
    assert code in (0, 1, 5), text
    assert "flowcheck: error" not in text
    assert json.loads(text.splitlines()[-1])["event"] == "report"


def test_a_terminal_is_refused_as_standard_output(tmp_path: Path) -> None:
    primary, secondary = os.openpty()
    try:
        result = subprocess.run([*LIVE, "--duration", "30", "--write", "-"],
                                stdout=secondary, stderr=subprocess.PIPE, text=True,
                                check=False, timeout=25, cwd=tmp_path)
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 2
    assert result.stderr == ("flowcheck: error: --write -: standard output is a terminal: "
                             "pipe it to a reader (| wireshark -k -i -) or give a file name\n")
    assert not (tmp_path / "-").exists()

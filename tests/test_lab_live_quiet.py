"""`flowcheck live` in the lab: a job that fails, then a silent link (new-user trial 7).

A's nftables drops the data connection's SYNs (the data-port-dropped scenario); the
media server gives up, the job ends, and no packet follows. `live` must print
data_unanswered while it is still capturing, not only when it is stopped.

Root only (CI runs as root). The test builds and removes its own namespaces.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from child_signals import sigint_as_default
from live_process import wait_until_listening

from flowcheck.lab.capture import run_backup_exec, write_sidecar
from flowcheck.lab.netns import apply_nft, lab_network
from flowcheck.lab.scenarios import SCENARIOS
from flowcheck.sources import iter_batches

pytestmark = pytest.mark.lab

WAIT = 120.0  # seconds for the line: generous; the finding needs about 11 s of silence


def _lines(stream, into: queue.Queue) -> None:  # noqa: ANN001
    for line in stream:
        into.put((time.time(), line))


def _last_packet_ts(path: Path) -> float:
    return max(float(batch.ts.max()) for batch in iter_batches([str(path)]))


def test_live_prints_a_dropped_data_connection_while_the_link_is_silent(
        tmp_path: Path) -> None:
    scenario = SCENARIOS["data-port-dropped"]
    config, saved = tmp_path / "lab.toml", tmp_path / "live.pcap"
    write_sidecar(config, scenario, saved)
    lines: queue.Queue = queue.Queue()
    pump = None
    with lab_network(scenario.media_range, scenario.agent_range) as lab:
        apply_nft(lab, "a", scenario.nft_agent)
        # TCP only: the namespaces' IPv6 router solicitations would be packets after the
        # job, and each packet runs the checks anyway.
        live = subprocess.Popen(
            lab.exec_argv("m", [sys.executable, "-m", "flowcheck", "live", "-i", "m0",
                                "--config", str(config), "--format", "json",
                                "--capture-filter", "tcp", "--write", str(saved)]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
            preexec_fn=sigint_as_default)  # stopped by SIGINT however pytest was started
        try:
            assert live.stderr is not None and live.stdout is not None
            wait_until_listening(live, saved)
            pump = threading.Thread(target=_lines, args=(live.stdout, lines), daemon=True)
            pump.start()
            codes, log = run_backup_exec(lab, scenario)
            assert codes == [1], log[-500:]  # the media server reports the failed resource
            deadline = time.monotonic() + WAIT
            seen_at = None
            while seen_at is None and time.monotonic() < deadline:
                try:
                    at, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if json.loads(line).get("code") == "data_unanswered":
                    seen_at = at
            capturing = live.poll() is None
        finally:
            live.send_signal(signal.SIGINT)
            try:
                code = live.wait(timeout=120)
            finally:
                if live.poll() is None:  # it did not end (the test failed): kill the group
                    os.killpg(live.pid, signal.SIGKILL)
                    live.wait()
            if pump is not None:
                pump.join(timeout=30)
            err = live.stderr.read() if live.stderr is not None else ""
    assert seen_at is not None, "data_unanswered was not printed while live ran"
    assert capturing
    # The line came after the capture's last packet: from the silence, not a packet.
    assert _last_packet_ts(saved) < seen_at
    assert code == 1, err
    report = json.loads(list(lines.queue)[-1][1])
    assert report["event"] == "report" and report["verdict"] == "fail"
    assert "data_unanswered" in {f["code"] for f in report["findings"]}

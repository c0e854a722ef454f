"""The body of `flowcheck live` (sniff an interface and verify while the job runs), without
typer: flowcheck.cli.live declares its options for typer and calls run_live, and the
command line's own parsing (flowcheck.cli.direct_live) calls it without typer.

Light to import: the standard library and flowcheck's light modules; the sniffer, the
verifier and the reports are loaded when it runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from flowcheck.cli.output import (
    discard_stdout,
    make_console,
    reader_left,
    report_output,
    stdout_reader_gone,
    watch_reader,
)
from flowcheck.cli.settings import (
    OutputFormat,
    check_write_file,
    refuse_stdout,
    stderr_is_terminal,
)
from flowcheck.dispositions import catch
from flowcheck.errors import ExitStatus, UsageError, verdict_status

if TYPE_CHECKING:
    from flowcheck.config import Config

# Each stops the capture as Ctrl-C does (final report, --write and --html complete, the
# verdict's exit code): `timeout` and `systemctl stop`/`docker stop` send SIGTERM, a
# closed terminal or `kill -HUP` SIGHUP. One ignored when live started stays ignored
# (flowcheck.dispositions): `nohup flowcheck live ... &` outlives its terminal, and a
# script's `flowcheck live ... &` (SIGINT ignored) a Ctrl-C at the terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Seconds of wall time without a packet after which the early checks run anyway.
IDLE_TICK = 1.0


class Sniffer(StrEnum):
    tcpdump = "tcpdump"
    dumpcap = "dumpcap"
    scapy = "scapy"


def run_live(config: Config, interface: str, output: OutputFormat = OutputFormat.table,
             write: Path | None = None, duration: float | None = None,
             capture_filter: str | None = None, buffer: int | None = None,
             html: Path | None = None, sniffer: Sniffer | None = None) -> int:
    """Sniff `interface` and verify live: findings as soon as they are certain, then the
    report; the verdict's exit code (ExitStatus). The options as `flowcheck live` takes
    them (docs/cli.md): `write` a pcap copy (`-`: standard output), `duration` seconds,
    `buffer` MiB (None: sources.live.BUFFER_MIB), `html` the report's file.

    Raises UsageError for a value out of range or an output file that cannot be written
    (exit 2), FlowcheckError from the sniffer (an interface missing: exit 3)."""
    from flowcheck.config import read_seconds

    if duration is not None:
        duration = read_seconds("--duration", duration)
        if not duration >= 0.1:  # checked here, not by min=: its help read "[x>=0.1]"
            raise UsageError(f"--duration: {duration:g} s is less than 0.1 s")
    if buffer is not None and buffer < 1:
        raise UsageError(f"--buffer: {buffer} MiB is less than 1 MiB")
    if duration is not None and duration > threading.TIMEOUT_MAX:
        raise UsageError(f"--duration: {duration:g} s is longer than a timer can wait")
    from flowcheck.live import LiveVerifier
    from flowcheck.sources.live import BUFFER_MIB, open_live
    from flowcheck.sources.live_drain import drain

    refuse_stdout(html, "--html", "give a file name (--html report.html)")
    # `--write -`: the capture is the document on standard output (`| wireshark -k -i
    # -`), so the findings and the report go to standard error, as `regress --junit -`
    # puts its case lines there; never pcap bytes onto a terminal.
    piped = write is not None and str(write) == "-"
    if piped and sys.stdout.isatty():
        raise UsageError("--write -: standard output is a terminal: pipe it to a reader "
                         "(| wireshark -k -i -) or give a file name")
    report = sys.stderr if piped else sys.stdout
    # Before the capture, not after it: the report would be lost. A --write path that
    # cannot be written is a usage error (exit 2) as --html's is: an output, not input.
    from flowcheck.report.files import check_report_file

    if html is not None:
        check_report_file(html, "--html")
    if write is not None and not piped:
        check_write_file(write)
    # A quiet link is checked too, about once a second: a failed job followed by silence
    # is printed once its waiting time has passed, not at the end.
    verifier = LiveVerifier(config, tick=IDLE_TICK)
    capture = open_live(interface, capture_filter=capture_filter,
                        write=str(write) if write else None,
                        sniffer=str(sniffer) if sniffer else None,
                        buffer_mib=buffer if buffer is not None else BUFFER_MIB,
                        tunnel_ports=(*config.vxlan_ports, *config.geneve_ports))
    hurry = threading.Event()  # end the drain now: a second Ctrl-C, or the reading ended
    stoppers: list[threading.Thread] = []
    # Taken once, never given back, without waiting: the --duration timer, the reader
    # watcher and a signal handler (in the main thread, perhaps inside stop_capture
    # itself) may ask to stop at once, and one drain-then-terminate thread is started.
    stopping = threading.Lock()

    def drain_then_stop(stopped_at: float) -> None:
        # The sniffer runs in a session of its own (sources.live): a terminal's Ctrl-C
        # reaches flowcheck only. It hands over what it had received (the reader catches
        # up, sources.live_drain), then it flushes and exits: the reader sees the end.
        drain(capture.stdout.fileno(), verifier.last_read, stopped_at, hurry)
        capture.terminate()

    def stop_capture(*_: object) -> None:
        # Not in a signal handler's own frame: the main thread reads the sniffer's pipe,
        # and scapy's stop waits for its sniffer thread, which may be blocked writing
        # into that full pipe (a burst then Ctrl-C hung live).
        if stopping.acquire(blocking=False):
            stopper = threading.Thread(target=drain_then_stop, args=(time.time(),),
                                       daemon=True)
            stoppers.append(stopper)
            stopper.start()

    def on_signal(number: int, _frame: object) -> None:
        if number == signal.SIGINT and stopping.locked():  # Ctrl-C again: no more waiting
            hurry.set()
        stop_capture()

    previous = {number: catch(number, on_signal) for number in STOP_SIGNALS}
    timer = threading.Timer(duration, stop_capture) if duration else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    if stderr_is_terminal():
        # For a person, as the progress bar of the other commands: capturing starts now.
        # Never otherwise: standard error carries errors only (`flowcheck: error: ...`),
        # and a CI wrapper may fail a job on any line there (trial 16). A script waits
        # for --write's file header instead (docs/cli.md, `live`).
        print(capture.banner.strip(), file=sys.stderr)
        if previous[signal.SIGINT] is signal.SIG_IGN:
            # Started as a script's `flowcheck live ... &`: Ctrl-C does not reach it
            # (flowcheck.dispositions), which a person at this terminal cannot guess.
            print(f"SIGINT is ignored in this process (started in the background by a "
                  f"script): stop it with `kill {os.getpid()}` (SIGTERM) or --duration",
                  file=sys.stderr)
    # The reader leaving (`live ... | head`) stops the capture like Ctrl-C does: the
    # final report is made (to /dev/null, --html and --write as usual) and gives the
    # exit code.
    reader_gone = threading.Event()

    def reader_left_now() -> None:
        reader_gone.set()
        stop_capture()

    watch_reader(reader_left_now)
    try:
        analysis = None
        # A local sniffer stamps packets with the system clock: time.time() at the end
        # is when the capture stopped.
        for event in verifier.run(capture.stdout, clock=time.time,
                                  kernel_drops=capture.kernel_drops,
                                  capture_filter=capture.capture_filter,
                                  interface=interface,
                                  sniffer=(capture.tool, capture.buffer_mib),
                                  stop_cut=getattr(capture, "stop_cut", None)):
            if event.kind == "finding":
                try:
                    _show_finding(event.finding, output, report)
                except OSError as exc:  # the reader left before the watcher saw it
                    if not reader_left(exc):
                        raise
                    discard_stdout()
                    stop_capture()
            else:
                analysis = event.analysis
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if timer is not None:
            timer.cancel()
        hurry.set()  # the pipe has ended (or reading failed): nothing more to wait for
        for stopper in stoppers:
            stopper.join(timeout=30)
        capture.close()
    assert analysis is not None
    html_error: UsageError | None = None
    if html is not None:
        from flowcheck.report.html import write_html

        try:
            write_html(analysis, html)
        except UsageError as exc:  # raised once the report is printed: not lost for it
            html_error = exc
    if output is OutputFormat.json:
        from flowcheck.report.json_doc import analysis_document, write_json

        document = analysis_document(analysis)
        with report_output():
            write_json({"event": "report", **document}, report, compact=True)
    else:
        from flowcheck.report.analyze import render_analysis

        with report_output():  # rich handles EPIPE itself, not a closed terminal's EIO
            render_analysis(analysis, make_console(stderr=piped))
    if piped and (reader_gone.is_set() or stdout_reader_gone()):
        # `--write -`'s reader left (Wireshark closed): the capture stopped as on Ctrl-C,
        # with its verdict's code, as `live ... | head` ends (its EPIPE is no error).
        capture_error = None
    else:
        capture_error = capture.write_error
    if capture_error is not None:
        # The capture stopped there: the report covers what came before; exit 2 as for a
        # --write or --html file refused at the start, whatever the verdict (docs/cli.md).
        print(f"flowcheck: error: {capture_error}", file=sys.stderr)
        if html_error is not None:
            print(f"flowcheck: error: {html_error}", file=sys.stderr)
        return ExitStatus.USAGE
    if html_error is not None:
        raise html_error
    return verdict_status(analysis.verdict)


def _show_finding(finding, output: OutputFormat,  # noqa: ANN001
                  stream: TextIO | None = None) -> None:
    """One finding as it becomes certain, on `stream` (standard output by default;
    standard error with `--write -`)."""
    stream = stream or sys.stdout
    from flowcheck.model import Severity

    if output is OutputFormat.json:
        from flowcheck.report.json_doc import write_json

        write_json({"event": "finding", **finding.as_dict()}, stream, compact=True)
    elif finding.severity != Severity.INFO:
        # Info findings wait for the final report's list (they change no verdict); the
        # JSON events have every finding.
        print(f"{str(finding.severity).upper()} {finding.code}: {finding.message}",
              file=stream, flush=True)
    stream.flush()

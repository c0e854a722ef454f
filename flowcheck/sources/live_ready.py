"""Waiting for a capture tool (tcpdump, dumpcap) to say it captures, and, when it ended
first, its reason in one line: an InputError (no such interface, permission denied), or
a UsageError for a capture filter libpcap rejects (flowcheck.sources.live starts it).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import time

from flowcheck.errors import InputError, UsageError
from flowcheck.sources.capture_filter import filter_error
from flowcheck.sources.live_write import PCAP_HEADER

READY_TIMEOUT = 15.0  # seconds to wait for the tool to report it is listening
_READY_WORDS = ("listening on", "capturing on")
# dumpcap's own words for a filter libpcap rejected: 'That string isn't a valid capture
# filter (REASON).'
_DUMPCAP_FILTER = re.compile(r"isn't a valid capture filter \((.*)\)")
_FILTER_MEANING = "invalid capture filter"
_ERRORS = (
    (("no such device", "there is no device", "doesn't exist", "does not exist"),
     "no such network interface"),
    (("permission", "operation not permitted", "not permitted"),
     "permission denied (run as root or give the capture tool CAP_NET_RAW)"),
    (("syntax error", "can't parse filter", "invalid filter"), _FILTER_MEANING),
)


def wait_until_listening(process: subprocess.Popen, tool: str, interface: str,
                         capture_filter: str) -> tuple[str, bytes]:
    """Wait until the tool captures; (its banner line, the output bytes read meanwhile).

    tcpdump says "listening on" once its socket is open. dumpcap says "Capturing on"
    before it opens the interface, then writes the pcap file header only once it has:
    the header is its sign (those bytes are handed back for the reader). A tool that
    exits first, or says nothing for READY_TIMEOUT seconds, is an InputError (a bad
    filter a UsageError) naming its reason in one line.
    """
    assert process.stdout is not None and process.stderr is not None
    err_fd, out_fd = process.stderr.fileno(), process.stdout.fileno()
    by_header = tool == "dumpcap"
    watched = [err_fd, out_fd] if by_header else [err_fd]
    text, head = b"", b""
    deadline = time.monotonic() + READY_TIMEOUT
    while err_fd in watched and time.monotonic() < deadline:
        ready, _, _ = select.select(watched, [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        if out_fd in ready:
            data = os.read(out_fd, PCAP_HEADER - len(head))
            if not data:  # it exited before it captured
                break
            head += data
            if len(head) == PCAP_HEADER:
                return _banner(tool, interface, text + _waiting(err_fd)), head
        if err_fd in ready:
            data = os.read(err_fd, 4096)
            if not data:
                watched.remove(err_fd)
            text += data
            lowered = text.decode(errors="replace").lower()
            if (not by_header and any(word in lowered for word in _READY_WORDS)
                    and b"\n" in text):
                return _banner(tool, interface, text), head
    process.kill()
    process.wait()
    text += process.stderr.read() or b""  # the rest of its reason: it has exited
    _raise_for(tool, interface, text.decode(errors="replace").strip(), capture_filter)
    raise AssertionError("unreachable")


def _waiting(fd: int) -> bytes:
    """What a pipe holds now, without waiting for more."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _banner(tool: str, interface: str, text: bytes) -> str:
    """The tool's "listening on"/"Capturing on" line, named after the tool."""
    lines = text.decode(errors="replace").strip().splitlines()
    said = [line for line in lines if any(word in line.lower() for word in _READY_WORDS)]
    line = said[-1] if said else f"capturing on {interface}"
    return line if line.startswith(f"{tool}:") else f"{tool}: {line}"


def _explain(tool: str, interface: str, message: str) -> str:
    lowered = message.lower()
    for words, meaning in _ERRORS:
        if any(word in lowered for word in words):
            return f"{tool} on {interface}: {meaning}"
    first_line = message.splitlines()[0] if message else "exited without capturing"
    return f"{tool} on {interface}: {first_line}"


def _raise_for(tool: str, interface: str, message: str, capture_filter: str) -> None:
    """The tool ended before it captured: a UsageError for a filter libpcap rejects (for
    a reason other than syntax too: a port above 65535, a VLAN ID above 4095, an unknown
    host), naming the tool's own reason; else an InputError, or a UsageError for a
    filter the tool's words call invalid."""
    reason = _filter_reason(tool, interface, message, capture_filter)
    if reason is not None:
        raise UsageError(f"{tool} on {interface}: invalid capture filter "
                         f"{capture_filter!r}: {reason}")
    explanation = _explain(tool, interface, message)
    if explanation.endswith(_FILTER_MEANING):
        raise UsageError(explanation)
    raise InputError(explanation)


def _filter_reason(tool: str, interface: str, message: str,
                   capture_filter: str) -> str | None:
    """Why the tool rejected the filter, in its words (dumpcap: the reason in its 'That
    string isn't a valid capture filter (...)'; tcpdump: its line naming libpcap's
    reason); None when the filter is not what failed. libpcap's own verdict decides for
    tcpdump, whose message does not say it is about the filter."""
    said = _DUMPCAP_FILTER.search(message)
    if said:
        return said.group(1)
    if not capture_filter:
        return None
    reason = filter_error(capture_filter, interface)
    if reason is None:
        return None
    lines = [line.removeprefix(f"{tool}: ").strip() for line in message.splitlines()]
    return next((line for line in lines if reason in line), reason)

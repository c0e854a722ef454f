"""Fixes for the capture tool the file came from, not only tcpdump's (trial 24 D11).

The fixes that change how the capture is taken name tcpdump's options (`tcpdump -s 0`
for the snap length, `tcpdump -B` for the kernel buffer). A file written on Windows
says which tool wrote it (pcapng's shb_userappl, flowcheck.sources.host_tools): pktmon,
netsh trace converted by etl2pcapng, or Wireshark's dumpcap, whose users need that
tool's own setting. The tool's sentence is added to each such fix.

Sources: Microsoft's pktmon command reference (`pktmon start --capture --pkt-size`, 128
bytes by default, 0 for whole packets), netsh trace's `packettruncatebytes`, Wireshark's
dumpcap manual (`-s`, `-B` in MiB).
"""

from __future__ import annotations

from dataclasses import replace

from flowcheck.model import CaptureInfo, Finding
from flowcheck.sources.host_tools import NETSH, PKTMON

# What each tool's users change, by the kind of fix: (snap length, kernel buffer).
_TOOL_WORDS = {
    PKTMON: ("pktmon keeps 128 bytes of each packet unless told: `pktmon start --capture "
             "--pkt-size 0` keeps them whole",
             "with pktmon, log fewer components (`pktmon start --capture --comp nics`) and "
             "filter on the backup hosts (`pktmon filter add -i ADDRESS`)"),
    NETSH: ("netsh trace cut the packets: start it without packettruncatebytes (`netsh "
            "trace start capture=yes`)",
            "with netsh trace, filter on the backup hosts (`netsh trace start capture=yes "
            "IPv4.Address=ADDRESS`) and give it a larger file (maxSize)"),
    "dumpcap": ("leave the snapshot length automatic (Wireshark's Capture Options; "
                "dumpcap -s 0)",
                "give it a bigger buffer (Wireshark's Capture Options, Buffer size; dumpcap "
                "-B 64, in MiB)"),
}
# The fixes that name tcpdump's own options: a fix that only mentions the snap length
# (an 802.11 capture's: a larger one does not help) is not about the tool's setting.
_SNAPLEN = ("tcpdump -s 0", "tcpdump -s 65535")
_BUFFER = ("tcpdump -B",)


def tool_of(captures: list[CaptureInfo]) -> str | None:
    """The one tool every file of the set says wrote it (PKTMON, NETSH, "dumpcap"); None
    when they do not all say the same, or a file does not say."""
    tools = set()
    for info in captures:
        # "Dumpcap (Wireshark) 4.2.2": the sniffer itself. Editcap, Mergecap and TShark
        # also say "(Wireshark)", but they rewrote a capture another tool took.
        application = (info.application or "").lower()
        tools.add(info.tool or ("dumpcap" if application.startswith("dumpcap") else None))
    return tools.pop() if len(tools) == 1 else None


def explain_for_tool(findings: list[Finding], captures: list[CaptureInfo]) -> list[Finding]:
    """The findings, those whose fix gives tcpdump's snap-length or buffer option with the
    capture tool's own way added (copies; the others as they were)."""
    tool = tool_of(captures)
    if tool is None:
        return findings
    snaplen, buffer = _TOOL_WORDS[tool]
    out = []
    for finding in findings:
        said = [words for words, marks in ((snaplen, _SNAPLEN), (buffer, _BUFFER))
                if any(mark in finding.fix for mark in marks)]
        if said:
            finding = replace(finding, fix=f"{finding.fix.rstrip('.')}. This file was "
                              f"written by {_NAMES[tool]}: " + "; ".join(said) + ".")
        out.append(finding)
    return out


_NAMES = {PKTMON: "pktmon (pktmon etl2pcap)", NETSH: "netsh trace (etl2pcapng)",
          "dumpcap": "Wireshark's dumpcap"}

"""Fixes that change how the capture is taken name the tool the file says wrote it
(trial 24 D11: pktmon and Wireshark users were told tcpdump -s 0 and tcpdump -B)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.model import CaptureInfo, Finding, Severity
from flowcheck.sources.host_tools import NETSH, PKTMON
from flowcheck.verify.tool_fixes import explain_for_tool, tool_of

SNAPLEN_FIX = "Capture with the full snap length: tcpdump -s 0, so the NDMP messages are whole."
BUFFER_FIX = "Give it a bigger kernel buffer (tcpdump -B 65536, in KiB)."


def _findings() -> list[Finding]:
    return [Finding("ndmp_partial", Severity.WARNING, "cut", SNAPLEN_FIX),
            Finding("capture_loss", Severity.WARNING, "lost", BUFFER_FIX),
            Finding("data_refused", Severity.ERROR, "refused", "Allow TCP from A to B.")]


@pytest.mark.parametrize(("info", "snaplen", "buffer"), [
    (CaptureInfo("p.pcapng", tool=PKTMON, application="PktMon etl2pcap"),
     "This file was written by pktmon (pktmon etl2pcap): pktmon keeps 128 bytes of each "
     "packet unless told: `pktmon start --capture --pkt-size 0` keeps them whole.",
     "with pktmon, log fewer components"),
    (CaptureInfo("n.pcapng", tool=NETSH), "netsh trace cut the packets: start it without "
     "packettruncatebytes", "with netsh trace, filter on the backup hosts"),
    (CaptureInfo("w.pcapng", application="Dumpcap (Wireshark) 4.2.2 (v4.2.2-0-g404592d3a4d1)"),
     "This file was written by Wireshark's dumpcap: leave the snapshot length automatic "
     "(Wireshark's Capture Options; dumpcap -s 0).", "dumpcap -B 64, in MiB"),
])
def test_a_windows_tool_s_file_gets_its_own_fix(info: CaptureInfo, snaplen: str,
                                                  buffer: str) -> None:
    partial, loss, refused = explain_for_tool(_findings(), [info])
    assert partial.fix.startswith(SNAPLEN_FIX) and snaplen in partial.fix
    assert loss.fix.startswith(BUFFER_FIX.rstrip(".")) and buffer in loss.fix
    assert refused.fix == "Allow TCP from A to B."  # not about the capture: as it was


def test_tcpdump_files_and_mixed_sets_keep_the_fix() -> None:
    tcpdump = CaptureInfo("t.pcap")
    pktmon = CaptureInfo("p.pcapng", tool=PKTMON)
    assert tool_of([tcpdump]) is None and tool_of([tcpdump, pktmon]) is None
    assert tool_of([pktmon, CaptureInfo("q.pcapng", tool=PKTMON)]) == PKTMON
    assert [f.fix for f in explain_for_tool(_findings(), [tcpdump, pktmon])] == [
        f.fix for f in _findings()]


def test_a_stored_dumpcap_capture_says_it_was_dumpcap() -> None:
    """captures/lab/clean-dumpcap.pcapng: written by the lab's dumpcap (its shb_userappl)."""
    from flowcheck.sources import iter_batches

    path = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-dumpcap.pcapng"
    reader = iter_batches([str(path)])
    for _ in reader:
        pass
    assert "dumpcap" in (reader.captures[0].application or "").lower()
    assert tool_of(reader.captures) == "dumpcap"


@pytest.mark.parametrize("application", ["Editcap (Wireshark) 4.0.17 (Git v4.0.17)",
                                         "Mergecap (Wireshark) 4.0.17", "TShark 4.0.17"])
def test_a_file_rewritten_by_wireshark_s_tools_names_no_sniffer(application: str) -> None:
    """Trial 25 D5: editcap, mergecap and tshark say "(Wireshark)" too, but they rewrote
    a capture another tool took (tcpdump's): no dumpcap advice."""
    info = CaptureInfo("cut.pcapng", application=application)
    assert tool_of([info]) is None
    assert [f.fix for f in explain_for_tool(_findings(), [info])] == [f.fix for f in _findings()]


def test_only_fixes_naming_tcpdump_s_options_get_the_tool_s() -> None:
    """Recheck N3: an 802.11 capture's fix says a larger snap length does not help; it got
    netsh trace's truncation advice."""
    wifi = Finding("no_control_session", Severity.WARNING, "802.11",
                   "Capture the job as Ethernet frames: a capture with a larger snap length "
                   "gives the same 802.11 frames.")
    [same] = explain_for_tool([wifi], [CaptureInfo("w.pcapng", tool=NETSH)])
    assert same.fix == wifi.fix


def test_dumpcap_s_wifi_adapter_name_is_no_netsh_trace() -> None:
    """Recheck N3: dumpcap on Windows names its Wi-Fi adapter "wifi:9", as etl2pcapng
    names its interfaces; the section header's application says dumpcap."""
    from flowcheck.sources.host_tools import HostTool

    tool = HostTool()
    tool.see_application("Dumpcap (Wireshark) 4.2.2 (v4.2.2-0-g404592d3a4d1)")
    tool.see_interface("wifi:9", None)
    assert tool.name is None
    converted = HostTool()
    converted.see_interface("wifi:9", None)  # etl2pcapng's file with no application said
    assert converted.name == NETSH


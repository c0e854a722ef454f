"""Review 54h: a stall whose packets the receiver's own ingress hook dropped.

captures/review54h (README.md there): the media server's nft netdev table drops at its
interface's ingress hook every packet from the NDMP port but a SYN; `tcpdump -i any` on
it holds the agent's greeting arriving six times, never acknowledged: a packet socket
sees a frame before the netdev ingress chain and a tc ingress filter act. control_stalled
rightly says "its own firewall dropped them" (verify.opening_stall), but its fix named
the input chain alone, whose accept of established connections leaves such a drop in
place (no connection state is known at that hook).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "review54h"
NETDEV = HERE / "control-greeting-dropped-by-media-netdev-ingress-any-on-media-sll.pcap.gz"


def test_a_stall_on_the_capture_host_names_its_hooks_before_the_input_chain() -> None:
    analysis = shared_analysis(NETDEV)
    assert analysis.verdict == "fail"
    [stalled] = [f for f in analysis.findings if f.code == "control_stalled"]
    assert ("This capture was taken on 10.54.30.1 (its Linux cooked headers mark"
            in stalled.message)
    assert "so its own firewall dropped them, not a device between them." in stalled.message
    assert stalled.fix.startswith("On 10.54.30.1 (its input chain), where this capture was "
                                  "taken and the packets arrived, accept established")
    assert ("whatever its flags. A drop ahead of the input chain acts after a capture too "
            "(an nft netdev table's ingress chain, a tc ingress filter: nft list ruleset; tc "
            "filter show dev IFACE ingress), where no connection state is known: allow the "
            "same packets there whatever their flags." in stalled.fix)

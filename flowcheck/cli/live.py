"""`flowcheck live`: its options declared for typer (its --help, and any command line
flowcheck.cli.direct leaves to typer); the body is flowcheck.cli.live_run, which the
common command lines reach without typer (flowcheck.cli.direct_live)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowcheck.cli import live_run
from flowcheck.cli.helptext import command_settings
from flowcheck.cli.live_run import Sniffer
from flowcheck.cli.options import Format, OutputFormat, with_config

if TYPE_CHECKING:  # not loaded to register the command (its --help)
    from flowcheck.config import Config


def live(
    config: "Config",
    interface: Annotated[str, typer.Option("--interface", "-i", metavar="IFACE",
                                           help="Interface to sniff (needs root or CAP_NET_RAW).")],
    output: Format = OutputFormat.table,
    write: Annotated[Path | None, typer.Option(
        "--write", metavar="FILE", dir_okay=False,
        help="Also save the traffic to this pcap file; - for standard output (| "
             "wireshark -k -i -), the findings and the report then on standard "
             "error.")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", metavar="SECONDS",
        help=("Stop after this many seconds, at least 0.1 [default: until Ctrl-C or "
              "SIGTERM; started by a script as `live ... &`, Ctrl-C is ignored: "
              "use kill]."))] = None,
    capture_filter: Annotated[str | None, typer.Option(
        "--capture-filter", metavar="BPF", show_default=False,
        help="Capture filter for the sniffer (\"\" for none) [default: TCP, ICMP and the "
             "tunnels flowcheck decodes (VXLAN, Geneve, GRE/ERSPAN, IP in IP, also on "
             "--vxlan-port/--geneve-port), ARP on Ethernet, also in 802.1Q/QinQ frames].")] = None,
    # None: sources.live.BUFFER_MIB (not imported here: the sources pull in numpy).
    buffer: Annotated[int | None, typer.Option(
        "--buffer", metavar="MIB", show_default=False,
        help="The sniffer's kernel buffer, MiB, at least 1 (more rides out longer "
             "bursts) [default: 32].")] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", dir_okay=False,
        help="At the end, write the self-contained HTML report (with the ladders).")] = None,
    sniffer: Annotated[Sniffer | None, typer.Option(
        "--sniffer", metavar="tcpdump|dumpcap|scapy",
        help="Capture tool [default: tcpdump, else dumpcap, else scapy "
                          "(slower)].")] = None,
) -> int:
    """Sniff and verify live: findings as soon as they are certain, then the report."""
    return live_run.run_live(config, interface, output, write, duration, capture_filter,
                             buffer, html, sniffer)


def register(app: typer.Typer) -> None:
    app.command(**command_settings("live"))(with_config(live))

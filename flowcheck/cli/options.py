"""Options shared by every command (contract: same names, flags win over --config)."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, TypeVar, get_args

import typer

# Re-exported: the commands' modules import them from here.
from flowcheck.cli.settings import (  # noqa: F401
    OutputFormat,
    check_captures,
    resolve_config,
    stderr_is_terminal,
)

T = TypeVar("T")


def _config_option(without: str) -> object:
    """`--config FILE`, its help saying what the command reads without it (`without`)."""
    return Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE",
                     help=f"TOML file with the settings below (flags win). Without it: "
                     f"{without}.", dir_okay=False, rich_help_panel="Configuration"),
    ]


# A command that reads CAPTURE... (connections, ndmp, analyze) takes a ring directory's
# own flowcheck.toml (cli.settings.capture_set_config); the others (crosscheck, one file;
# live, firewall, plan, no capture) read only ./flowcheck.toml (newuser54: firewall's
# help named a ring directory it never reads).
ConfigFile = _config_option("a ring directory's own flowcheck.toml, else ./flowcheck.toml "
                            "if present")
ConfigFileNoRing = _config_option("./flowcheck.toml if present")
# Numbers are taken as text and read by flowcheck.config, as the same keys in the file
# are: click's int() and float() take "+5", "5_000", "nan" and "inf".
NdmpPort = Annotated[str | None, typer.Option(
    "--ndmp-port", metavar="PORT", help="Agent's NDMP listening port [default: 10000].",
    rich_help_panel="Configuration")]
MediaRange = Annotated[list[str] | None, typer.Option(
    "--media-range", metavar="LO-HI",
    help="Media server dynamic port range(s), repeatable or comma-separated "
         "[default: 1025-65535].", rich_help_panel="Configuration")]
AgentRange = Annotated[list[str] | None, typer.Option(
    "--agent-range", metavar="LO-HI",
    help="Remote agent dynamic port range(s) [default: 1025-65535].",
    rich_help_panel="Configuration")]
MediaServer = Annotated[list[str] | None, typer.Option(
    "--media-server", metavar="IP", help="Media server address (repeatable).",
    rich_help_panel="Configuration")]
RemoteAgent = Annotated[list[str] | None, typer.Option(
    "--remote-agent", metavar="IP", help="Remote agent address (repeatable).",
    rich_help_panel="Configuration")]
BackupNetwork = Annotated[list[str] | None, typer.Option(
    "--backup-network", metavar="CIDR",
    help="Network chosen with 'Backup To Network Card': session traffic must stay in it "
         "(repeatable or comma-separated: a dual-stack NIC's IPv4 network and IPv6 "
         "prefix).", rich_help_panel="Configuration")]
PortHold = Annotated[str | None, typer.Option(
    "--port-hold", metavar="SECONDS",
    help="Seconds a port stays held after a session [default: 60].",
    rich_help_panel="Configuration")]
Resources = Annotated[str | None, typer.Option(
    "--resources", metavar="N", help="Resources the job backs up (drives, stores, ...).",
    rich_help_panel="Configuration")]
Profile = Annotated[str | None, typer.Option(
    "--profile", metavar="NAME|FILE",
    help="Expected sequence: backup-exec-9 (default), ndmp, or a profile file. With none "
         "given, the default gives way to ndmp when the capture reads as plain NDMP "
         "(profile_inferred).",
    rich_help_panel="Configuration")]
RetransmissionTimeout = Annotated[str | None, typer.Option(
    "--retransmission-timeout", metavar="SECONDS",
    help="Capture time after an unanswered SYN (or announcement) before its silence counts "
         "as a drop: TCP's initial retransmission timeout, 1 s on Linux, 3 s on older "
         "Windows [default: 3].", rich_help_panel="Configuration")]
VxlanPort = Annotated[list[str] | None, typer.Option(
    "--vxlan-port", metavar="PORT",
    help="UDP port read as VXLAN besides 4789 and 8472 (repeatable or comma-separated): "
         "Cisco ACI's 48879, a collector's own port.", rich_help_panel="Configuration")]
GenevePort = Annotated[list[str] | None, typer.Option(
    "--geneve-port", metavar="PORT",
    help="UDP port read as Geneve besides 6081 (repeatable or comma-separated).",
    rich_help_panel="Configuration")]
Format = Annotated[OutputFormat, typer.Option(
    "--format", metavar="table|json", help="table for people, json for programs.",
    case_sensitive=False)]
Captures = Annotated[list[str], typer.Argument(
    metavar="CAPTURE",
    help="pcap/pcapng files (optionally gzipped), directories (ring buffers), or - "
         "for standard input. Several are one capture set merged by time.")]


# The configuration flags every traffic command takes, added to a command's signature by
# `with_config` so each command declares only its own options and receives a Config:
# parameter name -> (its option, the configuration key it sets).
CONFIG_PARAMETERS: dict[str, tuple[object, str]] = {
    "ndmp_port": (NdmpPort, "ndmp_port"),
    "media_range": (MediaRange, "media_range"),
    "agent_range": (AgentRange, "agent_range"),
    "media_server": (MediaServer, "media_servers"),
    "remote_agent": (RemoteAgent, "remote_agents"),
    "backup_network": (BackupNetwork, "backup_network"),
    "port_hold": (PortHold, "port_hold_seconds"),
    "resources": (Resources, "resources"),
    "profile": (Profile, "profile"),
    "retransmission_timeout": (RetransmissionTimeout, "retransmission_timeout"),
    "vxlan_port": (VxlanPort, "vxlan_ports"),
    "geneve_port": (GenevePort, "geneve_ports"),
}


def _hidden(option: object) -> object:
    """The same option, left out of --help (still accepted)."""
    base, info = get_args(option)
    info = copy.copy(info)
    info.hidden = True
    return Annotated[base, info]


def with_config(command: Callable[..., T], unused: Iterable[str] = ()) -> Callable[..., T]:
    """Replace a command's `config: Config` parameter by the shared configuration flags.
    `unused`: parameters of CONFIG_PARAMETERS that change nothing in this command's
    output: accepted (the contract) but not listed in its --help (trial 20, D18).
    The command's other annotations are objects (typer reads them); `config`'s may be
    the string "Config", so that registering a command loads no configuration code.
    `--config`'s help names a ring directory's own flowcheck.toml only for a command
    with a `captures` parameter (CAPTURE...), the only ones that read it."""
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.name != "config"]
    reads_ring = "captures" in signature.parameters  # CAPTURE...: a ring directory too
    hide = set(unused)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=_hidden(ann) if name in hide else ann)
        for name, ann in [("config_file", ConfigFile if reads_ring else ConfigFileNoRing),
                          *((name, option) for name, (option, _) in CONFIG_PARAMETERS.items())]
    ]

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> T:
        config_file = kwargs.pop("config_file", None)
        flags = {key: kwargs.pop(name, None) for name, (_, key) in CONFIG_PARAMETERS.items()}
        # A ring directory given alone brings its own flowcheck.toml (cli.settings).
        captures = kwargs.get("captures")
        # `--config -` reads standard input unless a CAPTURE (crosscheck's one) is `-`.
        stdin_capture = kwargs.get("capture") == "-" or (
            isinstance(captures, list) and "-" in captures)
        config = resolve_config(config_file, flags,
                                captures if isinstance(captures, list) else None,
                                stdin_capture=stdin_capture)
        return command(*args, config=config, **kwargs)  # type: ignore[arg-type]

    wrapper.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
    return wrapper

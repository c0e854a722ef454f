"""Options shared by every command (contract: same names, flags win over --config)."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from flowcheck.config import Config, build_config, load_file
from flowcheck.errors import UsageError

T = TypeVar("T")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file with the settings below (flags win).",
                 dir_okay=False, rich_help_panel="Configuration"),
]
NdmpPort = Annotated[int | None, typer.Option(
    "--ndmp-port", help="Agent's NDMP listening port [default: 10000].",
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
BackupNetwork = Annotated[str | None, typer.Option(
    "--backup-network", metavar="CIDR",
    help="Network chosen with 'Backup To Network Card': session traffic must stay in it.",
    rich_help_panel="Configuration")]
PortHold = Annotated[float | None, typer.Option(
    "--port-hold", metavar="SECONDS",
    help="Seconds a port stays held after a session [default: 60].",
    rich_help_panel="Configuration")]
Resources = Annotated[int | None, typer.Option(
    "--resources", metavar="N", help="Resources the job backs up (drives, stores, ...).",
    rich_help_panel="Configuration")]
Profile = Annotated[str | None, typer.Option(
    "--profile", metavar="NAME|FILE",
    help="Expected sequence: backup-exec-9 (default), ndmp, or a profile file.",
    rich_help_panel="Configuration")]
Format = Annotated[OutputFormat, typer.Option(
    "--format", help="table for people, json for programs.", case_sensitive=False)]
Captures = Annotated[list[str], typer.Argument(
    metavar="CAPTURE...",
    help="pcap/pcapng files (optionally gzipped), directories (ring buffers), or - "
         "for standard input. Several are one capture set merged by time.")]


@dataclass(slots=True)
class ConfigFlags:
    config_file: Path | None = None
    ndmp_port: int | None = None
    media_range: list[str] | None = None
    agent_range: list[str] | None = None
    media_server: list[str] | None = None
    remote_agent: list[str] | None = None
    backup_network: str | None = None
    port_hold: float | None = None
    resources: int | None = None
    profile: str | None = None

    def resolve(self) -> Config:
        file_values: dict[str, object] = {}
        path = self.config_file
        if path is None and Path("flowcheck.toml").is_file():
            path = Path("flowcheck.toml")  # the documented default location
        if path is not None:
            file_values = load_file(path)
        flags = {
            "ndmp_port": self.ndmp_port,
            "media_range": self.media_range,
            "agent_range": self.agent_range,
            "media_servers": self.media_server,
            "remote_agents": self.remote_agent,
            "backup_network": self.backup_network,
            "port_hold_seconds": self.port_hold,
            "resources": self.resources,
            "profile": self.profile,
        }
        config = build_config(file_values, flags)
        if config.profile:
            # Fail early, as a usage error, on an unknown profile name or bad profile file.
            from flowcheck.profiles import load_profile

            load_profile(config.profile)
        return config


def check_captures(captures: list[str]) -> list[str]:
    if not captures:
        raise UsageError("give at least one capture file, directory or - (standard input)")
    if captures.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    return captures


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


# Written to a file or a pipe, a report keeps whole rows instead of rich's 80 columns.
PIPED_WIDTH = 200


def make_console():  # noqa: ANN201 - rich is imported lazily: start-up time matters
    """The console reports print to: the terminal's width, or wide when piped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)


# The configuration flags every traffic command takes, added to a command's signature by
# `with_config` so each command declares only its own options and receives a Config.
CONFIG_PARAMETERS: dict[str, object] = {
    "config_file": ConfigFile,
    "ndmp_port": NdmpPort,
    "media_range": MediaRange,
    "agent_range": AgentRange,
    "media_server": MediaServer,
    "remote_agent": RemoteAgent,
    "backup_network": BackupNetwork,
    "port_hold": PortHold,
    "resources": Resources,
    "profile": Profile,
}


def with_config(command: Callable[..., T]) -> Callable[..., T]:
    """Replace a command's `config: Config` parameter by the shared configuration flags."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "config"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
        for name, ann in CONFIG_PARAMETERS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> T:
        flags = ConfigFlags(**{name: kwargs.pop(name, None) for name in CONFIG_PARAMETERS})
        return command(*args, config=flags.resolve(), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
    return wrapper

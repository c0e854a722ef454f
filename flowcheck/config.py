"""Settings: a TOML file (`--config`) overlaid by command-line flags.

Keys (TOML names; flags use dashes): ndmp_port, media_range, agent_range,
media_servers, remote_agents, backup_network, port_hold_seconds, resources, profile,
retransmission_timeout.
Every invalid value raises UsageError naming the key, which the CLI turns into exit 2.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from flowcheck.errors import UsageError

PortRange = tuple[int, int]
DEFAULT_RANGE: list[PortRange] = [(1025, 65535)]


@dataclass(frozen=True, slots=True)
class Config:
    ndmp_port: int = 10000
    media_range: tuple[PortRange, ...] = tuple(DEFAULT_RANGE)
    agent_range: tuple[PortRange, ...] = tuple(DEFAULT_RANGE)
    media_servers: tuple[str, ...] = ()
    remote_agents: tuple[str, ...] = ()
    backup_network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port_hold_seconds: float = 60.0
    resources: int | None = None
    profile: str = "backup-exec-9"
    # Seconds of capture after an unanswered event before its silence counts as evidence:
    # TCP's initial retransmission timeout (RFC 6298: 1 s, Linux; 3 s, older Windows and
    # RFC 1122). The default takes the longer one, so a slow retry is never called a drop.
    retransmission_timeout: float = 3.0
    # Which keys were set explicitly (file or flag), so reports can say "default".
    explicit: frozenset[str] = field(default=frozenset(), compare=False)

    def in_media_range(self, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.media_range)

    def in_agent_range(self, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.agent_range)

    def as_dict(self) -> dict:
        return {
            "ndmp_port": self.ndmp_port,
            "media_range": format_ranges(self.media_range),
            "agent_range": format_ranges(self.agent_range),
            "media_servers": list(self.media_servers),
            "remote_agents": list(self.remote_agents),
            "backup_network": str(self.backup_network) if self.backup_network else None,
            "port_hold_seconds": self.port_hold_seconds,
            "resources": self.resources,
            "profile": self.profile,
            "retransmission_timeout": self.retransmission_timeout,
        }


KEYS = {f.name for f in fields(Config)} - {"explicit"}
# TOML accepts the flag spellings too, so a user can copy a flag into the file.
ALIASES = {"port_hold": "port_hold_seconds", "media_server": "media_servers",
           "remote_agent": "remote_agents"}


def format_ranges(ranges: Iterable[PortRange]) -> str:
    return ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ranges)


def _port(key: str, value: object) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{key}: {value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{key}: port {port} is outside 1-65535")
    return port


def parse_ranges(key: str, values: str | Iterable[str]) -> tuple[PortRange, ...]:
    """Parse "LO-HI" items, repeatable or comma-separated; a lone port is LO=HI."""
    items = [values] if isinstance(values, str | int) else list(values)
    ranges: list[PortRange] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            lo_text, _, hi_text = part.partition("-")
            lo = _port(key, lo_text)
            hi = _port(key, hi_text) if hi_text else lo
            if lo > hi:
                raise UsageError(f"{key}: range {part!r} is reversed (low port above high)")
            ranges.append((lo, hi))
    if not ranges:
        raise UsageError(f"{key}: no port range given")
    return tuple(sorted(ranges))


def _addresses(key: str, values: str | Iterable[str]) -> tuple[str, ...]:
    items = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(str(ipaddress.ip_address(part)))
            except ValueError:
                raise UsageError(f"{key}: {part!r} is not an IP address") from None
    return tuple(out)


def _coerce(key: str, value: object) -> object:
    if key == "ndmp_port":
        return _port(key, value)
    if key in ("media_range", "agent_range"):
        return parse_ranges(key, value)  # type: ignore[arg-type]
    if key in ("media_servers", "remote_agents"):
        return _addresses(key, value)  # type: ignore[arg-type]
    if key == "backup_network":
        if value in (None, ""):
            return None
        try:
            return ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise UsageError(f"backup_network: {value!r} is not a CIDR network") from None
    if key == "port_hold_seconds":
        try:
            hold = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UsageError(f"port_hold_seconds: {value!r} is not a number") from None
        if hold < 0:
            raise UsageError("port_hold_seconds: must not be negative")
        return hold
    if key == "retransmission_timeout":
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UsageError(f"retransmission_timeout: {value!r} is not a number") from None
        if not 0 < seconds <= 120:
            raise UsageError("retransmission_timeout: give seconds above 0 and at most 120")
        return seconds
    if key == "resources":
        if value is None:
            return None
        try:
            count = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UsageError(f"resources: {value!r} is not a whole number") from None
        if count < 1:
            raise UsageError("resources: must be at least 1")
        return count
    if key == "profile":
        if not isinstance(value, str) or not value:
            raise UsageError("profile: give a profile name or a file path")
        return value
    raise UsageError(f"unknown configuration key {key!r}")


def load_file(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
    # Allow the settings at top level or under a [flowcheck] table.
    if isinstance(data.get("flowcheck"), dict) and len(data) == 1:
        data = data["flowcheck"]
    return data


def build_config(file_values: dict[str, object] | None = None,
                 flag_values: dict[str, object] | None = None) -> Config:
    """Merge file settings and flags (flags win; None means "not given")."""
    merged: dict[str, object] = {}
    for source in (file_values or {}, flag_values or {}):
        for raw_key, value in source.items():
            key = ALIASES.get(raw_key.replace("-", "_"), raw_key.replace("-", "_"))
            if key not in KEYS:
                raise UsageError(f"unknown configuration key {raw_key!r}")
            if value is None or (isinstance(value, list | tuple) and not value):
                continue
            merged[key] = _coerce(key, value)
    return replace(Config(), **merged, explicit=frozenset(merged))

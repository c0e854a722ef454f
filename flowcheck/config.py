"""Settings: a TOML file (`--config`) overlaid by command-line flags.

Keys (TOML names; flags use dashes): ndmp_port, media_range, agent_range,
media_servers, remote_agents, backup_network, port_hold_seconds, resources, profile,
retransmission_timeout, vxlan_ports, geneve_ports.
Every invalid value raises UsageError naming the key (and the file it came from), which
the CLI turns into exit 2.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import field, fields, replace

from flowcheck.config_file import load_file, shown, unknown_key  # noqa: F401 - load_file re-exported
from flowcheck.errors import UsageError
from flowcheck.fields_dataclass import fields_dataclass

PortRange = tuple[int, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_RANGE: list[PortRange] = [(1025, 65535)]


@fields_dataclass(frozen=True, slots=True)
class Config:
    """The settings of a run: ports and ranges, hosts, the profile and timeouts, from
    flowcheck.toml, --config and the flags (explicit: the keys set, not defaulted)."""

    ndmp_port: int = 10000
    media_range: tuple[PortRange, ...] = tuple(DEFAULT_RANGE)
    agent_range: tuple[PortRange, ...] = tuple(DEFAULT_RANGE)
    media_servers: tuple[str, ...] = ()
    remote_agents: tuple[str, ...] = ()
    # The backup NIC's networks (its IPv4 network and IPv6 prefix on a dual-stack NIC):
    # session traffic must stay inside one of them; None when not configured.
    backup_network: tuple[Network, ...] | None = None
    port_hold_seconds: float = 60.0
    resources: int | None = None
    profile: str = "backup-exec-9"
    # Seconds of capture after an unanswered event before its silence counts as evidence:
    # TCP's initial retransmission timeout (RFC 6298: 1 s, Linux; 3 s, older Windows and
    # RFC 1122). The default takes the longer one, so a slow retry is never called a drop.
    retransmission_timeout: float = 3.0
    # UDP ports read as VXLAN and as Geneve besides the standard ones (4789 and 8472;
    # 6081): a tunnel on another port (Cisco ACI's iVXLAN on 48879; trial 22 D6).
    vxlan_ports: tuple[int, ...] = ()
    geneve_ports: tuple[int, ...] = ()
    # Which keys were set explicitly (file or flag), so reports can say "default".
    explicit: frozenset[str] = field(default=frozenset(), compare=False)
    # The configuration file read, named as given (`./flowcheck.toml` when read without
    # --config, a regress case's NAME.toml); "" when none was (report.overview.source_words).
    source: str = field(default="", compare=False)

    def default_ranges(self) -> list[str]:
        """The ranges ("media", "agent") the user did not set: flowcheck's defaults. The
        one rule for words about the user's settings ("--agent-range not set", ", the
        default", "First set ...", `LO-HI` in a `flowcheck firewall` command); what a
        range proves is wide_ranges'."""
        return [which for which in ("media", "agent") if f"{which}_range" not in self.explicit]

    def wide_ranges(self) -> list[str]:
        """The ranges ("media", "agent") that hold every port of flowcheck's default
        1025-65535, whether left at it or set to it (or wider: 1024-65535): a port in
        such a range ties nothing to a job, so every check that takes a port in a range
        as evidence asks this, not who set it (control_left_out, late_start, tls_start,
        limit_words; note61: `--agent-range 1025-65535` given read "the way lets that
        range through" where the same range unset did not)."""
        return [which for which in ("media", "agent")
                if _holds_all(getattr(self, f"{which}_range"), DEFAULT_RANGE)]

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
            "backup_network": (",".join(map(str, self.backup_network))
                               if self.backup_network else None),
            "port_hold_seconds": self.port_hold_seconds,
            "resources": self.resources,
            "profile": self.profile,
            "retransmission_timeout": self.retransmission_timeout,
            "vxlan_ports": list(self.vxlan_ports),
            "geneve_ports": list(self.geneve_ports),
            "file": self.source or None,
        }


KEYS = {f.name for f in fields(Config)} - {"explicit", "source"}
# TOML accepts the flag spellings too, so a user can copy a flag into the file.
ALIASES = {"port_hold": "port_hold_seconds", "media_server": "media_servers",
           "remote_agent": "remote_agents", "vxlan_port": "vxlan_ports",
           "geneve_port": "geneve_ports"}
# The command-line spelling of a key, where it is not the key with dashes.
FLAGS = {"port_hold_seconds": "--port-hold", "media_servers": "--media-server",
         "remote_agents": "--remote-agent", "vxlan_ports": "--vxlan-port",
         "geneve_ports": "--geneve-port"}
# UDP ports of tunnels the decoder reads by themselves: not another tunnel's too.
STANDARD_TUNNEL_PORTS = {4789: "VXLAN", 8472: "VXLAN", 4790: "VXLAN-GPE", 6081: "Geneve"}


def _holds_all(ranges: Iterable[PortRange], wanted: Iterable[PortRange]) -> bool:
    """Does the union of `ranges` (inclusive LO-HI pairs) hold every port of `wanted`?"""
    spans = sorted(ranges)
    for lo, hi in wanted:
        reach = lo - 1  # the highest port of `wanted` covered so far, from lo
        for s_lo, s_hi in spans:
            if s_lo > reach + 1:
                break
            reach = max(reach, s_hi)
        if reach < hi:
            return False
    return True


def format_ranges(ranges: Iterable[PortRange]) -> str:
    return ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ranges)


# Numbers are read strictly, so a typo is an error instead of a different setting: ASCII
# digits only, no spaces around them (Python's int() also takes " 5001", "+5001", "5_001"
# and other scripts' digits), a range needs both ends ("5001-" is not 5001), and seconds
# must be finite.
_DIGITS = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)\s*(?:-\s*([0-9]+))?")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _whole(name: str, value: object, what: str) -> int:
    """A whole number from TOML (an integer) or text (ASCII digits only)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, str) and value:
        raise UsageError(f"{name}: {shown(value)} is not {what}: digits 0-9 only")
    raise UsageError(f"{name}: {shown(value)} is not {what}")


def _port(name: str, value: object) -> int:
    port = _whole(name, value, "a port number")
    if not 1 <= port <= 65535:
        raise UsageError(f"{name}: port {port} is outside 1-65535")
    return port


def read_seconds(name: str, value: object) -> float:
    """Seconds from TOML or a flag (a number) or text (a plain decimal: no "+", exponent,
    spaces or nan); UsageError naming `name` when it is not a finite number."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or isinstance(value, str) and _DECIMAL.fullmatch(value):
        seconds = float(value) + 0.0  # type: ignore[arg-type]  # -0.0 is 0
    else:
        raise UsageError(f"{name}: {shown(value)} is not a number of seconds")
    if not math.isfinite(seconds):
        raise UsageError(f"{name}: {shown(value)} is not a finite number of seconds")
    return seconds


def _items(name: str, values: object) -> list[object]:
    """One value or a list of them (a repeated flag, a TOML array)."""
    if isinstance(values, list | tuple):
        return list(values)
    if isinstance(values, str | int) and not isinstance(values, bool):
        return [values]
    raise UsageError(f"{name}: {shown(values)} is not text or a list")


def _parts(key: str, items: list[object], empty: str | None = None) -> Iterator[str]:
    """The comma-separated parts of each item, stripped. UsageError naming `key` for an
    empty part ("5001,,5002", a trailing comma); `empty`: the words for a blank item."""
    for item in items:
        text = str(item)
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise UsageError(f"{key}: {empty}" if empty and not text.strip()
                                 else f"{key}: empty item in {text!r}")
            yield part


def parse_ranges(key: str, values: object) -> tuple[PortRange, ...]:
    """Parse "LO-HI" items, repeatable or comma-separated; a lone port is LO=HI.

    `values`: a string, an integer or a list of them. Returns the ranges sorted. Raises
    UsageError naming `key` for an empty item ("5001,,5002", a trailing comma), a missing
    end ("5001-", "-5100"), a port outside 1-65535 or a reversed range."""
    ranges: list[PortRange] = []
    items = _items(key, values)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise UsageError(f"{key}: {shown(item)} is not a port or LO-HI range")
    for part in _parts(key, items):
        match = _RANGE.fullmatch(part)
        if match is None:
            raise UsageError(f"{key}: {part!r} is not a port or LO-HI range")
        lo = _port(key, match[1])
        hi = _port(key, match[2]) if match[2] is not None else lo
        if lo > hi:
            raise UsageError(f"{key}: range {part!r} is reversed (low port above high)")
        ranges.append((lo, hi))
    if not ranges:
        raise UsageError(f"{key}: no port range given")
    return tuple(sorted(ranges))


def host_address(text: str) -> str:
    """The address `text` names on the wire, RFC 5952 text: an IPv4-mapped IPv6 address
    (`::ffff:10.77.0.2`, how a dual-stack socket shows an IPv4 peer: `ss`, `netstat`) is
    that IPv4 address, which is what the wire carries (RFC 4291 2.5.5.2); a zone id
    (`fe80::1%eth0`, Windows' `%12`) is dropped: it names an interface of the host where
    the address was written, and a capture carries none. ValueError when not an address."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.scope_id is not None:
            return str(ipaddress.IPv6Address(text.partition("%")[0]))
    return str(address)


def _addresses(key: str, values: object) -> tuple[str, ...]:
    """IP addresses, repeatable or comma-separated, as the wire shows them (host_address).
    An empty list or item is an error, as for the ranges: leaving the key out is how to
    say "none" (roles from the traffic)."""
    out: list[str] = []
    for part in _parts(key, _items(key, values), empty="empty address"):
        try:
            out.append(host_address(part))
        except ValueError:
            raise UsageError(f"{key}: {part!r} is not an IP address") from None
    if not out:
        raise UsageError(f"{key}: no IP address given: leave it out to take the roles "
                         "from the traffic")
    return tuple(out)


def _network(name: str, value: object) -> Network:
    """A CIDR network, host bits clear. An address with a prefix (`10.77.0.1/24`, as `ip
    addr` shows an interface) is an error naming the network it lies in: a typo in the
    prefix (`10.77.1.0/16` for /24) would otherwise widen the network silently."""
    if not isinstance(value, str) or not value.strip():  # ip_network(5) is 0.0.0.5/32
        raise UsageError(f"{name}: {shown(value)} is not a CIDR network: leave it out for none")
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{name}: {shown(value)} is not a CIDR network") from None
    raise UsageError(f"{name}: {shown(value)} has host bits set: give the network, {network}")


def _networks(name: str, values: object) -> tuple[Network, ...]:
    """CIDR networks, repeatable or comma-separated (a dual-stack backup NIC's IPv4
    network and IPv6 prefix): every one is kept, none silently replaced by another
    (trial 28 D13). A network inside another one given is an error: it says nothing
    the wider one does not."""
    items = list(values) if isinstance(values, list | tuple) else [values]
    if not items:
        raise UsageError(f"{name}: no network given: leave it out for none")
    for item in items:
        if not isinstance(item, str) or not item.strip():  # ip_network(5) is 0.0.0.5/32
            raise UsageError(f"{name}: {shown(item)} is not a CIDR network: leave it out for "
                             "none")
    networks = [_network(name, part) for part in _parts(name, items)]
    for network in networks:
        wider = next((other for other in networks if other != network
                      and other.version == network.version
                      and network.subnet_of(other)), None)  # type: ignore[arg-type]
        if wider is not None:
            raise UsageError(f"{name}: {network} lies inside {wider}, also given: give one")
    return tuple(dict.fromkeys(networks))


def _tunnel_ports(name: str, values: object) -> tuple[int, ...]:
    """UDP ports, repeatable or comma-separated; not a port the decoder already reads as
    a tunnel (4789, 8472, 4790, 6081)."""
    ports: list[int] = []
    for part in _parts(name, _items(name, values)):
        port = _port(name, part)
        if port in STANDARD_TUNNEL_PORTS:
            raise UsageError(f"{name}: {port} is read as {STANDARD_TUNNEL_PORTS[port]} "
                             "already: give the other ports only")
        ports.append(port)
    if not ports:
        raise UsageError(f"{name}: no port given")
    return tuple(dict.fromkeys(ports))


# More resources than a host has ports can never fit in a dynamic port range (a job
# needs a port per resource in each range); larger numbers are typos, and JSON readers
# lose integers above 2**53.
MAX_RESOURCES = 65535


def _coerce(key: str, value: object, name: str | None = None) -> object:
    """`value` for `key` as Config holds it; errors name `name` (the flag or the key as
    written, default the key)."""
    name = name or key
    if key == "ndmp_port":
        return _port(name, value)
    if key in ("media_range", "agent_range"):
        return parse_ranges(name, value)
    if key in ("media_servers", "remote_agents"):
        return _addresses(name, value)
    if key == "backup_network":
        return _networks(name, value)
    if key in ("vxlan_ports", "geneve_ports"):
        return _tunnel_ports(name, value)
    if key == "port_hold_seconds":
        hold = read_seconds(name, value)
        if hold < 0:
            raise UsageError(f"{name}: {shown(value)} is negative (seconds, 0 or more)")
        return hold
    if key == "retransmission_timeout":
        seconds = read_seconds(name, value)
        if not 0 < seconds <= 120:
            raise UsageError(f"{name}: {shown(value)}: give seconds above 0 and at most 120")
        return seconds
    if key == "resources":
        if value is None:
            return None
        count = _whole(name, value, "a whole number")
        if count < 1:
            raise UsageError(f"{name}: {shown(value)}: must be at least 1")
        if count > MAX_RESOURCES:
            raise UsageError(f"{name}: {shown(value)}: at most {MAX_RESOURCES}, the ports a host "
                             "has")
        return count
    if key == "profile":
        if not isinstance(value, str) or not value:
            raise UsageError(f"{name}: give a profile name or a file path")
        return value
    raise UsageError(f"unknown configuration key {key!r}")


def _canonical(raw_key: str) -> str:
    key = raw_key.replace("-", "_")
    return ALIASES.get(key, key)


def build_config(file_values: dict[str, object] | None = None,
                 flag_values: dict[str, object] | None = None,
                 file_name: str | None = None) -> Config:
    """Merge file settings and flags (flags win; None means "not given").

    Raises UsageError, one line naming the key as written in the file (and `file_name`,
    the file, when given) or the flag, for an unknown key, an invalid value, or two
    spellings of one key in the file (`port_hold` and `port_hold_seconds`)."""
    where = f" (in {file_name})" if file_name else ""
    merged: dict[str, object] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in (file_values or {}).items():
        key = _canonical(raw_key)
        if key not in KEYS:
            if isinstance(value, dict):
                raise UsageError(f"a table [{raw_key}] is not a flowcheck setting{where}")
            raise unknown_key(raw_key, KEYS | ALIASES.keys(),
                              f" in {file_name}" if file_name else "")
        if value is None:
            continue  # a caller's "not set" (TOML has no null)
        if key in spelled:
            raise UsageError(f"{spelled[key]} and {raw_key} are the same setting ({key}): "
                             f"give one{where}")
        spelled[key] = raw_key
        try:
            merged[key] = _coerce(key, value, raw_key)
        except UsageError as exc:
            raise UsageError(f"{exc}{where}") from None
    for flag_key, value in (flag_values or {}).items():
        key = _canonical(flag_key)
        if key not in KEYS:
            raise UsageError(f"unknown configuration key {flag_key!r}")
        if value is None or (isinstance(value, list | tuple) and not value):
            continue  # a flag not given (a repeatable one comes as an empty list)
        merged[key] = _coerce(key, value, FLAGS.get(key, "--" + key.replace("_", "-")))
    both = set(merged.get("vxlan_ports", ())) & set(merged.get("geneve_ports", ()))  # type: ignore[call-overload]
    if both:
        raise UsageError(f"port {min(both)} is given as both VXLAN (vxlan_ports) and Geneve "
                         f"(geneve_ports): a port carries one tunnel{where}")
    return replace(Config(), **merged, explicit=frozenset(merged), source=file_name or "")


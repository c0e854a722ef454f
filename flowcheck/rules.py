"""The network paths the documented sequence needs, as data, and each firewall's syntax.

Read from the media server's side (flow-model.md): M -> A:NDMP port, A -> M:media
range (the callback; in plain NDMP also the data connection to the mover), M -> A:agent
range (the data connection), plus the return traffic of each, which a stateless rule must
allow explicitly. Used by `flowcheck firewall` and by the fixes in findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcheck.config import Config, PortRange, format_ranges

TARGETS = ("nft", "iptables", "powershell", "netsh")


@dataclass(frozen=True, slots=True)
class Path:
    name: str  # what the connection is, in the TechNote's words
    source: tuple[str, ...]  # addresses, () = any
    destination: tuple[str, ...]
    ports: tuple[PortRange, ...]  # destination ports
    source_role: str  # "media server" / "remote agent"
    destination_role: str


def required_paths(config: Config) -> list[Path]:
    media, agent = config.media_servers, config.remote_agents
    ndmp = ((config.ndmp_port, config.ndmp_port),)
    return [
        Path("control connection (step 1)", media, agent, ndmp, "media server", "remote agent"),
        Path("agent to job engine (step 2)", agent, media, config.media_range,
             "remote agent", "media server"),
        Path("data connection to the agent (step 4)", media, agent, config.agent_range,
             "media server", "remote agent"),
    ]


def _ports(ranges: tuple[PortRange, ...], sep: str = "-") -> list[str]:
    return [f"{lo}{sep}{hi}" if lo != hi else str(lo) for lo, hi in ranges]


def _nft(path: Path, host_role: str) -> list[str]:
    chain = "input" if path.destination_role == host_role else "output"
    match = []
    family = "ip6" if any(":" in a for a in path.source + path.destination) else "ip"
    if path.source:
        match.append(f"{family} saddr {{ {', '.join(path.source)} }}")
    if path.destination:
        match.append(f"{family} daddr {{ {', '.join(path.destination)} }}")
    match.append(f"tcp dport {{ {', '.join(_ports(path.ports))} }}")
    return [f"nft add rule inet filter {chain} {' '.join(match)} ct state new accept"]


def _iptables(path: Path, host_role: str) -> list[str]:
    chain = "INPUT" if path.destination_role == host_role else "OUTPUT"
    lines = []
    for port in _ports(path.ports, ":"):
        parts = [f"iptables -A {chain} -p tcp"]
        if path.source:
            parts.append(f"-s {','.join(path.source)}")
        if path.destination:
            parts.append(f"-d {','.join(path.destination)}")
        parts.append(f"--dport {port} -m conntrack --ctstate NEW -j ACCEPT")
        lines.append(" ".join(parts))
    return lines


def _powershell(path: Path, host_role: str) -> list[str]:
    inbound = path.destination_role == host_role
    remote = path.source if inbound else path.destination
    parts = [
        f'New-NetFirewallRule -DisplayName "flowcheck: {path.name}"',
        f"-Direction {'Inbound' if inbound else 'Outbound'} -Protocol TCP",
        f"-{'LocalPort' if inbound else 'RemotePort'} {','.join(_ports(path.ports))}",
    ]
    if remote:
        parts.append(f"-RemoteAddress {','.join(remote)}")
    parts.append("-Action Allow")
    return [" ".join(parts)]


def _netsh(path: Path, host_role: str) -> list[str]:
    inbound = path.destination_role == host_role
    remote = path.source if inbound else path.destination
    port_key = "localport" if inbound else "remoteport"
    line = (f'netsh advfirewall firewall add rule name="flowcheck: {path.name}" '
            f"dir={'in' if inbound else 'out'} action=allow protocol=TCP "
            f"{port_key}={','.join(_ports(path.ports))}")
    if remote:
        line += f" remoteip={','.join(remote)}"
    return [line]


RENDERERS = {"nft": _nft, "iptables": _iptables, "powershell": _powershell, "netsh": _netsh}
STATEFUL_NOTE = {
    "nft": "nft add rule inet filter input ct state established,related accept  "
           "# return traffic (add the same to output)",
    "iptables": "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT  "
                "# return traffic (add the same to OUTPUT)",
    "powershell": "# Windows Firewall is stateful: return traffic of allowed connections "
                  "passes.",
    "netsh": "# Windows Firewall is stateful: return traffic of allowed connections passes.",
}


def rules_for(target: str, config: Config) -> dict[str, list[str]]:
    """Rules per host ("media server", "remote agent") for one firewall syntax."""
    render = RENDERERS[target]
    out: dict[str, list[str]] = {}
    for host_role in ("media server", "remote agent"):
        lines: list[str] = []
        for path in required_paths(config):
            lines.extend(render(path, host_role))
        lines.append(STATEFUL_NOTE[target])
        out[host_role] = lines
    return out


def describe_path(path: Path) -> str:
    source = ", ".join(path.source) or f"any {path.source_role}"
    destination = ", ".join(path.destination) or f"any {path.destination_role}"
    return (f"{path.name}: TCP from {source} to {destination} "
            f"port(s) {format_ranges(path.ports)}")

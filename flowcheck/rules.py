"""The network paths a profile's sequence needs, as data, and each firewall's syntax.

Read from the media server's side (flow-model.md): M -> A:NDMP port (the control
connection), and as the profile says (docs/profiles.md): the callback A -> M:media range
(`[callback] mode = "connection"`; with mode "control" the callback is the reply on the
control connection, whose media-side port is then in the media range; "none": no
callback), and the data connection by `[data] connector`: "media_server" M -> A:agent
range, "remote_agent" A -> M:media range (the agent connects to the mover's announced
port), "listener" both (DATA_LISTEN/MOVER_CONNECT: M connects; MOVER_LISTEN/DATA_CONNECT:
A connects); with several agents and the "listener" connector (three-way jobs), agent
to agent:agent range too, inbound and outbound on each agent. Plus the return traffic of
each, in and out (return_rules), which a stateless rule must allow explicitly;
forward_rules, the same for a firewall or router between the hosts; ipv6_rules, what an
IPv6 host needs besides (neighbour discovery: trial 28 D3). Used by `flowcheck firewall`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from flowcheck.config import Config, PortRange, format_ranges
from flowcheck.errors import UsageError
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.profiles import Profile, load_profile

TARGETS = ("nft", "iptables", "powershell", "netsh")


@fields_dataclass(frozen=True, slots=True)
class Path:
    name: str  # what the connection is, in the TechNote's and NDMP's words
    source: tuple[str, ...]  # addresses, () = any
    destination: tuple[str, ...]
    ports: tuple[PortRange, ...]  # destination ports
    source_role: str  # "media server" / "remote agent"
    destination_role: str
    source_ports: tuple[PortRange, ...] = ()  # () = any


def ip_version(address: str) -> int:
    """4 or 6: the IP version of `address` (a literal IPv4 or IPv6 address)."""
    return ipaddress.ip_address(address).version


def by_family(path: Path) -> list[Path]:
    """`path` split by IP version (4 first), each part naming only its own family's
    addresses, for the syntaxes that match one family per rule (nft `ip`/`ip6`, iptables/
    ip6tables); [path] when it names no address."""
    families = sorted({ip_version(a) for a in path.source + path.destination})
    if not families:
        return [path]
    return [replace(path, source=tuple(a for a in path.source if ip_version(a) == family),
                    destination=tuple(a for a in path.destination if ip_version(a) == family))
            for family in families]


def check_families(config: Config) -> None:
    """Raise UsageError when a configured media server and remote agent can only be
    joined across IP versions: a TCP connection is IPv4 or IPv6 end to end, so each
    address family named on one side must be named on the other too (a dual-stack host
    may give one address of each; a side given no address matches any)."""
    media = {ip_version(a) for a in config.media_servers}
    agent = {ip_version(a) for a in config.remote_agents}
    if not media or not agent or media == agent:
        return
    for key, mine, other, theirs, addresses in (
            ("media_servers (--media-server)", media, "remote agent", agent,
             config.media_servers),
            ("remote_agents (--remote-agent)", agent, "media server", media,
             config.remote_agents)):
        for family in sorted(mine - theirs):
            alone = ", ".join(a for a in addresses if ip_version(a) == family)
            raise UsageError(f"{key} {alone}: no {other} address is IPv{family}, and a TCP "
                             f"connection cannot join IPv{family} to IPv{min(theirs)}")


def _step(profile: Profile, kind: str) -> str:
    spec = profile.step(kind)  # type: ignore[arg-type]
    return f" (step {spec.number})" if spec else ""


def required_paths(config: Config, profile: Profile | None = None) -> list[Path]:
    """The connections `profile` (default: the configured one) opens between the
    configured hosts, in sequence order. Raises UsageError for a bad profile name and for
    hosts of different IP versions (check_families)."""
    profile = profile or load_profile(config.profile)
    check_families(config)
    # An address given twice is one host (new-user trial: `ip saddr { 10.77.0.1,
    # 10.77.0.1 }`); a host that is both media server and agent: setup_notes.
    media = tuple(dict.fromkeys(config.media_servers))
    agent = tuple(dict.fromkeys(config.remote_agents))
    ndmp = ((config.ndmp_port, config.ndmp_port),)
    paths: list[Path] = []
    if profile.callback == "control":
        # The job engine's port is the control connection's own source port (the other
        # reading of the TechNote): the agent answers on it, no connection comes back.
        callback = profile.step("callback")
        label = (f" (steps {profile.step('control').number}-{callback.number})"  # type: ignore[union-attr]
                 if callback else "")
        paths.append(Path(f"control connection from the job engine port, the agent's reply "
                          f"its callback{label}", media, agent, ndmp, "media server",
                          "remote agent", source_ports=config.media_range))
    else:
        paths.append(Path(f"control connection{_step(profile, 'control')}", media, agent,
                          ndmp, "media server", "remote agent"))
    if profile.callback == "connection":
        paths.append(Path(f"agent to job engine{_step(profile, 'callback')}", agent, media,
                          config.media_range, "remote agent", "media server"))
    data = _step(profile, "data_connection")
    if profile.connector in ("media_server", "listener"):
        why = ", after DATA_LISTEN / MOVER_CONNECT" if profile.connector == "listener" else ""
        paths.append(Path(f"data connection to the agent{why}{data}", media, agent,
                          config.agent_range, "media server", "remote agent"))
    if profile.connector in ("remote_agent", "listener"):
        why = ", after MOVER_LISTEN / DATA_CONNECT" if profile.connector == "listener" else ""
        paths.append(Path(f"data connection to the media server{why}{data}", agent, media,
                          config.media_range, "remote agent", "media server"))
    if profile.connector == "listener" and len(agent) > 1:
        # A three-way job (NDMP v4 section 1.4): the DMA hands one agent's listening
        # endpoint (a tape agent's MOVER_LISTEN) to the other (DATA_CONNECT), which
        # connects to it: agent to agent, into the agent range (trial 27 D7).
        paths.append(Path(f"data connection between two agents, a three-way job (one's "
                          f"MOVER_LISTEN or DATA_LISTEN, the other's CONNECT){data}", agent,
                          agent, config.agent_range, "remote agent", "remote agent"))
    return paths


def port_terms(ranges: tuple[PortRange, ...], sep: str = "-") -> list[str]:
    """Each range as a rule names it: "5001-5100" (nft, PowerShell, netsh; iptables gives
    sep ":"), or "5001" for a range of one port."""
    return [f"{lo}{sep}{hi}" if lo != hi else str(lo) for lo, hi in ranges]


def _nft(path: Path, host_role: str) -> list[str]:
    return [line for part in by_family(path) for line in _nft_one(part, host_role)]


def _nft_one(path: Path, host_role: str) -> list[str]:
    chain = "input" if path.destination_role == host_role else "output"
    match = []
    family = "ip6" if any(ip_version(a) == 6 for a in path.source + path.destination) else "ip"
    if path.source:
        match.append(f"{family} saddr {{ {', '.join(path.source)} }}")
    if path.destination:
        match.append(f"{family} daddr {{ {', '.join(path.destination)} }}")
    if path.source_ports:
        match.append(f"tcp sport {{ {', '.join(port_terms(path.source_ports))} }}")
    match.append(f"tcp dport {{ {', '.join(port_terms(path.ports))} }}")
    return [f"nft insert rule inet filter {chain} {' '.join(match)} ct state new accept"]


def _iptables(path: Path, host_role: str) -> list[str]:
    """iptables is IPv4 only: IPv6 rules go to ip6tables (same options); a path that
    names no address gets both, as nft's `inet` rule matches both versions (new-user
    trial: the IPv4 rules alone, silently)."""
    return [line for part in by_family(path)
            for family in sorted({ip_version(a) for a in part.source + part.destination}
                                 or {4, 6})
            for line in _iptables_one(part, host_role,
                                      "ip6tables" if family == 6 else "iptables")]


def iptables_families(config: Config) -> list[int]:
    """The IP versions the iptables rules cover: those of the configured hosts, both (4
    then 6) when none is given."""
    return sorted({ip_version(a) for a in config.media_servers + config.remote_agents}
                  or {4, 6})


def _iptables_one(path: Path, host_role: str, command: str) -> list[str]:
    chain = "INPUT" if path.destination_role == host_role else "OUTPUT"
    lines = []
    # iptables takes one port range per --sport/--dport: a line per pair.
    for sport in port_terms(path.source_ports, ":") or [None]:
        for port in port_terms(path.ports, ":"):
            parts = [f"{command} -I {chain} -p tcp"]
            if path.source:
                parts.append(f"-s {','.join(path.source)}")
            if path.destination:
                parts.append(f"-d {','.join(path.destination)}")
            if sport:
                parts.append(f"--sport {sport}")
            parts.append(f"--dport {port} -m conntrack --ctstate NEW -j ACCEPT")
            lines.append(" ".join(parts))
    return lines


def _powershell(path: Path, host_role: str) -> list[str]:
    inbound = path.destination_role == host_role
    remote = path.source if inbound else path.destination
    parts = [
        f'New-NetFirewallRule -DisplayName "flowcheck: {path.name}"',
        f"-Direction {'Inbound' if inbound else 'Outbound'} -Protocol TCP",
        f"-{'LocalPort' if inbound else 'RemotePort'} {','.join(port_terms(path.ports))}",
    ]
    if path.source_ports:
        parts.append(f"-{'RemotePort' if inbound else 'LocalPort'} "
                     f"{','.join(port_terms(path.source_ports))}")
    if remote:
        parts.append(f"-RemoteAddress {','.join(remote)}")
    parts.append("-Action Allow")
    return [" ".join(parts)]


def _netsh(path: Path, host_role: str) -> list[str]:
    inbound = path.destination_role == host_role
    remote = path.source if inbound else path.destination
    port_key, source_key = ("localport", "remoteport") if inbound else ("remoteport",
                                                                         "localport")
    line = (f'netsh advfirewall firewall add rule name="flowcheck: {path.name}" '
            f"dir={'in' if inbound else 'out'} action=allow protocol=TCP "
            f"{port_key}={','.join(port_terms(path.ports))}")
    if path.source_ports:
        line += f" {source_key}={','.join(port_terms(path.source_ports))}"
    if remote:
        line += f" remoteip={','.join(remote)}"
    return [line]


RENDERERS = {"nft": _nft, "iptables": _iptables, "powershell": _powershell, "netsh": _netsh}
# Text-only comments (render_firewall prints them on lines of their own): the JSON rule
# lists hold commands only, so each line runs as it is through a shell or exec-style
# (shlex.split, Ansible `command:`), where iptables would reject a `#` argument.
RETURN_COMMENT = {
    "nft": "# return traffic of these connections, in and out (the rules above assume "
           "input and output chains that drop)",
    "iptables": "# return traffic of these connections, in and out (the rules above assume "
                "INPUT and OUTPUT chains that drop)",
    "powershell": "# Windows Firewall is stateful: return traffic of allowed connections "
                  "passes",
    "netsh": "# Windows Firewall is stateful: return traffic of allowed connections passes",
}


# Where the rules go (text only, printed once per target): an accept below a drop that
# matches the same packets does nothing (trial 17, D1), so nft and iptables rules insert
# at the head of their chain; Windows Firewall has no order, a block rule always wins.
ORDER_COMMENT = {
    "nft": "# each rule is inserted at the head of its chain (nft insert), ahead of any drop "
           "already there; a drop in another table or chain on the same hook still drops: "
           "remove it",
    "iptables": "# each rule is inserted at the head of its chain (-I), ahead of any DROP or "
                "REJECT already there; a drop in another table still drops: remove it",
    "powershell": "# Windows Firewall: a block rule wins over every allow rule, whatever the "
                  "order: remove or narrow any block rule covering these ports",
    "netsh": "# Windows Firewall: a block rule wins over every allow rule, whatever the "
             "order: remove or narrow any block rule covering these ports",
}


def return_rules(target: str, config: Config) -> list[str]:
    """The rules that let the return traffic of the accepted connections through, in
    both directions: the path rules accept outgoing SYNs on an output chain too, so they
    assume output is filtered, and a reply (SYN-ACK, ACK, data) must pass both chains.
    nft: one rule per chain (an `inet` table matches both IP versions); iptables: an
    INPUT and an OUTPUT rule per IP version of the configured hosts (ip6tables for
    IPv6; both when no host is given); [] for the Windows firewalls, which are stateful."""
    if target == "nft":
        return [f"nft insert rule inet filter {chain} ct state established,related accept"
                for chain in ("input", "output")]
    if target != "iptables":
        return []
    return [f"{'ip6tables' if family == 6 else 'iptables'} -I {chain} -m conntrack "
            f"--ctstate ESTABLISHED,RELATED -j ACCEPT"
            for family in iptables_families(config) for chain in ("INPUT", "OUTPUT")]


# What an IPv6 host needs besides the connections (RFC 4890 4.4.1, traffic a host's
# firewall must not drop), which neither a connection's rule nor `established,related`
# accepts: neighbour discovery (RFC 4861) and MLD (RFC 3810: a switch that snoops MLD
# forwards the solicitations for a host's address only while the host reports its
# solicited-node group) are not tracked by conntrack, so a host whose policies drop
# cannot resolve its peer's address at all ("No route to host", trial 28 D3); the ICMPv6
# errors TCP acts on (destination unreachable, packet too big: path MTU discovery, time
# exceeded, parameter problem) pass as `related` to an accepted connection, and are
# accepted outright as RFC 4890 asks. nft names; ip6tables' per type in IP6TABLES_TYPES.
ICMPV6_INPUT = ("destination-unreachable", "packet-too-big", "time-exceeded",
                "parameter-problem", "mld-listener-query", "nd-router-advert",
                "nd-neighbor-solicit", "nd-neighbor-advert")
ICMPV6_OUTPUT = ("nd-router-solicit", "nd-neighbor-solicit", "nd-neighbor-advert",
                 "mld-listener-report", "mld2-listener-report")
IP6TABLES_TYPES = {"nd-router-advert": "router-advertisement",
                   "nd-router-solicit": "router-solicitation",
                   "nd-neighbor-solicit": "neighbour-solicitation",
                   "nd-neighbor-advert": "neighbour-advertisement",
                   # ip6tables has no names for MLD's types.
                   "mld-listener-query": "130", "mld-listener-report": "131",
                   "mld2-listener-report": "143"}
ICMPV6_COMMENT = {
    "nft": "# IPv6: neighbour discovery, MLD and the ICMPv6 errors TCP needs (RFC 4890), in and "
           "out: conntrack does not track neighbour discovery, so without these rules a "
           "host whose policies drop cannot reach its peer at all (No route to host)",
    "iptables": "# IPv6: neighbour discovery, MLD and the ICMPv6 errors TCP needs (RFC 4890), "
                "in and out: conntrack does not track neighbour discovery, so without these "
                "rules a host whose policies drop cannot reach its peer at all (No route to "
                "host)",
    "powershell": "# IPv6: Windows Firewall's built-in Core Networking rules let ICMPv6 "
                  "neighbour discovery and packet too big through (RFC 4890): keep them "
                  "enabled, and no block rule on ICMPv6",
    "netsh": "# IPv6: Windows Firewall's built-in Core Networking rules let ICMPv6 neighbour "
             "discovery and packet too big through (RFC 4890): keep them enabled, and no "
             "block rule on ICMPv6",
}


def ipv6_hosts(config: Config) -> bool:
    """Can the rules meet IPv6: an IPv6 host address configured, or none at all (the
    rules then name no address, and nft's `inet` table matches both versions; iptables
    rules are then given for ip6tables too)?"""
    hosts = config.media_servers + config.remote_agents
    return any(ip_version(a) == 6 for a in hosts) or not hosts


def ipv6_rules(target: str, config: Config) -> list[str]:
    """The ICMPv6 an IPv6 host needs (ICMPV6_INPUT, ICMPV6_OUTPUT), on its input and
    output chains, inserted at their head: nft one rule per chain; ip6tables one per
    type, with an IPv6 host or none configured; [] when the rules cannot meet IPv6 (ipv6_hosts)
    and for the Windows firewalls (their built-in rules: ICMPV6_COMMENT)."""
    if target == "nft" and ipv6_hosts(config):
        return [f"nft insert rule inet filter {chain} icmpv6 type {{ {', '.join(types)} }} "
                "accept" for chain, types in (("input", ICMPV6_INPUT),
                                              ("output", ICMPV6_OUTPUT))]
    if target == "iptables" and ipv6_hosts(config):
        return [f"ip6tables -I {chain} -p icmpv6 --icmpv6-type "
                f"{IP6TABLES_TYPES.get(kind, kind)} -j ACCEPT"
                for chain, types in (("INPUT", ICMPV6_INPUT), ("OUTPUT", ICMPV6_OUTPUT))
                for kind in types]
    return []


FORWARD_TARGETS = ("nft", "iptables")


def setup_rules(target: str, chains: tuple[str, ...] = ("input", "output")) -> list[str]:
    """nft: the commands that create the `inet filter` table and its base `chains`
    (filter hook of the same name, priority 0) where they are missing, for the rules to
    go into (new-user trial: on a host without the table, `nft insert rule` failed "No
    such file or directory"). `add` leaves an existing table or chain as it is, and
    names no policy: given one, it would set an existing chain's (a drop policy made
    accept); a chain it creates has policy accept. [] for the other targets (iptables'
    built-in chains always exist)."""
    if target != "nft":
        return []
    return ["nft add table inet filter",
            *(f"nft add chain inet filter {chain} '{{ type filter hook {chain} "
              "priority 0; }'" for chain in chains)]


def forward_rules(target: str, config: Config) -> list[str]:
    """Rules for a firewall or router between the hosts (trial 17, D3: a drop there is
    untouched by host rules): each connection of the sequence accepted on the forward
    chain (nft `inet filter forward`, created when missing: setup_rules; iptables/
    ip6tables FORWARD), inserted at its head, then the return traffic (established,
    related) of both directions; [] for the Windows firewalls, which are host
    firewalls. Raises UsageError as rules_for."""
    if target not in FORWARD_TARGETS:
        return []
    lines: list[str] = setup_rules(target, ("forward",))
    for path in required_paths(config):
        for line in RENDERERS[target](path, path.destination_role):
            lines.append(line.replace(" inet filter input ", " inet filter forward ")
                         .replace(" -I INPUT ", " -I FORWARD "))
    if target == "nft":
        return [*lines, "nft insert rule inet filter forward ct state established,related "
                        "accept"]
    return [*lines, *(f"{'ip6tables' if family == 6 else 'iptables'} -I FORWARD -m "
                      f"conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
                      for family in iptables_families(config))]


def rules_for(target: str, config: Config) -> dict[str, list[str]]:
    """Rules per host ("media server", "remote agent") for one firewall syntax: command
    lines, no comments: setup_rules (nft), the connections', then ipv6_rules, ending
    with return_rules. Raises UsageError for hosts of different IP versions (check_families)."""
    render = RENDERERS[target]
    paths = required_paths(config)
    out: dict[str, list[str]] = {}
    for host_role in ("media server", "remote agent"):
        lines: list[str] = setup_rules(target)
        for path in paths:
            if host_role not in (path.source_role, path.destination_role):
                continue  # between two hosts of the other role
            lines.extend(render(path, host_role))
            if path.source_role == path.destination_role:
                lines.extend(render(path, ""))  # from one such host to another: outbound
        lines.extend(ipv6_rules(target, config))
        lines.extend(return_rules(target, config))
        out[host_role] = lines
    return out


def describe_path(path: Path) -> str:
    source = ", ".join(path.source) or f"any {path.source_role}"
    destination = ", ".join(path.destination) or f"any {path.destination_role}"
    source_ports = (f" port(s) {format_ranges(path.source_ports)}" if path.source_ports
                    else "")
    return (f"{path.name}: TCP from {source}{source_ports} to {destination} "
            f"port(s) {format_ranges(path.ports)}")

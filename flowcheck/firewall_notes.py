"""What `flowcheck firewall` and `flowcheck plan` say besides the rules and the counts.

Comment lines of the text output (new-user trial): SETUP_COMMENT over the nft commands
that create the `inet filter` table and chains (rules.setup_rules), and firewalld_lines,
the firewall-cmd rich rules a firewalld host (RHEL, Fedora) needs instead: firewalld's
own table (`inet firewalld`) drops what its zone does not allow whatever another table
accepts, since every base chain on a hook judges the packet. FORWARD_STATE_COMMENT under
the forward-chain heading: those rules are stateful, so both directions must cross the
device. One-line warnings for
standard error: ndmp_port_warning, a configured range that holds the NDMP port;
shared_host_warning, an address that is both a media server and a remote agent (a local
job: its connections never leave the host).
"""

from __future__ import annotations

from flowcheck.config import Config, format_ranges
from flowcheck.plan import ranges_holding_ndmp_port
from flowcheck.rules import ip_version, port_terms, required_paths

SETUP_COMMENT = (
    "# first the inet filter table and its chains (input and output; forward on a router "
    "between the hosts), created where "
    "missing: `nft add` leaves an existing table or chain as it is (its policy and its "
    "rules: these lines name no policy, so a drop policy stays drop); a chain they create "
    "has policy accept. 'Operation not supported' or 'File exists' from one of them: a "
    "chain of that name already exists with another hook or priority, and the rules go "
    "into it")

# Under "on a firewall or router between them" (newuser68 item 3: the forward rules on a
# router s that carried the agent's replies alone, the media server's packets going by
# router r: the SYN-ACKs, without their SYNs, matched neither `ct state new` nor
# `established` and the control connection never opened; the same rules on r passed).
FORWARD_STATE_COMMENT = (
    "# these forward rules are stateful (new connections, then established,related): both "
    "directions of each connection must cross this same device. A device that sees one "
    "direction only (asymmetric routing: the replies come back through another router or "
    "firewall) sees SYN-ACKs without their SYNs, which match neither new nor established, "
    "and drops them. Route both directions through one device, or there accept this "
    "traffic without connection state, each reply direction by its source ports")


def firewalld_lines(config: Config, host_role: str) -> list[str]:
    """Comment lines: why the nft rules do not open a firewalld host, then the
    firewall-cmd commands that let in the connections `host_role` ("media server" /
    "remote agent") receives, `#   ` before each. One rich rule (firewalld.richlanguage(5))
    per source address and port range (a rule takes one of each; `family` is required
    with an address); `--add-port` when the path names no source; then `--reload`. The
    source-port match of a control connection from the job engine port (`[callback] mode
    = "control"`) is left out: a rich rule takes one port element. Outbound and return
    traffic, and ICMPv6 neighbour discovery, firewalld passes by default."""
    commands: list[str] = []
    for path in required_paths(config):
        if path.destination_role != host_role:
            continue
        for ports in port_terms(path.ports):
            if not path.source:
                commands.append(f"firewall-cmd --permanent --add-port={ports}/tcp")
            for source in path.source:
                commands.append(
                    "firewall-cmd --permanent --add-rich-rule='rule family="
                    f"\"ipv{ip_version(source)}\" source address=\"{source}\" port "
                    f"port=\"{ports}\" protocol=\"tcp\" accept'")
    commands = [*dict.fromkeys(commands), "firewall-cmd --reload"]
    return ["# firewalld hosts (RHEL, Fedora): firewalld's own table drops what its zone "
            "does not allow, whatever the inet filter rules above accept; there use these "
            "instead (add --zone=ZONE for the zone of the interface facing the peer; "
            "firewalld lets outbound and return traffic through by default):",
            *(f"#   {command}" for command in commands)]


def ndmp_port_warning(config: Config) -> str:
    """One line when a range the user set (file or flag) holds the NDMP port: a listener
    given that port of the range would take it from the NDMP service, or find it taken,
    or the range is a typo (new-user trial: 9990-10010 read "fits"); "" otherwise,
    flowcheck's default 1025-65535 included (default_range_warning speaks of it)."""
    holding = [f"the {which} range {format_ranges(getattr(config, f'{which}_range'))}"
               for which in ranges_holding_ndmp_port(config)]
    if not holding:
        return ""
    return (f"{' and '.join(holding)} {'hold' if len(holding) > 1 else 'holds'} the NDMP "
            f"port {config.ndmp_port}: a listener given that port of the range takes it "
            "from the NDMP service (which then cannot listen) or finds it taken, so keep "
            "the dynamic ranges off the NDMP port, or correct the range if it is a typo")


def shared_host_warning(config: Config) -> str:
    """One line when an address is both a media server and a remote agent: a job
    between that host and itself is local, its connections never leave the host (the
    kernel carries them over loopback), so no rule between hosts is needed for it, only
    the host's loopback accept; "" otherwise."""
    agents = set(config.remote_agents)
    shared = [a for a in dict.fromkeys(config.media_servers) if a in agents]
    if not shared:
        return ""
    alone = set(config.media_servers) | agents == set(shared)
    rest = ("no other host is configured, so it needs none of the rules below"
            if alone else "the rules below are for the connections between different hosts")
    return (f"{', '.join(shared)} {'is' if len(shared) == 1 else 'are'} both media server "
            "and remote agent: a job there is local, its connections never leave the host "
            "(loopback), so it needs no rule between hosts, only the host's loopback accept "
            f"(nft iif lo accept, iptables -i lo -j ACCEPT); {rest}")

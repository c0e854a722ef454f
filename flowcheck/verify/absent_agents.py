"""Configured agents the capture holds no session with (trial 23 D4).

A user who names an agent (`--remote-agent`) and reads PASS concludes that agent's job
ran. When no control connection to it is in the capture, nothing of its job was judged:
`agent_not_seen` (a warning) says so. When the capture shows why no connection could
start, the media server's ARP requests for the agent (over IPv6, its neighbour
solicitations: trial 28 D2) never answered and no packet of a connection with it at all,
the agent is down or not on that network (the media server's connect fails with "No
route to host" before any SYN leaves it): `agent_unreachable`, an error, with the
requests as evidence. As for a SYN (docs/findings.md, "Evidence
before verdict"), the requests count when they were repeated (the requester got no
answer) or the capture went on for the retransmission timeout after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flowcheck.config import Config
from flowcheck.durations import span_words
from flowcheck.findings import make_finding
from flowcheck.frame_names import frames_words
from flowcheck.model import ArpAsked, ArpLog, Connection, Finding, Session
from flowcheck.sessions.local import other_version
from flowcheck.sessions.stack_addresses import config_pair, session_proof
from flowcheck.verify.census import Census
from flowcheck.verify.evidence import missing_directions
from flowcheck.verify.hosts import ip_version
from flowcheck.verify.unread_agents import unread_fix, unread_note

__all__ = ["check_absent_agents"]


def check_absent_agents(findings: list[Finding], sessions: Sequence[Session],
                        connections: Sequence[Connection], arp: ArpLog, config: Config,
                        ended_at: float | None, census: Census) -> list[Finding]:
    """The findings with agent_unreachable for each configured agent (remote_agents)
    that no session has and whose address the media server asked for by ARP in vain,
    and agent_not_seen, one for the capture, naming the other configured agents no
    session has (not when the capture holds no session at all: no_control_session says
    that). With no session and an agent_unreachable, no_control_session goes: the ARP
    requests say why no control connection is in the capture (one root cause, one
    finding), where it would send the user to check the port and the interface.
    census: the connections' capture-wide figures (verify.census), for _media_silent."""
    found = _absent(sessions, connections, arp, config, ended_at, census)
    if not sessions and any(f.code == "agent_unreachable" for f in found):
        findings = [f for f in findings if f.code != "no_control_session"]
    return findings + found


def _absent(sessions: Sequence[Session], connections: Sequence[Connection], arp: ArpLog,
            config: Config, ended_at: float | None, census: Census) -> list[Finding]:
    # An agent that a judged session shows under another address (host_not_configured
    # reads it as most likely that agent: Session.likely_configured) is seen there.
    seen = {s.remote_agent for s in sessions} | {
        s.likely_configured["agent"] for s in sessions
        if "agent" in s.likely_configured and not s.side} | _used(sessions, connections)
    absent = [agent for agent in config.remote_agents if agent not in seen]
    if not absent:
        return []
    end = max([ended_at or 0.0, *(c.last_ts for c in connections)])
    talking = {host for c in connections for host in (c.orig_h, c.resp_h)}
    media = set(config.media_servers) | {s.media_server for s in sessions}
    findings: list[Finding] = []
    quiet: list[tuple[str, dict[str, ArpAsked]]] = []
    for agent in absent:
        asked = {} if agent in talking else arp.unanswered(agent)
        proven = {who: a for who, a in asked.items()
                  if (who in media or not media)
                  and (a.count > 1 or end - a.last_ts >= config.retransmission_timeout)}
        if proven:
            findings.append(_unreachable(agent, proven, media))
        else:
            quiet.append((agent, asked))
    if quiet and sessions:
        unlisted = {s.remote_agent: s.id for s in reversed(sessions)
                    if s.remote_agent not in config.remote_agents and not s.side
                    and "agent" not in s.likely_configured}
        # The configuration's one address of each IP version may be one dual-stack
        # agent's, whose job ran under the other (config_pair; lab matrix seed 109 run
        # 34: an IPv6 job refused at its control connection, its IPv4 address silent).
        paired = {pair: (s.id, s.remote_agent) for s in reversed(sessions)
                  if not s.side and (pair := config_pair(config.remote_agents,
                                                         s.remote_agent))}
        agents = [a for a, _ in quiet]
        findings.append(_not_seen(quiet, dict(sorted(unlisted.items())),
                                  _three_way(sessions, agents), paired,
                                  _other_version(sessions, connections, config, agents),
                                  _unread(connections, config, agents),
                                  _media_silent(sessions, connections, config, census)))
    return findings


def _media_silent(sessions: Sequence[Session], connections: Sequence[Connection],
                  config: Config, census: Census) -> list[str]:
    """The media servers' addresses (configured, the judged sessions' control ends and
    those their callbacks and data connections prove: stack_addresses.session_proof), in
    order, when the capture holds no TCP packet sent from any of them although it
    evidently lacks one's direction (evidence.missing_directions: the other side's ACKs,
    data or FINs prove it talked; not a SYN its own stack refused, which never left it:
    trial28-own-unreachable/any-v6-agent-down): a capture of the
    agents' direction only (tcpdump -Q in on the media server, -Q out on the agent, a
    one-way SPAN), where a job's SYNs to an agent that never answered them leave no
    packet (lab matrix seed 130 run 19: `-Q out` on the agent's host, the job's control
    SYNs to its other address dropped there, read "it never reached the network at this
    capture point"). A packet a media server sent to its own address (its loopback: a
    local service, a job of its own) never left it, so it does not count: `tcpdump -i any
    -Q in` on the media server holds them (review 61c: seed 130 run 19 taken so, with a
    local connection 10.77.0.1 -> 10.77.0.1 beside it, read "it never reached the network"
    again). Empty otherwise."""
    judged = [s for s in sessions if not s.side]
    if not judged:
        return []
    by_uid = {c.uid: c for c in connections}
    media = dict.fromkeys([*config.media_servers, *(s.media_server for s in judged),
                           *(address for s in judged
                             for address, _, _ in session_proof(s, by_uid, "media"))])
    if any(sender in media and receiver != sender for sender, receiver in census.captured):
        return []
    lacked = missing_directions(list(census.one_sided), census.captured)
    return list(media) if any(sender in media for sender, _ in lacked) else []


def _unread(connections: Sequence[Connection], config: Config, agents: list[str]
            ) -> dict[str, list[Connection]]:
    """Agent -> the connections to its NDMP port that are no session's and carried
    bytes (another protocol as far as the capture shows: verify.other_protocol; a job's
    control connection in TLS from its first byte that nothing else of a job proves
    reads so), for the agents that have some. One that carried none read as nothing: a
    flooded copy of another host pair's SYN (capture_stray_syn, trial27/threeway-flooded-
    syn-a) is no connection that "did not read as NDMP"."""
    found: dict[str, list[Connection]] = {}
    for conn in connections:
        if (conn.resp_h in agents and conn.resp_p == config.ndmp_port
                and conn.role != "control" and (conn.orig_bytes or conn.resp_bytes)):
            found.setdefault(conn.resp_h, []).append(conn)
    return found


def _other_version(sessions: Sequence[Session], connections: Sequence[Connection],
                   config: Config, agents: list[str]) -> list[str]:
    """The ids of the judged sessions, in order, whose configured agent is of the other
    IP version than one of `agents` and shows no address of that version (no callback
    or data connection from one: _used): with several agents of each version configured
    (two dual-stack agents, lab matrix seed 110 runs 2 and 4), the unseen address may be
    the other address of any of them, which the configuration does not pair."""
    by_uid = {c.uid: c for c in connections}
    found: list[str] = []
    for s in sessions:
        if s.side or s.remote_agent not in config.remote_agents:
            continue
        shown = {address for address, _, _ in session_proof(s, by_uid, "agent")}
        if any(other_version(agent, s.remote_agent)
               and not any(not other_version(a, agent) for a in shown) for agent in agents):
            found.append(s.id)
    return found


def _used(sessions: Sequence[Session], connections: Sequence[Connection]) -> set[str]:
    """The agents' addresses that judged sessions' callbacks came from, and those of the
    other IP version than the session's agent at which its data connections opened
    (flowcheck.sessions.stack_addresses.session_proof): a dual-stack agent's IPv4 address
    beside its IPv6 control connection is seen there (field check 46: "not seen" though
    its callback came from it)."""
    by_uid = {c.uid: c for c in connections}
    return {address for s in sessions if not s.side
            for address, _, how in session_proof(s, by_uid, "agent")
            if how == "callback" or other_version(address, s.remote_agent)}


def _three_way(sessions: Sequence[Session], agents: list[str]) -> dict[str, tuple[str, str]]:
    """Agent -> (its role, the session) for the agents that are the other NDMP server of a
    judged session's three-way job (Session.server_roles): the capture, taken on the
    other agent, holds their data connection but not their control connection from the
    DMA (trial 27: "never reached the network at this capture point")."""
    found: dict[str, tuple[str, str]] = {}
    for session in sessions:
        for host, role in session.server_roles.items():
            if host in agents and host != session.remote_agent:
                found.setdefault(host, (role, session.id))
    return found


def _asked_words(requester: str, asked: ArpAsked, media: set[str], whom: str = "") -> str:
    """"the media server 10.77.0.1's 3 ARP requests over 2.05 s (frames 1, 2, 3)"; with
    `whom`, "... requests for 10.77.0.6 ..."; "neighbour solicitations" for IPv6."""
    who = f"the media server {requester}" if requester in media else requester
    kind = "neighbour solicitation" if ArpLog.ipv6(requester) else "ARP request"
    what = (kind if asked.count == 1 else f"{asked.count} {kind}s")
    over = (f" over {span_words(asked.last_ts - asked.first_ts)}" if asked.count > 1 else "")
    frames = frames_words(asked.frames, ranges=False, plural=len(asked.frames) > 1) + (
        " ..." if asked.count > len(asked.frames) else "")
    return (f"{who}'s {what}{f' for {whom}' if whom else ''}{over} ({frames})")


def _unreachable(agent: str, asked: dict[str, ArpAsked], media: set[str]) -> Finding:
    requesters = sorted(asked)
    words = " nor ".join(_asked_words(who, a, media) for who, a in sorted(asked.items()))
    first = next((who for who in requesters if who in media), requesters[0])
    frames = sorted(frame for a in asked.values() for frame in a.frames)
    v6 = ArpLog.ipv6(agent)
    message = (
        f"The configured agent {agent} (--remote-agent) is down or not on this network: "
        f"it never answered {words}, and the capture holds no packet of a connection with "
        f"it. With no answer to {'neighbour discovery' if v6 else 'ARP'}, {first} cannot "
        f"send {agent} a single "
        "packet, not even the SYN of a control connection, so a job with it fails before "
        "step 1 (its log reads \"No route to host\" or \"host unreachable\"): no TCP "
        "firewall rule explains it, and a wrong address (or a name that resolves to one) "
        "looks the same." + (
            f" Over IPv6 a firewall on {agent} that drops ICMPv6 neighbour solicitations "
            "(an input policy of drop with no rule for neighbour discovery) looks the same "
            "too." if v6 else ""))
    windows = (f"`Get-NetNeighbor -IPAddress {agent}` on Windows reads Unreachable" if v6
               else "`arp -a` on Windows has no entry for it")
    record = "DNS AAAA record" if v6 else "DNS record"
    how = ("solicit it by neighbour discovery: check its prefix length" if v6
           else "ask for it by ARP: check its address mask")
    fix = (
        f"Check that {agent} is up and is the agent's address: ping it from {first} "
        f"(`ip neigh show {agent}` there reads FAILED, {windows}); power on or reconnect "
        f"the host, or correct the agent's address (or its name's {record}) in the job. "
        f"If {agent} is on another network, {first} should send its packets to a router "
        f"rather than {how} and routes." + (
            f" If {agent} is up, let ICMPv6 neighbour solicitations and advertisements "
            "(types 135 and 136) through its firewall, in and out (`flowcheck firewall` "
            "prints the rules)." if v6 else ""))
    return make_finding("agent_unreachable", message, fix,
                        ts=min(a.first_ts for a in asked.values()), frames=frames)


def _not_seen(quiet: list[tuple[str, dict[str, ArpAsked]]], unlisted: dict[str, str],
              three_way: dict[str, tuple[str, str]] | None = None,
              paired: dict[str, tuple[str, str]] | None = None,
              stacked: list[str] | None = None,
              unread: dict[str, list[Connection]] | None = None,
              silent: list[str] | None = None) -> Finding:
    """unlisted: the agents of judged sessions that the configuration does not list,
    with the first such session's id (another address of a configured agent, perhaps:
    a NAT, a second interface); three_way: the agents that are a judged session's
    three-way job's other server (_three_way), named so; paired: configured agents the
    configuration pairs with a judged session's agent (one address of each IP version,
    stack_addresses.config_pair) -> (that session's id, its agent); stacked: the
    sessions whose agent may be one of them under its other IP version's address, the
    configuration naming several of each version (_other_version); unread: agents with
    connections to their NDMP port that no session reads (_unread): the control
    connection is not said absent from the capture, but not read (verify.unread_agents;
    lab matrix seed 112 run 7); silent: the media servers' addresses when the capture
    holds none of their packets (_media_silent): a job's unanswered SYNs to the agents
    would not be in it, so the fix does not say the job never reached the network."""
    three_way = three_way or {}
    agents = [agent for agent, _ in quiet]
    one = len(agents) == 1
    named = _joined(agents, "and")
    notes = "; ".join(f"{_asked_words(requester, a, set(), agent)} had no answer in the "
                      "capture" for agent, asked in quiet for requester, a in sorted(asked.items()))
    kind = "the configured agent" if one else "the configured agents"
    it, its = ("it", "its") if one else ("them", "their")
    # With sessions whose agent the configuration does not list, that agent may be one
    # of these under another address (a NAT): host_not_configured says so, and the note
    # says it too rather than that no job with it is judged (trial 31 D4).
    unless = ""
    if unlisted:
        sids = list(unlisted.values())
        unless = (f"unless {'it is' if one else 'one of them is'} "
                  + (f"session {sids[0]}'s agent {next(iter(unlisted))}" if len(sids) == 1
                     else f"the agent of session {_joined(sids, 'or')}")
                  + " under another address (a NAT), ")
    mine = {agent: paired[agent] for agent in agents if agent in (paired or {})}
    if mine and not unless:
        sid, host = next(iter(mine.values()))
        unless = (f"unless {'it is' if one else 'one of them is'} session {sid}'s agent "
                  f"{host} under its other IP version's address (the configuration names "
                  "one address of each version, as for one dual-stack agent), ")
    elif stacked and not unless:
        who = (f"session {stacked[0]}'s agent" if len(stacked) == 1 else
               f"the agent of session {_joined(stacked, 'or')}")
        unless = (f"unless {'it is' if one else 'one of them is'} {who} under its other "
                  "IP version's address "
                  "(the configuration names agents of both versions, as for dual-stack "
                  "agents, without telling which two addresses are one host's), ")
    message = (
        f"No control connection to {kind} {named} (--remote-agent) "
        f"{'was read ' if unread else ''}in the capture: "
        f"{unless}no job with {it} is judged here"
        + ("" if unless else f", so the verdict says nothing of {its} jobs") + "."
        + (f" {_protocols(quiet)}: {notes}." if notes else "")
        + unread_note(unread or {})
        + (f" {_silent_words(silent, it)}" if silent and not unread else ""))
    if unlisted:
        others = ", ".join(f"{host} (session {sid})" for host, sid in unlisted.items())
        seen = _versions(unlisted)
        stack = (f"the IPv{seen.pop()} address of a dual-stack agent, " if len(seen) == 1
                 and not seen & _versions(agents) else "")
        message += (f" The sessions' agents include {others}, which the configuration does "
                    "not list (host_not_configured): if that is a configured agent under "
                    f"another address ({stack}a NAT, another interface), its job is judged "
                    "there.")
    either = _joined(agents, "or")
    reached = ("its SYNs to it went unanswered, which this capture cannot hold (none of the "
               "media server's TCP is in it), or it never reached the network at this "
               "capture point"
               if silent else "it never reached the network at this capture point")
    fix = (unread_fix(either, one, unread) if unread else
           f"If a job with {either} ran while the capture ran, {reached}: read the job's "
           "log for its first error, and capture on "
           "the media server's interface toward the agent (both directions, no filter) "
           f"while the job starts; otherwise leave {'it' if one else 'them'} out of "
           "--remote-agent for this capture.")
    if three_way:
        listed = ", ".join(f"{host} is the {role} of session {sid}'s three-way job"
                           for host, (role, sid) in three_way.items())
        message += (f" {listed[0].upper()}{listed[1:]}: its control connection from the DMA "
                    "does not pass this capture point (the capture holds the job's data "
                    "connection, judged in that session).")
        fix = ("To judge the three-way job's other session too, capture on the DMA or on "
               "that agent as well (or together: one analyze run of both files). " + fix
               if len(three_way) < len(agents) else
               "To judge the three-way job's other session too, capture on the DMA or on "
               "that agent as well (or together: one analyze run of both files).")
    frames = [frame for _, asked in quiet for a in asked.values() for frame in a.frames]
    first = min((a.first_ts for _, asked in quiet for a in asked.values()), default=None)
    return make_finding("agent_not_seen", message, fix, frames=frames, ts=first)


def _silent_words(silent: list[str], it: str) -> str:
    """The note of a capture holding no packet from the media servers (_media_silent):
    not "one direction only", which a capture holding their ICMP or ARP is not, its
    capture_one_direction saying only their TCP is missing (review 61c)."""
    named = _joined(silent, "or")
    return (f"The capture holds no TCP packet that left the media server {named} "
            "(capture_one_direction), so a job's control connection SYNs to "
            f"{it} that went unanswered (dropped on the way or by {it}) would leave no "
            "packet in it: the capture does not show whether such a job ran.")


def _joined(names: Sequence[str], last: str) -> str:
    """Addresses as a message lists them: "A", "A or B", "A, B or C" (`last`: "or" or
    "and" before the last; names: at least one)."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last} {names[-1]}"


def _versions(hosts: Iterable[str]) -> set[int]:
    """The IP versions of the hosts (trial 28 D14: an agent configured by its IPv4 address
    whose job ran over IPv6)."""
    return {ip_version(host) for host in hosts}


def _protocols(quiet: list[tuple[str, dict[str, ArpAsked]]]) -> str:
    """"ARP", "Neighbour discovery" or both: what the requests of `quiet` were."""
    v6 = {ArpLog.ipv6(agent) for agent, asked in quiet if asked}
    return " and ".join(name for flag, name in ((False, "ARP"), (True, "Neighbour discovery"))
                        if flag in v6)

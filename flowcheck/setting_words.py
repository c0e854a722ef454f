"""Which setting a newcomer means by a name flowcheck does not know, by its words.

Spelling distance alone answers a typo (`media_rnage`: media_range), not another
vocabulary: Backup Exec and firewall admins say "data ports", "dynamic ports", "port
range" for what flowcheck calls the remote agent's and the media server's ranges, and
difflib offered `--ndmp-port, --vxlan-port` for `--data-ports 6001-6005` and
`vxlan_ports` for a configuration file's `data_ports` (newuser63). A name is split into
its words (`-`, `_`, spaces, camelCase) and read by a small table: a word of ports or
ranges with a word of what they are for (data, dynamic, ephemeral, callback, ...), or
ports alone, names the ranges; a word of one side (agent, client; media, server, job
engine) narrows it to that side's. Pure.
"""

from __future__ import annotations

import re

__all__ = ["range_settings", "range_words"]

_PORTS = frozenset({"port", "ports", "range", "ranges", "portrange", "portranges"})
# What the ports are for, in the words of Backup Exec's and firewalls' settings.
_PURPOSE = frozenset({"data", "dynamic", "ephemeral", "range", "ranges", "ports", "callback",
                      "listen", "listener", "mover", "tcp", "high", "low", "allowed", "open",
                      "firewall", "portrange", "portranges"})
_AGENT = frozenset({"agent", "agents", "remote", "client", "clients", "rawsagent"})
_MEDIA = frozenset({"media", "server", "servers", "job", "engine", "dma", "be", "bews"})
# Names of other settings: their own spelling finds them (ndmp_port, vxlan_ports).
_OTHER = frozenset({"ndmp", "vxlan", "geneve", "hold"})

AGENT_RANGE, MEDIA_RANGE = "agent_range", "media_range"


def _words(name: str) -> set[str]:
    """`--dataPorts`, `data_ports`, `data-ports` -> {"data", "ports"}."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.strip().lstrip("-"))
    return {word for word in re.split(r"[-_\s.]+", spaced.lower()) if word}


def range_settings(name: str) -> tuple[str, ...]:
    """The range settings (configuration keys: `agent_range`, `media_range`) a name
    unknown to flowcheck most likely means, by its words; () when it names none (a typo
    of another setting, or nothing of ports). `data_ports`, `dynamic-ports`,
    `port_range`, `--ports` -> both; `agent_ports`, `client-port-range` -> the agent's;
    `media-ports`, `server_port_range` -> the media server's."""
    words = _words(name)
    if not words & _PORTS or words & _OTHER:
        return ()
    side_agent, side_media = bool(words & _AGENT), bool(words & _MEDIA)
    if not (words & _PURPOSE or side_agent or side_media):
        return ()  # `port` alone: a typo of ndmp_port, if anything
    if side_agent and not side_media:
        return (AGENT_RANGE,)
    if side_media and not side_agent:
        return (MEDIA_RANGE,)
    return (AGENT_RANGE, MEDIA_RANGE)


def range_words(settings: tuple[str, ...], flags: bool) -> str:
    """What a range suggestion says: the settings as flags (`--agent-range LO-HI`) or as
    configuration keys, and what they are: "--agent-range LO-HI or --media-range LO-HI
    (the remote agent's or the media server's dynamic port range, its data and callback
    ports as set in Backup Exec; 'flowcheck docs configuration')"."""
    names = [f"--{s.replace('_', '-')} LO-HI" if flags else s for s in settings]
    whose = {AGENT_RANGE: "the remote agent's", MEDIA_RANGE: "the media server's"}
    what = " or ".join(whose[s] for s in settings)
    return (f"{' or '.join(names)} ({what} dynamic port range, its data and callback "
            "ports as set in Backup Exec; 'flowcheck docs configuration')")

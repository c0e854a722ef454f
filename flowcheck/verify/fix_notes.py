"""What the fixes say once every check has run: the ranges to set first when they are
flowcheck's defaults, and the `flowcheck firewall` command that prints a fix's allow rules
(trial 20 D5 d, D6).

With no configuration the media and agent ranges are 1025-65535: a rule for them opens
64,511 ports both ways and a range that size cannot be widened. Such a fix first asks for
the ranges configured in Backup Exec (or the DMA) and a new run; its rules name the ports
this job used (verify.allow_rules.seen_or_range). A fix made of allow rules ends with the
`flowcheck firewall` command for the same hosts and ranges, which prints them for nft,
iptables, PowerShell and netsh, and the note that an accept in one nftables table does
not undo a drop (a refusal's: a reject) in another (verify.established_accept). Which
fixes give allow rules and which hosts the rules are for the checks that write them
record (Finding.allows); the fix's words are not searched for them (note61 "Left" 2).
"""

from __future__ import annotations

from flowcheck.config import Config, format_ranges
from flowcheck.model import Finding, Session, Severity
from flowcheck.verify.context import DEFAULT_RANGE_WORDS, Context
from flowcheck.verify.end_roles import role_ends
from flowcheck.verify.established_accept import other_table_note
from flowcheck.verify.plain_direction import (
    callback_unseen,
    plain_direction,
    profile_first,
    suggests_other_profile,
    with_lead,
)

# The words Context.ranges gives a range the user did not set.
_DEFAULT_RANGE_MARK = " range, the default)"
_FIREWALL_COMMAND = "flowcheck firewall"


def note_fixes(ctx: Context) -> None:
    """Add the default-range advice and the `flowcheck firewall` pointer to the fixes of
    the errors and warnings, after `--profile ndmp` when the capture is plain NDMP's
    (verify.plain_direction); mark those whose fix suggests another profile while the
    user chose none (Finding.under_default)."""
    shown = plain_direction(ctx)  # once: it reads every session
    unseen = bool(shown) and callback_unseen(ctx)
    chosen = "profile" in ctx.config.explicit
    for finding in ctx.findings:
        if finding.severity == Severity.INFO or not finding.fix:
            continue
        if not chosen and suggests_other_profile(finding):
            # The default profile's expectation, not yet the job's failure: after the
            # job's own findings (pipeline.finding_order).
            finding.under_default = True
        lead, fix, finding.fork = profile_first(ctx, finding, shown, unseen)
        first = default_ranges_first(ctx, fix)
        pointer = firewall_pointer(ctx, finding)
        finding.fix = with_lead(lead, f"{first}{fix[1:] if first else fix}{pointer}")
        if first and not lead:  # without a profile's lead, the fix starts with it
            finding.ranges_first = len(first) - 1  # its last letter is the fix's first


def default_ranges_first(ctx: Context, fix: str) -> str:
    """The first fix when a fix names a range the user did not set: set the ranges
    configured in Backup Exec (or the DMA) and re-run, then "until then" and the fix's
    first letter, lowercase (the caller adds the rest); "" otherwise."""
    unset = ctx.config.default_ranges()
    if not unset or (DEFAULT_RANGE_WORDS not in fix and _DEFAULT_RANGE_MARK not in fix):
        return ""
    flags = " and ".join(f"--{which}-range" for which in unset)
    where = ("Backup Exec's media server and remote agent TCP dynamic port ranges"
             if ctx.profile.backup_exec else
             "the data port ranges configured on the DMA and the NDMP servers")
    many = len(unset) > 1
    return (f"First set {flags} to {where} and re-run: the {' and '.join(unset)} "
            f"range{'s are' if many else ' is'} flowcheck's default "
            f"{format_ranges(getattr(ctx.config, f'{unset[0]}_range'))}, too wide to open "
            f"and impossible to widen. Until then, for this job: "
            f"{fix[:1].lower() if fix[1:2].islower() else fix[:1]}")


def firewall_pointer(ctx: Context, finding: Finding) -> str:
    """" `flowcheck firewall ...` prints these rules ..." for a fix that gives allow
    rules, with the hosts they are for and the ranges in force, ending with the note that
    an accept in one nftables table does not undo a drop in another (other_table_note);
    "" for any other fix and for one that quotes the command itself (Allows.pointed).
    Whether the fix gives allow rules, what they are for and whether it quotes the
    command is the finding's data (Finding.allows, set by the check that wrote the fix),
    never its words (note61 "Left" 2)."""
    allows = finding.allows
    if allows is None or allows.pointed:
        return ""
    session = ctx.session_by_id.get(finding.session) if finding.session else None
    config = ctx.config
    args: list[str] = []
    media = [session.media_server] if session else list(config.media_servers)
    agents = [session.remote_agent] if session else list(config.remote_agents)
    conn = ctx.by_uid.get(finding.uid) if finding.uid and session else None
    if conn is not None and session is not None:
        # An end the rules are for at another address than the session's host (the
        # media server's second source address: trial 19 D13): its rules need it too.
        for which, (host, _) in role_ends(ctx, conn, session):
            hosts = media if which == "media" else agents
            if host in allows.agents:
                hosts = agents  # the fix's own reading: a three-way job's (trial 27 D1)
            if host not in hosts and host in allows.hosts:
                hosts.append(host)
    if session is not None:  # a three-way job's other agent the rules name (trial 27 D7)
        agents += [host for host in session.server_roles
                   if host not in agents and host in allows.hosts]
    if session is not None and conn is None:
        # No connection of the finding's to take the ends from: the agent's own addresses
        # the session's data show that the rules are for (natfix with the data SYNs cut
        # out: "allow TCP from 10.77.0.1 to 10.78.0.2 ports 6001-6100", the command
        # lacking --remote-agent 10.78.0.2).
        agents += [host for host in agent_addresses(session)
                   if host not in agents and host in allows.hosts]
    args += [f"--media-server {host}" for host in media]
    args += [f"--remote-agent {host}" for host in agents]
    defaulted = config.default_ranges()
    for which in ("media", "agent"):
        ranges = format_ranges(getattr(config, f"{which}_range"))
        args.append(f"--{which}-range {ranges if which not in defaulted else 'LO-HI'}")
    if config.ndmp_port != Config().ndmp_port:
        args.append(f"--ndmp-port {config.ndmp_port}")
    if config.profile != Config().profile:
        args.append(f"--profile {config.profile}")
    unset = ("; LO-HI: the range set in Backup Exec" if ctx.profile.backup_exec
             else "; LO-HI: the range set on the DMA") if defaulted else ""
    rule = _stopping_rule(finding)
    # The note once: a fix quoting nft's accept of established connections holds it
    # (established_accept; Allows.noted).
    note = "" if allows.noted == rule else f"; {other_table_note(rule)}"
    return (f" `{_FIREWALL_COMMAND} {' '.join(args)}` prints these rules for nft, iptables, "
            f"PowerShell and netsh, per host{unset}{note}.")


def agent_addresses(session: Session) -> list[str]:
    """The addresses the session's data show its agent at, in order, once each: its
    callback's source (Session.callback_hosts: (agent, media server)) and the addresses
    it announced for its data service to listen on (the announcements whose listener is
    "data": NDMP_DATA_LISTEN's reply, the data server's endpoint). The mover's are left
    out: a three-way job's tape agent or the media server listens there."""
    found = [session.callback_hosts[0]] if session.callback_hosts else []
    found += [a.ip for a in session.announced if a.listener == "data"]
    return list(dict.fromkeys(found))


def _stopping_rule(finding: Finding) -> str:
    """"reject" for a refusal's fix (a RST or an ICMP unreachable is a reject's, not a
    drop's: newuser61 6), "drop or reject" for unanswered SYNs read as most likely
    rejected (Finding.reading "likely_rejected": review64a; an ndmp_error_reply's CONNECT
    error right after its lone SYN: verify.lone_connect_error), else "drop". Trial A of
    session 34: an accept added in one nftables table let nothing through while another
    table's base chain on the same hook dropped the packets."""
    if finding.reading == "likely_rejected":
        return "drop or reject"
    refusal = finding.code.endswith("_refused") or finding.reading == "carries_refusal"
    return "reject" if refusal else "drop"

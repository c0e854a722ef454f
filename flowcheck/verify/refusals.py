"""How a refused SYN was refused and what fixes it: a RST or an ICMP unreachable, a
filter's code (RFC 792, RFC 1812, RFC 4443) or a router's between the hosts, and the
words of callback_refused / data_refused and their fixes."""

from __future__ import annotations

from flowcheck.model import Connection, Session, endpoint
from flowcheck.sessions import quoted_syn_refused, unseen_syn_refused
from flowcheck.verify.context import Context, allow_rule

# ICMP unreachable codes a filter sends: IPv4 (RFC 792, RFC 1812) network and host
# administratively prohibited, communication administratively prohibited; ICMPv6
# (RFC 4443) communication administratively prohibited, source address failed policy,
# reject route.
_PROHIBITED = {4: {9, 10, 13}, 6: {1, 5, 6}}
_PORT_UNREACHABLE = {4: 3, 6: 4}  # RFC 792, RFC 4443


def refusal_how(conn: Connection) -> str:
    """What refused the SYN: "an ICMP unreachable" (naming a filter's code, and its
    sender when a device between the hosts sent it: rejecting_device) or "a RST"."""
    if not conn.icmp_frames or conn.resp_rst:
        return "a RST"
    device = rejecting_device(conn)
    sender = f" from {device}" if device is not None else ""
    if prohibited(conn):
        return (f"an ICMP administratively prohibited unreachable (code {conn.icmp_code})"
                f"{sender}")
    if port_unreachable(conn):
        return f"an ICMP port unreachable (code {conn.icmp_code}){sender}"
    return f"an ICMP unreachable{sender}"


def rejecting_device(conn: Connection) -> str | None:
    """The address of a router or firewall between the hosts that rejected the SYN: the
    ICMP unreachable's source (Connection.icmp_sender) when it is not the responder and
    its code is a filter's (administratively prohibited) or port unreachable (a reject
    rule's: iptables' REJECT default, RFC 792 / RFC 4443 code 3 / 4; a closed TCP port
    answers with a RST). None otherwise (a RST, the responder's own ICMP, or a router's
    net or host unreachable: routing)."""
    version = 6 if ":" in conn.resp_h else 4
    if conn.resp_rst or not conn.icmp_frames or conn.icmp_sender in (None, conn.resp_h):
        return None
    if conn.icmp_code in _PROHIBITED[version] or conn.icmp_code == _PORT_UNREACHABLE[version]:
        return conn.icmp_sender
    return None


def device_name(device: str) -> str:
    """A rejecting device named for allow_rule: its address and what it is."""
    return f"{device} (the router or firewall between the hosts that sent the reject)"


def device_words(conn: Connection, device: str) -> str:
    """Why a reject from a device between the hosts is not the responder's answer."""
    return (f"the SYN to {endpoint(conn.resp_h, conn.resp_p)} was rejected with "
            f"{refusal_how(conn)}, not by {conn.resp_h}: the ICMP's source "
            f"is a router or firewall between the hosts whose forward rules reject the "
            "connection")


def prohibited(conn: Connection) -> bool:
    """Was the SYN refused by an ICMP code only a filter sends (administratively
    prohibited, not a closed port's port unreachable)?"""
    version = 6 if ":" in conn.resp_h else 4
    return (bool(conn.icmp_frames) and not conn.resp_rst
            and conn.icmp_code in _PROHIBITED[version])


def port_unreachable(conn: Connection) -> bool:
    """Was the SYN refused by an ICMP port unreachable (RFC 792 code 3, RFC 4443 code 4)?
    To a TCP SYN that is a filter's reject (iptables' REJECT default, nft's reject): a
    closed TCP port answers with a RST (RFC 9293 3.10.7.1), Linux and Windows alike."""
    version = 6 if ":" in conn.resp_h else 4
    return (bool(conn.icmp_frames) and not conn.resp_rst
            and conn.icmp_code == _PORT_UNREACHABLE[version])


def filter_reject_words(conn: Connection) -> str:
    """Who rejects a SYN refused by an ICMP port unreachable from the responder itself:
    its own firewall (port_unreachable), with why it is not a closed port."""
    host = conn.icmp_sender or conn.resp_h
    return (f"a firewall on {host} rejects it (a closed TCP port answers a SYN with a "
            "RST; an ICMP port unreachable to a TCP SYN comes from a reject rule, such as "
            "iptables' REJECT or nft's reject)")


def unseen_syn_words(ctx: Context, conns: list[Connection]) -> str:
    """Where the evidence of refusals whose SYN the capture lacks is
    (flowcheck.sessions.unseen_syn_refused, quoted_syn_refused), as a sentence to follow
    a refusal finding's message; "" when every one of conns holds its SYN."""
    quoted = [c for c in conns if quoted_syn_refused(c)]
    if quoted:
        frames = [f for c in quoted for f in c.icmp_frames]
        many = len(frames) > 1
        return (" " + syns_not_held(ctx, quoted[0].orig_h, quoted[0].resp_h,
                                    [c.orig_p for c in quoted])
                + f"; the ICMP unreachable{'s' if many else ''} in frame{'s' if many else ''} "
                f"{', '.join(map(str, frames))} quote{'' if many else 's'} "
                f"{'them' if len(quoted) > 1 or quoted[0].syn_retries else 'it'}.")
    unseen = [c for c in conns if unseen_syn_refused(c)]
    if not unseen:
        return ""
    many = len(unseen) > 1
    frames = ", ".join(str(c.rst_frames[0]) for c in unseen)
    return (" " + syns_not_held(ctx, unseen[0].orig_h, unseen[0].resp_h,
                                [c.orig_p for c in unseen])
            + f"; the RST{'s' if many else ''} in frame{'s' if many else ''} {frames} "
            f"answer{'' if many else 's'} {'them' if many else 'it'}: RST+ACK, no data, "
            "sequence number 0, as a TCP refuses a SYN.")


def syns_not_held(ctx: Context, sender: str, receiver: str, ports: list[int]) -> str:
    """"The capture does not hold the SYN(s) from SENDER port(s) P (why)": the opening of
    the words for refusals whose SYN the capture lacks (a RST or an ICMP reject alone)."""
    many = len(ports) > 1
    listed = ", ".join(dict.fromkeys(str(p) for p in ports))
    why = (f" (it holds no packet from {sender} to {receiver}: one direction only)"
           if (sender, receiver) in ctx.missing else "")
    return (f"The capture does not hold the SYN{'s' if many else ''} from {sender} "
            f"port{'s' if many else ''} {listed}{why}")


def refusal_causes(ctx: Context, conn: Connection) -> str:
    """Why the endpoint refused the SYN: a filter's reject, or nothing listening (the
    port in use: Backup Exec's consequence named only in its profile) or a reject; a
    device between the hosts when the reject came from it (rejecting_device)."""
    device = rejecting_device(conn)
    if device is not None:
        return device_words(conn, device)
    if prohibited(conn):
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: a firewall or router filter rejects it (a closed port "
                "answers with a RST)")
    if port_unreachable(conn):
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: {filter_reject_words(conn)}")
    if not ctx.profile.backup_exec:
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: either nothing listens there (the listener could not "
                "bind the port because it was already in use, or had stopped), or a firewall "
                "rejects it")
    return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with {refusal_how(conn)}: "
            f"either nothing listens there because the port was already in use (Backup Exec then "
            f"skips the resource and the job fails with \"Communication Failure has occurred "
            f"between the Job Engine and Remote Agent\"), or a firewall rejects it")


def callback_refused_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix of callback_refused: the port in use or a firewall's reject."""
    return _refused_fix(ctx, conn, session) or (
        f"If the port was in use: {port_holder(ctx, conn, 'media')}; if a firewall rejects "
        f"it, {allow_rule(ctx, conn, session)}.")


def data_refused_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix of data_refused: the port in use or a firewall's reject."""
    which = ctx.host_role(conn.resp_h) or \
        ("agent" if ctx.config.in_agent_range(conn.resp_p) else "media")
    return _refused_fix(ctx, conn, session) or (
        f"If the port was in use: {port_holder(ctx, conn, which)}; if a firewall "
        f"rejects it: {allow_rule(ctx, conn, session)}.")


def port_holder(ctx: Context, conn: Connection, which: str) -> str:
    """How to free the refused port: find what holds it on its host (Windows and Linux
    commands), and widen the `which` range when the user set it (trial 20 D5 c: "free it
    or widen the range" named no host, no port, no command)."""
    port = conn.resp_p
    widen = (f", or widen {ctx.ranges(which)} so each resource gets its own port"
             if f"{which}_range" in ctx.config.explicit else "")
    return (f"on {conn.resp_h} find what holds TCP port {port} and stop it (Windows: "
            f"`netstat -ano | findstr :{port}`, then `tasklist /FI \"PID eq <PID>\"`; "
            f"Linux: `ss -tanp 'sport = :{port}'`){widen}")


def _refused_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix of a reject only a filter sends: the allow rule on the device between the
    hosts that sent it (rejecting_device), or on the filter (an administratively
    prohibited code, or a port unreachable: a TCP port's reject rule); "" for a RST or
    another ICMP code (the port in use, or a firewall: the caller's words)."""
    device = rejecting_device(conn)
    if device is not None:
        rule = allow_rule(ctx, conn, session, device=device_name(device))
        return f"{rule[0].upper()}{rule[1:]}."
    if prohibited(conn):
        rule = allow_rule(ctx, conn, session)
        return f"{rule[0].upper()}{rule[1:]} (the firewall or filter that sent the reject)."
    if port_unreachable(conn):
        rule = allow_rule(ctx, conn, session)
        host = conn.icmp_sender or conn.resp_h
        return (f"{rule[0].upper()}{rule[1:]}: the reject rule is in {host}'s firewall, "
                "so the allow rule must come before it there.")
    return ""

"""Data connections opened by the side the profile expects to listen (step 4 violated):
the step_out_of_order finding, and what its fix asks of the firewall.

Its fix asked to allow the connections' path ("the firewall must allow TCP from the
agent to the media server port 5014") even when the capture showed that very connection
open and carrying the job's data (an ndmjob backup under the default profile: 2,037,760
B over it): the firewall had let it through. When every such connection worked, the fix
says so instead, and asks only for what the capture does not show working: the range the
next jobs' data connections use (trial 20 D5 b), kept allowed, when a configured range
names it (verify.plain_direction shortens it further when the capture is plain NDMP's).
"""

from __future__ import annotations

from flowcheck.model import Allows, Connection, Session, connection_ends
from flowcheck.profiles import StepSpec
from flowcheck.verify.allow_rules import port_list, seen_or_range
from flowcheck.verify.context import DEFAULT_RANGE_WORDS, Context, opening_frames
from flowcheck.verify.evidence import judged
from flowcheck.verify.profile_followed import wrong_way_fix

# The words that end what the fix says of data connections that worked (worked_part).
NOTHING_TO_CHANGE = "so nothing in the firewall needs changing for "


def report_wrong_way(ctx: Context, session: Session, spec: StepSpec,
                     wrong_way: list[Connection], expected: str) -> str:
    """One step_out_of_order naming every data connection opened from the wrong side
    (`expected`: "media server" or "agent", the side the profile has connect); returns
    who opened them ("10.77.0.2", "10.77.0.2 and 10.77.0.3")."""
    listed = ", ".join(f"{connection_ends(c)}" for c in wrong_way)
    openers = " and ".join(dict.fromkeys(c.orig_h for c in wrong_way))
    ports: dict[tuple[str, str], list[int]] = {}
    for conn in wrong_way:
        pair = ports.setdefault((conn.orig_h, conn.resp_h), [])
        if conn.resp_p not in pair:
            pair.append(conn.resp_p)
    rules = [(f"TCP from {orig} to {resp}", pair, _wrong_way_ports(ctx, session, resp, pair))
             for (orig, resp), pair in ports.items()]
    what, verb, them = ("data connection", "is", "it") if len(wrong_way) == 1 else \
        (f"{len(wrong_way)} data connections", "are", "them")
    allows = None  # the fix's allow rules (Finding.allows): none when every one worked
    if all(worked(ctx, c) for c in wrong_way):
        body = _worked_fix(ctx, wrong_way, rules)
    else:
        allows = Allows(tuple(dict.fromkeys(host for pair in ports for host in pair)))
        body = ("the firewall must allow "
                + "; ".join(f"{way} {words}" for way, _, (_, words, _) in rules) + ".")
    ctx.add("step_out_of_order",
            f"The {what} {listed} {verb} opened by {openers}; the {ctx.profile.name} "
            f"profile expects the {expected} to open {them} (step {spec.number}).",
            f"{wrong_way_fix(ctx.profile.name)}{body}",
            session=session, conn=wrong_way[0],
            frames=[f for c in wrong_way for f in opening_frames(c)], allows=allows,
            other_profile="wrong_way")
    return openers


def worked(ctx: Context, conn: Connection) -> bool:
    """Did the capture show the connection open and carry data? Its opening judged
    established (the handshake seen complete, or, part of it not captured, the sides went
    on past it: an originator sends data only after a SYN-ACK reached it) and payload of
    either side in the capture, or acknowledged by the other side's ACKs when the capture
    lacks its sender's direction (Connection.acked_unseen_split, a proven FIN left out).
    Not one reset before any data, nor one whose opening came only after its job ended
    (judged "aborted", "late"); one whose opening the capture lacks (midstream) is never
    held against the profile's direction (data_steps._expected_connector). Nor one either
    side reset: a RST in mid-transfer may be a device's between the hosts (data_reset
    says whose), so the path is not said to need nothing (second read of session 49)."""
    if judged(ctx, conn) != "established" or conn.orig_rst or conn.resp_rst:
        return False
    return _carried(conn) > 0


def _carried(conn: Connection) -> int:
    """Payload bytes of the connection the capture holds (each byte once), or, of a side
    it holds no segment of, those its peer's ACKs acknowledge (a FIN they prove left
    out)."""
    return sum(conn.sent_once(side) or conn.acked_unseen_split(side)[0]
               for side in ("orig", "resp"))


def worked_words(conns: list[Connection]) -> str:
    """"the data connection itself worked (established, 2037760 B in the capture), so
    nothing in the firewall needs changing for it" (plural for several), for data
    connections `worked` holds for; the bytes of a side the capture lacks as its
    receiver's ACKs count them (a closing FIN as a byte: step 5 says the same)."""
    seen = sum(c.sent_once("orig") + c.sent_once("resp") for c in conns)
    acked = sum((c.orig_acked_unseen if not c.sent_once("orig") else 0)
                + (c.resp_acked_unseen if not c.sent_once("resp") else 0) for c in conns)
    many = len(conns) > 1
    said = [f"{seen:,} B in the capture"] if seen else []
    if acked:
        said.append(f"{acked:,} B acknowledged by {'their receivers' if many else 'its receiver'}"
                    ", whose ACK numbers count a closing FIN as a byte")
    how = f"established, {' and '.join(said)}"
    if not many:
        return f"the data connection itself worked ({how}), {NOTHING_TO_CHANGE}it"
    return (f"the {len(conns)} data connections themselves worked ({how}), "
            f"{NOTHING_TO_CHANGE}them")


def worked_part(body: str) -> str:
    """What a step_out_of_order fix after the other profile's suggestion (`body`) says of
    data connections that worked (worked_words), "" when it asks for a rule instead."""
    at = body.find(NOTHING_TO_CHANGE)
    if not body.startswith("the ") or at < 0:
        return ""
    end = at + len(NOTHING_TO_CHANGE)
    return body[:end] + ("them" if body.startswith("them", end) else "it")


def _worked_fix(ctx: Context, conns: list[Connection],
                rules: list[tuple[str, list[int], tuple[str, str, str]]]) -> str:
    """The fix's words after the other profile's suggestion for data connections that all
    worked: worked_words, then for the next jobs, which use other ports, the configured
    range kept allowed (trial 20 D5 b: the rule for the range lets their ports through),
    or, the range being flowcheck's default, the ports this job used named as not theirs
    (fix_notes then asks for the ranges first); nothing more for ports outside the range
    (the rule would name them alone: this job's, which worked). rules: (way, the data
    connections' ports that way, _wrong_way_ports's (kind, words, side))."""
    words = worked_words(conns)
    keep = [f"{way} {ports}" for way, _, (kind, ports, _) in rules if kind == "range"]
    used = [f"{port_list(sorted(pair))} (the {which} port{'s' if len(pair) > 1 else ''} "
            f"{DEFAULT_RANGE_WORDS})" for _, pair, (kind, _, which) in rules if kind == "used"]
    if keep:
        words += (f"; keep {' and '.join(keep)} allowed: the next jobs' data connections "
                  f"use other ports of {'it' if len(keep) == 1 else 'them'}")
    if used:
        words += ("; the next jobs' data connections may use other ports than "
                  + " and ".join(used))
    return f"{words}."


def _wrong_way_ports(ctx: Context, session: Session, host: str,
                     ports: list[int]) -> tuple[str, str, str]:
    """(kind, words, side) of the ports an allow rule for data connections opened the
    other way names, side the listening host's ("media", "agent"): "range" and the range
    of that side when every port is in it and it is configured (the next job uses other
    ports of it: trial 20 D5 b); "used" and the ports this job was reached on there
    (seen_or_range) when it is flowcheck's default; "outside" and the ports alone when
    one is outside the range."""
    which = ctx.host_role(host)
    if which is None:
        which = "media" if host == session.media_server else "agent"
    inside = getattr(ctx.config, f"in_{which}_range")
    if all(inside(port) for port in ports):
        words = seen_or_range(ctx, session, which, ports[0])
        one = f" port {DEFAULT_RANGE_WORDS}" in words
        return ("used" if DEFAULT_RANGE_WORDS in words else "range",
                f"port{'' if one else 's'} {words}", which)
    return ("outside", f"port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}",
            which)

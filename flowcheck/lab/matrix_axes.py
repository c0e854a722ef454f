"""The fault matrix's newer axes (field check 46): where unseen captures differ from the
lab's first matrices. Drawn on request (`matrix plan|run --axes family,link,jobs`), each
run's from its own generator (seeded by the run's seed), so a seed's earlier draws stay
what they were and the same seed draws the same axes again.

- family: "ipv4"; "ipv6" (every connection over IPv6, both peers announcing 0.0.0.0,
  "where the control connection came from": NDMP v4's TCP address is IPv4 only); "dual"
  (control over IPv6, the callback and data connections to the IPv4 addresses announced,
  trial 28's dual-stack hosts). ndmjob (IPv4 only here) and the NAT fault (the lab's
  IPv4 DNAT) stay on IPv4 (`family_drawn` keeps what was drawn).
- link: how the capture is written: "ether" (tcpdump on the veth, pcap), "sll2" / "sll"
  (tcpdump -i any -y LINUX_SLL2 / LINUX_SLL: Linux cooked headers, every interface of
  the namespace: the router's both sides), "pcapng" (dumpcap on the veth: section,
  interface description and statistics blocks; the direction forms by tcpdump -Q,
  written as pcapng by editcap: matrix_net.DIRECTION_FORMS).
- jobs: 1, or 2 Backup Exec jobs at once from M, to two agents on A's host (its second
  address, ".3"), each agent a process of its own; the fault (if any) hits job
  `fault_job` (1 or 2) only, and the other job's session must read ok
  (matrix_jobs.judge_jobs). Not with ndmjob, nor the faults that change A's host as a
  whole (a small range, NAT).
- control: "clear", or "tls": both Backup Exec peers go on in TLS after the
  CONNECT_CLIENT_AUTH reply (`--tls`, flowcheck.lab.tls: the session secured in band),
  so the announcements, error replies and halts are encrypted; a fault whose evidence
  is one of those (NAT's announced address, a small range's refused DATA_LISTEN, the
  halt a killed agent never sent) may read inconclusive, and a clean job reads
  inconclusive (its announcement step unknown). Or "tls-start": TLS from the control
  connection's first byte (`--tls start`: no NDMP message in the clear), judged as
  "tls"; a TLS run's form is drawn after the control axis, so a seed's clear runs stay
  clear and its TLS runs are either form. Not with ndmjob (it has no TLS); "tls-start"
  not with two dual-stack jobs (the configuration names two agents by each IP version,
  so nothing pairs a control address with its callback's: sessions.tls_start), which
  keep "tls" (`control_drawn` keeps the draw).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

AXES = ("family", "link", "jobs", "control")
FAMILIES = ("ipv4", "ipv6", "ipv6", "dual")
LINKS = ("ether", "sll2", "sll2", "sll", "pcapng", "pcapng")
JOBS = (1, 1, 2)
CONTROLS = ("clear", "clear", "tls")
# A TLS run's form: after CONNECT_CLIENT_AUTH, or from the first byte (tls_args).
TLS_FORMS = ("tls", "tls-start")
# Faults whose evidence is an NDMP message TLS hides (expect_tls).
_NDMP_EVIDENCE = ("nat", "range-small", "kill-agent")
# nftables' ICMP reject types and the ICMPv6 type a firewall sends in their place
# (`reject with icmpv6 type ...`; an `icmp type` reject in an inet table matches IPv4
# packets only).
ICMPV6 = {"port-unreachable": "port-unreachable", "admin-prohibited": "admin-prohibited",
          "host-unreachable": "addr-unreachable", "net-unreachable": "no-route",
          "host-prohibited": "admin-prohibited", "net-prohibited": "reject-route"}
_WHOLE_HOST_FAULTS = ("range-small", "nat")
# Step statuses of a session the fault did not touch: ok, or not its kind's.
FINE = ("ok", "not_applicable")
# What a form that hides packets may leave a fine session's step at.
HIDDEN = ("missing", "unknown")


def draw_axes(run: dict, axes: Sequence[str] = AXES) -> dict:
    """`run` (matrix.draw's) with the requested axes drawn: family (and family_drawn
    when the run cannot take it), link, jobs (and fault_job). Its own generator, seeded
    by the run's seed: the base draw's sequence is untouched."""
    rng = random.Random(f"axes-{run['seed']}")
    family, link, jobs = rng.choice(FAMILIES), rng.choice(LINKS), rng.choice(JOBS)
    fault_job = rng.choice([1, 2])
    control = rng.choice(CONTROLS)  # drawn last: the earlier axes' draws stay
    tls_form = rng.choice(TLS_FORMS)  # after it: clear or TLS stays as drawn before
    if "family" in axes:
        run["family"] = family
        if family != "ipv4" and (run["peer"] == "ndmjob" or run["fault"] == "nat"):
            run["family"], run["family_drawn"] = "ipv4", family
    if "link" in axes:
        run["link"] = link
    if "jobs" in axes:
        run["jobs"] = jobs
        if jobs == 2 and (run["peer"] == "ndmjob" or run["fault"] in _WHOLE_HOST_FAULTS):
            run["jobs"], run["jobs_drawn"] = 1, jobs
        if run["jobs"] == 2 and run["fault"] != "none":
            run["fault_job"] = fault_job
    if "control" in axes:
        run["control"] = control = tls_form if control == "tls" else control
        if control in TLS_FORMS and run["peer"] == "ndmjob":
            run["control"], run["control_drawn"] = "clear", control
        elif control == "tls-start" and run.get("family") == "dual" and run.get("jobs") == 2:
            run["control"], run["control_drawn"] = "tls", control
    return run


def step_v6(run: dict, step: str) -> bool:
    """Is `step`'s connection IPv6? ("dual": the control connection only.)"""
    family = run.get("family", "ipv4")
    return family == "ipv6" or (family == "dual" and step == "control")


def hosts(run: dict, v6: bool) -> dict[str, str]:
    """Addresses by role: "m" (M), "a" (job 1's agent), "a2" (job 2's: A's second
    address), and with a router "r0"/"r1" (its sides toward M and A)."""
    routed = run["routed"]
    if v6:
        far = "fd77:1::" if routed else "fd77::"
        return {"m": "fd77::1", "a": f"{far}2", "a2": f"{far}3", "r0": "fd77::fe",
                "r1": "fd77:1::fe"}
    far = "10.77.1." if routed else "10.77.0."
    return {"m": "10.77.0.1", "a": f"{far}2", "a2": f"{far}3", "r0": "10.77.0.254",
            "r1": "10.77.1.254"}


def agent_of(run: dict, job: int, v6: bool) -> str:
    """Job `job`'s (1 or 2) agent address in the family asked."""
    return hosts(run, v6)["a" if job == 1 else "a2"]


def adapt_rule(run: dict, rule: str, receiver: str, toward_receiver: bool) -> str:
    """A fault rule (matrix.fault_rules') for the run's axes: an ICMP reject as ICMPv6
    on an IPv6 step, and with two jobs, matched to the faulted job's agent address (its
    destination when the packet goes toward A, else its source)."""
    step = run.get("step", "data")
    v6 = step_v6(run, step)
    if v6 and "reject with icmp type " in rule:
        kind = rule.rsplit(" ", 1)[1]
        rule = rule.replace(f"reject with icmp type {kind}",
                            f"reject with icmpv6 type {ICMPV6[kind]}")
    if run.get("fault_job"):
        agent = agent_of(run, run["fault_job"], v6)
        to_a = (receiver == "a") == toward_receiver
        rule = f"{'ip6' if v6 else 'ip'} {'daddr' if to_a else 'saddr'} {agent} {rule}"
    return rule


def expect_tls(run: dict, accept: set[str], warnings: list[str] | None
               ) -> tuple[set[str], list[str] | None]:
    """matrix.expect's accepted verdicts and a clean run's explained warnings for a run
    whose control connection goes on in TLS: inconclusive for a clean job (its
    announcement step unknown) and for a fault whose evidence TLS hides (_NDMP_EVIDENCE),
    and the TLS finding (ndmp_undecodable) explained. TLS from the first byte: also
    inconclusive when the fault stalls the control connection itself before any other
    connection of the job opens (`ack-in` on the callback's media range, which holds the
    control connection's own port on M: its TLS handshake stalls), since nothing then
    proves that TLS the job's (sessions.tls_start: no session; seed 107 run 30).
    Unchanged for a clear run."""
    if run.get("control") not in TLS_FORMS:
        return accept, warnings
    if run["fault"] in ("none", *_NDMP_EVIDENCE):
        accept = accept | {"inconclusive"}
    if run["control"] == "tls-start" and (run["fault"], run.get("step")) == ("ack-in",
                                                                             "callback"):
        accept = accept | {"inconclusive"}
    if warnings is not None:
        warnings = sorted({*warnings, "ndmp_undecodable"})
    return accept, warnings


def tls_args(run: dict) -> list[str]:
    """The peers' --tls when the run's control connection goes on in TLS (--tls start
    when it is TLS from its first byte)."""
    return {"tls": ["--tls"], "tls-start": ["--tls", "start"]}.get(run.get("control", ""), [])


def sidecar_hosts(run: dict) -> dict[str, object]:
    """The flowcheck configuration's host keys for the run's addresses: every address
    a host has in the run's family (a dual-stack host by both), and the backup network
    on one segment."""
    family, jobs = run.get("family", "ipv4"), run.get("jobs", 1)
    sets = [hosts(run, False)] if family == "ipv4" else (
        [hosts(run, True)] if family == "ipv6" else [hosts(run, False), hosts(run, True)])
    agents = [h[k] for h in sets for k in (("a", "a2") if jobs == 2 else ("a",))]
    out: dict[str, object] = {"media_servers": [h["m"] for h in sets],
                              "remote_agents": agents}
    if not run["routed"] and run["peer"] == "be" and run["fault"] != "nat":
        nets = {"ipv4": "10.77.0.0/24", "ipv6": "fd77::/64", "dual": "10.77.0.0/24,fd77::/64"}
        out["backup_network"] = nets[family]
    return out


def expect_jobs(run: dict, exp: dict, hiding: bool) -> dict:
    """`exp` (matrix.expect's) with, for two jobs, "fine_agents": the control address of
    each job the fault left alone (both on a clean run), whose session must read fine,
    and "hiding": the capture form may hide packets (judge_jobs)."""
    if run.get("jobs", 1) != 2:
        return exp
    v6 = step_v6(run, "control")
    fine = [agent_of(run, job, v6) for job in (1, 2) if job != run.get("fault_job")]
    accept = exp["accept"]
    if run.get("step") == "control" and (exp["empty_ok"] or exp["note"]):
        # Nothing of the faulted job may be in the capture (its control SYNs unseen at
        # the point, or only the direction it lacks): the other job alone is judged, and
        # may pass (seed 91 run 22: -Q in on M, the second agent's SYNs dropped by A);
        # in TLS that job reads as a clean TLS job may, inconclusive (expect_tls; seed
        # 115 run 32: the router rejected the second control SYN, captured on A).
        alone = {"pass", "inconclusive"} if run.get("control") in TLS_FORMS else {"pass"}
        accept = sorted({*accept, *alone})
    return {**exp, "accept": accept, "fine_agents": fine, "hiding": hiding,
            "tls": run.get("control") in TLS_FORMS}


def sessions_of(doc: dict) -> list[dict]:
    """analyze's sessions, short: id, remote_agent, {step: status}."""
    return [{"id": s.get("id"), "remote_agent": s.get("remote_agent"),
             "steps": {str(step.get("step")): step.get("status")
                       for step in s.get("steps", [])}}
            for s in doc.get("sessions", [])]


def judge_jobs(exp: dict, sessions: Sequence[dict], error_sessions: Sequence[object]
               ) -> bool:
    """Did the answer leave each job the fault did not touch fine? Its session is there
    (a form that hides packets may have lost it), none of its steps failed or violated
    (all ok or not applicable but where the form hides packets), no error finding is
    its. True where the run has one job."""
    hiding = exp.get("hiding", False)
    for agent in exp.get("fine_agents", ()):
        mine = [s for s in sessions if s["remote_agent"] == agent]
        if not mine and not hiding:
            return False
        # In TLS the fine job's announcement step is unknown (expect_tls).
        allowed = FINE + (HIDDEN if hiding else ()) + (("unknown",) if exp.get("tls") else ())
        for session in mine:
            if any(status not in allowed for status in session["steps"].values()):
                return False
            if session["id"] in error_sessions:
                return False
    return True

"""A seeded random matrix of lab runs whose injected fault is the ground truth (field
check 38): what is drawn, which nftables rules inject each fault, and what flowcheck must
answer. The runs themselves are flowcheck.lab.matrix_run's; `python -m flowcheck.lab
matrix` drives both (docs/lab.md, "The fault matrix").

A run (a dict, JSON-able, stored beside its capture) draws a peer (the Backup Exec
imitation, or ndmjob), an operation and its resources, a topology (one segment, or a
router between M and A), a fault (none, a step's SYNs dropped or rejected at the receiver
or the router, a stateless egress rule, the ACK after the SYN dropped, a data port in
use, an agent range too small, an agent NAT, the agent SIGKILLed mid-job; the connector's
own egress drop, `sender-out`, on request), a capture point (M, A, both merged, the
router) and a capture form (whole, snap 96/128, sniffer loss, stopped early, one
direction). Seed 38 with 40 runs is field check 38's matrix, run for run. On request
(`axes`), the address family, the capture's link type and two jobs at once
(flowcheck.lab.matrix_axes), drawn without changing the runs' other draws.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from flowcheck.lab.matrix_axes import (
    adapt_rule,
    draw_axes,
    expect_jobs,
    expect_tls,
    judge_jobs,
)

ICMP = ("port-unreachable", "admin-prohibited", "host-unreachable", "net-unreachable",
        "host-prohibited", "net-prohibited")
# Drawn with these weights (repeats); their order is the seed's: keep it.
FAULTS = ("none", "none", "syn-drop", "syn-drop", "syn-reject", "syn-reject", "return-out",
          "ack-in", "port-in-use", "range-small", "nat", "kill-agent")
EXTRA_FAULTS = ("sender-out",)  # on request only (--faults): not in the seeded draw
FORMS = ("whole", "whole", "whole", "snap96", "snap128", "loss", "stopped", "dir-in",
         "dir-out")
POINTS = ("m", "m", "a", "both", "r")
# Forms that may hide the evidence: inconclusive is an acceptable answer there.
HIDING_FORMS = ("snap96", "snap128", "loss", "dir-in", "dir-out", "stopped")
# Faults ndmjob's harness does not play, drawn again among _NDMJOB_FAULTS.
_NOT_NDMJOB = ("port-in-use", "range-small", "nat", "kill-agent", "return-out", "ack-in")
_NDMJOB_FAULTS = ("none", "syn-drop", "syn-reject")
_SYN = "tcp flags & (syn | ack) == syn"
# The warnings each capture form legitimately causes on a clean job (fault none), read
# from their meanings in docs/findings.md: what the form keeps out of the capture. Any
# other warning on a clean run is a mismatch (the verdict alone lets a false warning
# pass). A snap length cuts message bodies (ndmp_partial); sniffer loss misses bytes
# (capture_loss), cuts messages (ndmp_partial), may take an announcement
# (unannounced_connection, its fix naming the loss) or the peer's answer to the last
# request (control_end_unseen); a capture stopped early leaves events unjudged
# (capture_ended_early); a one-direction capture lacks a direction
# (capture_one_direction).
FORM_WARNINGS: dict[str, tuple[str, ...]] = {
    "whole": (),
    "snap96": ("ndmp_partial",),
    "snap128": ("ndmp_partial",),
    "loss": ("capture_loss", "ndmp_partial", "unannounced_connection", "control_end_unseen"),
    "stopped": ("capture_ended_early",),
    "dir-in": ("capture_one_direction",),
    "dir-out": ("capture_one_direction",),
}
# One-direction forms at these points hold both directions (each host's tap holds what
# the other sent, merged): nothing is out of the capture, so they explain no warning.
BOTH_DIRECTIONS_POINTS = {"dir-in": ("both",), "dir-out": ("both",)}
# The warning alone of a capture holding no TCP connection at all (an IPv6 one, say,
# of the capture host's own neighbour discovery): nothing of the job, as exit 3's, once
# tshark finds no TCP frame there either (judge's tcp_frames).
NO_TCP = "no_control_session"

# The step whose SYN a fault hits, and the finding family each outcome reads as.
FAMILY = {
    ("control", "unanswered"): "control_unanswered",
    ("control", "refused"): "control_refused",
    ("callback", "unanswered"): "callback_unanswered",
    ("callback", "refused"): "callback_refused",
    ("data", "unanswered"): "data_unanswered",
    ("data", "refused"): "data_refused",
}
KILL_CODES = ("control_closed", "data_aborted", "data_halted_abnormally", "control_reset",
              "data_reset", "step_missing")


def draw(rng: random.Random, index: int, faults: Sequence[str] = FAULTS,
         forms: Sequence[str] = FORMS) -> dict:
    """One run of the matrix: index, peer, op, resources, routed, fault (step, where,
    reject), point, form (loss_pct, stop_after_s), seed (for its own shaping). The rng's
    calls are in field check 38's order: the same seed draws the same runs."""
    peer = rng.choice(["be", "be", "be", "ndmjob"])
    run: dict = {"index": index, "peer": peer}
    if peer == "be":
        run["op"] = rng.choice(["backup", "backup", "restore"])
        run["resources"] = rng.randint(1, 5)
        run["routed"] = rng.random() < 0.35
    else:
        run["op"] = "backup"
        run["version"] = rng.choice([3, 4])
        run["resources"] = 1
        run["routed"] = False
    fault = rng.choice(list(faults))
    if peer == "ndmjob" and fault in _NOT_NDMJOB:
        fault = rng.choice(list(_NDMJOB_FAULTS))
    if fault == "nat":
        run["routed"] = False  # the lab's NAT is M's own output hook, one segment
    run["fault"] = fault
    steps = ["control", "data"] + (["callback"] if peer == "be" else [])
    if fault in ("syn-drop", "syn-reject", "return-out", "ack-in", "sender-out"):
        run["step"] = rng.choice(steps)
        where = (["receiver", "router"] if run["routed"] and fault.startswith("syn")
                 else ["receiver"])
        drawn = rng.choice(where)  # drawn for sender-out too: the seed's sequence
        run["where"] = "sender" if fault == "sender-out" else drawn
        if fault == "syn-reject":
            run["reject"] = rng.choice(["tcp reset", *ICMP])
    points = POINTS if run["routed"] else tuple(p for p in POINTS if p != "r")
    run["point"] = rng.choice(list(points))
    run["form"] = rng.choice(list(forms))
    if run["form"] == "loss":
        run["loss_pct"] = round(rng.uniform(0.2, 2.0), 2)
    if run["form"] == "stopped":
        run["stop_after_s"] = round(rng.uniform(0.05, 4.0), 2)
    run["seed"] = rng.randrange(1 << 30)
    return run


def plan(seed: int, count: int, faults: Sequence[str] = FAULTS,
         forms: Sequence[str] = FORMS, axes: Sequence[str] = ()) -> list[dict]:
    """The first `count` runs of the matrix of `seed`, with the newer `axes`
    (matrix_axes.AXES' names) drawn too."""
    rng = random.Random(seed)
    runs = [draw(rng, index, faults, forms) for index in range(count)]
    return [draw_axes(run, axes) for run in runs] if axes else runs


def syn_target(run: dict) -> tuple[str, str, str]:
    """(receiver host "m"/"a", its destination ports "10000" or "LO-HI", sender host) of
    the faulted step's SYN. Data: Backup Exec's media server connects to the agent's
    range; ndmjob's agent connects to the mover resident in M."""
    if run["step"] == "control":
        return "a", "10000", "m"
    if run["step"] == "callback":
        return "m", "5001-5100", "a"
    if run["peer"] == "be":
        return "a", "6001-6100", "m"
    return "m", "5001-5100", "a"


def table(prefix: str, chain: str, hook: str, rule: str, family: str = "inet") -> str:
    """An nftables ruleset of one base chain holding `rule` (table `<prefix>_fault`)."""
    return (f"table {family} {prefix}_fault {{\n  chain {chain} {{\n"
            f"    type filter hook {hook} priority 0; policy accept;\n    {rule}\n  }}\n}}\n")


def fault_rules(run: dict, prefix: str) -> dict[str, str]:
    """The fault's nftables rulesets by host ("m", "a", or "r" the router); empty for
    faults made otherwise (a squatted port, a small range, NAT, a kill) or none."""
    fault = run["fault"]
    if fault not in ("syn-drop", "syn-reject", "return-out", "ack-in", "sender-out"):
        return {}
    receiver, ports, sender = syn_target(run)
    if fault in ("syn-drop", "syn-reject"):
        action = "drop"
        if fault == "syn-reject":
            action = ("reject with tcp reset" if run["reject"] == "tcp reset"
                      else f"reject with icmp type {run['reject']}")
        rule = adapt_rule(run, f"tcp dport {{ {ports} }} {_SYN} {action}", receiver, True)
        if run["where"] == "router":
            return {"r": table(prefix, "forward", "forward", rule)}
        return {receiver: table(prefix, "input", "input", rule)}
    if fault == "sender-out":  # the sender's own egress: its SYNs never reach the wire
        return {sender: table(prefix, "output", "output", adapt_rule(
            run, f"tcp dport {{ {ports} }} {_SYN} drop", receiver, True))}
    if fault == "return-out":  # a stateless egress rule: the SYN-ACK never leaves
        return {receiver: table(prefix, "output", "output", adapt_rule(
            run, f"tcp sport {{ {ports} }} tcp flags & (syn | ack) == syn | ack drop",
            receiver, False))}
    # ack-in: every inbound packet to the ports but the SYN dropped (the lab's
    # scenarios.drop_inbound_after_syn): the handshake never completes.
    return {receiver: table(prefix, "input", "input", adapt_rule(
        run, f"tcp dport {{ {ports} }} tcp flags & syn == 0 drop", receiver, True))}


def faulted_exit(run: dict) -> int | None:
    """The exit code of the job the fault hit: the one job's, or with two jobs
    (matrix_jobs.run_two_jobs: codes in job order) job `fault_job`'s; None before the
    run is made (no `job_exit_codes`)."""
    codes = run.get("job_exit_codes")
    if not codes:
        return None
    if run.get("jobs", 1) == 2 and len(codes) == 2:
        return codes[run.get("fault_job", 1) - 1]
    return codes[0] if len(codes) == 1 else None


def expect(run: dict) -> dict:
    """The ground truth: {"verdict": pass|fail|"fail?" (the job may pass), "accept": the
    verdicts a right answer may give (hiding forms add inconclusive), "codes": error codes
    one of which a failing answer must report (empty: any), "note", "empty_ok": the
    capture may hold no packet at all (exit 3), "warnings": on a clean run the warning
    codes its capture form explains (clean_warnings), else None (not judged)}. Call it after the
    run: a kill-agent run whose kill never came (a job faster than the kill, `lab_log`
    empty) must pass."""
    fault, point = run["fault"], run["point"]
    codes: set[str] = set()
    verdict, note = "fail", ""
    empty_ok = False
    if fault == "none":
        verdict = "pass"
    elif fault in ("syn-drop", "syn-reject"):
        receiver, _ports, sender = syn_target(run)
        kind = "unanswered" if fault == "syn-drop" else "refused"
        codes = {FAMILY[(run["step"], kind)]}
        # A one-direction capture at one end holds none of the dropped SYNs: `-Q out` on
        # their receiver, `-Q in` on their sender (seed 39 runs 6 and 16); a reject goes
        # the other way, and quotes the SYN, in the captured direction.
        # The router's capture (r0, its side toward M) with -Q out holds what it sends
        # toward M, none of M's SYNs (seed 47 run 3).
        # Both hosts with -Q in, the router dropping: the sender's tap never sees its own
        # SYNs leave, the receiver's never sees them arrive (seed 52 run 22).
        hidden = fault == "syn-drop" and ((point, run["form"]) in (
            (receiver, "dir-out"), (sender, "dir-in"), ("r", "dir-out" if sender == "m"
                                                        else "dir-in"))
            or (point, run["form"], run["where"]) == ("both", "dir-in", "router"))
        seen = (point in ("both", sender) or (point == "r" and sender == "m")
                or run["where"] == "receiver") and not hidden
        if fault == "syn-reject" and ((point, run["form"]) in ((sender, "dir-out"),
                                                               (receiver, "dir-in"))
                                      or (point, run["form"], run["where"])
                                      == ("both", "dir-out", "router")):
            # The reject travels the direction the capture lacks: the SYNs read as
            # unanswered (seed 35 run 17: ICMP admin-prohibited, -Q out on M; seed 43
            # run 2: a router's reject to the sender, -Q out on both hosts).
            codes.add(FAMILY[(run["step"], "unanswered")])
            if run["step"] == "data" and sender == "a":
                # ndmjob's agent connects (DATA_CONNECT): refused at once, it sends its
                # SYN once and answers CONNECT_ERR, which its -Q out holds (seed 55 run 25).
                codes.add("ndmp_error_reply")
        if not seen:  # dropped before the capture point saw it, or not captured
            note = "SYN invisible at point"
            codes = (_unseen_codes("control") if run["step"] == "control"
                     else codes | _unseen_codes(run["step"]))
            # Control SYNs unseen: nothing of the job reaches the point, as with
            # sender-out (seed 140 run 8: the router dropped them, captured on A).
            empty_ok = run["step"] == "control"
    elif fault == "sender-out":  # no capture point sees the SYN
        note = "SYN never on the wire"
        codes = _unseen_codes(run["step"])
        # The job stopped at M's own rules: no capture point holds a packet, M's own
        # neither (its tap sees leaving packets after the output chain): exit 3, saying
        # so (seed 35 runs 3 and 28, on the agent; seed 39 run 8, on M).
        empty_ok = run["step"] == "control"
    if run.get("step") == "control" and run["form"] in ("dir-in", "dir-out"):
        # The control connection's one direction may be all there was to capture: its
        # SYNs' or its answers', the job stopping there (seed 36 run 29: the agent's
        # SYN-ACKs dropped by its own output chain, -Q in on the media server).
        empty_ok = True
    # Not an elif of the line above: a one-direction form on the control step widens
    # what may be empty, not which codes a failing answer must report (return-out and
    # ack-in there took any code, seed 59 run 6).
    if fault == "return-out":
        codes = {f"{run['step']}_unanswered", "handshake_incomplete"}
        receiver, _ports, sender = syn_target(run)
        if (point, run["form"]) in ((receiver, "dir-out"), (sender, "dir-in"),
                                    ("r", "dir-out" if sender == "m" else "dir-in")):
            # Its SYN-ACKs dropped before its own tap, its incoming SYNs not captured:
            # nothing of the connection (seed 37 run 5); nor on the sender's -Q in, nor
            # the router's side that sees the SYN-ACKs only (seed 47 run 18).
            codes |= _unseen_codes(run["step"])
    elif fault == "ack-in":
        codes = {"handshake_incomplete"} | ({"control_stalled"} if run["step"] == "callback"
                                           else set())
    elif fault == "port-in-use":
        codes = {"data_refused"}
        if (point, run["form"]) in (("a", "dir-in"), ("m", "dir-out"), ("r", "dir-in")):
            # The agent's RST travels the direction the capture lacks: the media server's
            # one SYN, then its CONNECT_CLOSE at once, reads as unanswered (verify.gave_up;
            # seed 116 run 1, -Q in on the agent).
            codes.add("data_unanswered")
    elif fault == "range-small":
        codes = {"range_too_small", "data_refused", "data_unanswered", "ndmp_error_reply",
                 "announced_not_used", "step_missing"}
        # A small range may still carry the job; one whose job failed (its exit code not
        # 0: a resource found no free port) did not, and must not pass (seed 57 run 10:
        # the agent closed the session unanswered, captured -s 96, passed).
        failed = run.get("job_exit_codes") and run["job_exit_codes"] != [0]
        verdict = "fail" if failed else "fail?"
    elif fault == "nat":
        codes = {"announced_address_mismatch"}
        if (point, run["form"]) in (("m", "dir-out"), ("a", "dir-in")) or \
                run["form"] in ("snap96", "snap128"):
            # The agent's packets, the announcement among them, are not in the capture
            # (seed 36 run 2), or the snap length cut its address (seed 37 run 6), and the
            # job works through the NAT: nothing shows the mismatch.
            verdict, note = "fail?", "announcement not captured"
    elif fault == "kill-agent" and (not run.get("lab_log") or faulted_exit(run) == 0):
        # The job ended before the kill came, or (its exit code 0) had delivered all it
        # had to when it came (seed 41 run 29: a restore's 9 MB all acknowledged; with two
        # jobs the faulted one's code, seed 127 run 4: [0, 0] read as a kill mid-job).
        verdict, note = "pass", "no kill"
    elif fault == "kill-agent":
        codes = set(KILL_CODES)
    accept = {verdict.rstrip("?")} | ({"pass"} if verdict == "fail?" else set())
    warnings = clean_warnings(run) if fault == "none" else None
    if run["form"] in HIDING_FORMS:
        accept.add("inconclusive")
    if run["form"] == "stopped" and fault == "none":
        accept = {"inconclusive", "pass"}
    if any("dropped" in line for line in run.get("lab_log", ())):
        # The capture tool said it dropped packets (tcpdump's "dropped by kernel",
        # kept in lab_log): sniffer loss the form did not draw (field check 46: `-i any`).
        accept.add("inconclusive")
        if warnings is not None:
            warnings = sorted({*warnings, *FORM_WARNINGS["loss"]})
    accept, warnings = expect_tls(run, accept, warnings)
    return expect_jobs(run, {"verdict": verdict, "accept": sorted(accept),
                             "codes": sorted(codes), "note": note, "empty_ok": empty_ok,
                             "warnings": warnings}, run["form"] in HIDING_FORMS)


def clean_warnings(run: dict) -> list[str]:
    """The warning codes a clean run's capture form explains (FORM_WARNINGS), none where
    the form's cut leaves both directions in the capture (BOTH_DIRECTIONS_POINTS)."""
    form = run["form"]
    if run.get("point") in BOTH_DIRECTIONS_POINTS.get(form, ()):
        return []
    return sorted(FORM_WARNINGS.get(form, ()))


def unexplained(exp: dict, warnings: Sequence[str]) -> list[str]:
    """The warning codes of an answer that its run's ground truth `exp` does not explain:
    on a clean run (exp["warnings"] a list), those outside it; else none are judged."""
    if exp.get("warnings") is None:
        return []
    return sorted(set(warnings) - set(exp["warnings"]))


def _unseen_codes(step: str) -> set[str]:
    """What a step whose SYN the capture never holds reads as."""
    if step == "control":
        return {"no_control_session", "control_unanswered"}
    if step == "data":
        return {"announced_not_used", "step_missing", "data_unanswered"}
    return {"step_missing", "callback_unanswered"}


def judge(exp: dict, verdict: str | None, errors: Sequence[str], exit_code: int,
          warnings: Sequence[str] = (), sessions: Sequence[dict] = (),
          error_sessions: Sequence[object] = (), *, tcp_frames: int | None = None) -> bool:
    """Does flowcheck's answer (verdict, error codes, exit code, warning codes) match the
    ground truth `exp` (expect's)? An internal error (exit 4) never does; an empty
    capture's exit 3, or an inconclusive answer warning `no_control_session` alone where
    tshark finds no TCP frame in the capture (`tcp_frames` 0: matrix_tshark.tcp_frames; not
    flowcheck's own word, which a misread capture would give too: review64a), does where
    nothing could reach the capture point (`empty_ok`); a
    clean run's warning its capture form does not explain (`unexplained`) never does;
    with two jobs, one the fault left alone whose session does not read fine (its
    `sessions` and the sessions of the error findings, matrix_axes.judge_jobs) never
    does."""
    if exp.get("empty_ok") and (exit_code == 3 and verdict is None or (
            verdict == "inconclusive" and not errors and list(warnings) == [NO_TCP]
            and tcp_frames == 0)):
        return True
    if exit_code == 4 or verdict not in exp["accept"] or unexplained(exp, warnings):
        return False
    if not judge_jobs(exp, sessions, error_sessions):
        return False
    if verdict == "fail" and exp["codes"]:
        return bool(set(errors) & set(exp["codes"]))
    return True

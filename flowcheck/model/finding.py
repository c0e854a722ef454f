"""A finding: what a check (or a decoder) reports, its severity and its fix.

The codes are listed in flowcheck.findings.CATALOGUE; the JSON contract is in
docs/json.md and docs/findings.md.
"""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass

# Finding.reading: which reading of its code a finding is, for a later check to tell it
# apart by data, never by its words: "snap_summary", ndmp_partial's snap-length summary
# (flowcheck.ndmp.findings; not a stream hole: verify.ring_holes, verify.cut_frames);
# "control_left_out", capture_filtered's job without its control connection
# (verify.control_left_out; findings.verdict); "probes_only", no_control_session's
# every session a probe (verify.probes_only, the whole capture's; report.verdict_notes);
# "carries_refusal", an announced_address_mismatch whose fix carries a *_refused
# finding's (verify.addresses; verify.fix_notes then speaks of a reject, not a drop);
# "untold_connection", ranges_overlap's naming connections the overlap leaves untold
# (verify.range_overlap; flowcheck.live withdraws it when a later reply names them);
# "likely_rejected", a data_unanswered whose connector's CONNECT error reads its SYNs as
# most likely rejected (verify.fast_connect_error), or an ndmp_error_reply whose CONNECT
# error came right after its lone SYN (verify.lone_connect_error); verify.fix_notes then
# speaks of a drop or reject.
Reading = Literal["", "snap_summary", "control_left_out", "probes_only", "carries_refusal",
                  "untold_connection", "likely_rejected"]

# Finding.other_profile: whether the finding's words point to another profile, for a
# later check to tell by data, never by its words (stepcodes63): "fix", its fix suggests
# analyzing with another profile (verify.profile_followed's OTHER_PRODUCT_FIX:
# verify.plain_direction, verify.fix_notes); "said", that and its message says plain
# NDMP never calls back (OTHER_PRODUCT: verify.profile_followed); "wrong_way", its fix
# starts with wrong_way_fix (step_out_of_order's: verify.wrong_way), which
# verify.plain_direction.profile_first takes off by this, not by the fix's start.
OtherProfile = Literal["", "fix", "said", "wrong_way"]


@fields_dataclass(frozen=True, slots=True)
class Allows:
    """What a fix's allow rules are for, as the check that wrote them knew it: read by
    verify.fix_notes.firewall_pointer instead of the fix's words (note61 "Left" 2: a
    substring test took 10.0.0.1 for 10.0.0.10). `hosts`: the addresses the rules let
    TCP through between (and those the fix names as the rules' other hosts: an agent's
    other address, a NAT's), in the order named; `agents`: those the fix itself reads as
    remote agents, asking for --remote-agent (a three-way job's, trial 27 D1); `noted`:
    the stopping rule ("drop", "reject") whose note, that an accept in one nftables table
    does not undo it in another, the fix already gives (verify.established_accept), ""
    for none; `pointed`: the fix quotes `flowcheck firewall` itself (verify.opening's
    words for routers between, Where.quoted), so firewall_pointer adds no pointer."""

    hosts: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    noted: str = ""
    pointed: bool = False


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@fields_dataclass(slots=True)
class Finding:
    """One finding of a run: what happened (message), how bad (severity), what cures it
    (fix), and where: the session, connection uid, time (seconds) and evidence frames."""

    code: str  # stable snake_case, see flowcheck.findings.CATALOGUE
    severity: Severity
    message: str  # plain words: what happened
    fix: str = ""  # the firewall rule or setting that cures it
    session: str | None = None
    uid: str | None = None
    ts: float | None = None
    frames: list[int] = field(default_factory=list)
    frames_more: int = 0  # evidence frames left out of `frames` (at most 20 listed)
    # True when the finding holds only under a setting the user did not give (the
    # default profile) and its fix suggests another: ordered after the job's own
    # findings of its severity (pipeline.finding_order; verify.fix_notes sets it). Not
    # in the JSON: docs/json.md tells the order it gives.
    under_default: bool = field(default=False, compare=False)
    # How many characters at the start of `fix` ask for the ranges first, flowcheck's
    # defaults being in force (verify.fix_notes.default_ranges_first); 0 for none. The
    # text report's headline gives the fix after them, and them as a note after it.
    ranges_first: int = field(default=0, compare=False)
    # Which reading of its code this is (Reading, "" for none): set by the check that
    # builds it, kept by dataclasses.replace. Not in the JSON.
    reading: Reading = field(default="", compare=False)
    # What the fix's allow rules are for (Allows), None for a fix that gives none: set by
    # the check that writes the fix, kept by dataclasses.replace, read by
    # verify.fix_notes.firewall_pointer. Not in the JSON.
    allows: Allows | None = field(default=None, compare=False)
    # Whether its words point to another profile (OtherProfile, "" for none): set by the
    # check that writes them, cleared where they are taken out (verify.profile_followed),
    # kept by dataclasses.replace. Not in the JSON.
    other_profile: OtherProfile = field(default="", compare=False)
    # How many characters at the start of `message` are its subject ("The data
    # connection ", "The agent 10.77.0.2 "), where verify.tied_failures puts the
    # sessions a connection fits alike ("of S1 or S2 "); 0 for none. Set by the check
    # that writes the message, so no other reads its words for it. Not in the JSON.
    subject: int = field(default=0, compare=False)
    # Its connection's ports (originator's, responder's), which its fix's rule may name
    # as drawn from their range anew each time (verify.allow_rules.drawn_words): set by
    # verify.context.Context.add from the finding's connection, () for none. The key a
    # fix is told under (report.answer) is its code and its first sentence with those
    # words' port left out, so a second connection of the same rule reads "as under the
    # verdict" by data, not by a pattern of its words (newuser66). Not in the JSON.
    drawn_ports: tuple[int, ...] = field(default=(), compare=False)
    # Where the fix's conditional lead turns to the profile in force ("; if it is
    # backup-exec-9 traffic: ", verify.plain_direction.fork_words), its first character's
    # index in `fix`; 0 for none. Set by verify.fix_notes from profile_first, read by
    # verify.profile_doubt to put the definite reading there. Not in the JSON.
    fork: int = field(default=0, compare=False)
    # The words of `message` that say what the capture cannot show ("whether that one or
    # a later resend got through cannot be seen"), as the check that writes them put
    # them there: the cause line under the verdict (report.answer.gist) keeps each its
    # first sentence holds, however long, so it is never surer than its finding, by
    # data, not by a list of hedging words (review64g). Kept by dataclasses.replace. Not
    # in the JSON.
    hedges: tuple[str, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "session": self.session,
            "uid": self.uid,
            "ts": self.ts,
            "frames": list(self.frames),
            "frames_more": self.frames_more,
            "message": self.message,
            "fix": self.fix,
        }

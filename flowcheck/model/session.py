"""A backup job as verified: its session (control connection, callback, data
connections, announcements) and the profile's steps with their status.

Written by flowcheck.sessions and flowcheck.verify; read by graph and report
(docs/json.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.capture import RingGap
from flowcheck.model.ndmp import Announcement, NdmpMessage

# "unknown": the capture cannot show whether the step worked (it ended too soon after
# the event, holds one direction only, or the snap length or sniffer loss hid it).
StepStatus = Literal["ok", "missing", "failed", "violated", "not_applicable", "unknown"]


@fields_dataclass(slots=True)
class Step:
    """One step of a session as the profile expects it: its status and the connections
    (uids) and frames that show it."""

    step: int
    name: str
    status: StepStatus
    uids: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    detail: str = ""
    # No packet of the capture dates the step (an announcement it lacks): the reports'
    # time column shows "-" (report.step_time). Not in the JSON.
    untimed: bool = False
    # The number of the earlier step (failed or missing) after which this one was not
    # reached, or whose end the capture cut before this one could be seen
    # (verify.kind_shown.after_failed); None otherwise. Not in the JSON.
    stopped_after: int | None = None
    # The finding codes the detail names ("(ndmp_undecodable)", "missed: capture_loss;"),
    # sorted, each once: set where the detail is built (model.said, verify.step_base
    # .make_step's cites), so a report decides from them, never from the words
    # (report.verdict_notes; tests/test_step_cites checks words and codes agree). Not in
    # the JSON: the detail's words show them.
    cites: tuple[str, ...] = ()
    # Violated because its data connections were opened by the side the profile expects
    # to listen (verify.data_steps, beside step_out_of_order): set where the step is
    # made, so verify.profile_doubt finds it by data, not by its detail's words. Not in
    # the JSON.
    wrong_way: bool = field(default=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "name": self.name,
            "status": self.status,
            "uids": list(self.uids),
            "frames": list(self.frames),
            "detail": self.detail,
        }


# Why a data connection stays inside one host: the announced address is the connector's
# own ("same_host"), a loopback address ("loopback"), or NDMP_ADDR_LOCAL ("addr_local").
LocalReason = Literal["same_host", "loopback", "addr_local"]


@fields_dataclass(slots=True)
class LocalData:
    """An announcement whose data connection never reaches the network: the side told
    to connect and the listener are one host (flowcheck.sessions.local)."""

    frame: int  # the announcing message
    message: str  # e.g. "NDMP_DATA_CONNECT"
    host: str  # the host, by the address its control connection shows
    reason: LocalReason
    endpoint: tuple[str, int] | None = None  # the TCP endpoint; None for NDMP_ADDR_LOCAL
    error: str = ""  # a CONNECT request's error reply ("NDMP_CONNECT_ERR"); "" when none


@fields_dataclass(slots=True)
class Session:
    """One NDMP job: its control connection, hosts, kind, the steps as found and the
    connections (callback, data) matched to it."""

    id: str
    control_uid: str
    media_server: str
    remote_agent: str
    version: int | None
    kind: Literal["backup", "restore", "browse"]
    steps: list[Step] = field(default_factory=list)
    callback_uid: str | None = None
    # The other sessions whose callback `callback_uid` may be as well: it was tied to
    # this one by order alone (flowcheck.verify.callback_tie; step 2's detail says
    # "tied to this session by order"); empty when nothing else fits it.
    callback_tied_with: list[str] = field(default_factory=list)
    announced: list[Announcement] = field(default_factory=list)
    data_connections: list[str] = field(default_factory=list)
    # Announcing messages whose address the snap length cut: (frame, name, uid of the
    # connection matched to it or ""). Data connections matched by the profile's
    # direction and ports instead of an announced address are `port_matched` (uids),
    # `match_reason` says why.
    cut_announcements: list[tuple[int, str, str]] = field(default_factory=list)
    port_matched: list[str] = field(default_factory=list)
    # Who listens at a port-matched connection's responder ("data": the agent, "mover":
    # the media server), by uid: the cut message's listener, or the profile's direction.
    port_listener: dict[str, Literal["data", "mover"]] = field(default_factory=dict)
    # Why data connections were matched by ports: "snap_length" (announcement cut),
    # "capture_start" (the capture began after the session and its data connections),
    # "one_direction" (the capture holds one direction of the control connection),
    # "capture_loss" (the sniffer lost part of the control stream), "packet_filter" (a
    # filter kept no packet that carries data: flowcheck.sessions.kept) or "encrypted"
    # (the control connection went on in TLS: NdmpStream.tls_from).
    match_reason: str = ""
    # Port-matched data connections whose endpoint a later reply of this session names
    # (flowcheck.sessions.named): uid -> (frame, message name) of the first such reply.
    # Not in the JSON.
    port_named: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Connections that fit this session and others alike by direction and ports, with
    # nothing in the capture naming whose they are: given to none (their role "data",
    # their session None). port_tied: their uids; tied_with: the other sessions' ids (a
    # list, or flowcheck.sessions.tie_groups.TiedWith read from the shared ties).
    # Not in the JSON.
    port_tied: list[str] = field(default_factory=list)
    tied_with: Sequence[str] = field(default_factory=list)
    # A control connection whose opening the capture lacks (no SYN) and whose first
    # captured packet follows a hole in a ring buffer: that hole, where it most likely
    # opened (None: before the capture started, or its opening is in the capture). Not
    # in the JSON.
    start_gap: RingGap | None = None
    # Data connections that reached an announced port under another address than the
    # announced one (a NAT rewrote it): (uid, announced ip).
    address_matched: list[tuple[str, str]] = field(default_factory=list)
    # The callback was tied under another address than the control connection's pair (a
    # NAT, another interface, IPv4 beside an IPv6 control connection:
    # flowcheck.sessions.callback_elsewhere). Not in the JSON.
    callback_elsewhere: bool = False
    # The (agent, media server) addresses of its callback when the capture holds the
    # callback's SYN: the hosts' addresses of another IP version or interface than the
    # control connection's, which tell a port-matched data connection's ends
    # (flowcheck.sessions.data_ends). Not in the JSON.
    callback_hosts: tuple[str, str] | None = None
    # Connections that may be the session's callback under another address but fit
    # another waiting session as well, so none was tied (uids; callback_elsewhere's
    # _tie_one): step 2 is unknown, not missing. Not in the JSON.
    callback_ambiguous: list[str] = field(default_factory=list)
    # The callback is a connection of which the capture holds only its closing, beside
    # the control connection's (sessions.only_closing.name_closing_callbacks): named by
    # its direction, ports and close, step 2 says it was "seen only closing". Not in the
    # JSON.
    callback_closing: bool = False
    # The callback is a connection the capture holds from the agent's bare ACK on, before
    # the control stream's first message, carrying nothing (its opening cut off:
    # sessions.callback_from_ack): named by its direction, ports and silence, step 2 says
    # so. Not in the JSON.
    callback_from_ack: bool = False
    # Connections of the session's of which the capture holds only their closing, beside
    # the control connection's close, that do not fit its callback (uids, capture order;
    # sessions.only_closing.claim_closing_only): the job's closing, none of its data
    # connections (docs/json.md `status`), so steps 3-5 neither count nor total them.
    # Not in the JSON (their `connections[].session` is the session's, `role` other).
    closing_only: list[str] = field(default_factory=list)
    # Such sessions (this one among them, ids in session order) that outnumber the
    # connections any of them may take as its callback: at least one of them had none,
    # whichever (callback_elsewhere's _mark_short; verify.short_callbacks). Not in the
    # JSON.
    callback_short: list[str] = field(default_factory=list)
    # The capture joined the session's job while it ran: its resources' ok steps were made
    # unknown for the job as a whole (flowcheck.verify.late_job). Not in the JSON.
    joined_late: bool = False
    # Announcements whose data connection stays inside one host (not on the network).
    local_data: list[LocalData] = field(default_factory=list)
    # `kind` is "backup" only by default: nothing in the capture says which way the job
    # goes (no DATA_START_*, no mover mode, no data bytes either way). Not in the JSON
    # (kind keeps its documented rule); the text says "backup or restore" (kind_words).
    kind_guessed: bool = False
    # Why the capture cannot tell backup from restore, as the text says it after "backup
    # or restore" (verify.kind_guess: the job stopped after a failed step before its
    # DATA_START_*, and the setup requests it sent name no direction).
    kind_guessed_why: str = "no DATA_START_* or data in the capture to tell which"
    # Nothing of the session's NDMP conversation is in the capture (its control
    # connection refused or dropped, or no message decoded), so nothing tells its kind:
    # `kind` keeps its documented rule ("browse": none of the signs of a backup or
    # restore; the contract has no "unknown"), the text says "kind unknown" (kind_words).
    # Not in the JSON.
    kind_unknown: bool = False
    # Why, as the text says it after "kind unknown".
    kind_unknown_why: str = "none of its NDMP conversation in the capture"
    # A session that shows no sign of a job (kind "browse" by its rule) whose deciding
    # messages the capture does not hold (flowcheck.sessions.unseen: one direction of
    # its control connection, records the snap length cut whole, a last reply cut
    # before its error): why, in plain words; "" when the capture shows it was a browse.
    # Then kind_unknown is set too, and the steps after the control connection are
    # unknown unless a failure the capture shows ended the session. Not in the JSON.
    job_unseen: str = ""
    # Whether job_unseen's reason is that the capture holds one direction of the control
    # connection only, the conversation not in TLS (sessions.unseen.one_way_unseen): set
    # with job_unseen, so a later check (verify.unread_frames) tells that reading by data,
    # not by the words' start. Not in the JSON.
    job_unseen_one_way: bool = False
    # A session that shows no sign of a job and ended before asking anything, whole in
    # the capture (flowcheck.sessions.before_job): the reply it ended at, the refusal of
    # its CONNECT_OPEN / CONNECT_CLIENT_AUTH or its accepted CONNECT_CLIENT_AUTH before
    # the close; None otherwise. Then kind_unknown is set too. Not in the JSON.
    ended_before_job: NdmpMessage | None = None
    # Side traffic (flowcheck.verify.hosts.mark_side_traffic): a session outside the
    # configured hosts or roles while another runs between them: not judged as a job
    # (its errors told in host_not_configured, its steps left out of the verdict). Not
    # in the JSON.
    side: bool = False
    # Its job had ended before the capture saw it run, beside a job the capture saw run
    # (flowcheck.verify.after_close.job_ended; verify.steps.check_steps): not a job in the
    # capture, its steps after the control connection not_applicable. Its status is
    # `ended` (report.overview.session_status: never counted `ok`), its findings kept (the
    # leftover's evidence). Not in the JSON (its `status` and `judged` tell it).
    ended: bool = False
    # The version its CONNECT_OPEN asked for, when the capture lacks the reply that
    # would make it the session's `version` (one direction captured: trial 20 D7). Not
    # in the JSON.
    asked_version: int | None = None
    # The hosts of a three-way job's data connection by their NDMP role, "tape agent"
    # (its mover listens) or "data agent", when the data server and the tape server are
    # two NDMP agents (flowcheck.verify.server_roles): the words name them so, not "the
    # media server" (trial 27 D8). Not in the JSON.
    server_roles: dict[str, str] = field(default_factory=dict)
    # Role ("media", "agent") -> the configured address that host_not_configured reads
    # this session's unlisted host of that role as, most likely (another address of it:
    # the session shows the configured one at that role too, a NAT or a second
    # interface; flowcheck.verify.hosts). agent_not_seen leaves such an agent out: its
    # job is judged here (trial 31 D4). Not in the JSON.
    likely_configured: dict[str, str] = field(default_factory=dict)
    # The profile that judged the session, as Config.profile names it (a built-in's
    # name, or a profile file's path as given; pipeline.analyze_with_profile): the
    # run's, or, with none given, the ndmp profile for a session that reads as plain
    # NDMP while another keeps the default (flowcheck.mixed_reading). "" until
    # judged.
    profile: str = ""

    def version_words(self, *, short: bool = False) -> str:
        """The NDMP version as the text reports it: "NDMP v4"; "NDMP v4 asked" (and,
        unless short, why) when only the CONNECT_OPEN request names it (its reply not
        captured, or its error word cut: ndmp.collector); else "NDMP
        version unknown"."""
        if self.version:
            return f"NDMP v{self.version}"
        if self.asked_version:
            return (f"NDMP v{self.asked_version} asked" if short else
                    f"NDMP v{self.asked_version} asked (CONNECT_OPEN; the capture does not "
                    "show its reply accepting it)")
        return "NDMP version unknown"

    def kind_words(self, *, short: bool = False) -> str:
        """The kind as the text reports it: "backup", "restore", "browse", or, when only
        the default says backup (kind_guessed), "backup or restore" and, unless short,
        why; "kind unknown" when nothing of the conversation tells it (kind_unknown)."""
        if self.kind_unknown:
            return "kind unknown" if short else f"kind unknown ({self.kind_unknown_why})"
        if not self.kind_guessed:
            return self.kind
        if short:
            return "backup or restore"
        return f"backup or restore ({self.kind_guessed_why})"

    def kind_candidates(self) -> list[str]:
        """The kinds the capture leaves possible, as the text reports say (kind_words):
        all three when the kind is unknown (kind_unknown), backup and restore when only
        the default says backup (kind_guessed), else the kind alone."""
        if self.kind_unknown:
            return ["backup", "restore", "browse"]
        if self.kind_guessed:
            return ["backup", "restore"]
        return [self.kind]

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "control_uid": self.control_uid,
            "media_server": self.media_server,
            "remote_agent": self.remote_agent,
            "version": self.version,
            "kind": self.kind,
            # New-user trial of session 53: `kind` keeps the contract's three values
            # ("browse" or "backup" by its rule where the capture cannot tell); these say
            # what the text says (kind_words), for scripts.
            "kind_known": not (self.kind_unknown or self.kind_guessed),
            "kind_candidates": self.kind_candidates(),
            "kind_text": self.kind_words(),
            "steps": [s.as_dict() for s in self.steps],
            "callback_uid": self.callback_uid,
            # newuser59: a callback paired by order alone read as known in the JSON.
            "callback_tied_with": list(self.callback_tied_with),
            "announced": [a.as_dict() for a in self.announced],
            "data_connections": list(self.data_connections),
            "profile": self.profile,
        }

"""Steps 4-5 (backup-exec-9; 3-4 of ndmp) of a data connection that stays inside one
host (flowcheck.sessions.local): no capture on the wire can hold it and no firewall
between the hosts sees it, so those steps do not apply to it (`not_applicable`), and
its absence is neither a failure nor a filtered capture. A CONNECT request to such an
endpoint that its NDMP server answered with an error failed inside that host: the step
is `failed` (the error reply is its finding, flowcheck.verify.replies)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import LocalData, Session, Step, endpoint
from flowcheck.profiles import StepSpec
from flowcheck.sessions import announcement_groups, is_local_group
from flowcheck.verify.context import Context
from flowcheck.verify.filtered import data_moved, moved_words
from flowcheck.verify.silent_end import unended_words
from flowcheck.verify.step_base import make_step


def _item_words(item: LocalData) -> str:
    name = item.message.removeprefix("NDMP_")
    if item.reason == "addr_local":
        return f"{name} ({frame_text(item.frame)}) with NDMP_ADDR_LOCAL"
    assert item.endpoint is not None
    where = endpoint(*item.endpoint)
    if item.reason == "loopback":
        return f"{name} ({frame_text(item.frame)}) named {where}, a loopback address"
    return (f"{name} ({frame_text(item.frame)}) named {where}, an address of {item.host}, the host "
            "told to connect to it")


def local_words(items: list[LocalData], *, which: bool = True) -> str:
    """"the data connection is local to 10.77.0.2 (data and tape services on the same
    host: DATA_CONNECT (frame 31) named 10.77.0.2:6046, an address of 10.77.0.2 itself):
    not on the network, nothing for a firewall to pass"; which=False leaves out the
    messages (said already)."""
    hosts = " and ".join(dict.fromkeys(item.host for item in items))
    said = (": " + "; ".join(_item_words(item) for item in items)) if which else ""
    return (f"the data connection is local to {hosts} (data and tape services on the same "
            f"host{said}): not on the network, nothing for a firewall to pass")


def only_local(session: Session) -> bool:
    """Does every announcement of the session stay inside one host (and at least one)?
    Announcements the snap length cut are not (their address is unknown); a sniffer's
    loss in the control stream is not either when a connection was matched by ports
    for it (that one crossed the network)."""
    return bool(session.local_data) and not session.cut_announcements and \
        not session.port_matched and all(is_local_group(session, group)
                                         for group in announcement_groups(session.announced))


def failed_local(session: Session) -> list[LocalData]:
    """The session's host-local CONNECT requests answered with an error."""
    return [item for item in session.local_data if item.error]


def failed_words(items: list[LocalData]) -> str:
    first = items[0]
    return (f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)}) was answered "
            f"{first.error.removeprefix('NDMP_')}: the host-local data connection failed "
            f"inside {first.host}, not on the network (see that NDMP server's log)")


def local_connection_step(session: Session, spec: StepSpec, uids: list[str]) -> Step:
    """The data connection step of a session whose announcements are all host-local."""
    failed = failed_local(session)
    frames = [item.frame for item in (failed or session.local_data)]
    if failed:
        return make_step(spec, "failed", uids, frames, failed_words(failed))
    return make_step(spec, "not_applicable", uids, frames, local_words(session.local_data))


def local_flow_step(ctx: Context, session: Session, spec: StepSpec) -> Step:
    """The data flow step of a session whose data connections are all host-local: what
    the NDMP messages say about the data, which the capture cannot hold."""
    failed = failed_local(session)
    if failed:
        return make_step(spec, "missing", [], [item.frame for item in failed],
                         f"no data moved: {failed_words(failed)}")
    moved = data_moved(ctx, session)
    said = (f"; the session's NDMP messages report the data moved ({moved_words(moved)})"
            if moved is not None else "")
    frames = [moved.frame] if moved is not None else []
    unended = unended_words(ctx, session)
    if unended is not None:  # the job still running where the capture stops
        return make_step(spec, "unknown", [], frames,
                         f"unknown: {unended}; {local_words(session.local_data)}{said}")
    return make_step(spec, "not_applicable", [], frames,
                     local_words(session.local_data) + said)

"""Step 5 of a session (flow-model.md): the backup or restore data flowing over the
opened data connections (from the agent on a backup, to it on a restore)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, Step, cites_of
from flowcheck.profiles import StepSpec
from flowcheck.sessions import message_op
from flowcheck.verify.aborted import aborted_flow
from flowcheck.verify.bytes_each_way import (
    acked_flow_detail,
    flow_detail,
    job_direction,
    sent_each_way,
    way_words,
)
from flowcheck.verify.clean_close import clean_close_words
from flowcheck.verify.closed_flow import closed_mid_job
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.cut_halt import cut_halt_words
from flowcheck.verify.cut_transfer import cut_words, unseen_words
from flowcheck.verify.evidence import flow_hidden, is_open, judged
from flowcheck.verify.filtered import data_unseen
from flowcheck.verify.flow_cut import flow_after_cut
from flowcheck.verify.hole_flow import hole_words
from flowcheck.verify.local import local_flow_step, only_local
from flowcheck.verify.mid_transfer_resets import (
    cut_transfers,
    halted_drops,
    unseen_cut_transfers,
)
from flowcheck.verify.missed_halt import halt_missed_words
from flowcheck.verify.not_started import not_started_words
from flowcheck.verify.one_way_data import sender_fin_acked, unclosed_words
from flowcheck.verify.one_way_end import halt_unended_words, unfinished_one_way_words
from flowcheck.verify.open_transfer import open_transfer
from flowcheck.verify.receiver_stalled import receiver_detail, receiver_stalls
from flowcheck.verify.refused_listens import resource_words
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.rst_words import cited_rsts
from flowcheck.verify.silent_end import silent_end_words, unended_words
from flowcheck.verify.snapped_halts import halt_unread_words
from flowcheck.verify.stall_timing import unjudged_detail, unjudged_stalls
from flowcheck.verify.stalled_transfer import stalled_detail, stalled_transfers
from flowcheck.verify.step_base import make_step, previous_step
from flowcheck.verify.unjudged_halt import unjudged_halt, unjudged_halt_words
from flowcheck.verify.unseen_reset import dropped_words
from flowcheck.verify.unseen_resources import unseen_resources_words


def data_flow_step(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    """Step 5: the backup or restore data over the opened data connections."""
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    open_conns = [c for c in conns if is_open(judged(ctx, c))]
    failure = aborted_flow(ctx, session, open_conns)
    clocks = ctx.clocks_apart.get(session.id)
    if failure is not None and clocks is not None and ctx.exit_closed.get(session.id):
        # Closed with the control connection, whose close two clocks leave unplaced
        # (verify.one_exit.closed_with_control, two_clocks): no data_aborted either.
        return make_step(spec, "unknown", failure[0], failure[1],
                         f"unknown: {clocks}; {failure[2]}", cites=cites_of(clocks, failure[2]))
    if failure is not None:  # data_aborted: a resource's connection reset before any data
        return make_step(spec, "failed", *failure)
    if not conns and only_local(session):
        if clocks is not None:  # the job's end not placed (two_clocks): nor its local data
            return make_step(spec, "unknown", [control.uid], detail=f"unknown: {clocks}",
                             cites=cites_of(clocks))
        return local_flow_step(ctx, session, spec)
    if not open_conns:
        previous = previous_step(session, ctx, "data_connection")
        if previous is not None and previous.status == "unknown":
            why = data_unseen(ctx, session)
            return make_step(spec, "unknown", detail="unknown: " + (
                why or "whether the data connection (step "
                f"{previous.step}) opened cannot be seen"), cites=cites_of(why))
        cut = (flow_after_cut(ctx, session, conns)
               if previous is not None and previous.status == "failed" else None)
        if cut is not None:  # a resend after the capture's end may have got through
            return make_step(spec, "unknown", detail=f"unknown: {cut}", cites=cites_of(cut))
        return make_step(spec, "missing", detail="no data connection opened, so no data moved")
    sent = sent_each_way(session, open_conns)
    key = job_direction(session)
    uids = [c.uid for c in open_conns]
    # A kind not known ("backup" by default: session.kind_guessed) gives no direction:
    # "no bytes either way", not the guess's "agent to media server" (field check 60's
    # words reviews: restore-2-resources cut at frame 24, before its DATA_START_RECOVER).
    unknown_way = ((session.kind_guessed or session.kind_unknown)
                   and not any(sent.values()))
    way = None if unknown_way else way_words(ctx, session, open_conns, key)
    direction = "either way" if way is None else " to ".join(way)
    acked = sent_each_way(session, open_conns, acked_unseen=True)
    # The data's own bytes, or in a capture of the receiver's direction the receiver's ACKs
    # (of a transfer that stopped too: `stopped`, no "the data flowed").
    shown = sent[key] > 0 or acked[key] <= len(open_conns)
    flow = (flow_detail(ctx, session, open_conns, sent, key) if shown
            else acked_flow_detail(ctx, session, open_conns, acked, key))
    stopped = (flow_detail(ctx, session, open_conns, sent, key) if shown
               else acked_flow_detail(ctx, session, open_conns, acked, key, flowed=False))
    cut = cut_transfers(ctx, session)
    if cut:  # data_reset: a transfer cut short by a RST
        first = cut[0][0]
        words = cut_words(ctx, first, session)
        return make_step(spec, "failed", uids, [f for c, _ in cut for f in cited_rsts(c)],
                         f"{endpoint(first.resp_h, first.resp_p)}: {words}"
                         f"; {flow}", cites=cites_of(words, flow))
    drops = halted_drops(ctx, session)
    if drops:  # cut unseen, its job halted abnormally first (data_halted_abnormally)
        found, halt = drops[0]
        words = (f"{dropped_words(found, session)}; its job had halted with "
                 f"{abnormal_reason(halt)} ({message_op(halt)}, {frame_text(halt.frame)}) "
                 "before that FIN")
        return make_step(spec, "failed", uids,
                         [f for d, _ in drops for f in (d.fin_frame, d.rst_frame)],
                         f"{endpoint(found.conn.resp_h, found.conn.resp_p)}: {words}; "
                         f"{flow}", cites=cites_of(words, flow))
    stalled = stalled_transfers(ctx, session)
    if stalled:  # data_stalled: a transfer whose packets stopped being delivered
        first = stalled[0]
        return make_step(spec, "failed", uids, [s.stall.frame for s in stalled],
                         f"{endpoint(first.conn.resp_h, first.conn.resp_p)}: "
                         f"{stalled_detail(first)}; {stopped}",
                         cites=cites_of(stalled_detail(first), stopped))
    receivers = receiver_stalls(ctx, session)
    failed = [s for s in receivers if s.failed]
    if failed:  # data_receiver_stalled: the receiver stopped reading, the window stayed 0
        return make_step(spec, "failed", uids, [s.window.frame for s in failed],
                         f"{receiver_detail(failed[0], session)}; {stopped}",
                         cites=cites_of(receiver_detail(failed[0], session), stopped))
    if clocks is not None:  # two clocks apart: the job's end cannot be placed (two_clocks)
        return make_step(spec, "unknown", [*uids, control.uid],
                         [c.last_frame for c in open_conns], f"unknown: {clocks}; {stopped}",
                         cites=cites_of(clocks, stopped))
    closed = closed_mid_job(ctx, session)
    if closed is not None and (sent[key] > 0 or acked[key] > len(open_conns)):
        # control_closed: the job ended mid-transfer (field check 38). Only where data
        # flowed: with none (or the ACKs of FINs alone) the step stays missing or unknown
        # as judged below, its own finding saying why.
        frames, words = closed
        return make_step(spec, "failed", [*uids, control.uid],
                         frames + [c.last_frame for c in open_conns], f"{words}; {flow}",
                         cites=cites_of(words, flow))
    unjudged = unjudged_stalls(ctx, session)
    if unjudged:  # resends the capture ended too soon after: stalled or an ACK late?
        conn, stall = unjudged[0]
        words = unjudged_detail(ctx, conn, stall)
        return make_step(spec, "unknown", uids, [s.frame for _, s in unjudged],
                         f"unknown: {words}; {stopped}", cites=cites_of(words, stopped))
    unseen = unseen_cut_transfers(ctx, session)
    if unseen:  # a reset the capture ended too soon after: cut short or finished?
        words = unseen_words(ctx, unseen[0], session)
        return make_step(spec, "unknown", uids, [f for c in unseen for f in c.rst_frames[:1]],
                         f"unknown: {words}; {flow}", cites=cites_of(words, flow))
    # The other resources' data may flow after the capture's end (trial 32), and the
    # transfer still running at its end may end well or not after it (trial 31 D3); a job
    # its media server closed without ending it, seen from that side only (field check 38).
    flowing = open_transfer(ctx, session)
    halt = unjudged_halt(ctx, session)
    after_end = [w for w in (hole_words(ctx, open_conns),
                             flowing.words() if flowing else None,
                             unseen_resources_words(ctx, session, len(open_conns)),
                             unfinished_one_way_words(ctx, session),
                             halt_unended_words(ctx, session),
                             halt_unread_words(ctx, session),
                             halt_missed_words(ctx, session),
                             cut_halt_words(ctx, session),
                             unjudged_halt_words(ctx, session, halt) if halt else None,
                             unclosed_words(ctx, session),
                             silent_end_words(ctx, session),
                             unended_words(ctx, session)) if w]
    status, head = (("unknown", f"unknown: {'; '.join(after_end)}; ") if after_end
                    else ("ok", ""))
    if sent[key] > 0:
        slowed = [receiver_detail(s, session) for s in receivers]
        closed = clean_close_words(open_conns)
        resources = resource_words(ctx, len(open_conns), "the data of")
        return make_step(spec, status, uids, [c.last_frame for c in open_conns],
                         head + flow + closed + "".join(f"; {w}" for w in slowed) + resources,
                         cites=cites_of(*after_end, flow, closed, *slowed, resources))
    if acked[key] > len(open_conns):  # the receiver's direction only: its ACKs show it
        return make_step(spec, status, uids, [c.last_frame for c in open_conns],
                         head + flow, cites=cites_of(*after_end, flow))
    if acked[key]:  # an ACK number counts a FIN as one byte: these may be FINs alone
        return make_step(spec, "unknown", uids, detail=(
            f"unknown: no bytes {direction} in the capture (it holds one direction only); "
            f"the receiver's ACKs acknowledge {acked[key]:,} B, which may be only the "
            "closing FINs of the data connections, so whether any data flowed cannot be "
            "seen"))
    hidden = flow_hidden(ctx, session, open_conns, key)
    if hidden:
        return make_step(spec, "unknown", uids, detail=f"unknown: no bytes {direction} in the "
                         f"capture, but {hidden}", cites=cites_of(hidden))
    running = not_started_words(ctx, session, open_conns, direction,
                                None if way is None else way[0])
    if running:  # the job still running where the capture ends: its data not yet sent?
        return make_step(spec, "unknown", uids, detail=f"unknown: {running}",
                         cites=cites_of(running))
    if all(judged(ctx, c) == "midstream" for c in open_conns):
        # Open before its first captured packet: the data may all have gone before it
        # (the capture started late, or missed it), which only its opening would show.
        first = ", ".join(f"{c.uid} {frame_text(c.first_frame)}" for c in open_conns)
        return make_step(spec, "unknown", uids, detail=(
            f"unknown: no bytes {direction} in the capture, but the data connection's "
            f"opening is not in it (it opened before the capture started, or the sniffer "
            f"missed its handshake): its data may have flowed before its first captured "
            f"packet ({first})"))
    return make_step(spec, "missing", uids, detail=f"no bytes {direction}")


def job_bytes(ctx: Context, session: Session, conns: list[Connection]) -> str:
    """Words for the job's bytes these connections carried ("" when none)."""
    open_conns = [c for c in conns if is_open(judged(ctx, c))]
    sent = sent_each_way(session, open_conns)
    key = job_direction(session)
    to = "to the agent" if key == "to_agent" else "to the media server"
    uids = ", ".join(c.uid for c in open_conns)
    if sent[key]:
        return f"{uids} carried {sent[key]:,} B {to}"
    acked = sent_each_way(session, open_conns, acked_unseen=True)
    if acked[key] > len(open_conns):  # not FINs alone (an ACK counts a FIN as a byte)
        # The senders' FINs the receivers' ACKs prove are no data (field check 48 seed
        # 110 run 46: "C3 carried 200001 bytes", 200,000 B and the agent's FIN).
        fins = sum(sender_fin_acked(c, session, key) for c in open_conns)
        less = (f", less the {'FIN' if fins == 1 else f'{fins} FINs'} of the sender they "
                "also acknowledge" if fins else ", a closing FIN, if any, counted as a byte")
        return (f"{uids} carried {acked[key] - fins:,} B {to} (acknowledged by the "
                f"receiver's ACKs{less}: the capture holds one direction)")
    return ""

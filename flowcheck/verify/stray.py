"""capture_stray_syn (info): a lone copy of another host pair's control SYN.

flowcheck.sessions.stray finds them and opens no session for them; this says what the
capture holds of each and what it cannot see: a switch flooded the SYN to the capture
point, off that connection's path, and the job shows the connection worked (trial 27
D2: such a SYN failed good three-way jobs with control_unanswered, at both agents).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import connection_ends, endpoint
from flowcheck.sessions.stray import StraySyn
from flowcheck.verify.context import Context


def note_stray_syns(ctx: Context) -> None:
    """One capture_stray_syn per stray control SYN in the capture."""
    for stray in ctx.strays.values():
        syn = stray.syn
        ctx.add("capture_stray_syn",
                f"The capture holds one SYN of {connection_ends(syn)} "
                f"({frame_text(syn.syn_frames[0])}) "
                "and nothing "
                f"else between {syn.orig_h} and {syn.resp_h}: a control connection between "
                "two other hosts, off this capture point's path. A switch floods a frame "
                "whose destination MAC address it has not learned (or has aged out) to every "
                "port, a connection's first SYN most often; a mirror may copy one too. How "
                "that connection went cannot be seen here: it is not judged as a session. "
                f"The job shows it worked: {_went_on(stray)}.",
                "Nothing to change for it. To see that control connection, capture on "
                f"{syn.orig_h} or {syn.resp_h}, or on the path between them.",
                conn=syn, ts=syn.ts,
                frames=[syn.syn_frames[0], stray.announcement.frame,
                        stray.reached.first_frame])


def _went_on(stray: StraySyn) -> str:
    """What the capture shows of the job after the stray SYN: the agents' data
    connection, and what it needed of the SYN's destination."""
    ann, reached, syn = stray.announcement, stray.reached, stray.syn
    announcer = stray.announcer
    op = ann.message.removeprefix("NDMP_")
    done = ("listened there, which the DMA sets up over its own control connection to it"
            if reached.resp_h == syn.resp_h else
            "connected there, which the DMA asks of it over its own control connection")
    return (f"{reached.orig_h} reached {endpoint(ann.ip, ann.port)} ({reached.uid}, "
            f"{frame_text(reached.first_frame)}, {reached.orig_bytes + reached.resp_bytes:,} "
            f"B), the "
            f"endpoint {op} ({frame_text(ann.frame)}) named on the control connection "
            f"{connection_ends(announcer)}, and {syn.resp_h} {done}")

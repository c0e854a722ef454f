"""A connection's RSTs as findings and steps cite them: when its first came (reset_time,
reset_frame), which frames to cite (cited_rsts) and how to name them (reset_words).
"""

from __future__ import annotations

from flowcheck.frame_names import current, frame_text, frames_words
from flowcheck.model import Connection


def reset_words(conn: Connection) -> str:
    """"RST, frame 301" or, from both ends, "RSTs, frames 301 (10.77.0.1), 969
    (10.77.0.2)": the first of each end's (trial 20 D12: the first two RSTs were one
    end's). A set's frames by their files (flowcheck.frame_names)."""
    if conn.orig_rst and conn.resp_rst:
        firsts = conn.first_rsts
        if len(firsts) == 2:
            if current() is None:
                return "RSTs, frames " + ", ".join(f"{frame} ({host})"
                                                   for frame, host in firsts)
            # A set's: each frame by its file ("RSTs, frame 201 of ring.pcap3 (10.77.0.1),
            # frame 3 of ring.pcap4 (10.77.0.2)").
            return "RSTs, " + ", ".join(f"{frame_text(frame)} ({host})"
                                        for frame, host in firsts)
        return f"RSTs, {frames_words(conn.rst_frames[:2], ranges=False, plural=True)}"
    return f"RST, {frame_text(conn.rst_frames[0])}"


def cited_rsts(conn: Connection) -> list[int]:
    """The RST frames a finding or step cites: the first of each end when both reset the
    connection (reset_words), else its first two."""
    firsts = conn.first_rsts
    if conn.orig_rst and conn.resp_rst and len(firsts) == 2:
        return [frame for frame, _ in firsts]
    return conn.rst_frames[:2]


def reset_time(conn: Connection) -> float:
    """When the connection's first RST came (its last packet if the time was not kept)."""
    return conn.rst_ts if conn.rst_ts is not None else conn.last_ts


def reset_frame(conn: Connection) -> int:
    """The frame of the connection's first RST (its last packet's: reset_time)."""
    return conn.rst_frames[0] if conn.rst_ts is not None and conn.rst_frames \
        else conn.last_frame

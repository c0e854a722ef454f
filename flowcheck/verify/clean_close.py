"""Did the job's data connections close cleanly? Step 5's words when they did.

A data connection closed cleanly when the capture holds a FIN from each side, each
acknowledged by the other side's highest ACK (Connection.orig_fin_acked /
resp_fin_acked: a FIN takes one sequence number, RFC 9293 3.4), every byte captured
acknowledged too (orig_unacked / resp_unacked 0), and no RST of either side: both ends
finished the transfer and knew the other had everything (the new-user trial of session
53: a good backup's data step said nothing of its close). Source: the connection
records (flowcheck.model.Connection), filled alike by every path of the tracker.
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection


def closed_cleanly(conn: Connection) -> bool:
    """Both sides' FINs captured and acknowledged, every byte acknowledged, no RST."""
    return (conn.orig_fin_acked and conn.resp_fin_acked and not conn.rst_frames
            and not conn.orig_unacked and not conn.resp_unacked)


def clean_close_words(conns: list[Connection]) -> str:
    """"; the data connection closed cleanly (a FIN each way (frames 120, 121), each
    acknowledged, and every byte)"; of several, "; all 3 data connections closed
    cleanly (...)" or "; 2 of 3 data connections closed cleanly (...)"; "" when none
    did (a failure's or the capture's end's words say why elsewhere)."""
    clean = [conn for conn in conns if closed_cleanly(conn)]
    if not clean:
        return ""
    how = "a FIN each way, each acknowledged, and every byte"
    if len(conns) == 1:
        fins = sorted(clean[0].fin_frames)[:4]
        frames = f" ({frames_words(fins, ranges=False, plural=True)})" if fins else ""
        return (f"; the data connection closed cleanly (a FIN each way{frames}, each "
                "acknowledged, and every byte)")
    many = ("both" if len(conns) == 2 else f"all {len(conns)}") if len(clean) == len(conns) \
        else f"{len(clean)} of {len(conns)}"
    return f"; {many} data connections closed cleanly ({how})"

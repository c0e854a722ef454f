"""Who listens at an endpoint an NDMP message announces (NDMP v4 spec, 12.3 and 14.3:
DATA_LISTEN and MOVER_LISTEN name the listening side's address; MOVER_CONNECT and
DATA_CONNECT name the other side's), and a session's announcements with the mover
listening. Light (the model and the collector's table only): `flowcheck connections`
reads them to label a capture of plain NDMP as `analyze` does
(flowcheck.verify.plain_reading), loading no check."""

from __future__ import annotations

from flowcheck.model import Announcement, Session
from flowcheck.ndmp.collector import ANNOUNCERS

# Announcing message name -> who listens at its endpoint ("mover" or "data").
_LISTENER = {name: who for (name, _), who in ANNOUNCERS.items()}


def listener_of(name: str) -> str | None:
    """Who listens at the endpoint an announcing message names (NDMP_DATA_LISTEN:
    "data"), None for another message."""
    return _LISTENER.get(name if name.startswith("NDMP_") else f"NDMP_{name}")


def mover_announcements(session: Session) -> list[Announcement]:
    """The session's announcements with the mover listening: those read whole, and
    those whose address the snap length cut (Session.cut_announcements: their name still
    says who listens; ip "" and port 0, their time unknown: 0)."""
    cut = [Announcement(session.control_uid, "", 0, frame, 0.0, name, "mover")
           for frame, name, _uid in session.cut_announcements if listener_of(name) == "mover"]
    return [a for a in session.announced if a.listener == "mover"] + cut

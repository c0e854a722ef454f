"""A connection given up for the other IP version, and the one that ran the job instead.

Found by flowcheck.verify.fallback (trial 28 D1: a dual-stack media server falling back
from the agent's IPv6 address to its IPv4 one); kept here, apart from the checks, for
verify.context's cache of them.
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Session

# Seconds from a failed attempt to the other IP version's SYN: RFC 8305's longest
# Connection Attempt Delay (2 s); a refusal's fallback follows at once. `live` waits as
# long before it reports a refused control connection.
FALLBACK_SECONDS = 2.0


@fields_dataclass(slots=True)
class Fallback:
    """The failed attempts (one pair of addresses, in time order) and the control
    connection of the other IP version that opened after them, with its session."""

    attempts: list[Connection]
    conn: Connection
    session: Session
    kind: str = "control"  # or "callback"

    @property
    def delay(self) -> float:
        """Seconds from the first attempt's first packet to the fallback's SYN."""
        return max(0.0, self.conn.ts - self.attempts[0].ts)

"""What the checks prove once per analysis and read again, kept apart from the rest of
the Context (flowcheck.verify.context: Context.proofs): where the capture was taken (the
TTLs, the Linux cooked marks), how far two hosts' clocks are apart, and which host pairs
the set holds twice (two capture points). Each reading fills its part on first use (or
the pipeline gives it: clock_lags); none of them changes once found.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from flowcheck.fields_dataclass import fields_dataclass

if TYPE_CHECKING:  # the hints alone: the readings that build them read the Context
    from flowcheck.sessions.clock_apart import LagProof
    from flowcheck.verify.capture_host_proof import CaptureHostProof

__all__ = ["ProofCache"]


@fields_dataclass(slots=True)
class ProofCache:
    """The proofs of one analysis, each found once (None or empty: not found yet)."""

    # The TTLs each host's packets reached the capture with, per (sender, receiver)
    # (verify.ttl.capture_host; built on first use).
    host_ttls: dict[tuple[str, str], set[int]] | None = None
    # Per (a, b) host pair, the host a capture was taken on, or None
    # (verify.capture_host.proven_host; found on first use).
    capture_hosts: dict[tuple[str, str], CaptureHostProof | None] = field(default_factory=dict)
    # verify.cooked_host.one_host of Context.host_marks (the one host a Linux cooked
    # capture proves, and the peer proving it; None when none), in a 1-tuple once found,
    # as it walks every marked pair and several readings of a session ask; None: not
    # found yet.
    one_host: tuple[tuple[str, str] | None] | None = None
    # Per host whose own capture point the Linux cooked marks prove in the set, the least
    # peer proving it (verify.cooked_host.own_point; None: not built yet).
    own_points: dict[str, str] | None = None
    # The capture's proofs of hosts stamped behind their peers, (host, peer) -> LagProof
    # (sessions.clock_apart.lag_proofs: the pipeline's, pipeline.Traffic.clock_lags, or
    # found by verify.two_clocks; None: not found yet).
    clock_lags: dict[tuple[str, str], LagProof] | None = None
    # The capture host's interface indexes per (sender, receiver, Linux cooked packet
    # type), read again from the files on first use (sources.cooked_interfaces;
    # verify.return_way; None: not read yet).
    interfaces: dict[tuple[str, str, int], frozenset[int]] | None = None
    # (sender, receiver) whose packets the capture set holds twice: two capture points'
    # captures given together (flowcheck.verify.capture_points; None: not computed yet).
    copied: set[tuple[str, str]] | None = None
    # Per host pair, the last packet of a connection the set holds all of twice
    # (flowcheck.verify.capture_points.both_points_until; None: not built yet).
    copied_until: dict[frozenset[str], float] | None = None
    # Per (sender, receiver), how many times the set holds their packets
    # (flowcheck.verify.copy_counts.pair_copies; None: not built yet).
    pair_copies: dict[tuple[str, str], int] | None = None
    # Its (source, destination) host pairs with a copy that crossed (copy_counts.kept_leg;
    # None: not built yet).
    crossed_pairs: set[tuple[str, str]] | None = None
    # Per frame of an ICMP unreachable a connection's record holds, that connection's
    # uid, and whether the tie is an untied cut quote's guess (Connection.icmp_untied)
    # (verify.way_back.lacking_words; None: not built yet).
    icmp_owners: dict[int, tuple[str, bool]] | None = None

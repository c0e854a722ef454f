"""The host a capture was taken on and what shows it (flowcheck.verify.capture_host.
proven_host's answer): a module of its own, so verify.context can name it in the hints
of the proofs it keeps without importing the readings that build them."""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass

__all__ = ["CaptureHostProof"]


@fields_dataclass(frozen=True)
class CaptureHostProof:
    """The host a capture was taken on and what shows it (not an address proven a
    host's own: flowcheck.sessions.stack_addresses.AddressProof).

    host: its address; words: the proof, said after "taken on HOST (" (the marks'
    when they prove it, "its Linux cooked headers mark each SYN, ...", else the TTLs',
    "or on its network segment: ... a router between them"); ttls: verify.ttl.
    capture_host's answer (host, its TTL, the other's) when the TTLs show the same host,
    else None: the routers between are counted from it alone (routers_words); marked:
    the Linux cooked marks prove it, the host itself rather than a point on its
    segment."""

    host: str
    words: str
    ttls: tuple[str, int, int] | None
    marked: bool

    @property
    def hedges(self) -> tuple[str, ...]:
        """Finding.hedges for a finding whose words hold this proof's: its words when only
        the TTLs place the capture ("or on its network segment: ..."), for the TTLs
        cannot tell the host from a point on its segment; () when the marks prove it
        (review64g: the cause line read "this capture was taken on the media server
        10.77.0.1", its bracket left out)."""
        return () if self.marked else (self.words,)

    @property
    def shown(self) -> str:
        """"its Linux cooked headers show it" or "the TTLs show it": the proof in short."""
        return "its Linux cooked headers show it" if self.marked else "the TTLs show it"

    @property
    def taken_there(self) -> str:
        """"this capture was taken there" when the marks prove the host itself, "this
        capture was taken there or on its network segment, as the TTLs show" ("hop
        limits" for IPv6) when only the TTLs place it (verify.ttl.taken_on_words: a
        host's initial TTLs read alike on its segment; field check 75 run 28, on the
        router's side): the words of every reading saying the capture was taken on the
        host (the own-firewall fix, the path MTU black hole's message)."""
        if self.marked:
            return "this capture was taken there"
        ttls = "hop limits" if ":" in self.host else "TTLs"  # as verify.ttl.ttl_word
        return f"this capture was taken there or on its network segment, as the {ttls} show"

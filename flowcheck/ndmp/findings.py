"""Decode findings of one control connection, grouped so a bad stream is a few lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowcheck.findings import make_finding
from flowcheck.model import Finding
from flowcheck.ndmp.stream import DecodeProblem

_FIX_PARTIAL = ("Capture with the full snap length (tcpdump -s 0) and without drops "
                "(a capture filter, a bigger buffer: tcpdump -B 8192).")
_FIX_UNDECODABLE = ("Check that the NDMP port setting (--ndmp-port) matches the agent's "
                    "listening port, and that nothing else listens there.")
_MAX_FRAMES = 20


@dataclass(slots=True)
class _Group:
    code: str
    message: str
    fix: str
    ts: float
    frames: list[int] = field(default_factory=list)
    count: int = 0


class StreamFindings:
    """Collects decode problems by kind and builds one Finding per kind."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._groups: dict[tuple[str, str], _Group] = {}

    def _add(self, key: tuple[str, str], code: str, message: str, fix: str,
             frames: list[int], ts: float) -> None:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(code, message, fix, ts)
        group.count += 1
        for frame in frames:
            if len(group.frames) < _MAX_FRAMES and frame not in group.frames:
                group.frames.append(frame)

    def problem(self, direction: str, event: DecodeProblem) -> None:
        side = "originator" if direction == "orig" else "responder"
        if event.kind == "cut":
            self._add(("partial", direction), "ndmp_partial",
                      f"NDMP control stream from the {side} is incomplete ({event.detail}): "
                      "messages there are partial or missing", _FIX_PARTIAL,
                      event.frames, event.ts)
        else:
            self._add((event.kind, direction), "ndmp_undecodable",
                      f"bytes from the {side} are not NDMP ({event.detail})",
                      _FIX_UNDECODABLE, event.frames, event.ts)

    def bad_body(self, name: str, is_reply: bool, why: str, frame: int, ts: float) -> None:
        kind = "reply" if is_reply else "message"
        self._add(("body", name), "ndmp_undecodable", f"{name} {kind}: {why}",
                  "A peer bug or a protocol version flowcheck does not know; the header "
                  "was read, the body ignored.", [frame], ts)

    def vendor(self, name: str, frame: int, ts: float) -> None:
        self._add(("vendor", name), "ndmp_vendor_message",
                  f"{name}: a vendor or extension message, shown, not decoded", "",
                  [frame], ts)

    def gave_up(self, received: int) -> None:
        self._add(("gave_up", ""), "ndmp_undecodable",
                  f"no NDMP record in the first {received} bytes: stopped decoding this "
                  "connection", _FIX_UNDECODABLE, [], 0.0)

    def build(self) -> list[Finding]:
        out = []
        for group in self._groups.values():
            times = f" ({group.count} times)" if group.count > 1 else ""
            out.append(make_finding(group.code, group.message + times, group.fix,
                                    uid=self.uid, ts=group.ts or None, frames=group.frames))
        return out

"""Decode findings of one control connection, grouped so a bad stream is a few lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.findings import make_finding
from flowcheck.frame_names import frame_text
from flowcheck.model import Finding, NdmpMessage
from flowcheck.ndmp.lost import lost_requests, lost_words, side_name
from flowcheck.ndmp.stream_events import DecodeProblem

_FIX_PARTIAL = ("Capture with the full snap length (tcpdump -s 0) and without drops: a "
                "capture filter on the backup hosts, a bigger kernel buffer (tcpdump -B "
                "65536, in KiB; flowcheck live --buffer, in MiB).")
# The same for a capture that cut no frame (no snap length in play: trial 25 D10).
_FIX_DROPS = ("Capture without drops: a capture filter on the backup hosts, a bigger "
              "kernel buffer (tcpdump -B 65536, in KiB; flowcheck live --buffer, in MiB).")
_FIX_UNDECODABLE = ("Check that the NDMP port setting (--ndmp-port) matches the agent's "
                    "listening port, and that nothing else listens there.")
_FIX_SNAPLEN = ("Capture with the full snap length: tcpdump -s 0 (or -s 65535; old "
                "tcpdump versions default to 68 or 96 bytes), so the NDMP messages are whole.")
# The same for a control connection in TLS from its first byte: the cut packets are TLS
# records, whose NDMP messages no snap length makes readable (lab matrix seed 128 run 5:
# "so the NDMP messages are whole" of a TLS-start job captured with -s 96; field check 65).
# It names no `tcpdump -s 0`: verify.tool_fixes would add the capture tool's snap length
# setting to it (dumpcap's "leave the snapshot length automatic").
_FIX_SNAPLEN_TLS = ("Nothing to change for the NDMP messages: the connection is TLS from its "
                    "first byte (ndmp_undecodable), so a full snap length keeps its TLS "
                    "records whole, not its NDMP messages readable. To see them, capture "
                    "a run with the control connection's encryption off where the product "
                    "allows it.")
_MAX_FRAMES = 20
# Who sends each direction of a control connection: the DMA connects to the NDMP server.
_ROLE = {"orig": "media server", "resp": "agent"}


@fields_dataclass(slots=True)
class SnapCut:
    """What the snap length did to one control connection (both directions)."""

    messages: int = 0  # messages with their header but only part of the body
    error_cut: int = 0  # of them, those whose header's last word (error) was cut too
    lost: int = 0  # records whose mark or header was cut (about one per packet)
    packets: int = 0  # packets whose payload was cut, capture copies and resends included
    # Of them, those whose bytes the stream took, as cut_bytes counts each byte once (a
    # capture copy, or a resend of bytes already taken, adds none): the message's count
    # ("18 packets, 206 B not captured" of 9 packets captured twice, both hosts
    # merged, read as 412 B: lab matrix seed 114 run 2)
    taken: int = 0
    cut_bytes: int = 0  # payload bytes on the wire that were not captured
    kept_lengths: Counter[int] = field(default_factory=Counter)  # captured payload lengths
    frames: list[int] = field(default_factory=list)
    ts: float = 0.0
    # The cut packets' own frames and the first one's time: the finding's evidence when no
    # record's header or message body tells (a stream in TLS from its first byte: lab
    # matrix seed 120 run 28's ndmp_partial had no frames).
    cut_frames: list[int] = field(default_factory=list)
    cut_ts: float = 0.0

    def packet(self, kept: int) -> None:
        """A packet of which the capture kept only the first `kept` payload bytes."""
        self.packets += 1
        self.kept_lengths[kept] += 1

    def cut(self, missing: int, frame: int = 0, ts: float = 0.0) -> None:
        """A cut packet's bytes the stream took: `missing` of them not captured; frame and
        ts: the packet's (0: not known)."""
        self.taken += 1
        self.cut_bytes += missing
        if frame:
            if not self.cut_ts:
                self.cut_ts = ts
            _add_frames(self.cut_frames, [frame])

    @property
    def kept(self) -> int | None:
        """Payload bytes the capture kept of a cut packet (the snap length, less headers)."""
        return self.kept_lengths.most_common(1)[0][0] if self.kept_lengths else None

    def add_frame(self, frame: int, ts: float) -> None:
        if not self.ts:
            self.ts = ts
        _add_frames(self.frames, [frame])


@fields_dataclass(slots=True)
class _Group:
    """The findings of one code on a stream, merged into one: count, frames, and for
    ndmp_partial the bytes missing and records broken off."""

    code: str
    message: str
    fix: str
    ts: float
    frames: list[int] = field(default_factory=list)
    count: int = 0
    missing: int = 0  # bytes never captured, over all its holes (ndmp_partial)
    ended: int = 0  # records the stream's end broke off (ndmp_partial; not holes)


class StreamFindings:
    """Collects decode problems by kind and builds one Finding per kind."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._groups: dict[tuple[str, str], _Group] = {}
        self.snap = SnapCut()
        # direction -> [bytes of broken records passed over along their fragment marks,
        # bytes passed over before a record start could be proven], after holes
        self._skipped: dict[str, list[int]] = {}
        # direction -> the last frame of a record the decoder could not read (its mark or
        # header cut, a hole, bytes passed over or not NDMP): NdmpStream.unread_last.
        self.unread_last: dict[str, int] = {}
        # direction -> (frame, time) where it went on in TLS: NdmpStream.tls_from.
        self.tls: dict[str, tuple[int, float]] = {}
        # direction -> the frames of records whose mark or header the snap length cut:
        # NDMP before a TLS record, though no message of it could be read.
        self._cut_records: dict[str, list[int]] = {}
        # The holes' words name an announcement they held, its address unchecked
        # (flowcheck.ndmp.lost.lost_words): NdmpStream.holes_unchecked, set by build.
        self.holes_unchecked = False
        # The directions whose start the capture holds, build's `from_start`.
        self._from_start: frozenset[str] = frozenset()

    def _add(self, key: tuple[str, str], code: str, message: str, fix: str,
             frames: list[int], ts: float) -> None:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(code, message, fix, ts)
        group.count += 1
        _add_frames(group.frames, frames)

    def problem(self, direction: str, event: DecodeProblem) -> None:
        side = side_name(direction)
        if event.frames:
            self.unread_last[direction] = max(self.unread_last.get(direction, 0),
                                              *event.frames)
        if event.kind == "tls":  # the session secured in band: one finding (build)
            self.tls.setdefault(direction, (event.frames[0], event.ts))
        elif event.kind == "lost":  # the snap length cut a record's mark or header
            self.snap.lost += 1
            self._cut_records.setdefault(direction, []).extend(event.frames)
            for frame in event.frames:
                self.snap.add_frame(frame, event.ts)
        elif event.kind == "skipped":
            counts = self._skipped.setdefault(direction, [0, 0])
            counts[event.detail == "unproven"] += event.skipped
        elif event.kind == "cut":
            # Both directions' holes make one finding, its words built at the end
            # (_holes_finding).
            self._add(("partial", direction), "ndmp_partial", "", _FIX_PARTIAL,
                      event.frames, event.ts)
            # A hole carries its bytes (DecodeProblem.missing); a cut without them is the
            # stream's end breaking off a record.
            if event.missing is not None:
                self._groups[("partial", direction)].missing += event.missing
            else:
                self._groups[("partial", direction)].ended += 1
        else:
            self._add((event.kind, direction), "ndmp_undecodable",
                      f"bytes from the {side} are not NDMP ({event.detail})",
                      _FIX_UNDECODABLE, event.frames, event.ts)

    def snapped(self, frame: int, ts: float, error_cut: bool = False) -> None:
        """A message kept its header, the snap length cut its body (error_cut: and the
        header's last word, its error code: RawMessage.error_cut)."""
        self.snap.messages += 1
        self.snap.error_cut += error_cut
        self.snap.add_frame(frame, ts)

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
                  f"no NDMP record in the first {received:,} B: stopped decoding this "
                  "connection", _FIX_UNDECODABLE, [], 0.0)

    def _tls_finding(self, messages: list[NdmpMessage]) -> Finding:
        """One ndmp_undecodable for a control connection that went on in TLS."""
        (first_dir, (frame, ts)), *other = sorted(self.tls.items(), key=lambda d: d[1])
        before = [m for m in messages if m.frame < frame]
        cut = [f for f in self._cut_records.get(first_dir, []) if f < frame] \
            or self._cut_before(frame)  # its own, else the peer's (its greeting)
        after = (f" after the {before[-1].name.removeprefix('NDMP_')} {before[-1].type} "
                 f"({frame_text(before[-1].frame)})" if before else
                 f" after {len(cut)} NDMP record(s) whose header the snap length cut (the "
                 f"last in {frame_text(cut[-1])})" if cut else "")
        answer = "".join(f", and the {_ROLE[direction]}'s from {frame_text(f)}"
                         for direction, (f, _) in other)
        if not messages and not cut:  # TLS from the first byte: sessions.tls_start proved it
            message = _tls_start_words(first_dir, frame, answer)
        else:
            message = (f"The control connection carries TLS from {frame_text(frame)}: the "
                       f"{_ROLE[first_dir]}'s bytes{after} are TLS records{answer}. The "
                       "session was secured in band (some NDMP servers and backup products "
                       "encrypt the control connection once the peers trust each other); "
                       "flowcheck reads no NDMP inside TLS, so the requests after it and "
                       "the data endpoints they announce cannot be read, and the session's "
                       "data connections are matched to it by direction and ports.")
        fix = ("Nothing to change on the network for this. To see the job's NDMP messages, "
               "capture a run with the control connection's encryption off where the product "
               "allows it; without them, the data connections are judged by their TCP "
               "outcome alone.")
        return make_finding("ndmp_undecodable", message, fix, uid=self.uid, ts=ts,
                            frames=sorted(f for f, _ in self.tls.values()))

    def _cut_before(self, frame: int) -> list[int]:
        """The frames of NDMP records the snap length cut (their mark or header) before
        `frame`, either direction's, in frame order: the peer's cut greeting before the
        other side's TLS is NDMP in the clear too (review58h: the agent's cut
        NOTIFY_CONNECTION_STATUS, then the media server's ClientHello, read "TLS from its
        first byte" and asked for no snap length)."""
        return sorted(f for frames in self._cut_records.values() for f in frames if f < frame)

    def tls_from_start(self, messages: Sequence[NdmpMessage]) -> bool:
        """Is the connection TLS from its first byte: a direction went on in TLS, with
        no NDMP message decoded and no NDMP record cut before it in either direction
        (_tls_finding's _tls_start_words case)?"""
        if not self.tls or messages:
            return False
        _, (frame, _) = min(self.tls.items(), key=lambda d: d[1])
        return not self._cut_before(frame)

    def snap_finding(self, tls_start: bool = False) -> Finding | None:
        """One ndmp_partial for everything the snap length did to this connection.
        tls_start: the connection is TLS from its first byte (tls_from_start): the cut
        packets are TLS records, said so, and the fix is not a snap length's."""
        snap = self.snap
        if not snap.packets:
            return None
        if snap.kept == 0:  # not "the first 0 bytes" (trial 20 D19)
            kept = "only the packets' headers, none of their TCP payload"
        elif snap.kept is not None:
            kept = f"only the first {snap.kept:,} bytes of TCP payload of each packet"
        else:
            kept = "only part of each packet's TCP payload"
        parts = []
        if whole := snap.messages - snap.error_cut:
            parts.append(f"{whole} NDMP message(s) kept their header but only part "
                         "of their body (the fields that were captured are still decoded)")
        if snap.error_cut:
            parts.append(f"{snap.error_cut} NDMP message(s) kept their header but its last "
                         "word, the error code, and none of their body: which messages they "
                         "were is read, whether a reply refused its request is not")
        if snap.lost:
            parts.append(f"about {snap.lost} record(s) could not be read at all (their "
                         "header was cut)")
        what = "; ".join(parts) or "no message could be read"
        count = snap.taken or snap.packets  # packets counted once, as the bytes are
        message = (f"The capture's snap length cut this NDMP control connection: it kept "
                   f"{kept} ({count} packet{'s' if count != 1 else ''}, "
                   f"{snap.cut_bytes:,} B not captured). "
                   f"{what[0].upper()}{what[1:]}. Packet lengths on the wire are known, so "
                   "this is the snap length, not packet loss.")
        if tls_start:
            message += (" The packets it cut are TLS records: the connection is TLS from "
                        "its first byte (ndmp_undecodable), whose NDMP messages no snap "
                        "length makes readable.")
        # The records' frames, else the cut packets' (no record's header or body read).
        frames, ts = (snap.frames, snap.ts) if snap.frames else (snap.cut_frames, snap.cut_ts)
        return make_finding("ndmp_partial", message,
                            _FIX_SNAPLEN_TLS if tls_start else _FIX_SNAPLEN, uid=self.uid,
                            ts=ts or None, frames=frames, reading="snap_summary")

    def build(self, messages: Sequence[NdmpMessage] = (),
              from_start: frozenset[str] = frozenset()
              ) -> tuple[Finding | None, list[Finding]]:
        """The snap-length summary (None when nothing was cut) and every finding, it first.
        messages: the connection's decoded messages in frame order, which tell what its
        holes held (flowcheck.ndmp.lost); from_start: the directions whose start the
        capture holds (a hole before the first message read held numbers from 1:
        lost.lost_words). The holes of both directions are one ndmp_partial, the
        snap-length summary's when there is one: one per control connection (trial 25
        D11)."""
        self.holes_unchecked = False  # _holes_words sets it
        self._from_start = from_start
        snap = self.snap_finding(self.tls_from_start(messages))
        holes = {key[1]: group for key, group in self._groups.items() if key[0] == "partial"}
        if snap is not None and holes:
            frames, ts, words = self._holes_words(holes, list(messages))
            snap = make_finding(
                "ndmp_partial", f"{snap.message} Besides the packets it cut, the capture "
                f"lacks bytes of this connection, so messages are missing there too. {words}",
                _FIX_PARTIAL, uid=self.uid,
                ts=min((t for t in (self.snap.ts, ts) if t), default=None),
                frames=self.snap.frames + frames, reading="snap_summary")
        out = [] if snap is None else [snap]
        if self.tls:
            out.append(self._tls_finding(list(messages)))
        for key, group in self._groups.items():
            if key[0] == "partial":
                if snap is None and key[1] == next(iter(holes)):  # the first hole's place
                    out.append(self._holes_finding(holes, list(messages)))
                continue
            times = f" ({group.count} times)" if group.count > 1 else ""
            out.append(make_finding(group.code, group.message + times, group.fix,
                                    uid=self.uid, ts=group.ts or None, frames=group.frames))
        return snap, out

    def lost_requests(self, messages: Sequence[NdmpMessage]) -> list[NdmpMessage]:
        """The requests whose replies the holes of either direction held
        (flowcheck.ndmp.lost.lost_requests), in frame order."""
        return sorted((request for (kind, direction), group in self._groups.items()
                       if kind == "partial"
                       for request in lost_requests(direction, group.frames, list(messages))),
                      key=lambda m: m.frame)

    def _holes_finding(self, holes: dict[str, _Group], messages: list[NdmpMessage]
                       ) -> Finding:
        """The ndmp_partial for the holes and broken-off ends of both directions, in a
        capture the snap length did not cut."""
        if len(holes) == 2:
            head = "NDMP control stream is incomplete in both directions"
        else:
            head = f"NDMP control stream from the {side_name(next(iter(holes)))} is incomplete"
        frames, ts, words = self._holes_words(holes, messages)
        return make_finding("ndmp_partial", f"{head}: messages there are partial or "
                            f"missing. {words}", _FIX_DROPS, uid=self.uid, ts=ts or None,
                            frames=frames)

    def _holes_words(self, holes: dict[str, _Group], messages: list[NdmpMessage]
                     ) -> tuple[list[int], float, str]:
        """(frames, first time, words) of the holes: each direction's bytes never
        captured (the bytes after its last one captured that its FIN or the peer's ACKs
        prove sent among them: flowcheck.ndmp.reassembly.Reassembler.close), its holes,
        what decoding passed over and the messages they held, in sentences of its own (no
        "(3 times)": holes or messages? trial 25 D11), the last ending with a full stop."""
        sides = [(direction, holes[direction]) for direction in ("orig", "resp")
                 if direction in holes]
        said = {direction: lost_words(direction, group.frames, messages,
                                      direction in self._from_start)
                for direction, group in sides}
        self.holes_unchecked = any(unchecked for _, unchecked in said.values())
        words = ". ".join(_cut_words(direction, group)
                          + _skipped_text(self._skipped.get(direction),
                                          group.count - group.ended)
                          + said[direction][0]
                          for direction, group in sides)
        frames = [frame for _, group in sides for frame in group.frames]
        # The last sentence ends as the others do (it ended "(NDMP sequence numbers 2 and
        # 4)" or "in 1 hole" with no full stop: review of session 51).
        return (frames, min((group.ts for _, group in sides if group.ts), default=0.0),
                f"{words}.")


def _tls_start_words(first_dir: str, frame: int, answer: str) -> str:
    """The TLS finding's words for a control connection in TLS from its first byte (no
    NDMP message before it): what the encryption hides. Only a connection proven the
    job's shows them (flowcheck.sessions.tls_start); another program's TLS is folded
    into one ndmp_undecodable per hosts and port (flowcheck.verify.other_protocol)."""
    return (f"The control connection is TLS from its first byte ({frame_text(frame)}): the "
            f"{_ROLE[first_dir]}'s first bytes are a TLS handshake record{answer}; not "
            "one NDMP message is in the clear. The NDMP server secures its control "
            "connections from the start, before its greeting (NetApp ONTAP's secure "
            "control connection can); flowcheck reads no NDMP inside TLS, so it hides the "
            "whole session: the greeting, CONNECT_OPEN and CONNECT_CLIENT_AUTH, the job's "
            "requests and their replies (an error among them), and the data endpoints "
            "they announce. The connection is taken for the job's because it runs between "
            "the configured media server and agent while connections fitting the job's "
            "callback or data connections open between them; those are matched to the "
            "session by direction and ports and judged by their TCP outcomes.")


def _cut_words(direction: str, group: _Group) -> str:
    """"From the responder, 96 B were never captured, in 3 holes", and whether the
    stream's end broke off a record (no "(3 times)": holes or messages? trial 25 D11)."""
    parts = []
    holes = group.count - group.ended
    if holes:
        parts.append(f"{group.missing:,} B were never captured, in {holes} "
                     f"{'hole' if holes == 1 else 'holes'}")
    if group.ended:
        parts.append("the stream ended inside a record")
    return f"From the {side_name(direction)}, " + ", and ".join(parts)


def _skipped_text(skipped: list[int] | None, holes: int) -> str:
    """What decoding passed over after the `holes` holes: '' when nothing."""
    if not skipped or not any(skipped):
        return ""
    rest, unproven = skipped
    parts = []
    if rest:
        parts.append(f"{rest:,} B were the rest of the messages a hole broke (skipped "
                     "along their record marks; the messages after them were decoded)")
    if unproven:
        parts.append(f"{unproven:,} B were skipped before a record start could be proven "
                     "(whole messages among them are lost)")
    return f"; after the {'hole' if holes == 1 else 'holes'}, " + " and ".join(parts)


def _add_frames(frames: list[int], new: list[int]) -> None:
    """Add frames not yet listed, up to the cap a finding shows."""
    for frame in new:
        if len(frames) < _MAX_FRAMES and frame not in frames:
            frames.append(frame)

"""An NDMP control connection as the lab's two peers use it over a blocking socket.

Sends whole records (flowcheck.lab.ndmp_wire) and reads them back: only what the peers
need to play their part (header, raw body). Decoding proper is flowcheck.ndmp's job.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab import ndmp_wire as wire


class ChannelClosed(ConnectionError):
    """The peer closed the control connection."""


@fields_dataclass(slots=True)
class Message:
    sequence: int
    message_type: int
    code: int
    reply_sequence: int
    error: int
    body: bytes

    def u32(self, index: int) -> int:
        return int(struct.unpack_from(">I", self.body, 4 * index)[0])


class NdmpChannel:
    """Sequence numbers, record framing and a send lock (posts come from other threads)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._sequence = 0
        self._send_lock = threading.Lock()
        self._buffer = b""
        self.pending: list[Message] = []  # posts and requests read while awaiting a reply

    def _send(self, message_type: int, code: int, body: bytes, reply_sequence: int = 0,
              error: int = wire.NO_ERR) -> int:
        with self._send_lock:
            self._sequence += 1
            record = wire.encode_message(self._sequence, int(time.time()), message_type, code,
                                         reply_sequence, error, body)
            self.sock.sendall(record)
            return self._sequence

    def request(self, code: int, body: bytes = b"") -> int:
        return self._send(wire.MESSAGE_REQUEST, code, body)

    def reply(self, request: Message, body: bytes = b"", error: int = wire.NO_ERR) -> None:
        self._send(wire.MESSAGE_REPLY, request.code, body, request.sequence, error)

    def post(self, code: int, body: bytes = b"") -> None:
        self._send(wire.MESSAGE_POST, code, body)

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ChannelClosed("control connection closed by peer")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def receive(self) -> Message:
        record = b""
        while True:
            (mark,) = struct.unpack(">I", self._read_exactly(4))
            record += self._read_exactly(mark & ~wire.LAST_FRAGMENT)
            if mark & wire.LAST_FRAGMENT:
                break
        sequence, _stamp, message_type, code, reply_sequence, error = wire.HEADER.unpack_from(
            record)
        return Message(sequence, message_type, code, reply_sequence, error,
                       record[wire.HEADER.size:])

    def call(self, code: int, body: bytes = b"") -> Message:
        """Send a request and wait for its reply; other messages go to `pending`."""
        sequence = self.request(code, body)
        while True:
            message = self.receive()
            if message.message_type == wire.MESSAGE_REPLY and message.reply_sequence == sequence:
                return message
            self.pending.append(message)

    def wait_for(self, code: int) -> Message:
        """The next message with this code (a post), from `pending` or the wire."""
        for index, message in enumerate(self.pending):
            if message.code == code:
                return self.pending.pop(index)
        while True:
            message = self.receive()
            if message.code == code:
                return message
            self.pending.append(message)


def read_tcp_address(body: bytes, offset: int) -> tuple[str, int]:
    """The first address of an ndmp4_addr (TCP) starting at `offset` in a body."""
    addr_type, count = struct.unpack_from(">II", body, offset)
    if addr_type != wire.ADDR_TCP or count < 1:
        raise ValueError("no TCP address in reply")
    ip_value, port = struct.unpack_from(">II", body, offset + 8)
    return socket.inet_ntoa(struct.pack(">I", ip_value)), port

"""TCP sequence-number arithmetic: numbers wrap modulo 2**32 (RFC 9293 3.4) and are
compared by serial arithmetic (RFC 1982): a is after b when it lies less than half the
space ahead of it. Shared by the control connection's packet marks (flowcheck.ndmp) and
the checks that read them (flowcheck.verify).
"""

from __future__ import annotations

SEQUENCE_SPACE = 1 << 32


def seq_ahead(a: int, b: int) -> int:
    """How many sequence numbers a lies ahead of b, in 0 .. 2**32 - 1 (a number behind b
    comes out as more than half the space)."""
    return (a - b) % SEQUENCE_SPACE


def seq_after(a: int, b: int) -> bool:
    """Is sequence number a after b (ahead of it by less than half the space)?"""
    return 0 < seq_ahead(a, b) < SEQUENCE_SPACE // 2

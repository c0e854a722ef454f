"""Verification: the traffic against the profile's sequence and the configured ranges.

`from flowcheck.verify import check_all` gives flowcheck.verify.checks.check_all, every
check in order. Loaded on first use, not with the package: `connections` and `ndmp` use
one step of it (flowcheck.verify.other_protocol) and would otherwise load all ninety
modules of checks before reading a byte (tests/test_cli_start_imports.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowcheck.verify.checks import check_all

__all__ = ["check_all"]


def __getattr__(name: str) -> Any:
    """check_all, loaded when first asked for (PEP 562)."""
    if name == "check_all":
        from flowcheck.verify.checks import check_all

        return check_all
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

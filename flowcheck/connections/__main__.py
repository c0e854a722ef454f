"""`python -m flowcheck.connections CAPTURE...`: count connections (the benchmark entry).

Kept apart from the CLI so the benchmark measures reading and tracking only.
"""

from __future__ import annotations

import sys

from flowcheck.connections import track_connections
from flowcheck.errors import FlowcheckError
from flowcheck.exiting import exit_now, read_once


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m flowcheck.connections CAPTURE...", file=sys.stderr)
        return 2
    try:
        with read_once():
            result = track_connections(argv)
    except FlowcheckError as error:
        print(f"flowcheck: {error}", file=sys.stderr)
        return int(error.exit_status)
    packets = sum(capture.packets for capture in result.captures)
    print(f"{len(result.connections)} connections, {packets} packets")
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))

"""`python -m flowcheck.connections CAPTURE...`: count connections (the benchmark entry).

Kept apart from the CLI so the benchmark measures reading and tracking only. As the CLI's
one-shot commands, it holds what it read until the process ends (exiting.keep_to_exit):
freeing 200,000 short connections' records one object at a time took 0.1-0.2 s after the
count was printed (bench's (c) 200k), which exit_now then skips.
"""

from __future__ import annotations

import sys

from flowcheck.connections import track_connections
from flowcheck.errors import FlowcheckError
from flowcheck.exiting import exit_now, keep_to_exit, read_once


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m flowcheck.connections CAPTURE...", file=sys.stderr)
        return 2
    try:
        with read_once():
            result = track_connections(argv)
        keep_to_exit(result)  # not freed when main returns (exit_now skips the teardown)
    except FlowcheckError as error:
        print(f"flowcheck: {error}", file=sys.stderr)
        return int(error.exit_status)
    packets = sum(capture.packets for capture in result.captures)
    print(f"{len(result.connections)} connections, {packets} packets")
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))

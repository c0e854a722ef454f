"""The proof that tshark_fork gives tshark's own rows, run by hand (not collected by
pytest: it starts tshark twice per capture). For every stored capture (or the paths
given) and each out-of-order setting of the shared run, the rows of the worker's fork
server (tshark_tcp, an empty cache) against a tshark started for that capture alone,
byte for byte; then the fork server again in reverse order (a capture read after
another gives the rows it gives read first). Prints each capture that differs and a
count; exit status 1 if any differs.

    PYTHONPATH=$PWD python tests/tshark_fork_check.py [CAPTURE...]

Result when tshark_fork was written (tshark 4.0.17, session 49): 421 stored captures x
out-of-order on and off, forward and reverse, none differs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tshark_fork  # noqa: E402
import tshark_tcp  # noqa: E402


def fork_rows(captures: list[Path], out_of_order: bool, cache: Path) -> dict[Path, str]:
    """Each capture's rows from one fork server, read in the order given."""
    library = tshark_fork.library(cache)
    if library is None:
        raise SystemExit("no C compiler: tshark_fork cannot be built")
    server = None
    rows = {}
    for capture in captures:
        run = tshark_tcp.command(capture, tshark_tcp.FIELDS, out_of_order)
        if server is None:
            server = tshark_fork.Server(run, library)
        out = cache / "rows"
        status = server.run(capture, out, cache / "errors")
        rows[capture] = f"exit {status}\n" + out.read_text(encoding="utf-8")
    if server is not None:
        server.close()
    return rows


def tshark_rows(capture: Path, out_of_order: bool) -> str:
    """The rows of a tshark started for this capture alone (tshark_tcp's command)."""
    done = subprocess.run(tshark_tcp.command(capture, tshark_tcp.FIELDS, out_of_order),
                          capture_output=True, text=True)
    return f"exit {done.returncode}\n" + done.stdout


def main(arguments: list[str]) -> int:
    captures = [Path(a).resolve() for a in arguments] or tshark_tcp.STORED
    differ = 0
    with tempfile.TemporaryDirectory() as scratch:
        for out_of_order in (True, False):
            forward = fork_rows(captures, out_of_order, Path(scratch))
            backward = fork_rows(captures[::-1], out_of_order, Path(scratch))
            for capture in captures:
                alone = tshark_rows(capture, out_of_order)
                for order, rows in (("forward", forward), ("reverse", backward)):
                    if rows[capture] != alone:
                        differ += 1
                        print(f"differs ({order}, out_of_order={out_of_order}): {capture}")
    print(f"{len(captures)} captures x out-of-order on and off x forward and reverse: "
          f"{differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

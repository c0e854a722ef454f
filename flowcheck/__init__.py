"""flowcheck: verify NDMP / Backup Exec backup traffic in packet captures."""

import os
import sys

__version__ = "0.1.0"


def _started_as_flowcheck() -> bool:
    """Whether this process is a flowcheck command (the `flowcheck` script, or
    `python -m flowcheck...`), not a program that merely imports flowcheck (the pytest
    plugin, a user's script)."""
    if os.path.basename(sys.argv[0]) in ("flowcheck", "flowcheck.exe"):
        return True
    argv = getattr(sys, "orig_argv", [])
    module = next((argv[n + 1] for n, arg in enumerate(argv[:-1]) if arg == "-m"), "")
    return module == "flowcheck" or module.startswith("flowcheck.")


# numpy's OpenBLAS starts one thread per core when numpy is imported, and those threads
# spin for a while (about 0.13 s of CPU per run on 2 cores, competing with the reader's
# read-ahead thread), although flowcheck never calls BLAS. Only for flowcheck's own
# commands, and only if the user has not chosen: set before numpy is first imported.
if _started_as_flowcheck():
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

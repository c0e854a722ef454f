"""flowcheck: verify NDMP / Backup Exec backup traffic in packet captures."""

import os
import sys

__version__ = "0.1.0"


def _started_as() -> str:
    """The flowcheck command this process is: "flowcheck" for the `flowcheck` script, the
    module for `python -m flowcheck...`; "" for a program that merely imports flowcheck
    (the pytest plugin, a user's script)."""
    if os.path.basename(sys.argv[0]) in ("flowcheck", "flowcheck.exe"):
        return "flowcheck"
    argv = getattr(sys, "orig_argv", [])
    module = next((argv[n + 1] for n, arg in enumerate(argv[:-1]) if arg == "-m"), "")
    return module if module == "flowcheck" or module.startswith("flowcheck.") else ""


# numpy's OpenBLAS starts one thread per core when numpy is imported, and those threads
# spin for a while (about 0.13 s of CPU per run on 2 cores, competing with the reader's
# read-ahead thread), although flowcheck never calls BLAS. Only for flowcheck's own
# commands, and only if the user has not chosen: set before numpy is first imported.
if _started_as():
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Ctrl-C and SIGTERM while the command line's modules load: the documented one line and
# 130, not a traceback or a silent death by SIGTERM (trial 34, D5). The command line
# only: the lab and the other tools keep Python's own handling.
if _started_as() in ("flowcheck", "flowcheck.cli.main"):
    from flowcheck import interrupts

    interrupts.install()

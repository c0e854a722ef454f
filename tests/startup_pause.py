"""A flowcheck child held in the middle of loading its modules, to interrupt it there.

Ctrl-C or SIGTERM in a command's first second lands while Python imports typer, numpy and
the commands (trial 34, D5: a KeyboardInterrupt traceback, or a silent death by SIGTERM).
A timed signal hits that window only by chance; this holds the child deterministically: a
`sitecustomize` (Python imports it at startup from PYTHONPATH, before any flowcheck code)
puts a finder first on `sys.meta_path` that, when the module PAUSE_AT is first imported,
creates the READY file and sleeps. A signal sent once READY exists arrives inside that
import, as a real one arrives while the module loads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from child_signals import sigint_as_default

WORKTREE = Path(__file__).resolve().parent.parent

SITECUSTOMIZE = '''\
import os, sys, time

class _PauseAt:
    """Pauses the import of os.environ["PAUSE_AT"] (find_spec runs inside it)."""

    def find_spec(self, name, path=None, target=None):
        if name == os.environ["PAUSE_AT"]:
            sys.meta_path.remove(self)
            open(os.environ["READY"], "w").close()
            time.sleep(60)
        return None

sys.meta_path.insert(0, _PauseAt())
'''


def console_script() -> Path | None:
    """The installed `flowcheck` console script beside this Python, if there is one."""
    script = Path(sys.executable).parent / "flowcheck"
    return script if script.exists() else None


def interrupt_while_importing(command: list[str], pause_at: str, sent: signal.Signals,
                              folder: Path, cwd: Path | None = None,
                              ) -> tuple[int, bytes, bytes]:
    """Run `command` (its argv; the child imports this worktree's flowcheck), send `sent`
    while it imports the module `pause_at`, and return (exit code, stdout, stderr); a
    negative code is death by that signal. `folder` holds the hook and the READY file."""
    hook = folder / "startup-hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    ready = folder / "ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "PAUSE_AT": pause_at, "READY": str(ready),
           "PYTHONPATH": os.pathsep.join([str(hook), str(WORKTREE)])}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, cwd=cwd, preexec_fn=sigint_as_default)
    try:
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        process.send_signal(sent)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err

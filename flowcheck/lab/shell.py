"""Running the lab's commands: `run` and the error every lab step raises.

The bottom of the lab's imports: flowcheck.lab.netns and flowcheck.lab.vlan both use it,
so neither needs the other for it (imports go one way: netns -> vlan -> shell).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

__all__ = ["LabError", "run"]


class LabError(RuntimeError):
    """A lab step failed (missing tool, not root, command error)."""


def run(argv: Sequence[str], *, check: bool = True, input_text: str | None = None,
        timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run argv, capturing text output. Raises LabError when the tool is missing or,
    with `check`, when it exits non-zero (the message is its last line of output)."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, input=input_text,
                                timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)}: {detail[-1] if detail else result.returncode}")
    return result

"""flowcheck.model's NDMP and session names are loaded on first use (PEP 562): the
reading and tracking stages (`python -m flowcheck.connections`, the benchmark's engine)
never import their modules, and every other stage still imports the names from the
package as before (issue 7: about 40 M instructions of every engine run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import flowcheck.model as model
from flowcheck.model import _LATER

WORKTREE = Path(__file__).resolve().parent.parent


def test_the_engine_does_not_load_the_ndmp_and_session_vocabulary() -> None:
    code = ("import sys, flowcheck.connections, flowcheck.connections.__main__; "
            "print(sorted(m for m in sys.modules "
            "if m in ('flowcheck.model.ndmp', 'flowcheck.model.session')))")
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=WORKTREE, check=True, timeout=120).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", sorted(_LATER))
def test_every_later_name_is_the_modules_own(name: str) -> None:
    module = __import__(f"flowcheck.model.{_LATER[name]}", fromlist=[name])
    assert getattr(model, name) is getattr(module, name)
    assert name in model.__all__


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Sessions'"):
        _ = model.Sessions  # type: ignore[attr-defined]
    assert not hasattr(model, "NdmpMesage")

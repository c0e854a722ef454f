"""`plan`'s line on the ports the ranges share says whose the overlap is: a range left at
flowcheck's default 1025-65535 holds any range given (newuser55: `plan --media-range
5001-5010` said "the ranges share 10 ports: they should not overlap (the TechNote)" as if
the configuration overlapped; flow-model.md: both defaults are 1025-65535)."""

from __future__ import annotations

import pytest

from flowcheck.cli.main import run


def _shared_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    run(["plan", "--resources", "1", *argv])
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    return out[out.index("the ranges share"):out.index("jobs at once")]


@pytest.mark.parametrize(("argv", "said"), [
    (["--media-range", "5001-5010"],
     "the ranges share 10 ports: the agent range is flowcheck's default 1025-65535 "
     "(--agent-range not set), which holds the media range's ports above 1024; set "
     "--agent-range"),
    (["--agent-range", "6001-6010"],
     "the media range is flowcheck's default 1025-65535 (--media-range not set)"),
    ([], "both ranges are flowcheck's default 1025-65535 (--media-range and --agent-range "
         "not set)"),
    (["--media-range", "5001-5010", "--agent-range", "5006-5020"],
     "the ranges share 5 ports: they should not overlap (the TechNote)"),
])
def test_the_overlap_names_the_default(argv: list[str], said: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    line = _shared_line(argv, capsys)
    assert said in line, line
    assert ("should not overlap" in line) == (len(argv) == 4), line

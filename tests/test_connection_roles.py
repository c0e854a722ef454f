"""`connections` and `ndmp` fill `role` and `session` as `analyze` does (issue 11, item 4):
a script reading any command's JSON gets the same answer, never `other` for all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CASES = ["lab/clean-3-resources", "lab/concurrent-jobs", "lab/data-port-dropped",
         "lab/agent-connects-data", "ndmjob/v4-three-resources", "ndmjob-lab/v4-backup-port-10500",
         "ndmjob-lab/v4-control-refused"]


def _config(name: str) -> list[str]:
    own = CAPTURES / f"{name}.toml"
    shared = (CAPTURES / name).parent / "flowcheck.toml"
    config = own if own.exists() else shared
    return ["--config", str(config)] if config.exists() else []


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    run([*argv, "--format", "json"])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", CASES)
def test_connections_roles_equal_analyze(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(CAPTURES / f"{name}.pcap")
    analyzed = _json(["analyze", capture, *_config(name)], capsys)
    expected = [(c["uid"], c["role"], c["session"]) for c in analyzed["connections"]]
    assert any(role == "control" for _uid, role, _s in expected)
    for command in ("connections", "ndmp"):
        document = _json([command, capture, *_config(name)], capsys)
        assert [(c["uid"], c["role"], c["session"])
                for c in document["connections"]] == expected, command
        assert document["ndmp"] == analyzed["ndmp"], command  # used_by filled the same


def test_filtered_table_keeps_the_roles(capsys: pytest.CaptureFixture[str]) -> None:
    name = "lab/clean-3-resources"
    capture = str(CAPTURES / f"{name}.pcap")
    document = _json(["connections", capture, *_config(name), "--filter", "port 10000"],
                     capsys)
    assert [(c["role"], c["session"]) for c in document["connections"]] == [("control", "S1")]
    run(["connections", capture, *_config(name), "--filter", "not port 10000"])
    rows = [line for line in capsys.readouterr().out.splitlines() if " C" in line]
    assert rows and all((" data of session 1 " in row) or (" callback of session 1 " in row)
                        for row in rows)

"""`flowcheck live` without typer (flowcheck.cli.direct_live): a command line typer would
take as it is reaches live's body with the same arguments as through typer (the same
request written `--option=VALUE`, a form only typer reads); the body's refusals give the
same line and exit code; everything typer would refuse or read otherwise is left to it;
and neither typer nor pydantic is loaded for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from import_listing import modules_imported

from flowcheck.cli import live_run
from flowcheck.cli.direct import direct_call
from flowcheck.cli.direct_live import CONFIG, OWN
from flowcheck.cli.main import run

ROOT = Path(__file__).resolve().parent.parent
README_CONFIG = str(ROOT / "captures" / "lab" / "data-port-dropped.toml")
NO_SUCH = "fcnone0"  # an interface that does not exist (the sniffer refuses it: exit 3)


def _typer_form(argv: list[str]) -> list[str]:
    """argv with each `--option VALUE` written `--option=VALUE` (and `-i` as
    `--interface=`): the same request, which only typer parses."""
    words, out = iter(argv[1:]), [argv[0]]
    for word in words:
        out.append(f"{'--interface' if word == '-i' else word}={next(words)}")
    return out


# Command lines direct_live takes: every option of live's own, and the configuration flags
# (repeated where they repeat).
TAKEN = [
    ["live", "-i", "lo"],
    ["live", "--interface", "eth0", "--format", "json", "--duration", "2.5",
     "--buffer", "64", "--sniffer", "dumpcap", "--capture-filter", ""],
    ["live", "-i", "lo", "--write", "-", "--html", "out.html", "--duration", "10",
     "--capture-filter", "tcp port 10000", "--format", "table", "--sniffer", "scapy"],
    ["live", "-i", "lo", "--write", "job.pcap", "--buffer", "0", "--duration", "0.05"],
    ["live", "-i", "lo", "--media-range", "5001-5100", "--media-range", "5200-5300",
     "--agent-range", "6001-6100", "--media-server", "10.0.0.1", "--remote-agent",
     "10.0.0.2", "--backup-network", "10.0.0.0/24", "--port-hold", "30",
     "--resources", "3", "--profile", "ndmp", "--retransmission-timeout", "1",
     "--vxlan-port", "48879", "--geneve-port", "6082", "--ndmp-port", "10001"],
    ["live", "--config", README_CONFIG, "-i", "lo", "--media-range", "7001-7100"],
]


@pytest.mark.parametrize("argv", TAKEN, ids=range(len(TAKEN)))
def test_live_body_called_as_typer_calls_it(argv: list[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def record(*args: object, **kwargs: object) -> int:
        calls.append((args, kwargs))
        return 0

    monkeypatch.setattr(live_run, "run_live", record)
    parsed = _typer_form(argv)
    assert direct_call(argv) is not None and direct_call(parsed) is None
    assert run(argv) == 0 and run(parsed) == 0
    (direct_args, direct_kwargs), (typer_args, typer_kwargs) = calls
    # typer passes every parameter, positionally (cli.live); the direct path the ones
    # given: the same call once the defaults are filled in.
    names = ["config", "interface", "output", "write", "duration", "capture_filter",
             "buffer", "html", "sniffer"]
    assert not typer_kwargs and len(typer_args) == len(names)
    typer_call = dict(zip(names, typer_args, strict=True))
    defaults = {name: typer_call[name] for name in names if name not in ("config", "interface")
                if name not in direct_kwargs}
    assert {"config": direct_args[0], **defaults, **direct_kwargs} == typer_call
    for name, value in direct_kwargs.items():
        assert type(value) is type(typer_call[name]), name


# Refused by live's body, not by typer: the same line and code both ways.
REFUSED_BY_BODY = [
    ["live", "-i", "lo", "--duration", "0.05"],
    ["live", "-i", "lo", "--buffer", "0"],
    ["live", "-i", "lo", "--html", "report.html", "--write", "-"],
    ["live", "-i", "lo", "--write", "no-such-dir/job.pcap"],
    ["live", "-i", "lo", "--profile", "backup-exec-0"],
    ["live", "-i", "lo", "--media-range", "5100-5001"],
    ["live", "-i", "lo", "--port-hold", "soon", "--resources", "many"],
    ["live", "-i", "lo", "--config", "missing.toml"],
    ["live", "-i", NO_SUCH, "--duration", "1", "--write", "job.pcap"],
]


@pytest.mark.parametrize("argv", REFUSED_BY_BODY, ids=range(len(REFUSED_BY_BODY)))
def test_body_refusals_same_as_typer(argv: list[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    parsed = _typer_form(argv)
    assert direct_call(argv) is not None and direct_call(parsed) is None
    code = run(argv)
    out, err = capsys.readouterr()
    assert (run(parsed), *capsys.readouterr()) == (code, out, err)
    assert code in (2, 3) and err.startswith("flowcheck: error: ") and not out, (code, err)
    assert not list(tmp_path.iterdir())  # refused before anything was written


# Command lines typer refuses (exit 2) or reads otherwise: never taken without it.
LEFT_TO_TYPER = [
    ["live"], ["live", "--duration", "5"], ["live", "-i"], ["live", "-i", "lo", "extra"],
    ["live", "-i", "lo", "--duration", "x"], ["live", "-i", "lo", "--duration", "1e1"],
    ["live", "-i", "lo", "--duration", "nan"], ["live", "-i", "lo", "--buffer", "1.5"],
    ["live", "-i", "lo", "--buffer", "+5"], ["live", "-i", "lo", "--buffer", "007"],
    ["live", "-i", "lo", "--format", "JSON"], ["live", "-i", "lo", "--format", "xml"],
    ["live", "-i", "lo", "--sniffer", "tshark"], ["live", "-i", "lo", "--sniffer", "Scapy"],
    ["live", "-i", "lo", "-i", "eth0"], ["live", "-i", "lo", "--duration", "1",
                                           "--duration", "2"],
    ["live", "-i", "lo", "--profile", "ndmp", "--profile", "ndmp"],
    ["live", "-i", "lo", "--write", "."], ["live", "-i", "lo", "--html", "-"],
    ["live", "-i", "lo", "--config", "-"], ["live", "-i", "lo", "--config", "."],
    ["live", "-i", "lo", "--help"], ["live", "-h"], ["live", "-ilo"],
    ["live", "-i", "lo", "--duration=5"], ["live", "-i", "--duration", "5"],
    ["live", "-i", "lo", "--media-range", "--agent-range"], ["live", "-i", "lo", "--"],
    ["live", "-i", "lo", "--no-such-option", "1"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=range(len(LEFT_TO_TYPER)))
def test_other_live_command_lines_left_to_typer(argv: list[str]) -> None:
    assert direct_call(argv) is None


def test_direct_grammar_is_lives_options() -> None:
    """Every option direct_live reads is one typer declares for live, repeatable exactly
    when typer's is (its help is typer's); `--config` besides."""
    import typer

    from flowcheck.cli import app

    app._register_commands()
    command = typer.main.get_command(app.app).commands["live"]  # type: ignore[attr-defined]
    declared = {spelling: param for param in command.params for spelling in param.opts}
    assert set(OWN) | set(CONFIG) | {"--config"} <= set(declared)
    for spelling in (*OWN, *CONFIG, "--config"):
        repeatable = CONFIG.get(spelling, ("", False))[1]
        assert declared[spelling].multiple == repeatable, spelling
    # and none of typer's is missing (help is the app's: -h, --help).
    assert set(declared) - set(OWN) - set(CONFIG) == {"--config"}


def test_no_typer_for_live(tmp_path: Path) -> None:
    """A `live` the sniffer refuses (no such interface) ran without typer or pydantic."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowcheck", "live", "-i", NO_SUCH,
         "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=120)
    modules = modules_imported(result.stderr)
    assert result.returncode == 3 and "flowcheck.cli.live_run" in modules, result.stderr
    assert not modules & {"typer", "click", "pydantic", "flowcheck.cli.app"}


def test_write_dash_beside_a_folder_named_dash(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """With a folder named `-` in the current one, typer checks `--write -` as a file
    name ("file '-' is a directory", exit 2) where the direct path went on to sniff
    (review54e's fuzzing): that `-` is left to typer; without the folder it is taken."""
    monkeypatch.chdir(tmp_path)
    argv = ["live", "-i", NO_SUCH, "--write", "-"]
    assert direct_call(argv) is not None
    (tmp_path / "-").mkdir()
    assert direct_call(argv) is None
    code = run(argv)
    out, err = capsys.readouterr()
    assert (run(_typer_form(argv)), *capsys.readouterr()) == (code, out, err)
    assert code == 2 and not out, err

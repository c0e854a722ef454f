"""A newcomer's words for the port ranges name --agent-range / --media-range
(flowcheck.setting_words; newuser63: `--data-ports 6001-6005` suggested "--ndmp-port,
--vxlan-port", a configuration file's `data_ports` "vxlan_ports"). Typos of other
settings keep their spelling match."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.setting_words import range_settings

CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources.pcap"
BOTH = ("agent_range", "media_range")


@pytest.mark.parametrize(("name", "meant"), [
    ("--data-ports", BOTH), ("data_ports", BOTH), ("dynamic-ports", BOTH),
    ("--port-range", BOTH), ("portRange", BOTH), ("--ports", BOTH), ("ephemeral_ports", BOTH),
    ("data_port", BOTH), ("--agent-ports", ("agent_range",)),
    ("client_port_range", ("agent_range",)), ("--media-ports", ("media_range",)),
    ("server-port-range", ("media_range",)),
    ("--port", ()), ("ndmp_ports", ()), ("vxlan-ports", ()), ("--profil", ()),
    ("media_rnage", ()), ("--data", ()),
])
def test_range_words_table(name: str, meant: tuple[str, ...]) -> None:
    assert range_settings(name) == meant


def test_unknown_flag_names_the_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", "--data-ports", "6001-6005", str(CAPTURE)]) == 2
    err = capsys.readouterr().err
    assert "No such option: --data-ports; did you mean --agent-range LO-HI or " \
        "--media-range LO-HI (the remote agent's or the media server's dynamic port " \
        "range" in err, err
    assert "--vxlan-port" not in err and "--ndmp-port" not in err
    # A typo of another option keeps Click's spelling match.
    assert run(["analyze", "--ndmp-prot", "10000", str(CAPTURE)]) == 2
    assert "--ndmp-port" in capsys.readouterr().err


def test_unknown_configuration_key_names_the_ranges(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "job.toml"
    config.write_text('data_ports = "6001-6002"\n')
    assert run(["analyze", "--config", str(config), str(CAPTURE)]) == 2
    err = capsys.readouterr().err
    assert "unknown configuration key 'data_ports'" in err
    assert "did you mean agent_range or media_range (" in err and "vxlan_ports" not in err, err
    config.write_text('agent_port_range = "6001-6002"\n')
    assert run(["analyze", "--config", str(config), str(CAPTURE)]) == 2
    assert "did you mean agent_range (the remote agent's dynamic port range" \
        in capsys.readouterr().err
    config.write_text('media_rnage = "5001-5100"\n')
    assert run(["analyze", "--config", str(config), str(CAPTURE)]) == 2
    assert "did you mean media_range?" in capsys.readouterr().err

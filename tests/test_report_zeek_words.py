"""Zeek's state and history codes explained where the admin reads them (trial 20 D16):
a legend under the text connections table and the HTML one, naming only the codes the
table shows; the NDMP table says which host `orig` and `resp` are."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.report.zeek_words import history_legend, state_legend

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def test_state_legend_names_the_states_shown_in_plain_words() -> None:
    assert state_legend(["SF", "S0", "SF"]) == (
        "state: SF opened and closed normally; S0 SYN sent, no answer")
    assert state_legend([]) == ""
    # a state the legend does not know is named as Zeek's, not dropped silently
    assert state_legend(["XYZ"]) == "state: XYZ (Zeek's conn_state)"


def test_history_legend_names_the_letters_shown() -> None:
    legend = history_legend(["ShAdDafF", "S"])
    assert legend.startswith("history: upper case from the originator, lower case from "
                             "the responder: ")
    assert legend.endswith("S SYN, H SYN-ACK, A ACK, D data, F FIN")
    assert "R " not in legend and "^" not in legend
    assert "^ originator guessed" in history_legend(["^hR"])
    assert history_legend(["", ""]) == ""


def test_connections_text_has_the_legend(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["connections", str(LAB / "data-port-dropped.pcap")]) == 0
    out = capsys.readouterr().out
    table_end = out.index("└")
    legend = out[table_end:]
    assert "state: SF opened and closed normally; S0 SYN sent, no answer" in legend
    assert "history: upper case from the originator" in legend


def test_html_connections_have_the_legend(tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    run(["analyze", str(LAB / "data-port-dropped.pcap"), "--config",
         str(LAB / "data-port-dropped.toml"), "--html", str(html)])
    page = html.read_text()
    connections = page[page.index("<h2>Connections"):]
    assert "S0 SYN sent, no answer" in connections
    assert "history: upper case from the originator" in connections


def test_ndmp_table_says_which_host_orig_and_resp_are(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ndmp", str(LAB / "listen-error.pcap")]) == 0
    out = capsys.readouterr().out
    assert ("dir: orig from 10.77.0.1 (the control connection's originator), resp from "
            "10.77.0.2") in out


def test_a_hidden_column_has_no_legend() -> None:
    from rich.console import Console

    from flowcheck.model import Connection
    from flowcheck.report.connections import render_connections

    conns = [Connection("C1", "10.77.0.1", 5002, "10.77.0.2", 6001, 1.0, conn_state="S0",
                        history="S")]
    wide, narrow = (Console(record=True, width=width, color_system=None)
                    for width in (200, 60))
    render_connections(conns, wide, packets=4)
    render_connections(conns, narrow, packets=4)
    assert "history: upper case" in wide.export_text()
    text = narrow.export_text()
    assert "not shown: frames, history" in text and "history: upper case" not in text
    assert "state: S0 SYN sent, no answer" in text


def test_state_legend_follows_the_connections_histories() -> None:
    """RSTRH, SHR and SH are named for a handshake half seen, but Zeek gives them
    whenever the other side sent no SYN: the words say so when a connection shown lacks
    the packet (newuser55: a lone RST+ACK with data read "SYN-ACK then a reset")."""
    assert state_legend(["RSTRH"], ["^hr"]) == (
        "state: RSTRH SYN-ACK then a reset from the responder, no SYN seen")
    assert state_legend(["RSTRH", "RSTRH"], ["^hr", "^dr"]) == (
        "state: RSTRH reset by the responder, no SYN from the originator seen")
    assert state_legend(["SHR"], ["^df"]) == (
        "state: SHR FIN from the responder, no SYN from the originator seen")
    assert state_legend(["SH"], ["SF"]) == "state: SH SYN then FIN from the originator, no answer"
    assert state_legend(["SH"], ["^DdF"]) == (
        "state: SH FIN from the originator, no SYN-ACK from the responder seen")


def test_a_lone_reset_with_data_is_not_said_to_follow_a_syn_ack(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    capture = tmp_path / "lone-rst.pcap"
    wrpcap(str(capture), [Ether() / IP(src="10.77.0.2", dst="10.77.0.1") / TCP(
        sport=10000, dport=5081, flags="RA", seq=1000, ack=2000) / Raw(b"x" * 20)])
    assert run(["connections", str(capture)]) == 0
    out = capsys.readouterr().out
    assert "RSTRH" in out and "SYN-ACK then" not in out
    assert "state: RSTRH reset by the responder, no SYN from the originator seen" in out

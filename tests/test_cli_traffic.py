"""The traffic commands through the real CLI: JSON contract keys, exit codes, errors."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NDMJOB = CAPTURES / "ndmjob"
LAB_CONFIG = ["--config", str(NDMJOB / "flowcheck.toml")]

CONNECTION_KEYS = {"uid", "orig_h", "orig_p", "resp_h", "resp_p", "ts", "duration",
                   "conn_state", "history", "orig_pkts", "resp_pkts", "orig_bytes",
                   "resp_bytes", "missed_bytes", "gaps", "retransmits", "syn_retries",
                   "first_frame", "last_frame", "role", "session"}
MESSAGE_KEYS = {"frame", "ts", "direction", "sequence", "type", "code", "name", "error",
                "reply_sequence", "addresses", "partial"}
SESSION_KEYS = {"id", "control_uid", "media_server", "remote_agent", "version", "kind",
                "steps", "callback_uid", "announced", "data_connections"}
FINDING_KEYS = {"code", "severity", "session", "uid", "ts", "frames", "message", "fix"}


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = run([*argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_connections_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(["connections", str(NDMJOB / "v4-backup.pcap")], capsys)
    assert code == 0
    assert {"flowcheck", "captures", "connections", "ndmp", "findings"} <= set(document)
    assert "verdict" not in document and "sessions" not in document
    assert [s["version"] for s in document["ndmp"]] == [4]
    capture = document["captures"][0]
    assert {"path", "format", "link_types", "packets", "truncated"} <= set(capture)
    assert capture["format"] == "pcap" and capture["link_types"] == ["EN10MB"]
    for connection in document["connections"]:
        assert set(connection) >= CONNECTION_KEYS
    control = [c for c in document["connections"] if c["resp_p"] == 10000]
    assert len(control) == 1 and control[0]["conn_state"] == "SF"


def test_connections_filter_selects(capsys: pytest.CaptureFixture[str]) -> None:
    _, everything = _json(["connections", str(NDMJOB / "v4-backup.pcap")], capsys)
    _, only = _json(["connections", str(NDMJOB / "v4-backup.pcap"),
                     "--filter", "not port 10000"], capsys)
    assert len(only["connections"]) == len(everything["connections"]) - 1
    assert all(10000 not in (c["orig_p"], c["resp_p"]) for c in only["connections"])
    assert run(["connections", str(NDMJOB / "v4-backup.pcap"), "--filter", "port ("]) == 2


def test_ndmp_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(["ndmp", str(NDMJOB / "v4-backup.pcap")], capsys)
    assert code == 0
    [stream] = document["ndmp"]
    assert stream["version"] == 4
    for message in stream["messages"]:
        assert set(message) >= MESSAGE_KEYS
        assert message["type"] in {"request", "reply", "post"}
        assert isinstance(message["code"], int) and isinstance(message["reply_sequence"], int)
    # ndmjob's tape agent is resident in the DMA (-T .): MOVER_LISTEN never goes on the
    # wire, DATA_CONNECT tells the agent the mover's endpoint.
    [connect] = [m for m in stream["messages"]
                 if m["name"] == "NDMP_DATA_CONNECT" and m["type"] == "request"]
    assert connect["addresses"] and connect["addresses"][0]["ip"] == "10.77.0.1"
    assert 5001 <= connect["addresses"][0]["port"] <= 5100


@pytest.mark.parametrize(("capture", "verdict", "codes"), [
    ("v4-backup.pcap", "pass", set()),
    ("v4-backup-media-firewall-drop.pcap", "fail", {"data_unanswered"}),
    ("v4-agent-out-of-range.pcap", "fail", {"port_outside_agent_range"}),
    ("v4-swap-refused.pcap", "fail", {"ndmp_error_reply"}),
])
def test_analyze_verdict_and_exit_code(capture: str, verdict: str, codes: set[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(["analyze", str(NDMJOB / capture), *LAB_CONFIG], capsys)
    assert document["verdict"] == verdict
    assert code == (0 if verdict == "pass" else 1)
    assert {f["code"] for f in document["findings"] if f["severity"] == "error"} == codes
    for session in document["sessions"]:
        assert set(session) >= SESSION_KEYS
    for finding in document["findings"]:
        assert set(finding) >= FINDING_KEYS


def test_analyze_writes_graph_and_html(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    graph, html = tmp_path / "g.graphml", tmp_path / "r.html"
    code = run(["analyze", str(NDMJOB / "v4-backup.pcap"), *LAB_CONFIG,
                "--graph", str(graph), "--html", str(html)])
    assert code == 0
    assert "<graphml" in graph.read_text() and "C1" in graph.read_text()
    assert "pass" in html.read_text().lower()
    assert "PASS" in capsys.readouterr().out
    assert run(["analyze", str(NDMJOB / "v4-backup.pcap"), "--graph",
                str(tmp_path / "g.png")]) == 2


def test_ring_buffer_directory_and_gzip_equal_the_file(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, single = _json(["analyze", str(NDMJOB / "v4-three-resources.pcap"), *LAB_CONFIG], capsys)
    ring = tmp_path / "ring"
    ring.mkdir()
    # tcpdump -C splits a capture into consecutive files; flowcheck merges them by time.
    subprocess.run(["tcpdump", "-Z", "root", "-r", str(NDMJOB / "v4-three-resources.pcap"), "-w",
                    str(ring / "part"), "-C", "2"], check=True, capture_output=True)
    assert len(list(ring.iterdir())) >= 3
    (ring / "notes.txt").write_text("not a capture")
    _, merged = _json(["analyze", str(ring), *LAB_CONFIG], capsys)
    zipped = tmp_path / "three.pcap.gz"
    zipped.write_bytes(gzip.compress((NDMJOB / "v4-three-resources.pcap").read_bytes()))
    _, from_gzip = _json(["analyze", str(zipped), *LAB_CONFIG], capsys)
    for other in (merged, from_gzip):
        assert other["verdict"] == single["verdict"]
        assert _without_details(other["sessions"]) == _without_details(single["sessions"])
        assert [c["first_frame"] for c in other["connections"]] == \
               [c["first_frame"] for c in single["connections"]]
    # The one file's step details name its frames bare, the ring's by part and frame in it
    # (frame_names).
    assert from_gzip["sessions"] == single["sessions"]
    ring_details = [step["detail"] for session in merged["sessions"]
                    for step in session["steps"] if "frame" in step["detail"]]
    assert ring_details and all(" of part" in detail for detail in ring_details)


def _without_details(sessions: list[dict]) -> list[dict]:
    """Sessions with their steps' detail words left out (they name frames by file)."""
    return [{**session, "steps": [{k: v for k, v in step.items() if k != "detail"}
                                  for step in session["steps"]]} for session in sessions]


def test_standard_input_is_a_capture() -> None:
    data = (NDMJOB / "v4-backup.pcap").read_bytes()
    result = subprocess.run([sys.executable, "-m", "flowcheck", "analyze", "-", *LAB_CONFIG,
                             "--format", "json"], input=data, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "pass"


@pytest.mark.parametrize("make", ["missing", "empty_file", "empty_dir", "garbage", "no_captures"])
def test_unreadable_input_exits_3_with_one_line(make: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """One line on stderr, exit 3: "garbage" through the real process (a traceback
    would show there), the others through cli.main.run, the same code path without the
    start-up (where an exception would not be caught but fail the test)."""
    target = tmp_path / "input"
    if make == "empty_file":
        target.write_bytes(b"")
    elif make == "empty_dir":
        target.mkdir()
    elif make == "garbage":
        target.write_bytes(b"GET / HTTP/1.1\r\n" * 10)
    elif make == "no_captures":
        target.mkdir()
        (target / "readme.md").write_text("nothing here")
    if make == "garbage":
        result = subprocess.run([sys.executable, "-m", "flowcheck", "analyze", str(target)],
                                capture_output=True, text=True, check=False)
        code, err = result.returncode, result.stderr
    else:
        code, err = run(["analyze", str(target)]), capsys.readouterr().err
    assert code == 3
    assert err.startswith("flowcheck: error:")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_truncated_capture_is_not_an_input_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = (NDMJOB / "v4-backup.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) // 2 + 7])
    code, document = _json(["analyze", str(cut), *LAB_CONFIG], capsys)
    assert document["captures"][0]["truncated"] is True
    assert "capture_truncated" in {f["code"] for f in document["findings"]}
    # a verdict, not input error 3: cut mid-transfer, the data step is unknown (exit 5)
    assert code in (0, 1, 5)


def test_unreadable_file_permission(tmp_path: Path) -> None:
    target = tmp_path / "secret.pcap"
    target.write_bytes((NDMJOB / "v4-swap-refused.pcap").read_bytes())
    target.chmod(0)
    # root reads anything: become nobody after the imports, as a user without rights
    # would be. (InputError's exit code 3 is checked through the CLI above.)
    script = ("import os, sys\n"
              "from flowcheck.errors import InputError\n"
              "from flowcheck.sources import iter_batches\n"
              "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
              "try:\n"
              "    list(iter_batches([sys.argv[1]]))\n"
              "except InputError as exc:\n"
              "    print(exc); sys.exit(int(exc.exit_status))\n")
    result = subprocess.run([sys.executable, "-c", script, str(target)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 3, result.stderr
    assert "permission denied" in result.stdout and result.stdout.count("\n") == 1


def _no_packet(make: str, folder: Path) -> Path:
    """The stored capture reduced to a file that gives no packet."""
    data = (NDMJOB / "v4-backup.pcap").read_bytes()
    target = folder / f"{make}.pcap"
    if make == "header_only":  # well-formed: a pcap file header and no record
        target.write_bytes(data[:24])
    elif make == "absurd_first_record":  # the first record's caplen patched to 0x7fffffff
        target.write_bytes(data[:32] + struct.pack("<I", 0x7FFFFFFF) + data[36:])
    elif make == "cut_in_first_record":
        target.write_bytes(data[:24 + 16 + 10])
    else:  # a .gz cut before its first packet inflates
        target = folder / f"{make}.pcap.gz"
        target.write_bytes(gzip.compress(data)[:30])
    return target


@pytest.mark.parametrize("command", ["analyze", "connections", "ndmp"])
@pytest.mark.parametrize(("make", "says"), [
    # With what it says of a job that ran meanwhile (field check 35's matrix: a capture
    # on the agent while the media server's own rules dropped its SYNs).
    ("header_only", "the capture holds no packets (nothing after its file header): if the "
                    "job ran while it captured, none of its packets reached this capture "
                    "point"),
    ("absurd_first_record", "no packet could be read: "),
    ("cut_in_first_record", "no packet could be read: "),
    ("gz_cut_before_first_packet", ": compressed data corrupt or cut: "),  # not "empty"
])
def test_capture_that_gives_no_packet_exits_3(command: str, make: str, says: str,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing to judge or list: not a verdict (it was fail: no_control_session) nor an
    empty table, but an input error naming the file and why."""
    target = _no_packet(make, tmp_path)
    assert run([command, str(target), *LAB_CONFIG]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("flowcheck: error: ") and captured.err.count("\n") == 1
    assert says in captured.err and str(target) in captured.err


def test_capture_set_with_one_file_giving_no_packet_stays_partial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "v4-backup.pcap").write_bytes((NDMJOB / "v4-backup.pcap").read_bytes())
    bad = _no_packet("absurd_first_record", tmp_path)
    code, document = _json(["analyze", str(tmp_path), *LAB_CONFIG], capsys)
    assert code == 0 and document["verdict"] == "pass"
    [unreadable] = [f for f in document["findings"] if f["code"].startswith("capture_")]
    assert unreadable["code"] == "capture_unreadable" and bad.name in unreadable["message"]


def test_capture_set_of_files_giving_no_packet_exits_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt, empty = tmp_path / "corrupt", tmp_path / "empty"
    corrupt.mkdir()
    empty.mkdir()
    _no_packet("header_only", corrupt)
    _no_packet("absurd_first_record", corrupt)
    assert run(["analyze", str(corrupt), *LAB_CONFIG]) == 3
    assert "no packet could be read: " in capsys.readouterr().err
    for name in ("ring.pcap0", "ring.pcap1"):
        (empty / name).write_bytes(_no_packet("header_only", tmp_path).read_bytes())
    assert run(["connections", str(empty), *LAB_CONFIG]) == 3
    assert "none of the 2 capture files holds a packet" in capsys.readouterr().err


def _table(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(argv) == 0
    return capsys.readouterr().out


def test_connections_without_tcp_print_a_sentence_not_an_empty_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from capture_factory import link_frame, write_pcap
    from scapy.layers.inet import IP, UDP

    udp = link_frame(bytes(IP(src="10.77.0.1", dst="10.77.0.2") / UDP(sport=53, dport=53)))
    write_pcap(tmp_path / "udp.pcap", [(1.0 + n, udp) for n in range(3)])
    out = _table(["connections", str(tmp_path / "udp.pcap")], capsys)
    assert out.splitlines()[1:] == ["No TCP connection in 3 packets."]


def test_connections_none_selected_by_the_filter_say_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = _table(["connections", str(NDMJOB / "v4-backup.pcap"), "--filter", "port 1"],
                 capsys)
    assert out.splitlines()[1:] == ["No TCP connection matches the filter (2 in the capture)."]
    out = _table(["connections", str(NDMJOB / "v4-backup.pcap"), "--filter", "port 10000"],
                 capsys)
    assert out.splitlines()[1].startswith("times +N s count from ")  # trial 20, D11
    assert out.splitlines()[2].startswith("1 TCP connection ")  # one, not "connections"


def test_ndmp_stream_without_a_readable_message_prints_no_empty_table(
        capsys: pytest.CaptureFixture[str]) -> None:
    """snaplen-54: the snap length cut every NDMP record; the ndmp_partial finding
    under the line says so."""
    lab = CAPTURES / "lab" / "snaplen-54"
    out = _table(["ndmp", "--config", f"{lab}.toml", f"{lab}.pcap"], capsys)
    assert out.splitlines()[1] == ("C1: 10.77.0.1:5053 -> 10.77.0.2:10000, session S1, NDMP "
                                   "unknown, no message could be read, started "
                                   "2026-12-01T03:07:34.990Z")
    assert "┏" not in out and "ndmp_partial C1" in out


def test_a_value_outside_the_choices_is_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    """typer checks values through pydantic, which prefixed "Value error, " to the reason."""
    capture = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    assert run(["analyze", "--format", "xml", str(capture)]) == 2
    assert capsys.readouterr().err == (
        "flowcheck: error: Invalid value for '--format': 'xml' is not one of 'table', "
        "'json'. (see 'flowcheck analyze --help')\n")


@pytest.mark.parametrize(("argv", "hint"), [
    (["analyze", "--format", "html"], True), (["analyze", "--format=HTML"], True),
    (["connections", "--format", "html"], False)])  # connections writes no HTML report
def test_format_html_points_to_the_html_option(capsys: pytest.CaptureFixture[str],
                                               argv: list[str], hint: bool) -> None:
    """The HTML report is `--html FILE`, not a format: `analyze --format html` said only
    "'html' is not one of 'table', 'json'" (cli.app._html_asked)."""
    capture = CAPTURES / "ndmjob" / "v4-backup.pcap"
    assert run([*argv, str(capture)]) == 2
    value = argv[-1].removeprefix("--format=")
    reason = f"'{value}' is not one of 'table', 'json'"
    tail = "; for an HTML report use --html FILE" if hint else "."
    assert capsys.readouterr().err == (
        f"flowcheck: error: Invalid value for '--format': {reason}{tail} "
        f"(see 'flowcheck {argv[0]} --help')\n")

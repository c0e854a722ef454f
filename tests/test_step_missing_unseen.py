"""A step the capture lacks only because packets are missing from it is not `missing`
(field check 20: D4, D6, D7, D9).

Each variant is made from a stored capture as a sniffer would make it: started late
(editcap -r from a later frame), one direction (tshark -Y ip.src==HOST), snap length 96
(editcap -s 96), frames lost (editcap deletes them), stopped early (editcap -r 1-N).
They only lose packets, so none may FAIL where the original does not: the contract's
"a step is failed/missing only on evidence from the capture". The originals keep their
verdicts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Session
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
ANNOUNCE = CAPTURES / "lab-trial19-announce" / "mh5-other-nic-firewall-opened"
WHOLE_CALLBACK = CAPTURES / "trial25-sniff" / "r-wholecallback"
DATA_SYN = CAPTURES / "trial25-sniff" / "r-datasyn_and_ack"
JOB_ENGINE = CAPTURES / "lab-trial19-callback" / "mh3-jobengine-other-nic"
CONNECT_CHECK = CAPTURES / "lab-trial23-probe" / "connect-check"
WEBMIN = CAPTURES / "trial23-other-protocol" / "webmin-on-media"
FIN_RST = CAPTURES / "ndmjob-filtered-packets" / "fin-rst-media"


def _capture(base: Path) -> Path:
    return next(p for p in base.parent.iterdir()
                if p.name.startswith(base.name + ".pcap"))


def _analysis(base: Path, capture: Path | None = None) -> Analysis:
    if capture is None:  # the stored case as stored: the run's one analysis, read only
        return shared_analysis(_capture(base))
    config = build_config(load_file(base.with_suffix(".toml")))
    return analyze(read_traffic([str(capture or _capture(base))], config), config)


def _editcap(tmp_path: Path, base: Path, name: str, *options: str,
             frames: tuple[str, ...] = ()) -> Path:
    """editcap OPTIONS on the stored capture, deleting FRAMES (1-based, as Wireshark
    numbers them; with -r, the frames kept)."""
    out = tmp_path / f"{base.name}-{name}.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", *options, str(_capture(base)), str(out),
                    *frames], check=True, capture_output=True)
    return out


def _sent_by(tmp_path: Path, base: Path, host: str) -> Path:
    """The packets `host` sent: a capture of one direction (a SPAN port that sees one
    way)."""
    out = tmp_path / f"{base.name}-from-{host}.pcapng"
    subprocess.run(["tshark", "-r", str(_capture(base)), "-F", "pcapng", "-Y",
                    f"ip.src=={host}", "-w", str(out)], check=True, capture_output=True)
    return out


def _session(result: Analysis, sid: str) -> Session:
    return next(s for s in result.sessions if s.id == sid)


def _status(result: Analysis, sid: str, step: int) -> str:
    return next(s.status for s in _session(result, sid).steps if s.step == step)


def _detail(result: Analysis, sid: str, step: int) -> str:
    return next(s.detail for s in _session(result, sid).steps if s.step == step)


def _no_step_missing(result: Analysis) -> None:
    assert result.verdict != "fail", [(f.code, f.message) for f in result.findings
                                      if str(f.severity) == "error"]
    assert not [f for f in result.findings if f.code == "step_missing"]


@pytest.mark.parametrize("base", [ANNOUNCE, WHOLE_CALLBACK, DATA_SYN, JOB_ENGINE,
                                  CONNECT_CHECK, WEBMIN, FIN_RST],
                         ids=lambda base: base.name)
def test_originals_keep_their_verdicts(base: Path) -> None:
    expected = json.loads(base.with_name(base.name + ".expected.json").read_text())
    assert _analysis(base).verdict == expected["verdict"]


def test_started_after_the_control_connection_announcement_unknown(tmp_path: Path) -> None:
    """D4: the capture starts after DATA_LISTEN (its first control message is the
    DATA_START_BACKUP reply): the announcement may precede it."""
    late = _editcap(tmp_path, ANNOUNCE, "late10", "-r", frames=("26-251",))
    result = _analysis(ANNOUNCE, late)
    _no_step_missing(result)
    assert result.verdict == "inconclusive"
    assert _status(result, "S1", 3) == "unknown"
    assert "before the capture started" in _detail(result, "S1", 3)


@pytest.mark.parametrize("variant", ["agent-only", "snap96"])
def test_callback_lost_while_the_job_went_on_stays_unknown(tmp_path: Path,
                                                           variant: str) -> None:
    """D6: the session announced and moved 400 kB; a capture of the agent's packets only
    holds the agent's answer to the job engine's vendor message, not the message, and a
    snap length of 96 cuts the announcements' addresses: neither is evidence that the
    callback the sniffer lost was never made."""
    capture = _sent_by(tmp_path, WHOLE_CALLBACK, "10.77.0.2") if variant == "agent-only" \
        else _editcap(tmp_path, WHOLE_CALLBACK, "snap96", "-s", "96")
    result = _analysis(WHOLE_CALLBACK, capture)
    _no_step_missing(result)
    assert result.verdict == "inconclusive"
    assert _status(result, "S1", 2) == "unknown"
    assert "the session went on past it" in _detail(result, "S1", 2)


def test_callback_from_another_address_agent_only(tmp_path: Path) -> None:
    """D6: the callback came from the agent's second address, which a capture of the
    agent's control address leaves out; the job went on past it."""
    result = _analysis(JOB_ENGINE, _sent_by(tmp_path, JOB_ENGINE, "10.77.0.2"))
    _no_step_missing(result)
    assert _status(result, "S1", 2) == "unknown"


@pytest.mark.parametrize("variant", ["agent-only", "snap96", "greetings-lost"])
def test_port_checks_are_not_jobs_missing_a_callback(tmp_path: Path, variant: str) -> None:
    """D7: the connect-and-close checks S1 and S3 (the media server sends nothing)
    seen in one direction, snapped, or with the agent's greeting lost: whether each
    was a port check cannot be told for sure, but no callback is missing."""
    capture = {"agent-only": lambda: _sent_by(tmp_path, CONNECT_CHECK, "10.77.0.2"),
               "snap96": lambda: _editcap(tmp_path, CONNECT_CHECK, "snap96", "-s", "96"),
               "greetings-lost": lambda: _editcap(tmp_path, CONNECT_CHECK, "lost",
                                                  frames=("4", "269"))}[variant]()
    result = _analysis(CONNECT_CHECK, capture)
    _no_step_missing(result)
    assert [s.status for s in _session(result, "S2").steps] == ["ok"] * 5
    for sid in ("S1", "S3"):
        assert _status(result, sid, 2) in ("unknown", "not_applicable")


def test_foreign_http_service_seen_one_way_is_no_missing_callback(tmp_path: Path) -> None:
    """D7: 10.77.0.1:10000 answers HTTP (not NDMP); a capture of its packets only does
    not show what its clients sent, but no NDMP agent there owed a callback. Its "HTTP/1.1
    200 OK" answers an HTTP request it read (sessions.other_protocol.answered_protocol):
    the fetches are no sessions (they were two with steps 2-5 unknown), one
    ndmp_undecodable says so."""
    result = _analysis(WEBMIN, _sent_by(tmp_path, WEBMIN, "10.77.0.1"))
    _no_step_missing(result)
    assert [s.remote_agent for s in result.sessions] == ["10.77.0.2"]
    [told] = [f for f in result.findings if f.code == "ndmp_undecodable"]
    assert "10.77.0.1 answered an HTTP client's request" in " ".join(told.message.split())


def test_filtered_capture_agent_only_data_flow_unknown(tmp_path: Path) -> None:
    """D9: two FINs of the agent are all a FIN/RST-filtered capture of one direction
    holds; the data connection's opening is not in it, so its data may have flowed
    before its first captured packet."""
    result = _analysis(FIN_RST, _sent_by(tmp_path, FIN_RST, "10.77.1.2"))
    _no_step_missing(result)
    assert result.verdict == "inconclusive"
    assert _status(result, "S1", 4) == "unknown"


def test_data_connection_whose_listener_sent_first_counts_its_bytes(tmp_path: Path) -> None:
    """D9: the sniffer lost the data connection's handshake, so its originator is the
    agent (the listener, whose backup data came first): its 200,000 B are the agent's,
    to the media server, also in a capture stopped halfway (after the first resource's
    data connection closed, before its halt: the step is unknown, the job's end not in
    the capture, and the bytes still counted the right way)."""
    stopped = _editcap(tmp_path, DATA_SYN, "stop50", "-r", frames=("1-241",))
    result = _analysis(DATA_SYN, stopped)
    _no_step_missing(result)
    assert _status(result, "S1", 5) == "unknown"
    assert "; 200,000 B agent -> media server" in _detail(result, "S1", 5)
    whole = _analysis(DATA_SYN)
    assert _detail(whole, "S1", 5).startswith("400,000 B agent -> media server")
    assert "0 B the other way" in _detail(whole, "S1", 5)

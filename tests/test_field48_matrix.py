"""Field check 48's lab matrix (captures/field48-matrix, README.md there): seed 106 run
16, two Backup Exec backups at once in TLS between dual-stack hosts, captured `-Q out` on
the media server (its packets only). The second job's session shows no sign of a job
(its data connections fit both sessions: matched to none), so its kind is unknown
(sessions.unseen.job_unseen). Why: its control connection went on in TLS, so even the
side the capture holds cannot be read. It read "the agent's replies are not in it, and
one of them may have refused the job (a CONNECT_CLIENT_AUTH refused, say)", though the
media server went on in TLS after that exchange (peers do once they trust each other).
Seed 105 run 7: two TLS backups at once, job 1's callback refused with an ICMP
reject, the capture stopped 0.4 s after that job's control connection opened.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import Config, build_config, load_file
from flowcheck.pipeline import Traffic, analyze, read_traffic
from flowcheck.sessions.unseen import job_unseen

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "captures" / "field48-matrix" / "two-tls-jobs-dual-stack-one-direction-out"
STOPPED = ROOT / "captures" / "field48-matrix" / "two-tls-jobs-stopped-callback-refused"
TLS_CLEAN = ROOT / "captures" / "lab" / "tls-clean"
TLS_WORDS = ("its control connection carries TLS from frame {frame} (ndmp_undecodable): "
             "the requests in it, a DATA_* request that started a job among them, cannot "
             "be read")


def _read(capture: Path, toml: Path) -> tuple[Traffic, Config]:
    config = build_config(load_file(toml))
    return read_traffic([str(capture)], config), config


def _why(traffic: Traffic, agent: str) -> str:
    """job_unseen of the control connection to `agent`'s NDMP port."""
    [control] = [c for c in traffic.connections if c.resp_h == agent and c.resp_p == 10000]
    [stream] = [s for s in traffic.streams if s.uid == control.uid]
    return job_unseen(control, stream)


def test_a_tls_session_captured_one_way_is_unknown_for_its_tls_not_a_refused_auth() -> None:
    traffic, config = _read(CASE.with_name(CASE.name + ".pcap.gz"), CASE.with_suffix(".toml"))
    why = _why(traffic, "fd77:1::3")
    assert why == (TLS_WORDS.format(frame=131) + ", and the capture holds only the media "
                   "server's side of its control connection (nothing from fd77:1::3 to "
                   "fd77::1, though fd77::1 acknowledged 2065 B of it)")
    assert "CONNECT_CLIENT_AUTH" not in why
    analysis = analyze(traffic, config)
    [second] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::3"]
    assert second.kind_unknown and second.kind_words() == f"kind unknown ({why})"
    assert all(why in step.detail for step in second.steps[2:])


def test_a_tls_session_captured_both_ways_names_its_tls_alone() -> None:
    traffic, _ = _read(TLS_CLEAN.with_suffix(".pcap"), TLS_CLEAN.with_suffix(".toml"))
    [stream] = [s for s in traffic.streams if s.tls_from]
    assert _why(traffic, "10.77.0.2") == TLS_WORDS.format(frame=stream.tls_start)


def test_a_capture_stopped_after_a_refused_callback_says_what_it_cannot_see() -> None:
    """capture_ended_early for a control connection still open at the capture's end said
    "whether it was answered cannot be seen": the control connection was answered (it
    opened), and what the capture lacks is whether the session stopped after its refused
    callback, whose refusal is in the capture (steps._control_ended_early)."""
    traffic, config = _read(STOPPED.with_name(STOPPED.name + ".pcap.gz"),
                            STOPPED.with_suffix(".toml"))
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.session == refused.session
    [session] = [s for s in analysis.sessions if s.id == early.session]
    callback = session.steps[1]
    assert callback.status == "failed" and callback.frames == refused.frames
    frames = ", ".join(map(str, refused.frames))
    assert (f"whether the session stopped after step 2 ({callback.name}) failed (frames "
            f"{frames}), as a job does, or went on to a backup or restore cannot be seen"
            in early.message)
    assert "whether it was answered" not in early.message

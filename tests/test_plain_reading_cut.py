"""A plain NDMP capture cut early, or holding one direction, analyzed with no profile
given, is judged by the ndmp profile once the stretch where a Backup Exec callback would
be was captured (flowcheck.verify.plain_reading._callback_would_show, newuser55).

captures/ndmjob/v4-backup.pcap read FAIL step_out_of_order ("backup-exec-9 expects the
media server") when cut anywhere from frame 15 to 2150 (`editcap -r ... 1-2150`) or kept
to the media server's packets (`tshark -Y ip.src==10.77.0.1`): step 2 read `unknown`
("the callback may have come later"), which refused the inference. Backup Exec's agent
calls back before the data port is announced, so with the control connection's SYN and
the first mover-listening announcement (DATA_CONNECT, frame 11) captured and no hole or
filter between, a callback would be in the capture. A Backup Exec stored case, its
profile line removed, cut the same ways, never reads as plain NDMP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from stored import case_config

from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
V4 = CAPTURES / "ndmjob" / "v4-backup.pcap"
Capsys = pytest.CaptureFixture[str]


def _editcap(src: Path, dst: Path, last: int) -> Path:
    """`src`'s frames 1..`last` written to `dst` (editcap -r), as the user cut it."""
    subprocess.run(["editcap", "-r", str(src), str(dst), f"1-{last}"], check=True,
                   capture_output=True)
    return dst


def _one_side(src: Path, dst: Path, ip: str) -> Path:
    """`src`'s packets from `ip` alone written to `dst` (tshark -Y ip.src==ip -w)."""
    subprocess.run(["tshark", "-r", str(src), "-Y", f"ip.src=={ip}", "-w", str(dst)],
                   check=True, capture_output=True)
    return dst


def _analyze(capsys: Capsys, capture: Path, *flags: str) -> tuple[int, str]:
    """`flowcheck analyze` in the test's process: (exit code, standard output)."""
    capsys.readouterr()
    code = run(["analyze", str(capture), *flags])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("last", [15, 400, 2150])
def test_v4_backup_cut_early_judged_plain(capsys: Capsys, tmp_path: Path, last: int) -> None:
    """Cut after frame `last` (the data connection still open at 15 and 400, closed
    cleanly at 2150): never FAIL, and judged by the ndmp profile."""
    code, out = _analyze(capsys, _editcap(V4, tmp_path / "c.pcap", last))
    assert code in (0, 5), out  # PASS or INCONCLUSIVE, never FAIL
    assert "step_out_of_order" not in out, out
    assert "profile_inferred" in out, out


def test_v4_backup_media_side_only_judged_plain(capsys: Capsys, tmp_path: Path) -> None:
    """The media server's packets alone: its SYN and DATA_CONNECT are there, and a
    callback would show the media server's SYN-ACK or RST: judged by ndmp."""
    code, out = _analyze(capsys, _one_side(V4, tmp_path / "o.pcap", "10.77.0.1"))
    assert code in (0, 5), out
    assert "step_out_of_order" not in out, out
    assert "profile_inferred" in out, out


@pytest.mark.parametrize("case", ["agent-connects-data", "callback-blocked"])
def test_backup_exec_cut_never_plain(capsys: Capsys, tmp_path: Path, case: str) -> None:
    """A Backup Exec job (lab case, its profile line removed: the default judges it) cut
    early or kept to the media server's side keeps the default profile: its callback
    (or its vendor message) is a sign of Backup Exec the cut does not remove."""
    toml = tmp_path / f"{case}.toml"
    toml.write_text("".join(line for line in (CAPTURES / "lab" / f"{case}.toml")
                            .read_text().splitlines(keepends=True)
                            if not line.startswith("profile")))
    pcap = CAPTURES / "lab" / f"{case}.pcap"
    cuts = [_editcap(pcap, tmp_path / f"c{last}.pcap", last) for last in (15, 25, 60)]
    cuts.append(_one_side(pcap, tmp_path / "m.pcap", "10.77.0.1"))
    for cut in cuts:
        _code, out = _analyze(capsys, cut, "--config", str(toml))
        assert "profile_inferred" not in out, (cut.name, out)
        assert "profile backup-exec-9" in out, (cut.name, out)


def test_backup_exec_ring_gap_never_plain(capsys: Capsys, tmp_path: Path) -> None:
    """review54j: lab/agent-connects-data (Backup Exec, the agent connecting to the mover:
    step_out_of_order; profile line removed) as an editcap -c style ring whose middle
    file (frames 15-19: the vendor message each way and the callback's handshake) is
    gone. The callback's later packets then open after DATA_CONNECT, as plain NDMP's data
    connection would, and no vendor message is left: only the control stream's hole
    before the announcement, whose messages the sequence numbers do not name
    (plain_reading._sign_hidden), keeps backup-exec-9 (without that check: PASS by ndmp,
    profile_inferred)."""
    case = "agent-connects-data"
    toml = tmp_path / f"{case}.toml"
    toml.write_text("".join(line for line in (CAPTURES / "lab" / f"{case}.toml")
                            .read_text().splitlines(keepends=True)
                            if not line.startswith("profile")))
    pcap = CAPTURES / "lab" / f"{case}.pcap"
    ring = [tmp_path / "ring_00001_20261126013356.pcap",
            tmp_path / "ring_00003_20261126013357.pcap"]  # ring_00002 (15-19) missing
    for part, frames in zip(ring, ("1-14", "20-100000"), strict=True):
        subprocess.run(["editcap", "-r", str(pcap), str(part), frames], check=True,
                       capture_output=True)
    code, out = _analyze(capsys, ring[0], str(ring[1]), "--config", str(toml))
    assert "capture_ring_gap" in out, out
    assert "profile_inferred" not in out, out
    assert "profile backup-exec-9" in out and code == 1, out


def test_an_inferred_reading_equals_the_ndmp_profiles() -> None:
    """Every stored plain NDMP capture (captures/ndmjob*) its profile line removed and read
    as plain NDMP (profile_inferred) gives the very findings `--profile ndmp` gives, less
    that one: analyze runs the default profile first on the same traffic, and checks
    write notes into the traffic's own findings (findings.kept_as_now; finalread54b).
    Where only some sessions read so (flowcheck.mixed_reading: ndmjob-ended's
    v4-ended-at-start-then-good-media, S1's refused connection into the media range
    read as a callback), those sessions' steps and findings."""
    inferred = 0
    for capture in sorted(CAPTURES.glob("ndmjob*/*.pcap*")):
        name = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
        path = case_config(capture.parent, name)
        values = {key: value for key, value in (load_file(path) if path.is_file() else {})
                  .items() if key != "profile"}
        default = build_config(values)
        analysis = analyze(read_traffic([str(capture)], default), default)
        if not any(f.code == "profile_inferred" for f in analysis.findings):
            continue
        inferred += 1
        plain = build_config({**values, "profile": "ndmp"})
        expected = analyze(read_traffic([str(capture)], plain), plain)
        judged = {s.id for s in analysis.sessions if s.profile == "ndmp"}
        some = len(judged) < len(analysis.sessions)
        if some:
            # Only some sessions read as plain NDMP (flowcheck.mixed_reading): theirs equal.
            assert [s.steps for s in analysis.sessions if s.id in judged] == [
                s.steps for s in expected.sessions if s.id in judged], capture
            expected.findings = [f for f in expected.findings if f.session in judged]
            analysis.findings = [f for f in analysis.findings if f.session in judged]
        found = [f.as_dict() for f in analysis.findings if f.code != "profile_inferred"]
        assert found == [f.as_dict() for f in expected.findings], capture
        assert some or analysis.verdict == expected.verdict, capture
    assert inferred >= 20  # the plain NDMP cases of captures/ndmjob*, read as such

"""Stored captures cut to 96 bytes a frame, as `tcpdump -s 96` (an old default) takes
them: an announcement whose address the snap length cut, with no connection matched to
it, is no evidence of an endpoint nobody tried when the capture shows where its
connection went instead (flowcheck.verify.cut_unjudged). Each read announced_not_used,
a failed job, where the whole capture passes or is inconclusive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _snapped(tmp_path: Path, capture: Path, snap: int = 96) -> Path:
    """capture with each record cut to its first `snap` bytes (wire lengths kept)."""
    linktype, records = read_records(capture)
    return write_records(tmp_path / f"s{snap}.pcap", linktype,
                         [replace(r, data=r.data[:snap]) for r in records])


def _unknown_steps(analysis) -> list[str]:
    return [" ".join(step.detail.split()) for session in analysis.sessions
            for step in session.steps if step.status == "unknown"]


def test_a_local_data_connection_is_no_endpoint_nobody_tried(tmp_path: Path) -> None:
    """ndmjob-lab/v4-local-tcp: DATA_CONNECT on one session and MOVER_LISTEN on another,
    both to 10.77.0.2 (its data and tape services together): the connection runs inside
    that host. Cut, its address is gone: unknown, not two announced_not_used errors."""
    folder = CAPTURES / "ndmjob-lab"
    analysis = stored_analysis(_snapped(tmp_path, folder / "v4-local-tcp.pcap"),
                               config_path=folder / "v4-local-tcp.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    assert any("most likely runs inside 10.77.0.2 (its data and tape services together"
               in detail for detail in _unknown_steps(analysis))


def test_a_three_way_jobs_one_connection_serves_both_halves(tmp_path: Path) -> None:
    """ndmjob-lab/v4-three-way: the DMA's own tape agent (10.77.0.1, over loopback)
    listens, the agent 10.77.0.2 connects; cut, the DATA_CONNECT session matches C3 by
    ports and the MOVER_LISTEN session, with no connection of its own, read
    announced_not_used. C3 reaches the listener's host: unknown."""
    folder = CAPTURES / "ndmjob-lab"
    analysis = stored_analysis(_snapped(tmp_path, folder / "v4-three-way.pcap"),
                               config_path=folder / "v4-three-way.toml")
    assert not errors(analysis)
    assert any("its data connection C3 (10.77.0.2:6015 -> 10.77.0.1:5084) reaches 10.77.0.1"
               in detail for detail in _unknown_steps(analysis))


def test_a_capture_filtered_to_ndmp_leaves_the_data_out(tmp_path: Path) -> None:
    """ndmjob-filtered-packets/yndmp-media (tshark -Y ndmp: data packets of port 10000
    only) cut to 96 bytes: the halt's SUCCESSFUL that proved the data moved is cut, but
    the filter still explains the missing data connection: unknown."""
    folder = CAPTURES / "ndmjob-filtered-packets"
    analysis = stored_analysis(_snapped(tmp_path, folder / "yndmp-media.pcap"),
                               config_path=folder / "yndmp-media.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    assert any("all of NDMP-port connections (capture_filtered)" in detail
               for detail in _unknown_steps(analysis))


def test_a_job_started_after_a_cut_announcement_ran_elsewhere(tmp_path: Path) -> None:
    """lab-trial19-announce/mh2-other-nic-capture-m0: the agent announced its second NIC,
    the capture holds the first only; cut, the address is gone, but DATA_START_BACKUP
    followed each DATA_LISTEN (a DMA starts once the connection is made): unknown."""
    folder = CAPTURES / "lab-trial19-announce"
    analysis = stored_analysis(
        _snapped(tmp_path, folder / "mh2-other-nic-capture-m0.pcap.gz"),
        config_path=folder / "mh2-other-nic-capture-m0.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    assert any("the session started its job after it (DATA_START_BACKUP, frame 22)" in detail
               for detail in _unknown_steps(analysis))


def test_a_connection_read_as_the_callback_still_names_the_profile(tmp_path: Path) -> None:
    """trial34-big/ndmjob-snap96-default-profile: plain NDMP's data connection after the
    cut DATA_CONNECT read as Backup Exec's callback: announced_not_used still says so
    (a connection between the hosts after the announcement is data_links' to read), with
    backup-exec-9 given (with none given it reads as plain NDMP: profile_inferred)."""
    folder = CAPTURES / "trial34-big"
    analysis = stored_analysis(folder / "ndmjob-snap96-default-profile.pcap.gz",
                               config_path=folder / "ndmjob-snap96-default-profile.toml",
                               profile="backup-exec-9")
    assert [f.code for f in errors(analysis)] == ["announced_not_used"]


def test_another_interface_announced_and_the_start_accepted_is_unknown(
        tmp_path: Path) -> None:
    """mh2-other-nic-capture-m0 cut to 128 bytes: the DATA_LISTEN's address, the agent's
    second NIC, is in the capture but its halt's SUCCESSFUL is not; the DATA_START_BACKUP
    reply's NDMP_NO_ERR is (NDMP accepts it only with the data connection made): unknown,
    the data over another interface, not announced_address_mismatch (it failed)."""
    folder = CAPTURES / "lab-trial19-announce"
    analysis = stored_analysis(
        _snapped(tmp_path, folder / "mh2-other-nic-capture-m0.pcap.gz", 128),
        config_path=folder / "mh2-other-nic-capture-m0.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    assert any("report its data connection made (DATA_START_BACKUP accepted, frame 23)"
               in detail and "took another interface" in detail
               for detail in _unknown_steps(analysis))

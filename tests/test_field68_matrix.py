"""Field check 68's lab matrix (captures/field68-matrix, README.md there), seed 131.

Run 13: a Backup Exec restore over IPv6 in TLS from the control connection's first byte,
the media server's stateless output chain dropping its callback SYN-ACKs, both hosts
captured with dumpcap and merged, cut to 96 bytes. The callback failed and the job
stopped; steps 3-5 read unknown "the capture's snap length cut every NDMP message of the
control connection (capture with tcpdump -s 0)", though the packets it cut are TLS
records that no snap length makes readable (ndmp_partial's own fix says so). The same
capture at full length reads them not reached: a snap length cutting a stream in TLS from
its first byte now hides nothing the TLS did not (flowcheck.verify.stream_evidence
.stream_hidden, NdmpStream.tls_whole).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis, stopped_at_failed_callback

HERE = Path(__file__).resolve().parents[1] / "captures" / "field68-matrix"
TLS_CUT = HERE / "ipv6-tls-start-callback-synacks-dropped-by-media-out-both-s96.pcapng.gz"


def test_a_snap_length_cutting_tls_records_is_not_why_the_later_steps_are_unknown() -> None:
    """The callback failed: steps 3-5 are not reached, as with the whole packets, and no
    step asks for tcpdump -s 0 where the connection is TLS from its first byte."""
    analysis = shared_analysis(TLS_CUT)
    session = stopped_at_failed_callback(analysis)
    assert not any("-s 0" in step.detail for step in session.steps)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert "TLS records" in partial.message

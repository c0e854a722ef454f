"""Whether a fix gives allow rules is the finding's data (Finding.allows, wordsdata),
never its words: every check that writes an allow-rule fix ("allow TCP from ...") sets
`allows`, and no other does, so verify.fix_notes.firewall_pointer adds the `flowcheck
firewall` pointer to exactly those fixes (review62d). The fixes are compared as
firewall_pointer reads them (after every check, range_stops' prefix included), in the
stored cases that give each finding code's fixes with and without allow rules (found by
running all 523 stored cases: 280 allow-rule fixes, 442 others, 0 disagreements).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.regress import run_cases
from flowcheck.regress_cases import find_cases
from flowcheck.verify import fix_notes

CAPTURES = Path(__file__).resolve().parent.parent / "captures"

# One stored case per (finding code, fix with or without allow rules) the stored cases
# hold (43 pairs).
CASES = [
    "callbackmatch/keepalive-beside-job.pcap",
    "field35-matrix/backup-ack-dropped-dir-out.pcap",
    "field35-matrix/callback-synack-dropped-media-egress-dir-out.pcap",
    "field35-matrix/control-rejected-icmp-dir-out.pcap",
    "field38-matrix/agent-killed-loss-before-start.pcap.gz",
    "field38-matrix/data-dropped-media-egress-routed.pcap",
    "field38-matrix/greeting-stalled-one-direction-out.pcap",
    "field38-matrix/range-small-agent-closed-one-direction-in.pcap.gz",
    "field38-matrix/range-small-listen-unanswered-snap96.pcap",
    "field46-matrix/callback-dropped-dual-stack-two-jobs.pcapng",
    "field46-matrix/callback-icmpv6-reject-snap96-sll2.pcap",
    "field46-matrix/data-port-in-use-dual-stack.pcap",
    "field48-matrix/control-ack-dropped-router-stopped-before-greeting.pcap.gz",
    "field48-matrix/two-tls-jobs-dual-stack-one-direction-out.pcap.gz",
    "field49-matrix/tls-start-callback-ack-dropped-stalls-control-snap96.pcap.gz",
    "field51-matrix/ndmjob-v2-data-reset-captured-out-on-agent.pcap.gz",
    "field57-matrix/nat-media-dnat-both-hosts-any-merged-sll-stopped.pcap.gz",
    "field57-matrix/ndmjob-control-rejected-net-unreachable-by-agent-any-on-agent-sll2.pcap.gz",
    "field62-matrix/two-tls-start-ipv6-restore-agent-killed-on-agent-out-pcapng.pcapng.gz",
    "lab-natfix/port-forward-ndmp-only-agent-announces-own-media.pcap",
    "lab-trial17/mtu-blackhole-media.pcap.gz",
    "lab-trial19-announce/mh2-other-nic-capture-m0.pcap.gz",
    "lab-trial19-network/dns1-control-other-nic.pcap.gz",
    "lab-trial19-refuse/w3-both-rst-close.pcap.gz",
    "lab-trial23/midjob-agent-firewall.pcap.gz",
    "lab-trial26-words/idle-drop-agent.pcap.gz",
    "lab-trial28-dualstack/happy-eyeballs-v6-drop.pcap.gz",
    "lab/agent-connects-data.pcap",
    "lab/control-off-backup-network.pcap",
    "lab/port-reused-within-hold.pcap",
    "lab/ranges-overlap.pcap",
    "ndmjob-idle/idle-hostfw-rst-media.pcap.gz",
    "ndmjob-lab/v4-tape-paused.pcap.gz",
    "ndmjob-nojob/C-b2b-reuse.pcap.gz",
    "ndmjob-threeway/D-v4-3way-datadrop-dma.pcap.gz",
    "ndmjob/v4-agent-out-of-range.pcap",
    "review54h/control-syns-in-routing-loop-one-bridge-port-ether.pcap.gz",
    "trial27/hung-late-greeting-m.pcap",
    "trial28-own-unreachable/any-v4-agent-down.pcap.gz",
    "trial34-big/ndmjob-snap96-default-profile.pcap.gz",
]


def test_allow_rule_fixes_and_allows_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """("allow tcp" in the fix) == (Finding.allows is not None) for every error's and
    warning's fix that does not quote `flowcheck firewall` itself."""
    seen: list[tuple[str, bool, bool]] = []
    pointer = fix_notes.firewall_pointer

    def audited(ctx: fix_notes.Context, finding: fix_notes.Finding) -> str:
        if "flowcheck firewall" not in finding.fix:
            seen.append((finding.code, "allow tcp" in finding.fix.lower(),
                         finding.allows is not None))
        return pointer(ctx, finding)

    monkeypatch.setattr(fix_notes, "firewall_pointer", audited)
    results = run_cases(find_cases([str(CAPTURES / case) for case in CASES]))
    assert [r.error for r in results if r.error] == []
    assert {words for _, words, _ in seen} == {True, False}
    assert [(code, words, allows) for code, words, allows in seen if words != allows] == []

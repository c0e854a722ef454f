"""The lab: Backup Exec's five-step sequence and ndmjob jobs on real sockets.

Two network namespaces (media server M, remote agent A) joined by veth pairs, nftables
fault rules, tcpdump on M's side. Root only. Regenerates the stored captures in
captures/lab/ and captures/ndmjob-lab/ (docs/lab.md).
"""

"""flowcheck: verify NDMP / Backup Exec backup traffic in packet captures."""

__version__ = "0.1.0"

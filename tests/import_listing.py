"""The modules a child Python imported, from what `python -X importtime` writes on its
standard error (one "import time: self | cumulative | name" line per import): start-up
measured without a clock (tests/test_cli_start_imports.py, test_cli_direct.py,
test_startup_lazy_modules.py)."""

from __future__ import annotations


def modules_imported(stderr: str) -> set[str]:
    """Every module named in importtime's lines of `stderr` (its header line left out)."""
    modules = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    modules.discard("imported package")  # the header line's last column
    return modules

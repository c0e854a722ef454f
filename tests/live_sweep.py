"""Every stored capture through LiveVerifier in fixed batches: the findings `live` would
print early in words the final report does not hold (tests/live_batches.py).

    PYTHONPATH=. nice -n 10 python tests/live_sweep.py captures --sizes 4096,65536 \\
        --settle 1,10 --part 1/4 > part1.jsonl

One JSON line per capture, batch size and settle: its mismatches (early and final
words), or its error. A ring directory is left out (`live` reads one stream).
A development tool, not a test: the suite keeps a few captures (test_live_batches.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from live_batches import batch_events, capture_bytes, early_mismatches, unprinted

from flowcheck.regress_cases import find_cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--sizes", default="4096,65536,1048576",
                        help="batch sizes in bytes, comma-separated")
    parser.add_argument("--settle", default="1,10", help="settle seconds, comma-separated")
    parser.add_argument("--part", default="1/1", help="K/N: the Kth of N equal parts")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    settles = [float(s) for s in args.settle.split(",")]
    k, n = (int(x) for x in args.part.split("/"))
    cases = [c for c in find_cases(args.paths) if c.problem is None and c.capture.is_file()]
    for case in cases[k - 1::n]:
        data = capture_bytes(case.capture)
        config = case.config()
        for settle in settles:
            for size in sizes:
                line: dict = {"capture": str(case.capture), "size": size, "settle": settle}
                try:
                    events, running = batch_events(data, config, size, settle=settle)
                    line["early"] = sorted(e.finding.code for e in events[:running]
                                           if e.finding is not None)
                    line["mismatches"] = [
                        {"fields": m.fields(), "early": m.early, "final": m.final}
                        for m in early_mismatches(events)]
                    line["unprinted"] = unprinted(events)
                except Exception:  # noqa: BLE001 - a sweep reports every capture's outcome
                    line["error"] = traceback.format_exc()
                print(json.dumps(line), flush=True)
                if size >= len(data):
                    break  # larger batches read the same one batch
    return 0


if __name__ == "__main__":
    sys.exit(main())

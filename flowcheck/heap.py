"""Freed heap memory given back to the system (glibc's `malloc_trim(0)`) where a run lets
go of much of it at once: the reading's per-batch arrays before the short connections'
records are made, and each parked block's columns as its records are made
(flowcheck.connections.opened_records.Records.as_list); the sessions' and checks' own
before a one-shot command writes its report (flowcheck.cli.commands).

Why (issue 7, bench/README.md "the records made with the heap's free pages given back"):
numpy's arrays come from malloc, Python's small objects from pymalloc's own mmap'ed
arenas, so pages malloc holds free are never reused for the records. glibc gives back
only the top of its heap, and its mmap threshold rises to the largest array freed (up to
32 MB), after which the batches' arrays are carved from that heap too: at the end of
reading bench's 200,000 short connections the process held 297 MB, of which 150 MB were
free pages in the middle of the heap (`malloc_trim(0)` returned them in 22 ms), and the
records (about 166 MB) came on top of them: `connections --format json` peaked at
496 MB against the engine's 277 MB; 341 MB with them given back (bench/README.md).

Not glibc (musl, macOS: no malloc_trim; Windows, where ctypes.CDLL(None) raises
TypeError; a Python without _ctypes): nothing is done, give_back returns False, never
raising or printing (review63g: the last two raised).
"""

from __future__ import annotations

from collections.abc import Callable

# malloc_trim, loaded on first use; False: not available (not glibc).
_trim: Callable[[int], int] | bool | None = None


def give_back() -> bool:
    """Return the heap's free pages to the system (malloc_trim(0): glibc frees every
    whole free page, in the heap's middle too, not only its top). False when the C
    library has no malloc_trim. A few ms per 100 MB of heap; the pages come back zeroed
    (page faults) when malloc reuses them."""
    global _trim
    if _trim is None:
        _trim = _load()
    if _trim is False:
        return False
    _trim(0)  # type: ignore[operator]
    return True


def _load() -> Callable[[int], int] | bool:
    """glibc's malloc_trim through ctypes, else False: any failure to find it (no
    malloc_trim: AttributeError; CDLL(None): OSError, TypeError on Windows; no _ctypes:
    ImportError) means only that nothing is given back."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except Exception:  # not glibc: a saving lost, never the run
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]

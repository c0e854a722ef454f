"""The read chunk's size as the docs and messages name it is the one the readers use.

Some results depend on the chunk (fragments and tunnel halves are joined within one
chunk or two, a seam's look-ahead: docs/formats.md, docs/json.md, docs/findings.md), and
capture_loss's words name it: a size written by hand went stale once already (8 MiB in
the docs while the readers' default changed). flowcheck.sources.batch.CHUNK_BYTES is
the one source.
"""

from __future__ import annotations

import re
from pathlib import Path

from flowcheck.connections import track_connections
from flowcheck.model import CaptureInfo
from flowcheck.sources import iter_batches
from flowcheck.sources.batch import CHUNK_BYTES
from flowcheck.verify import loss_words

ROOT = Path(__file__).resolve().parent.parent
# "read chunk (16 MiB", "chunks (16 MiB)", "one 16 MiB read chunk"
SIZE_WORDS = re.compile(r"chunks? \((\d+) MiB|(\d+) MiB read chunk")


def _named_sizes() -> dict[str, set[int]]:
    named: dict[str, set[int]] = {}
    for path in [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("flowcheck/**/*.py")]:
        for match in SIZE_WORDS.finditer(path.read_text(encoding="utf-8")):
            size = int(match.group(1) or match.group(2))
            named.setdefault(str(path.relative_to(ROOT)), set()).add(size)
    return named


def test_every_text_names_the_readers_chunk() -> None:
    named = _named_sizes()
    assert len(named) >= 5, named  # the docs' and docstrings' mentions were found
    stale = {path: sizes for path, sizes in named.items() if sizes != {CHUNK_BYTES >> 20}}
    assert not stale, f"read chunk named other than {CHUNK_BYTES >> 20} MiB: {stale}"


def test_the_readers_default_is_the_named_chunk() -> None:
    assert iter_batches.__kwdefaults__["chunk_size"] == CHUNK_BYTES
    assert track_connections.__kwdefaults__["chunk_size"] == CHUNK_BYTES
    assert CHUNK_BYTES % (1 << 20) == 0


def test_capture_loss_words_name_the_chunk() -> None:
    """capture_loss's words when fragments could not be put together name the chunk."""
    words = loss_words.who_lost([CaptureInfo(path="x.pcap", fragments=3, loose_fragments=3)])
    assert f"all in one {CHUNK_BYTES >> 20} MiB read chunk of the capture, or in two back to " \
        "back;" in words, words  # fragment_carry joins a chunk's to the next one's

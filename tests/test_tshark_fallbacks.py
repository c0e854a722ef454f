"""Where the fork server cannot serve, tshark_tcp and tshark_fork.run start tshark for the
capture as before, with the same rows: no C compiler on PATH (no library built), a
forked run that fails (tshark_tcp: a tshark of its own gives the error, naming the
capture, and nothing is kept), a child that cannot start (its output folder gone:
status 125), a server that ended (killed: every later capture of its command line by a
tshark of its own). And the shared cache is swept: a library of another tshark_fork.c goes
once it is a day old and no process holds it, never while one does; partial files of
ended processes go, a live one's and the kept rows stay.

The cases that change a process's servers run in a Python of their own (the worker's
servers and cache untouched), with an empty cache under their own TMPDIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tshark_fork
from tshark_tcp import FIELDS, _kept, command, tcp_fields

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SMALL = ROOT / "captures/lab/snaplen-54.pcap"
OTHER = ROOT / "captures/lab/tls-clean.pcap"
THIRD = ROOT / "captures/lab/control-ack-dropped.pcap"
COLUMNS = ["tcp.stream", "tcp.srcport", "tcp.len", "ndmp.msg"]
ROWS = ["frame.number", "tcp.len"]
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                              reason="no C compiler: the fork server is never built")

# Run in a Python of its own: argv[1] the case, then the captures; prints one JSON object.
_CASE = r"""
import json, os, shutil, signal, sys
from pathlib import Path
import tshark_fork, tshark_tcp

case, captures = sys.argv[1], [Path(name) for name in sys.argv[2:]]
columns, rows = json.loads(os.environ["CASE_FIELDS"])


def read(capture):
    return {"tcp": tshark_tcp.tcp_fields(capture, columns),
            "run": tshark_fork.fields(capture, "tcp.len > 0", *rows)}


def ended(server):
    os.kill(server.pid, signal.SIGKILL)
    server._process.wait()


result = {"library": str(tshark_fork.library(tshark_fork.CACHE)), "reads": []}
for number, capture in enumerate(captures):
    if case == "servers fail" and number == 1:  # run's children cannot open their output
        shutil.rmtree(tshark_fork._scratch())
    if case == "servers fail" and number == 2:
        [tcp_server] = tshark_tcp._SERVERS.values()
        [[run_server]] = [idle for idle in tshark_fork._IDLE.values() if idle]
        ended(tcp_server)
        ended(run_server)
    result["reads"].append(read(capture))
result["servers"] = [server is not None for server in tshark_tcp._SERVERS.values()]
result["idle"] = sorted(len(idle) if idle is not None else -1
                        for idle in tshark_fork._IDLE.values())
result["cache"] = sorted(path.name for path in tshark_fork.CACHE.iterdir())
print(json.dumps(result))
"""


def in_own_python(tmp_path: Path, case: str, captures: list[Path], *,
                  path: str | None = None, library: Path | None = None) -> dict:
    """_CASE run by a Python of its own, TMPDIR a new folder under tmp_path (so an empty
    cache), PATH `path` when given; `library` copied into that cache first (built once,
    not again there)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    cache = temp / tshark_fork.CACHE.name
    if library is not None:
        cache.mkdir()
        shutil.copy2(library, cache / library.name)
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(TESTS),
           "CASE_FIELDS": json.dumps([COLUMNS, ROWS])}
    if path is not None:
        env["PATH"] = path
    done = subprocess.run([sys.executable, "-c", _CASE, case, *map(str, captures)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected(capture: Path) -> dict:
    """What a read gives by the fork servers of this process (which test_tshark_fork
    holds to a tshark of its own's rows)."""
    return {"tcp": tcp_fields(capture, COLUMNS),
            "run": tshark_fork.fields(capture, "tcp.len > 0", *ROWS)}


@needs_tshark
def test_without_a_compiler_each_capture_gets_a_tshark_of_its_own(tmp_path: Path) -> None:
    """PATH holds tshark and no C compiler: no library is built, no server started, and
    both readers give tshark's rows."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tshark = shutil.which("tshark")
    assert tshark is not None
    (bin_dir / "tshark").symlink_to(tshark)
    result = in_own_python(tmp_path, "no compiler", [SMALL, OTHER], path=str(bin_dir))
    assert result["library"] == "None"
    assert result["reads"] == [expected(SMALL), expected(OTHER)]
    assert result["servers"] == [] and result["idle"] == [0]
    assert not [name for name in result["cache"] if name.startswith("tshark_fork-")]
    assert len([name for name in result["cache"] if name.endswith(".lock")]) == 2


@needs_tshark
@needs_cc
def test_a_child_that_cannot_start_or_a_server_that_ended_leaves_it_to_a_tshark(
        tmp_path: Path) -> None:
    """A first capture read by both servers; then the scratch folder run's children
    write to removed (each exits 125 before tshark runs: that capture by a tshark of its
    own, the server kept); then both servers (tshark_tcp's and run's) killed: the next
    capture by a tshark of its own, and neither command line has a server any more
    (tshark_tcp's None, run's -1). Every read gives the same rows."""
    library = tshark_fork.library(tshark_fork.CACHE)
    assert library is not None
    result = in_own_python(tmp_path, "servers fail", [SMALL, OTHER, THIRD], library=library)
    assert result["library"].endswith(library.name)
    assert result["reads"] == [expected(SMALL), expected(OTHER), expected(THIRD)]
    assert result["servers"] == [False] and result["idle"] == [-1]


@needs_tshark
def test_a_capture_the_forked_tshark_fails_on_is_left_to_a_tshark_of_its_own(
        tmp_path: Path) -> None:
    """tshark_tcp on a capture cut in its last packet: the forked run fails, a tshark of
    its own runs (its error raised, naming the capture: the forked run's is not kept),
    and neither rows nor a partial file are kept."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(SMALL.read_bytes()[:-10])
    with pytest.raises(subprocess.CalledProcessError) as failed:
        tcp_fields(cut, COLUMNS)
    assert failed.value.cmd == command(cut, FIELDS)
    assert "cut short" in failed.value.stderr and str(cut) in failed.value.stderr
    kept = _kept(cut, command(cut, FIELDS))
    assert not kept.exists() and not list(kept.parent.glob(f"{kept.name}.[0-9]*"))


# Run in a Python of its own: tshark_fork.py beside a tshark_fork.c of other source (one
# line more), so its library is another; holds it until its standard input closes.
_HOLDER = r"""
import sys
from pathlib import Path
import tshark_fork
print(tshark_fork.library(Path(sys.argv[1])), flush=True)
sys.stdin.read()
"""


@needs_cc
def test_the_cache_keeps_what_a_process_uses_and_sweeps_the_rest(tmp_path: Path) -> None:
    """A library of another tshark_fork.c, built in a Python of its own (another
    checkout) that holds it: kept while held even when two days old, swept once its
    process ended; an unheld one younger than a day kept. Partial files (NAME.PID) of an
    ended process swept, a live one's kept, and the kept rows and locks untouched."""
    cache = tmp_path / "cache"
    cache.mkdir()
    own = tshark_fork.library(tshark_fork.CACHE)
    assert own is not None
    shutil.copy(own, cache / own.name)  # built now (copy2 would keep its age)
    other_checkout = tmp_path / "checkout"
    other_checkout.mkdir()
    shutil.copy2(TESTS / "tshark_fork.py", other_checkout)
    (other_checkout / "tshark_fork.c").write_text(
        tshark_fork.SOURCE.read_text() + "/* another checkout's */\n")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(cache)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(other_checkout)})
    assert holder.stdout is not None and holder.stdin is not None
    other = Path(holder.stdout.readline().strip())
    assert other.parent == cache and other.name.startswith("tshark_fork-") and other != own
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(other, (two_days_ago, two_days_ago))
    young = cache / "tshark_fork-0123456789abcdef.so"
    shutil.copy(own, young)
    ended = subprocess.Popen(["true"])
    ended.wait()
    partials = [cache / f"{'a' * 64}.{ended.pid}", cache / f"tshark_fork-{'b' * 16}.{ended.pid}",
                cache / f"scratch.{ended.pid}"]
    partials[0].write_text("rows half written")
    partials[1].write_bytes(b"\x7fELF")
    partials[2].mkdir()
    (partials[2] / "0.out").write_text("a child's rows")
    live = cache / f"{'c' * 64}.{os.getpid()}"
    kept = [cache / ("d" * 64), cache / f"{'d' * 64}.lock", live]
    for path in kept:
        path.write_text("")
    try:
        tshark_fork.sweep(cache, cache / own.name)
        assert other.exists()  # held by its process
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    tshark_fork.sweep(cache, cache / own.name)
    assert not other.exists()
    assert not [path for path in partials if path.exists()]
    assert sorted(cache.iterdir()) == sorted([cache / own.name, young, *kept])

"""Real NDMP jobs with Amanda's ndmjob between the lab namespaces.

ndmjob needs, besides the binary (Debian amanda-common): a config file naming the
backup type (`[butype tar]`, else DATA_START_BACKUP gets ILLEGAL_ARGS_ERR), a formatter
`wrap_tar` on the daemon's PATH, an existing tape file, and the text-auth account
ndmp/ndmp (the only one its daemon accepts). All of it goes into a private work
directory, so nothing on the system is touched and setup is idempotent.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.lab.netns import Lab, LabError

NDMJOB_CANDIDATES = ("/usr/lib/amanda/ndmjob", "/usr/libexec/amanda/ndmjob")
AUTH_USER = "ndmp"
AUTH_PASSWORD = "ndmp"

NDMJOB_CONF = """\
[butype tar]
  v2attr 0x0
  v3attr 0x0
  v4attr 0x0
"""

# The data agent runs `wrap_tar -c -I#3 -E NAME=VALUE ...` (backup) or `wrap_tar -x ...`
# (recover); the image goes to standard output / comes from standard input.
WRAP_TAR = """\
#!/bin/sh
mode=""
filesystem=.
while [ $# -gt 0 ]; do
  case "$1" in
    -c) mode=c ;;
    -x) mode=x ;;
    -E) shift; case "$1" in FILESYSTEM=*) filesystem="${1#FILESYSTEM=}" ;; esac ;;
  esac
  shift
done
cd "$filesystem" || exit 1
if [ "$mode" = x ]; then exec tar -xf - ; fi
exec tar -cf - .
"""


def find_ndmjob() -> str:
    for candidate in NDMJOB_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("ndmjob")
    if found:
        return found
    raise LabError("ndmjob not found: apt-get install amanda-common")


@fields_dataclass(slots=True)
class NdmjobWorkspace:
    root: Path
    config: Path
    bin_dir: Path
    source: Path
    tape: Path

    def env(self) -> dict[str, str]:
        return dict(os.environ, PATH=f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    NDMJOB_CONFIG=str(self.config))


def prepare_workspace(root: Path, data_bytes: int = 300_000) -> NdmjobWorkspace:
    """Config, formatter, a source tree of about data_bytes, an empty tape file."""
    root.mkdir(parents=True, exist_ok=True)
    workspace = NdmjobWorkspace(root, root / "ndmjob.conf", root / "bin", root / "source",
                                root / "tape")
    workspace.config.write_text(NDMJOB_CONF)
    workspace.bin_dir.mkdir(exist_ok=True)
    wrapper = workspace.bin_dir / "wrap_tar"
    wrapper.write_text(WRAP_TAR)
    wrapper.chmod(0o755)
    workspace.source.mkdir(exist_ok=True)
    # Seeded bytes: the image size is the same on every run.
    generator = random.Random(20050401)
    (workspace.source / "payload.bin").write_bytes(generator.randbytes(data_bytes))
    (workspace.source / "README.txt").write_text("flowcheck lab backup source\n")
    workspace.tape.write_bytes(b"")
    return workspace


class NdmjobDaemon:
    """`ndmjob -o daemon -p PORT` in the agent namespace (data + tape agent), or with
    host "m" in the media namespace (a tape agent the DMA reaches over TCP)."""

    def __init__(self, lab: Lab, workspace: NdmjobWorkspace, port: int = 10000,
                 host: str = "a") -> None:
        self.port = port
        self.host = host
        argv = [find_ndmjob(), "-o", f"config-file={workspace.config}", "-o", "daemon",
                "-p", str(port)]
        self._process = subprocess.Popen(lab.exec_argv(host, argv), env=workspace.env(),
                                         cwd=workspace.root, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        self._wait_listening(lab)

    def _wait_listening(self, lab: Lab) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            argv = lab.exec_argv(self.host, ["ss", "-Hltn", f"sport = :{self.port}"])
            listing = subprocess.run(argv, capture_output=True, text=True,
                                     check=False).stdout
            if listing.strip():
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise LabError(f"ndmjob daemon did not listen on port {self.port}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


# Where the DMA's tape agent runs (ndmjob -T): "resident" in M (-T .: only DATA_CONNECT
# to M's mover is on the wire); "agent": the daemon in A, on a second control connection
# (-T = -D: MOVER_LISTEN answered with A's address, DATA_CONNECT tells A's data agent to
# connect to A itself, over A's loopback); "shared": no -T, so ndmjob drives the tape
# through the data agent's own connection and asks for NDMP_ADDR_LOCAL (no TCP data
# connection at all); "media": a second daemon in M on the same port (-T M), so the DMA
# has two control connections (the tape agent's over M's loopback) and A's data agent
# connects to M's mover over the wire: a three-way job (NDMP v4 section 1.4).
TAPE_AGENTS = ("resident", "agent", "shared", "media")


@fields_dataclass(slots=True, frozen=True)
class TapePause:
    """The DMA process in M (with its resident tape agent: the mover reading the data
    connection) stopped `after` seconds into the job for `stopped` seconds (SIGSTOP: its
    sockets stay open, nothing reads them, M's TCP closes its receive window), then
    continued (resume: SIGCONT) or killed (SIGKILL: the job given up; M's TCP resets the
    connections holding unread data)."""

    after: float
    stopped: float
    resume: bool


def run_backup(lab: Lab, workspace: NdmjobWorkspace, *, port: int = 10000, version: int = 4,
               extra_options: tuple[str, ...] = (), time_limit: int = 30,
               tape_agent: str = "resident", kill_after: int | None = None,
               pause: TapePause | None = None) -> tuple[int, str]:
    """ndmjob as DMA in M, its tape agent where `tape_agent` (TAPE_AGENTS) says, paused
    as `pause` says (resident tape agent only); returns (exit code, log). ndmjob hangs
    for good on a data connection that never opens (time-limit does not end it): with
    `kill_after` seconds it is killed then (exit code -9, as a job killed by hand), else
    after time_limit + 30 s with a LabError."""
    if tape_agent not in TAPE_AGENTS:
        raise LabError(f"unknown tape agent {tape_agent!r}; known: {', '.join(TAPE_AGENTS)}")
    agent_ip = lab.backup_link.agent_ip
    workspace.tape.write_bytes(b"")
    agent = f"{agent_ip}:{port}/{version}t,{AUTH_USER},{AUTH_PASSWORD}"
    mover = f"{lab.backup_link.media_ip}:{port}/{version}t,{AUTH_USER},{AUTH_PASSWORD}"
    tape = {"resident": ["-T", "."], "agent": ["-T", agent], "shared": [],
            "media": ["-T", mover]}[tape_agent]
    argv = [find_ndmjob(), "-v", "-c", "-D", agent, *tape,
            "-f", str(workspace.tape), "-C", str(workspace.source),
            "-o", f"time-limit={time_limit}", *extra_options, "."]
    if pause is not None:
        return _paused(lab.exec_argv("m", argv), workspace, pause, time_limit)
    try:
        result = subprocess.run(lab.exec_argv("m", argv), env=workspace.env(),
                                cwd=workspace.root, capture_output=True, text=True,
                                timeout=kill_after or time_limit + 30, check=False)
    except subprocess.TimeoutExpired as expired:
        if kill_after is None:
            raise LabError(f"ndmjob still running after {time_limit + 30} s") from None
        output = [part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                  for part in (expired.stdout, expired.stderr)]
        return -9, "".join(output) + f"\nkilled after {kill_after} s\n"
    return result.returncode, result.stdout + result.stderr


def _paused(argv: list[str], workspace: NdmjobWorkspace, pause: TapePause,
            time_limit: int) -> tuple[int, str]:
    """Run the DMA (`ip netns exec` execs it: the process is ndmjob itself) and pause it
    as `pause` says; returns (exit code, log: ndmjob's and what was done to it)."""
    dma = subprocess.Popen(argv, env=workspace.env(), cwd=workspace.root,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(pause.after)
        if dma.poll() is not None:
            raise LabError(f"ndmjob ended before its pause ({pause.after} s): too little data")
        dma.send_signal(signal.SIGSTOP)
        time.sleep(pause.stopped)
        if pause.resume:
            dma.send_signal(signal.SIGCONT)
        else:
            dma.kill()
        log, _ = dma.communicate(timeout=time_limit + 30)
    finally:
        if dma.poll() is None:
            dma.kill()
            dma.wait()
    done = "continued (SIGCONT)" if pause.resume else "killed (SIGKILL)"
    return dma.returncode, (f"{log}\nflowcheck.lab: ndmjob stopped (SIGSTOP) {pause.after} s "
                            f"in, {done} {pause.stopped} s later\n")

"""802.1Q on a veth without the kernel's 8021q module: tc BPF programs push and pop the tag.

The usual way (`ip link add link m0 name m0.77 type vlan id 77` on both ends) needs
CONFIG_VLAN_8021Q; kernels built without it (CI micro-VMs) answer "Unknown device type",
and act_vlan is often missing too. cls_bpf is more common: two tiny eBPF programs,
assembled here, do the same job at the veth's clsact hooks:

    egress:  bpf_skb_vlan_push(skb, htons(ETH_P_8021Q), vid); return TC_ACT_OK
    ingress: bpf_skb_vlan_pop(skb);                           return TC_ACT_OK

Both ends of the veth get both programs, so every frame on the wire between them carries
the tag, and the addresses stay on m0/a0. A capture on the veth sees the tag: outgoing
frames after the egress hook, incoming ones before the ingress hook (packet taps run
before tc ingress); libpcap writes the tag into the frame (from PACKET_AUXDATA when the
kernel holds it as metadata, as a NIC with VLAN offload would).

The programs are loaded with bpf(2), pinned on a private bpffs mount just long enough for
`tc filter add ... bpf da object-pinned` to take a reference, then unpinned.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from flowcheck.lab.shell import LabError, run

_SYS_BPF = 321  # x86_64
_BPF_PROG_LOAD = 5
_BPF_OBJ_PIN = 6
_BPF_PROG_TYPE_SCHED_CLS = 3
_FUNC_SKB_VLAN_PUSH = 18
_FUNC_SKB_VLAN_POP = 19
_ETH_P_8021Q_BE = 0x0081  # htons(0x8100) as the helper's __be16 argument, little-endian host


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _mov_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, imm=imm)  # BPF_ALU64 | BPF_MOV | BPF_K


def _call(helper: int) -> bytes:
    return _insn(0x85, imm=helper)  # BPF_JMP | BPF_CALL


_EXIT = _insn(0x95)  # BPF_JMP | BPF_EXIT


def push_program(vid: int) -> bytes:
    """r1 = skb (as given); r2 = vlan proto; r3 = tci; call; return TC_ACT_OK."""
    return (_mov_imm(2, _ETH_P_8021Q_BE) + _mov_imm(3, vid) + _call(_FUNC_SKB_VLAN_PUSH)
            + _mov_imm(0, 0) + _EXIT)


def pop_program() -> bytes:
    return _call(_FUNC_SKB_VLAN_POP) + _mov_imm(0, 0) + _EXIT


def _bpf(command: int, attr: ctypes.Array) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(_SYS_BPF, command, ctypes.byref(attr), ctypes.sizeof(attr))
    if result < 0:
        error = ctypes.get_errno()
        raise LabError(f"bpf({command}): {os.strerror(error)}")
    return int(result)


def load_program(instructions: bytes, name: str) -> int:
    """BPF_PROG_LOAD a SCHED_CLS program; returns its file descriptor."""
    if os.uname().machine != "x86_64":
        raise LabError("the VLAN lab's BPF loader knows the x86_64 syscall number only")
    insns = ctypes.create_string_buffer(instructions, len(instructions))
    license_text = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(4096)
    attr = ctypes.create_string_buffer(128)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    # log_size, log_buf, kern_version, prog_flags, prog_name[16]
    struct.pack_into("<IIQQIIQII16s", attr, 0, _BPF_PROG_TYPE_SCHED_CLS,
                     len(instructions) // 8, ctypes.addressof(insns),
                     ctypes.addressof(license_text), 1, len(log), ctypes.addressof(log),
                     0, 0, name.encode()[:15])
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except LabError as exc:
        raise LabError(f"{exc}: {log.value.decode(errors='replace').strip()}") from None


def pin(fd: int, path: Path) -> None:
    name = ctypes.create_string_buffer(str(path).encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<QI", attr, 0, ctypes.addressof(name), fd)
    _bpf(_BPF_OBJ_PIN, attr)


def tag_link(ends: Sequence[tuple[str, str]], vid: int) -> None:
    """Every frame on a veth carries 802.1Q tag `vid`, both directions. `ends`: the
    veth's two (network namespace, interface) ends. Raises LabError."""
    with tempfile.TemporaryDirectory(prefix=f"fc{os.getpid()}-bpf-") as mount_point:
        run(["mount", "-t", "bpf", "bpf", mount_point])
        fds: list[int] = []
        try:
            programs: dict[str, Callable[[], bytes]] = {
                "push": lambda: push_program(vid), "pop": pop_program}
            for name, build in programs.items():
                fds.append(load_program(build(), f"fc_vlan_{name}"))
                pin(fds[-1], Path(mount_point) / name)
            for namespace, ifname in ends:
                run(["ip", "netns", "exec", namespace,
                     "tc", "qdisc", "add", "dev", ifname, "clsact"])
                for hook, name in (("egress", "push"), ("ingress", "pop")):
                    run(["ip", "netns", "exec", namespace, "tc", "filter", "add", "dev",
                         ifname, hook, "bpf", "da", "object-pinned", f"{mount_point}/{name}"])
        finally:
            for fd in fds:
                os.close(fd)
            subprocess.run(["umount", mount_point], check=False, capture_output=True)

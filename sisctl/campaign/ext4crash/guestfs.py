"""Shell scripts the agent runs in the guest for file-system campaigns, and parsing what they print.

Disks are found by their virtio serial (the Disk name), never by probe order.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from sisctl.board.qemu import FIND_DISK
from sisctl.campaign.ext4crash.disk import FS_BYTES

OPS_END = "SISCTL_OPS_END"


def workload_script(disk: str, ops_text: str, unmount: bool, device: str | None = None,
                    timed: bool = False) -> str:
    """Mount the fresh disk (the virtio disk with serial `disk`, or `device`, mounted at /mnt/`disk`),
    run the ops with durable marks, optionally unmount (freezes the write log). `timed` prints the
    guest's clock at the start, before and after the ops, and at the end ("t0".."t3", nanoseconds)."""
    if OPS_END in ops_text:
        raise ValueError("ops text contains the here-document terminator")
    found = f"dev={shlex.quote(device)}" if device else f"{FIND_DISK}dev=$(disk {disk})"

    def clock(n: int) -> str:
        return f'echo "t{n} $(sisagent now)"\n' if timed else ""
    return (f"set -e\n{clock(0)}{found}\nmkdir -p /mnt/{disk}\n"
            f"cat > /tmp/ops <<'{OPS_END}'\n{ops_text.rstrip()}\n{OPS_END}\n"
            f"sync; echo 3 > /proc/sys/vm/drop_caches\n"
            f"mount -t ext4 $dev /mnt/{disk}\n{clock(1)}"
            f"sisagent ops /mnt/{disk} $dev {FS_BYTES} /tmp/ops\n{clock(2)}"
            + (f"umount /mnt/{disk}\n" if unmount else "") + clock(3))


def check_script(slots: list[str]) -> str:
    """Recover (mount) each slot's crash image with the kernel under test, dump it, prove it still works.

    `sisagent check` does it all in one process: forks cost tens of milliseconds under emulation."""
    return f"sisagent check /mnt {' '.join(slots)}\n"


@dataclass
class SlotReport:
    """What the guest saw when it recovered one crash image."""
    mounted: bool = False
    recovery_ms: float | None = None
    dump: list[str] = field(default_factory=list)
    sanity: bool = False
    problem: str = ""
    step_ms: dict[str, float] = field(default_factory=dict)   # the guest's own time per step


def parse_check_output(text: str, slots: list[str]) -> dict[str, SlotReport]:
    reports: dict[str, SlotReport] = {}
    current: SlotReport | None = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = reports.setdefault(line[3:].strip(), SlotReport())
        elif current is None:
            continue
        elif line.startswith("recovery_ns "):
            current.mounted, current.recovery_ms = True, int(line.split()[1]) / 1e6
        elif line.startswith("times_ns "):
            current.step_ms = dict(zip(("dump", "sanity", "umount"), (int(n) / 1e6 for n in line.split()[1:4])))
        elif line.startswith("sanity "):
            current.sanity = line == "sanity ok"
        elif line.startswith(("mount failed", "umount failed")):
            current.problem = (current.problem + " " + line).strip()
        elif line[:2] in ("d ", "f ", "l ", "e "):
            current.dump.append(line)
    for slot in slots:
        reports.setdefault(slot, SlotReport(problem="no report from the guest"))
    return reports

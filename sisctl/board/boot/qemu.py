"""boot.method qemu: QEMU loads the kernel, the initramfs and the device tree itself (-kernel,
-initrd, -dtb); a fast session comes from a ready snapshot of the same guest.

    boot:
      method: qemu
      cmdline: console=ttyAMA0 panic=-1
    qemu:                 # optional: the machine (sisctl/board/qemu.py QemuSpec)
      machine: virt
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sisctl.board.qemu import QemuLaunch, QemuSpec

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession
    from sisctl.board.boot import BootRequest
    from sisctl.board.spec import BoardSpec

NAME = "qemu"
SECTION = None


def check(spec: BoardSpec, path) -> None:
    if spec.qemu is None:
        spec.qemu = QemuSpec()


def boot(session: BoardSession, request: BootRequest) -> None:
    machine = session.board.spec.qemu
    files = session.boot_files(request.append, machine.dtb, machine.dtb_remove)
    launch = QemuLaunch(files.kernel, files.initrd, files.cmdline, files.dtb, vmstate=session.vmstate(),
                        data_forward=session.data_forward(), disks=request.disks, extra_args=session.qemu_args)
    session.boot_qemu(launch, launch.snapshot_identity(machine), request,
                      cold=lambda: session.start_qemu(launch), mode="cold")

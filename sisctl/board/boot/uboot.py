"""boot.method uboot: U-Boot brings the kernel (TFTP or YMODEM over the console) and runs booti. On
a QEMU board QEMU runs U-Boot as its firmware (`qemu.firmware`) and sessions get ready snapshots;
a real board is switched on through its power switch and boots cold every session.

    boot:
      method: uboot
      dtb: broadcom/bcm2711-rpi-4-b.dtb      # from the artifact's dtbs/
      uboot:                                 # sisctl/board/uboot.py UbootSpec
        transfer: tftp
        tftp_root: /srv/tftp
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sisctl import config
from sisctl.board import tftp
from sisctl.board.qemu import QemuLaunch
from sisctl.board.uboot import BootFiles, UBoot, UbootSpec, gzip_kernel

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession
    from sisctl.board.boot import BootRequest
    from sisctl.board.spec import BoardSpec

NAME = "uboot"
SECTION = ("uboot", UbootSpec)


def check(spec: BoardSpec, path) -> None:
    if spec.boot.uboot is None:
        spec.boot.uboot = UbootSpec()
    if spec.qemu is not None and not spec.qemu.firmware:
        raise config.ConfigError(path, "qemu.firmware", "a QEMU board booted by uboot needs its boot firmware "
                                 "(e.g. U-Boot's u-boot.bin)")
    if spec.qemu is None and spec.power.model == "qmp":
        raise config.ConfigError(path, "power.model", "a real board needs a power switch model, not qmp")
    if spec.boot.uboot.boot_command == "bootefi" and spec.boot.uboot.kernel_gzip:
        raise config.ConfigError(path, "boot.uboot.kernel_gzip", "bootefi starts the Image's EFI stub as it is; "
                                 "only booti unpacks a compressed kernel")


def boot(session: BoardSession, request: BootRequest) -> None:
    spec = session.board.spec
    files = session.boot_files(request.append, spec.boot.dtb)
    if spec.boot.uboot.kernel_gzip:
        files = replace(files, kernel=gzip_kernel(files.kernel, session.board.state / "kernels"))
    if spec.qemu is None:
        session.boot_real(lambda: _load(session, files, None), request)
        return
    served = spec.boot.uboot.transfer == "tftp" and not spec.boot.uboot.tftp_root
    launch = QemuLaunch(None, None, "", firmware=Path(spec.qemu.firmware),
                        tftp_root=session.tftp_root() if served else None, vmstate=session.vmstate(),
                        data_forward=session.data_forward(), disks=request.disks, extra_args=session.qemu_args)
    # U-Boot loads the files: they are not on QEMU's command line, so they join the snapshot's identity
    identity = launch.snapshot_identity(spec.qemu) + [str(files.kernel), str(files.initrd), str(files.dtb),
                                                      files.cmdline]
    session.boot_qemu(launch, identity, request, cold=lambda: _load(session, files, launch), mode="loader")


def _load(session: BoardSession, files: BootFiles, launch: QemuLaunch | None) -> None:
    """Stage the files, switch on (start QEMU when `launch` is given) and drive U-Boot to booti."""
    uboot = session.board.spec.boot.uboot
    if uboot.transfer == "tftp":
        tftp.stage(files.named(), uboot.tftp_root or str(session.tftp_root()), files.prefix, uboot.tftp_ssh,
                   session.name)
    session.power_on(launch)
    UBoot(session.console, uboot, session.name, session.progress).boot(files)

"""boot.method uefi: QEMU runs edk2's UEFI firmware (Debian's qemu-efi-aarch64), which starts the
kernel's EFI stub from an EFI system partition built from the artifact: the Image, the initramfs
and a startup.nsh carrying the command line, run by the firmware's shell. ACPI by default (as on
an Arm SystemReady machine); `acpi: false` gives the kernel QEMU's device tree instead. The ready
snapshot and restore work as on other QEMU boards.

    boot:
      method: uefi
      cmdline: console=ttyAMA0 panic=-1
      uefi:                                  # all optional
        code: /usr/share/AAVMF/AAVMF_CODE.fd # the firmware, read-only
        vars: /usr/share/AAVMF/AAVMF_VARS.fd # template of its variable store (each board gets a copy)
        acpi: true
    qemu:
      machine: virt
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sisctl import config, paths, proc
from sisctl.board.qemu import QemuLaunch, QemuSpec, option_value
from sisctl.board.uboot import BootFiles
from sisctl.errors import UsageError

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession
    from sisctl.board.boot import BootRequest
    from sisctl.board.spec import BoardSpec

NAME = "uefi"
EFI_STUB_MAGIC = b"MZ"           # an arm64 Image with an EFI stub is also a PE/COFF program
KERNEL_NAME = "Image.efi"        # not EFI/BOOT/BOOTAA64.EFI: the firmware would start it without arguments


@dataclass
class UefiSpec:
    code: str = "/usr/share/AAVMF/AAVMF_CODE.fd"
    vars: str = "/usr/share/AAVMF/AAVMF_VARS.fd"
    acpi: bool = True


SECTION = ("uefi", UefiSpec)


def check(spec: BoardSpec, path) -> None:
    if spec.qemu is None and spec.console.url != "qemu":
        raise config.ConfigError(path, "qemu", "uefi boots QEMU boards through edk2; a real board with its "
                                 "own UEFI firmware is not driven yet (boot it by uboot or pi-tryboot)")
    if spec.qemu is None:
        spec.qemu = QemuSpec()
    if spec.qemu.firmware:
        raise config.ConfigError(path, "qemu.firmware", "uefi brings its own firmware (boot.uefi.code); "
                                 "remove qemu.firmware")
    if spec.boot.uefi is None:
        spec.boot.uefi = UefiSpec()
    for key in ("code", "vars"):
        if not Path(getattr(spec.boot.uefi, key)).is_file():
            raise config.ConfigError(path, f"boot.uefi.{key}", f"no file {getattr(spec.boot.uefi, key)} "
                                     "(Debian's qemu-efi-aarch64 has it: invoke setup)")


def boot(session: BoardSession, request: BootRequest) -> None:
    spec = session.board.spec
    uefi: UefiSpec = spec.boot.uefi
    files = session.boot_files(f"{request.append}{'' if uefi.acpi else ' acpi=off'}".strip(), None)
    require_efi_stub(files.kernel)
    esp = system_partition(files, session.board.state / "esp")
    variables = session.board.state / "efivars.fd"
    if not variables.exists():
        with paths.written_into_place(variables) as partial:
            shutil.copyfile(uefi.vars, partial)
    firmware = ["-drive", f"if=pflash,format=raw,readonly=on,file={option_value(uefi.code)}",
                "-drive", f"if=pflash,format=raw,file={option_value(variables)}",
                "-drive", f"if=none,id=esp,format=raw,readonly=on,file={option_value(esp)}",
                "-device", "virtio-blk-pci,drive=esp"]
    if not uefi.acpi:
        firmware += ["-machine", "acpi=off"]
    launch = QemuLaunch(None, None, "", vmstate=session.vmstate(), disks=request.disks,
                        extra_args=firmware + session.qemu_args)
    # the partition's name is its content's hash: a new kernel, initramfs or command line is a new guest
    identity = launch.snapshot_identity(spec.qemu) + [esp.name]
    session.boot_qemu(launch, identity, request, cold=lambda: session.start_qemu(launch), mode="firmware")


def require_efi_stub(kernel: Path) -> None:
    """Refuse, before anything boots, a kernel the firmware cannot start."""
    with open(kernel, "rb") as f:
        head = f.read(2)
    if head != EFI_STUB_MAGIC:
        raise UsageError(f"{kernel}: this Image has no EFI stub (CONFIG_EFI and CONFIG_EFI_STUB), so UEFI "
                         "firmware cannot start it; boot it with method qemu or uboot")


def system_partition(files: BootFiles, folder: Path) -> Path:
    """A FAT image holding the kernel, the initramfs and a startup.nsh with the command line; one per
    kernel, initramfs and command line, kept in `folder`. The kernel and the initramfs are files of
    the build cache, written into place once under names of their content, so their path, size and
    modification time stand for their bytes: a snapshot restore does not read 30 MB to find its ESP."""
    script = f"fs0:\r\n\\{KERNEL_NAME} initrd=\\initrd {files.cmdline}\r\n"
    kernel, initrd = files.kernel.stat(), files.initrd.stat()
    identity = [str(files.kernel), kernel.st_size, kernel.st_mtime_ns, str(files.initrd), initrd.st_size,
                initrd.st_mtime_ns, script]
    key = hashlib.sha256(repr(identity).encode())
    esp = folder / f"esp-{key.hexdigest()[:16]}.img"
    if esp.exists():
        return esp
    folder.mkdir(parents=True, exist_ok=True)
    size_mib = max(64, (kernel.st_size + initrd.st_size) // (1 << 20) * 5 // 4 + 16)
    with paths.written_into_place(esp) as partial:
        with open(partial, "wb") as f:
            f.truncate(size_mib << 20)
        proc.run(["mkfs.vfat", "-n", "SISCTL-ESP", partial], timeout=60)
        nsh = folder / f".startup-{key.hexdigest()[:16]}.nsh"
        nsh.write_text(script)
        try:
            for source, name in ((files.kernel, KERNEL_NAME), (files.initrd, "initrd"), (nsh, "startup.nsh")):
                proc.run(["mcopy", "-o", "-i", partial, source, f"::/{name}"], timeout=120)
        finally:
            nsh.unlink(missing_ok=True)
    return esp

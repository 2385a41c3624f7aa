"""Raspberry Pi tryboot over SSH: the artifact boots once, a power cycle brings the known-good OS back.

The Pi runs its own OS from the boot partition's config.txt. sisctl copies the artifact into a
folder of that partition and writes tryboot.txt naming it (os_prefix), then reboots with
`reboot '0 tryboot'`. The firmware reads tryboot.txt for that one boot only; config.txt is never
touched, so a kernel that hangs or panics cannot keep the board from its known-good OS.
"""
from __future__ import annotations

import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sisctl.board.errors import BoardError, BoardUnreachable
from sisctl.board.power import PowerSpec, power_cycle
from sisctl.board.ssh import SshRunner, SshSpec
from sisctl.config import Seconds
from sisctl.board.uboot import BootFiles
from sisctl.build.artifact import sha256_file

# What differs between the models' firmware (both read tryboot.txt and os_prefix).
MODEL_LINES = {
    "pi4": ["arm_64bit=1", "enable_uart=1"],   # the Pi 4 firmware starts 32-bit kernels unless told
    "pi5": ["enable_uart=1"],                  # 64-bit only; console on the debug UART (ttyAMA10)
}


@dataclass
class PiSpec:
    """boot.method pi-tryboot: a Raspberry Pi running a known-good OS over SSH; each session boots
    the artifact once through the firmware's tryboot, so a power cycle always brings the old OS back."""
    ssh: SshSpec
    model: Literal["pi4", "pi5"] = "pi4"
    boot_dir: str = "/boot/firmware"             # the FAT boot partition as the running OS mounts it
    folder: str = "sisctl"                       # the artifact's files go here (os_prefix)
    reboot_command: str = "sudo reboot '0 tryboot'"
    tryboot_flag: str = "/proc/device-tree/chosen/bootloader/tryboot"   # non-zero while in tryboot
    sudo: str = "sudo"                           # prefix for writes to boot_dir; '' when logged in as root
    back_timeout_s: Seconds = 180.0                # power cycle to the known-good OS answering SSH
    config_lines: list[str] = field(default_factory=list)   # more tryboot.txt lines: dtoverlay=disable-bt, ...


def tryboot_config(spec: PiSpec, files: BootFiles) -> str:
    lines = ["# Written by sisctl: read by the firmware for one 'reboot 0 tryboot' only;",
             "# config.txt (the known-good OS) is untouched and boots on the next power cycle.",
             "[all]", *MODEL_LINES[spec.model],
             f"os_prefix={spec.folder}/", "kernel=Image", "initramfs initrd followkernel", *spec.config_lines]
    if files.dtb:
        lines.append(f"device_tree={files.dtb.name}")
    return "\n".join(lines) + "\n"


def boot_files(files: BootFiles) -> dict[str, Path]:
    """Names in the tryboot folder: os_prefix applies to the kernel, initramfs, dtb and cmdline.txt;
    the device tree keeps its own name, which tryboot.txt gives."""
    return files.named(files.dtb.name if files.dtb else "")


class PiTryboot:
    def __init__(self, spec: PiSpec, power: PowerSpec, board: str, progress=lambda _: None):
        self.spec, self.power, self.board, self.progress = spec, power, board, progress
        self.boot_dir = spec.boot_dir.rstrip("/")

    def _sudo(self, argv: list[str]) -> str:
        return " ".join(([self.spec.sudo] if self.spec.sudo else []) + [shlex.quote(a) for a in argv])

    def in_tryboot(self, ssh: SshRunner) -> bool:
        """The firmware's flag: set while the board runs a tryboot configuration."""
        out = ssh.must(f"od -An -tx1 {shlex.quote(self.spec.tryboot_flag)}", "reading the tryboot flag")
        return any(int(b, 16) for b in out.split())

    def _staged(self, ssh: SshRunner, folder: str, names: list[str]) -> dict[str, str]:
        """name -> sha256 of the files of that name already in the tryboot folder (missing ones left out)."""
        listed = ssh.run("sha256sum -- " + " ".join(shlex.quote(f"{folder}/{n}") for n in names), 120)
        found = {}
        for line in listed.stdout.splitlines():
            digest, _, path = line.partition("  ")
            found[path.rsplit("/", 1)[-1]] = digest
        return found

    def stage(self, files: BootFiles) -> None:
        """Copy the artifact into <boot_dir>/<folder>/ and write tryboot.txt, on the known-good OS.
        A file already there with the same content is not copied again (a benchmark campaign boots
        the same kernel and initramfs many times, with other command lines)."""
        with SshRunner(self.spec.ssh, self.board) as ssh:
            if self.in_tryboot(ssh):
                raise BoardError(self.board, "the Pi is running a tryboot configuration, not its known-good "
                                 "OS; power-cycle it first")
            folder = f"{self.boot_dir}/{self.spec.folder}"
            named = boot_files(files)
            staged = self._staged(ssh, folder, list(named))
            for name in [n for n, path in named.items() if n in staged and staged[n] == sha256_file(path)]:
                self.progress(f"{self.board}: {name} is staged already (same sha256)")
                del named[name]
            staging = ssh.must("mktemp -d", "creating a staging folder").strip()
            with tempfile.TemporaryDirectory() as local:
                extra = {"cmdline.txt": Path(local) / "cmdline.txt", "tryboot.txt": Path(local) / "tryboot.txt"}
                extra["cmdline.txt"].write_text(files.cmdline + "\n")
                extra["tryboot.txt"].write_text(tryboot_config(self.spec, files))
                for name, path in {**named, **extra}.items():
                    self.progress(f"{self.board}: copying {name} ({path.stat().st_size / 1e6:.1f} MB)")
                    ssh.put(path, f"{staging}/{name}")
            names = [*named, "cmdline.txt"]
            ssh.must(self._sudo(["mkdir", "-p", folder]), f"creating {folder}")
            ssh.must(self._sudo(["cp", *[f"{staging}/{n}" for n in names], folder + "/"]),
                       f"copying into {folder}")
            # tryboot.txt last: until it is complete the firmware has nothing new to try.
            ssh.must(self._sudo(["cp", f"{staging}/tryboot.txt", f"{self.boot_dir}/tryboot.txt.new"]),
                       "writing tryboot.txt")
            ssh.must(self._sudo(["mv", f"{self.boot_dir}/tryboot.txt.new", f"{self.boot_dir}/tryboot.txt"]),
                       "writing tryboot.txt")
            ssh.must("sync; rm -rf " + shlex.quote(staging), "flushing the boot partition")

    def reboot_into_trial(self) -> None:
        """Ask the known-good OS to reboot once into tryboot.txt; the connection drops as it does."""
        with SshRunner(self.spec.ssh, self.board) as ssh:
            try:
                ssh.run(self.spec.reboot_command, timeout_s=15)
            except BoardUnreachable:
                pass   # the OS went down under the command, as it should

    def restore(self) -> None:
        """Power-cycle back to the known-good OS and prove it is the one running."""
        self.progress(f"{self.board}: power cycle back to the known-good OS")
        power_cycle(self.power)
        deadline = time.monotonic() + self.spec.back_timeout_s
        problem = ""
        while time.monotonic() < deadline:
            try:
                with SshRunner(self.spec.ssh, self.board) as ssh:
                    if not self.in_tryboot(ssh):
                        return
                    problem = "it came back still in tryboot mode"
            except BoardUnreachable as err:
                problem = err.message
            time.sleep(2)
        raise BoardError(self.board, f"the known-good OS did not come back within {self.spec.back_timeout_s:g} s "
                         f"after a power cycle: {problem}")

"""Drive U-Boot on a board's console: stop autoboot, load the kernel, initramfs and device tree
by TFTP or YMODEM (`loady`), check each with U-Boot's crc32, then `booti`."""
from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from ymodem.Socket import ModemSocket

from sisctl import paths
from sisctl.board.console import Console
from sisctl.board.errors import BoardError
from sisctl.board.ssh import SshSpec
from sisctl.config import Seconds

AUTOBOOT = rb"(?i)(hit any key|press .{1,20} to stop|autoboot in)"
GZIP_MAGIC = b"\x1f\x8b"
RC_MARK = "sisctl-rc="
UNSAFE = re.compile(r"[;$\\\"'#`\n]")   # hush metacharacters: never part of a value we pass


@dataclass
class UbootSpec:
    """boot.method uboot: sisctl stops autoboot on the console, loads the files and runs booti."""
    transfer: Literal["tftp", "ymodem"] = "tftp"
    prompt: str = "=> "
    autoboot_timeout_s: Seconds = 60.0           # power-on to the prompt
    command_timeout_s: Seconds = 30.0
    transfer_timeout_s: Seconds = 900.0          # per file
    tftp_root: str = ""       # folder the lab's TFTP server serves; '' on QEMU: QEMU's own TFTP server
    tftp_ssh: SshSpec | None = None              # the lab host holding tftp_root, when not this machine
    server_ip: str = ""       # the TFTP server as the board sees it; '' : the one DHCP names
    dhcp: bool = True
    kernel_addr: str = "${kernel_addr_r}"        # U-Boot expressions or hex addresses
    ramdisk_addr: str = "${ramdisk_addr_r}"
    fdt_addr: str = "${fdt_addr_r}"              # where boot.dtb is loaded
    kernel_gzip: bool = False   # send the Image gzip-compressed (a third of the bytes); booti unpacks it
    kernel_comp_addr: str = "${kernel_comp_addr_r}"   # booti's scratch area for unpacking, Image-sized
    boot_command: Literal["booti", "bootefi"] = "booti"   # bootefi: the kernel's EFI stub, through U-Boot's EFI


@dataclass
class BootFiles:
    """What the loader brings to the board; named() gives the names it asks the server for."""
    kernel: Path
    initrd: Path
    dtb: Path | None
    cmdline: str
    prefix: str = ""        # folder below the TFTP root

    def named(self, dtb_name: str = "board.dtb") -> dict[str, Path]:
        files = {"Image": self.kernel, "initrd": self.initrd}
        if self.dtb:
            files[dtb_name] = self.dtb
        return files


def gzip_kernel(image: Path, folder: Path) -> Path:
    """The Image gzip-compressed, kept in `folder` under its content's hash."""
    data = image.read_bytes()
    out = folder / f"Image-{hashlib.sha256(data).hexdigest()[:16]}.gz"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with paths.written_into_place(out) as partial:
            partial.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return out


class UBoot:
    def __init__(self, console: Console, spec: UbootSpec, board: str,
                 progress: Callable[[str], None] = lambda _: None):
        self.console, self.spec, self.board, self.progress = console, spec, board, progress
        self.prompt = re.escape(spec.prompt.encode())

    def stop_autoboot(self) -> None:
        """From power-on: wait for the countdown, interrupt it, and reach the prompt."""
        if not self.console.wait_for(AUTOBOOT + rb"|(?:^|\n)" + self.prompt, self.spec.autoboot_timeout_s):
            raise BoardError(self.board, f"no U-Boot autoboot countdown or prompt within "
                             f"{self.spec.autoboot_timeout_s:g} s", self.console.tail_text())
        self.console.write(b"\x03 \n")
        self.command("echo sisctl")   # in step: earlier prompts can no longer be taken for answers

    def command(self, line: str, timeout_s: float | None = None) -> str:
        """Run one command line; its output (without the echo). Fails when it exits non-zero."""
        self.console.forget_bytes()
        self.console.write(f"{line}; echo {RC_MARK}$?\n".encode())
        timeout_s = timeout_s or self.spec.command_timeout_s
        # The echo shows '$?', never digits: the first digits after the mark are the status.
        found = self.console.wait_for(rb"(?s)(.*?)" + RC_MARK.encode() + rb"(\d+)\r?\n" + self.prompt, timeout_s)
        if not found:
            raise BoardError(self.board, f"U-Boot: {line!r} did not finish within {timeout_s:g} s",
                             self.console.tail_text())
        body = found.group(1).decode(errors="replace").replace("\r", "")
        body = body.split("\n", 1)[1] if "\n" in body else ""   # drop the echoed command line
        if found.group(2) != b"0":
            raise BoardError(self.board, f"U-Boot: {line!r} failed: {body.strip()[-500:]}", self.console.tail_text())
        return body

    def env(self, expression: str) -> str:
        """Evaluate an address expression such as ${kernel_addr_r}."""
        return self.command(f"echo {expression}").strip()

    def boot(self, files: BootFiles) -> None:
        for value in (files.cmdline, files.prefix):
            if UNSAFE.search(value):
                raise BoardError(self.board, f"U-Boot cannot be given {value!r} safely (quotes, ; $ # or newline)")
        self.stop_autoboot()
        if self.spec.transfer == "tftp":
            self._network()
        addr = {"Image": self.env(self.spec.kernel_addr), "initrd": self.env(self.spec.ramdisk_addr),
                "board.dtb": self.env(self.spec.fdt_addr)}
        sizes = {}
        for name, path in files.named().items():
            sizes[name] = self.load(addr[name], name, path, files.prefix)
        self.command(f"setenv bootargs {files.cmdline}")
        with open(files.kernel, "rb") as kernel:
            packed = kernel.read(2) == GZIP_MAGIC
        if packed:
            self.set_unpack_area(sizes["Image"])
        fdt = addr["board.dtb"] if files.dtb else "${fdtcontroladdr}"
        if self.spec.boot_command == "bootefi":
            line = self._efi_line(addr["Image"], addr["initrd"], sizes["initrd"], fdt)
        else:
            line = f"booti {addr['Image']} {addr['initrd']}:{sizes['initrd']:x} {fdt}"
        self.progress(f"U-Boot: {self.spec.boot_command}")
        self.console.forget_bytes()
        self.console.write(f"{line}\n".encode())

    def _efi_line(self, kernel: str, initrd: str, initrd_size: int, fdt: str) -> str:
        """bootefi starts the kernel's EFI stub, which takes its command line from bootargs; the
        initramfs is named in the device tree's /chosen (fdt chosen), as booti would have put it."""
        source, fdt = self.env(fdt), self.env(self.spec.fdt_addr)
        if not fdt:
            raise BoardError(self.board, f"bootefi: boot.uboot.fdt_addr ({self.spec.fdt_addr}) is empty in U-Boot; "
                             "give the address for the device tree's copy", self.console.tail_text())
        self.command(f"fdt addr {source}")
        if source != fdt:   # the firmware's own tree: edited in a copy, never where U-Boot keeps it
            self.command(f"fdt move {source} {fdt} 0x200000")   # QEMU pads its tree to 1 MiB
            self.command(f"fdt addr {fdt}")
        self.command("fdt resize 4096")
        self.command(f"fdt chosen {initrd} {initrd_size:#x}")   # start and size
        return f"bootefi {kernel} {fdt}"

    def set_unpack_area(self, packed_size: int) -> None:
        """booti unpacks a compressed Image only when told where it may and how big it is."""
        area = self.env(self.spec.kernel_comp_addr)
        if not area:
            raise BoardError(self.board, f"the kernel is compressed but {self.spec.kernel_comp_addr} is empty "
                             "in U-Boot; set boot.uboot.kernel_comp_addr")
        self.command(f"setenv kernel_comp_addr_r {area}; setenv kernel_comp_size {packed_size:x}")

    def _network(self) -> None:
        if self.spec.dhcp:
            self.command("setenv autoload no; dhcp", self.spec.command_timeout_s * 2)
        if self.spec.server_ip:
            self.command(f"setenv serverip {self.spec.server_ip}")

    def load(self, addr: str, name: str, path: Path, prefix: str = "") -> int:
        """Bring one file to `addr` and prove it arrived whole; its size."""
        data = path.read_bytes()
        self.progress(f"U-Boot: {name} ({len(data) / 1e6:.1f} MB) by {self.spec.transfer} to {addr}")
        if self.spec.transfer == "tftp":
            self.command(f"tftpboot {addr} {prefix + '/' if prefix else ''}{name}", self.spec.transfer_timeout_s)
        else:
            self._ymodem(addr, path)
        found = re.search(r"filesize=([0-9a-fA-F]+)", self.command("printenv filesize"))
        size = int(found.group(1), 16) if found else -1
        if size != len(data):
            raise BoardError(self.board, f"U-Boot loaded {size} bytes of {name}, expected {len(data)}")
        self.verify(addr, size, zlib.crc32(data), name)
        return size

    def verify(self, addr: str, size: int, crc: int, name: str) -> None:
        out = self.command(f"crc32 {addr} {size:x}")
        found = re.search(r"==>\s*([0-9a-fA-F]{8})", out)
        if not found or int(found.group(1), 16) != crc:
            raise BoardError(self.board, f"{name} arrived damaged: U-Boot's crc32 says "
                             f"{found.group(1) if found else out.strip()!r}, expected {crc:08x}")

    def _ymodem(self, addr: str, path: Path) -> None:
        # At the console's own rate: asking loady for another makes U-Boot's PL011 driver (Pi,
        # QEMU virt) spin forever in its flush before the switch.
        self.console.forget_bytes()
        self.console.write(f"loady {addr}\n".encode())
        if not self.console.wait_for(rb"Ready for binary[^\n]*\n", self.spec.command_timeout_s):
            raise BoardError(self.board, "U-Boot did not start loady", self.console.tail_text())
        total = path.stat().st_size
        shown = [0]

        def report(_index: int, _name: str, packets: int, done: int) -> None:
            percent = done * 100 // max(1, packets)
            if percent >= shown[0] + 10:
                shown[0] = percent - percent % 10
                self.progress(f"U-Boot: {path.name} {shown[0]}% of {total / 1e6:.1f} MB")

        modem = ModemSocket(lambda size, timeout=1: self.console.read_raw(size, timeout) or None,
                            lambda data, timeout=1: self.console.write(bytes(data)))
        if not modem.send([str(path)], callback=report):
            raise BoardError(self.board, f"YMODEM upload of {path.name} failed", self.console.tail_text())
        if not self.console.wait_for(rb"Total Size[^\n]*\n", self.spec.command_timeout_s):
            raise BoardError(self.board, f"U-Boot did not confirm the upload of {path.name}", self.console.tail_text())

"""U-Boot boards, played by Debian's real U-Boot on QEMU virt: sisctl stops autoboot on the console,
loads the files over TFTP (QEMU's own server) or YMODEM, checks them with U-Boot's crc32, boots."""
from __future__ import annotations

import dataclasses
import os
import zlib
from pathlib import Path

import pytest

from sisctl.board.board import Board, new_run_dir
from sisctl.board.console import Console, open_port
from sisctl.board.errors import BoardError
from sisctl.board.qemu import QemuLaunch, QemuMachine
from sisctl.board.spec import find_board
from sisctl.board.uboot import UBoot

pytestmark = pytest.mark.skipif(not Path(find_board("qemu-virt-uboot").qemu.firmware).exists(),
                                reason="u-boot-qemu is not installed")


def test_tftp_boot_to_the_agent_then_from_its_snapshot(debian_artifact, tmp_path):
    board = Board(find_board("qemu-virt-uboot"), state_root=tmp_path / "state", reports=tmp_path)
    flashed = board.flash(debian_artifact, progress=lambda _: None)
    log = (Path(flashed["run_dir"]) / "console.log").read_text(errors="replace")
    # Every file was fetched by TFTP and checked before booti ran.
    assert log.count("tftpboot") >= 2 and log.count("crc32 ") >= 2 and "booti " in log
    # The flash saved the U-Boot-booted guest: later sessions restore it instead of going through U-Boot.
    with board.session(label="uboot") as session:
        assert session.boot_mode == "snapshot"
        result = session.run("cat /proc/cmdline; uname -r")
        assert result.ok and "console=ttyAMA0" in result.text
        assert debian_artifact.manifest["kernel_version"] in result.text


def test_bootefi_starts_the_kernels_efi_stub_with_the_initramfs_named_in_the_device_tree(debian_artifact, tmp_path):
    spec = find_board("qemu-virt-uboot")
    spec.boot.uboot = dataclasses.replace(spec.boot.uboot, boot_command="bootefi", fdt_addr="0x4f000000")
    board = Board(spec, state_root=tmp_path / "state", reports=tmp_path)
    with board.session(fast=False, artifact=debian_artifact, label="bootefi") as session:
        log = (session.run_dir / "console.log").read_text(errors="replace")
        assert "bootefi 0x" in log and "EFI stub: Booting Linux Kernel" in log and "booti " not in log
        assert session.run("test -d /sys/firmware/efi").ok           # the kernel came up through EFI
        assert session.run("cat /proc/cmdline").text.startswith("console=ttyAMA0 panic=-1")


@pytest.mark.slow
@pytest.mark.kbuild
def test_ymodem_boot_of_a_compressed_kernel_to_the_agent(kbuild_artifact, tmp_path):
    board = Board(find_board("qemu-virt-uboot-serial"), state_root=tmp_path / "state", reports=tmp_path)
    flashed = board.flash(kbuild_artifact, progress=lambda _: None)
    log = (Path(flashed["run_dir"]) / "console.log").read_text(errors="replace")
    # Both files crossed the console by YMODEM; the kernel went gzip-compressed and booti unpacked it.
    assert log.count("loady ") == 2 and log.count("## Total Size") == 2 and log.count("crc32 ") >= 2
    assert "Uncompressing Kernel Image" in log and "booti " in log
    with board.session(label="serial") as session:
        assert session.boot_mode == "snapshot"
        assert session.run("uname -r").text.strip() == kbuild_artifact.manifest["kernel_release"]


@pytest.fixture
def uboot_prompt(tmp_path):
    """Debian's U-Boot running on QEMU virt, stopped at its prompt."""
    spec = find_board("qemu-virt-uboot")
    spec.boot.uboot.transfer = "ymodem"
    machine = QemuMachine(spec.qemu, QemuLaunch(None, None, "", firmware=Path(spec.qemu.firmware)),
                          spec.name, new_run_dir(spec.name, "ymodem", tmp_path))
    machine.start()
    console = None
    try:
        console = Console(open_port(machine.console_url, 115200, 10, spec.name), tmp_path / "console.log", spec.name)
        uboot = UBoot(console, spec.boot.uboot, spec.name)
        uboot.stop_autoboot()
        yield uboot
    finally:
        if console:
            console.close()
        machine.stop()


def test_ymodem_upload_arrives_whole_and_crc32_catches_damage(uboot_prompt, tmp_path):
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(96 * 1024 + 123))      # not a whole number of blocks
    addr = uboot_prompt.env("${kernel_addr_r}")
    assert uboot_prompt.load(addr, "payload", payload) == payload.stat().st_size
    # The checker compares U-Boot's own crc32 of memory with ours: one flipped byte must fail it.
    other = 0x5A if payload.read_bytes()[0] != 0x5A else 0xA5
    uboot_prompt.command(f"mw.b {addr} {other:#x} 1")
    with pytest.raises(BoardError, match="arrived damaged"):
        uboot_prompt.verify(addr, payload.stat().st_size, zlib.crc32(payload.read_bytes()), "payload")


def test_a_failing_uboot_command_is_an_error(uboot_prompt):
    with pytest.raises(BoardError, match="failed"):
        uboot_prompt.command("tftpboot 0x40400000 no-such-file", 20)


def test_a_compressed_kernel_needs_somewhere_to_unpack(uboot_prompt):
    uboot_prompt.spec.kernel_comp_addr = "${no_such_variable}"
    with pytest.raises(BoardError, match="kernel_comp_addr"):
        uboot_prompt.set_unpack_area(1 << 20)

"""UEFI boot: edk2 firmware starts the Debian kernel's EFI stub from the EFI system partition
sisctl builds; ACPI by default, QEMU's device tree with acpi: false; ready snapshots as elsewhere;
a kernel without an EFI stub is refused before anything boots."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.boot.uefi import require_efi_stub
from sisctl.board.spec import find_board
from sisctl.errors import UsageError
from tests.conftest import qemu_processes_mentioning


@pytest.fixture(scope="module")
def flashed(lab_dirs, debian_artifact) -> tuple[Board, dict]:
    board = Board(find_board("qemu-virt-uefi"))
    return board, board.flash(debian_artifact)


@pytest.fixture
def uefi_board(flashed) -> Board:
    return flashed[0]


def test_uefi_boots_the_kernel_through_acpi_and_restores_its_snapshot(flashed):
    uefi_board, flash = flashed
    log = (Path(flash["run_dir"]) / "console.log").read_text(errors="replace")
    assert "EFI stub: Loaded initrd from command line option" in log, log[-2000:]
    with uefi_board.session(label="uefi") as session:
        assert session.boot_mode == "snapshot"
        assert session.run("test -d /sys/firmware/efi/efivars || test -d /sys/firmware/efi").ok
        tables = session.run("ls /sys/firmware/acpi/tables").text.split()
        assert "DSDT" in tables and "APIC" in tables, tables
        assert "initrd=\\initrd" in session.run("cat /proc/cmdline").text


def test_uefi_without_acpi_gives_the_kernel_the_device_tree(uefi_board, debian_artifact):
    spec = find_board("qemu-virt-uefi")
    spec.boot.uefi = dataclasses.replace(spec.boot.uefi, acpi=False)
    board = Board(spec, state_root=uefi_board.state.parent.parent / "dt")
    with board.session(fast=False, artifact=debian_artifact, label="uefi-dt") as session:
        assert session.boot_mode == "firmware"
        assert session.run("test -d /sys/firmware/efi").ok
        assert not session.run("test -e /sys/firmware/acpi/tables/DSDT").ok
        assert session.run("cat /proc/device-tree/compatible").stdout.startswith(b"linux,dummy-virt")


def test_an_image_without_an_efi_stub_is_refused(tmp_path):
    image = tmp_path / "Image"
    image.write_bytes(b"\x00" * 56 + b"ARM\x64" + b"\x00" * 64)
    with pytest.raises(UsageError, match="no EFI stub"):
        require_efi_stub(image)


@pytest.mark.kbuild
def test_the_kbuild_kernel_without_a_stub_is_refused_before_qemu_starts(uefi_board, kbuild_artifact):
    with pytest.raises(UsageError, match="no EFI stub"):
        with uefi_board.session(fast=False, artifact=kbuild_artifact, label="uefi-no-stub"):
            pass
    assert not qemu_processes_mentioning(str(uefi_board.state))

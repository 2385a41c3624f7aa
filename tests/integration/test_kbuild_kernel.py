"""A kernel really compiled from Debian's linux-source boots and runs the agent."""
from __future__ import annotations

import time

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe

pytestmark = pytest.mark.kbuild


def test_manifest_reads_the_vmlinux_elf(kbuild_artifact):
    manifest = kbuild_artifact.manifest
    assert manifest["build_id_source"] == "vmlinux"
    assert len(manifest["build_id"]) == 40
    assert {s["name"] for s in manifest["sections"]} >= {".text", ".data"}
    assert manifest["modules"] == 0
    config = (kbuild_artifact.root / "config").read_text()
    assert "CONFIG_VIRTIO_BLK=y" in config and "CONFIG_EXT4_FS=y" in config


def test_second_build_is_served_from_the_cache(kbuild_artifact):
    messages = []
    again = build(find_recipe("linux-kbuild"), progress=messages.append)
    assert again.root == kbuild_artifact.root
    assert messages and "cached" in messages[0]


def test_kbuild_kernel_boots_to_the_agent(lab_dirs, kbuild_artifact):
    board = Board(find_board("qemu-virt-tiny"))
    flashed = board.flash(kbuild_artifact)
    assert flashed["build_id"] == kbuild_artifact.build_id
    with board.session(label="tiny") as session:
        assert session.boot_mode == "snapshot"
        assert session.run("uname -r").text.strip() == kbuild_artifact.manifest["kernel_release"]
        # virtio-blk and ext4 are built in: no module was needed to get here.
        assert "ext4" in session.run("cat /proc/filesystems").text
        # no RTC in this kernel: a ready snapshot saved with its clock far off...
        session.run("date -s @1000000000")
        session.save_ready_snapshot()
    with board.session(label="tiny") as session:
        assert session.boot_mode == "snapshot"
        # ...is restored with the host's time
        assert abs(int(session.run("date +%s").text) - time.time()) < 10
        session.save_ready_snapshot()

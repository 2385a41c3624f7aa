"""A board's health check: boot the board's own known-good kernel (its default recipe, not what
the last job flashed, and without flashing it) to the agent, run the smoke job's checks, and on a
QEMU board mount, write and e2fsck a disk. Any failure is the board's, not a test's."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sisctl.board.board import Board
from sisctl.board.qemu import Disk
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.errors import SisctlError, UsageError
from sisctl.image.ext4 import e2fsck, make_ext4
from sisctl.jobs.checks import board_checks, check_disk, expect

HEALTH_DISK = "health"
HEALTH_DISK_BYTES = 32 << 20


def check_board(board: str) -> tuple[bool, str]:
    """(passed, why not) for the board named or at the path `board`; the caller holds it (the fleet
    runs this under its hold)."""
    try:
        spec = find_board(board)
        known_good = build(find_recipe(spec.recipe), progress=lambda _: None)     # cached after the first
        modules = [m.name for m in known_good.modules.load_order(spec.boot.modules)]
        with tempfile.TemporaryDirectory(prefix="sisctl-health-") as scratch:
            disks = []
            if spec.qemu:
                image = Path(scratch) / "health.img"
                make_ext4(image, HEALTH_DISK_BYTES)
                disks = [Disk(HEALTH_DISK, image)]
            with Board(spec).session(fast=False, label="health", disks=disks, artifact=known_good) as session:
                for _, check in board_checks(session, known_good.manifest.get("kernel_release"), modules):
                    check()
                if disks:
                    check_disk(session, HEALTH_DISK)
            if disks:
                fsck = e2fsck(disks[0].image)
                expect(fsck.clean, f"e2fsck after the guest's writes: {fsck.meaning}")
        return True, ""
    except UsageError:
        raise             # the board file or its kernel is wrong, not the board: its health stays as it was
    except SisctlError as err:
        return False, str(err).splitlines()[0][:200]

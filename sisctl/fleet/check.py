"""A board's health check: boot the board's own known-good kernel (its default recipe, not what
the last job flashed, and without flashing it) to the agent, the smoke checks, and on a QEMU
board a disk mounted, written and checked with e2fsck. Any failure is the board's, not a test's."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sisctl.errors import SisctlError

HEALTH_DISK = "health"


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise SisctlError(problem)


def check_board(name: str) -> tuple[bool, str]:
    """(passed, why not) for the board `name`."""
    from sisctl.board.board import Board
    from sisctl.board.qemu import Disk
    from sisctl.board.spec import find_board
    from sisctl.build.builder import build
    from sisctl.build.recipe import find_recipe
    from sisctl.campaign.ext4crash.disk import e2fsck, make_base_image
    from sisctl.campaign.ext4crash.guestfs import FIND_DISK
    try:
        spec = find_board(name)
        board = Board(spec)
        known_good = build(find_recipe(spec.recipe), progress=lambda _: None)     # cached after the first
        release = known_good.manifest.get("kernel_release")
        with tempfile.TemporaryDirectory(prefix="sisctl-health-") as scratch:
            disks = []
            if spec.qemu:
                image = Path(scratch) / "health.img"
                make_base_image(image)
                disks = [Disk(HEALTH_DISK, image)]
            with board.session(fast=False, label="health", disks=disks, artifact=known_good) as session:
                _expect(session.run("uname -m").text.strip() == "aarch64", "uname -m is not aarch64")
                got = session.run("uname -r").text.strip()
                _expect(not release or got == release, f"uname -r says {got!r}, flashed is {release!r}")
                _expect(session.run("exit 3").code == 3, "the agent lost an exit status")
                if disks:
                    mounted = session.run(f"set -e\n{FIND_DISK}dev=$(disk {HEALTH_DISK})\nmkdir -p /mnt/h\n"
                                          "mount -t ext4 $dev /mnt/h\necho ok > /mnt/h/probe\nsync\n"
                                          "cat /mnt/h/probe\numount /mnt/h\n", timeout_s=60)
                    _expect(mounted.ok and mounted.text.strip() == "ok",
                            f"disk mount/write failed: {mounted.text.strip()[-200:]}")
            if disks:
                fsck = e2fsck(disks[0].image)
                _expect(fsck.clean, f"e2fsck after the guest's writes: {fsck.meaning}")
        return True, ""
    except SisctlError as err:
        return False, str(err).splitlines()[0][:200]

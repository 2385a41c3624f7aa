"""A board's health check: boot the board's own known-good kernel (its default recipe, not what
the last job flashed, and without flashing it) to the agent, the smoke checks, and on a QEMU
board a disk mounted, written and checked with e2fsck. Any failure is the board's, not a test's."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

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
    from sisctl.board.qemu import FIND_DISK
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


def checked(name: str, host: str, trigger: str,
            check: Callable[[str], tuple[bool, str]] = check_board) -> tuple[bool, str]:
    """Run the board's check and record it as a fleet_health point; `trigger` says why it ran
    (manual, unknown, due)."""
    started = time.monotonic()
    passed, why = check(name)
    record_health(name, host, "good" if passed else "bad", trigger, time.monotonic() - started)
    return passed, why


def record_health(name: str, host: str, health: str, trigger: str, elapsed_s: float = 0.0) -> None:
    """One fleet_health point through the lab's telemetry sink (spooled if the database is away)."""
    from sisctl.telemetry.lab import send_points
    from sisctl.telemetry.points import make_point
    send_points([make_point("fleet_health", {"board": name, "host": host or "-", "health": health, "check": trigger},
                            {"good": int(health == "good"), "elapsed_s": round(float(elapsed_s), 3)}, time.time_ns())])

"""The fuzz kernel's command line (executor.BOOT_APPEND) turns a hang into a titled report that panics:
a write to a frozen ext4 blocks in D state; the hung-task detector must report it, name the task's
guilty frame, and panic, well before the executor gives up on the input."""
from __future__ import annotations

import shutil
import time

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import KernelCrash
from sisctl.board.qemu import Disk
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.fuzz.executor import BOOT_APPEND
from sisctl.campaign.fuzz.seeds import load_seeds
from sisctl.campaign.fuzz.triage import triage

pytestmark = pytest.mark.kbuild   # the planted kernel carries the fuzz debug config (lockup detectors)

SETTINGS = {"hung_task_timeout_secs": "10", "hung_task_panic": "1", "softlockup_panic": "1", "watchdog_thresh": "5"}


@pytest.fixture(scope="module")
def fuzz_kernel_board(lab_dirs) -> Board:
    board = Board(find_board("qemu-virt-planted"))
    board.flash(build(find_recipe("linux-kbuild-planted")), progress=lambda _: None)
    return board


def test_a_hung_task_is_reported_titled_and_panics_within_the_exec_timeout(fuzz_kernel_board, tmp_path):
    disk = tmp_path / "frozen.img"
    shutil.copyfile(load_seeds()["csum-journal"].image, disk)
    with fuzz_kernel_board.session(fast=False, append=BOOT_APPEND, disks=[Disk("frozen", disk)],
                                   label="hung-task") as session:
        names = " ".join(f"/proc/sys/kernel/{name}" for name in SETTINGS)
        values = session.run(f"cat {names}", timeout_s=10).text.split()
        assert dict(zip(SETTINGS, values)) == SETTINGS
        frozen = session.run("for b in /sys/block/vd*; do [ \"$(cat $b/serial)\" = frozen ] && d=/dev/${b##*/}; "
                             "done; mkdir -p /mnt/frozen && mount -t ext4 $d /mnt/frozen && "
                             "fsfreeze --freeze /mnt/frozen", timeout_s=20)
        assert frozen.ok, frozen.stderr
        frozen_at = time.monotonic()
        with pytest.raises(KernelCrash) as caught:
            session.run("echo x > /mnt/frozen/a", timeout_s=60)
        seconds = time.monotonic() - frozen_at
    found = triage(caught.value.report)
    assert found.kind == "hung task" and found.usable_stack, found
    assert found.title.startswith("hung task in ") and "schedule" not in found.title, found.title
    log = (session.run_dir / "console.log").read_text(errors="replace")
    assert "Kernel panic - not syncing: hung_task: blocked tasks" in log
    assert seconds < 25, f"the report came {seconds:.0f} s after the freeze"
    print(f"{found.title}: reported {seconds:.1f} s after the write blocked")

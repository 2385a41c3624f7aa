"""Reproducing findings in the guest of the fuzz kernel (the planted-bug kbuild kernel, which carries the
fuzz debug config):
- the C reproducer for real: repro.c compiled static for aarch64, run after a cold boot, its console
  triaged. It must give the finding's title when the input meets the planted bug, and nothing when
  the op that meets it is replaced (so the check can fail);
- the fuzz command line (executor.BOOT_APPEND) turns a hang into a titled report that panics: a write
  to a frozen ext4 blocks in D state; the hung-task detector must report it, name the task's guilty
  frame, and panic, well before the executor gives up on the input."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import KernelCrash
from sisctl.board.qemu import Disk
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.fuzz.crashes import CrashStore, Finding
from sisctl.campaign.fuzz.executor import BOOT_APPEND
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.planted import NODUMP, TITLE
from sisctl.campaign.fuzz.reproducer import Reproducer
from sisctl.campaign.fuzz.seeds import load_seeds
from sisctl.campaign.fuzz.triage import triage

pytestmark = pytest.mark.kbuild   # the planted kernel: compiled on first use (minutes), cached after

SETTINGS = {"hung_task_timeout_secs": "10", "hung_task_panic": "1", "softlockup_panic": "1", "watchdog_thresh": "5"}


@pytest.fixture(scope="module")
def planted_board(lab_dirs) -> Board:
    board = Board(find_board("qemu-virt-planted"))
    board.flash(build(find_recipe("linux-kbuild-planted")), progress=lambda _: None)
    return board


def crash_folder(tmp_path, seeds, ops: list[list]):
    """A finding folder as the campaign writes it, for an input that marks file `a` NODUMP."""
    seed = seeds["csum-journal"]
    node = next(n for n in seed.inodes if n.path == "a")
    fuzz_input = FuzzInput("ext4-image", seed.name, [["inode", node.ino, "flags", node.flags | NODUMP]], ops)
    tmp_path.mkdir()
    image = tmp_path / "input.img"
    fuzz_input.build_image(seeds, image)
    store = CrashStore(tmp_path / "campaign" / "crashes", seeds)
    finding = Finding(TITLE, "WARNING", True, "WARNING: CPU: 0 PID: 1 at fs/ext4/inode.c:1 ext4_setattr+0x1/0x2")
    store.add(finding, fuzz_input, image, "", 0)
    return store.folder(finding.title_id)


def test_c_program_gives_the_planted_warning_on_a_cold_boot_and_nothing_without_the_truncate(planted_board,
                                                                                               tmp_path):
    seeds = load_seeds()
    hit = crash_folder(tmp_path / "hit", seeds, [["stat", "a"], ["truncate", "a", 5]])
    result = Reproducer(planted_board, seeds, hit).c_program(hit, runs=1)
    assert result["c_program_confirmed"] is True, result
    assert result["c_program"]["titles"] == {TITLE: 1} and result["c_program"]["boot"] == "cold"

    miss = crash_folder(tmp_path / "miss", seeds, [["stat", "a"], ["write", "a", 0, 5, 1]])
    result = Reproducer(planted_board, seeds, miss).c_program(miss, runs=1)
    assert result["c_program_confirmed"] is False, result
    assert result["c_program"]["titles"] == {"(nothing: exit 0)": 1}
    assert json.loads((miss / "crash.json").read_text())["debugfs_exact"] is True


def test_a_hung_task_is_reported_titled_and_panics_within_the_exec_timeout(planted_board, tmp_path):
    disk = tmp_path / "frozen.img"
    shutil.copyfile(load_seeds()["csum-journal"].image, disk)
    with planted_board.session(fast=False, append=BOOT_APPEND, disks=[Disk("frozen", disk)],
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

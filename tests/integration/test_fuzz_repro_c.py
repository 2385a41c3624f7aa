"""The C reproducer for real: repro.c compiled static for aarch64, run in the guest of the planted-bug
kernel after a cold boot, its console triaged. It must give the finding's title when the input meets
the planted bug, and nothing when the op that meets it is replaced (so the check can fail)."""
from __future__ import annotations

import json

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.campaign.fuzz.crashes import CrashStore, Finding
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.planted import NODUMP, TITLE
from sisctl.campaign.fuzz.repro import Reproducer
from sisctl.campaign.fuzz.seeds import load_seeds

pytestmark = pytest.mark.kbuild   # the planted kernel: compiled on first use (minutes), cached after


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

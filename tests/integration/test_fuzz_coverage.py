"""Fuzz coverage on real kernels: KCOV on the planted kbuild kernel gives each input its own kernel
PCs, mapped to fs/ext4, fs/jbd2 and fs/namei.c through vmlinux; a campaign grows coverage over the
seeds alone and keeps inputs that add PCs; fuzz.cmin shrinks that corpus without losing a PC. The
Debian kernel (no KCOV) runs in the "no coverage" mode and says so.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.firstuse import ensure_flashed
from sisctl.board.spec import find_board
from sisctl.campaign.core import runner
from sisctl.campaign.fuzz import coverage as kcov
from sisctl.campaign.fuzz.campaign import Corpus
from sisctl.campaign.fuzz.executor import Executor
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.seeds import load_seeds
from sisctl.campaign.fuzz.symbols import SymbolMap

pytestmark = pytest.mark.kbuild   # the planted kernel (with KCOV) is compiled on first run

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kcov_board(lab_dirs) -> Board:
    board = Board(find_board("qemu-virt-planted"))
    ensure_flashed(board, progress=lambda _: None)
    return board


def test_each_input_gets_its_own_kernel_pcs_mapped_to_subsystems(kcov_board, tmp_path):
    seeds = load_seeds()
    symbols = SymbolMap(kcov_board.flashed().load_artifact().vmlinux)
    setattr_fn = symbols.names.index("ext4_setattr")
    assert symbols.subsystems[setattr_fn] == "fs/ext4"
    assert symbols.subsystems[symbols.names.index("jbd2_journal_start")] == "fs/jbd2"
    assert symbols.subsystems[symbols.names.index("path_lookupat")] == "fs/namei.c"
    assert symbols.subsystems[symbols.names.index("do_sys_open")] is None

    look = FuzzInput("vfs-ops", "csum-journal", [], [["stat", "a"]])
    shrink = FuzzInput("vfs-ops", "csum-journal", [], [["truncate", "a", 1]])
    images = []
    for n, fuzz_input in enumerate((look, shrink)):
        images.append(tmp_path / f"in{n}.img")
        fuzz_input.build_image(seeds, images[-1])

    def reaches_setattr(result) -> bool:
        return any(symbols.function(pc) == setattr_fn for pc in result.pcs)

    with Executor(kcov_board, tmp_path / "work", slots=2, coverage=True) as executor:
        first = executor.run_batch([(images[0], look.ops), (images[1], shrink.ops)])
        swapped = executor.run_batch([(images[1], shrink.ops), (images[0], look.ops)])
    for result in first + swapped:
        assert result.mount == 0 and result.kcov > 1000 and len(result.pcs) == result.kcov
        assert not result.kcov_truncated and result.phases and all(p >= 0 for p in result.phases)
    # the truncate reaches ext4_setattr, the stat does not, whichever slot each ran in
    assert [reaches_setattr(r) for r in first] == [False, True]
    assert [reaches_setattr(r) for r in swapped] == [True, False]
    by_subsystem = symbols.by_subsystem(first[1].pcs)
    assert all(by_subsystem[name]["pcs"] > 0 for name in ("fs/ext4", "fs/jbd2", "fs/namei.c"))


def test_campaign_grows_coverage_and_cmin_keeps_every_pc(kcov_board, tmp_path):
    corpus = tmp_path / "corpus"
    summary = runner.start("fuzz", kcov_board.name, {"target": "vfs-ops", "duration": "25s", "corpus": str(corpus)},
                           3, progress=lambda _: None)
    # This kernel's real bugs may be found in 25 s (a WARNING in ext4_da_update_reserve_space was):
    # a finding is the fuzzer working, and this test is about coverage, so only an error fails it
    assert summary["status"] == "passed" or (summary["status"] == "failed" and summary["unique_crashes"]), summary
    assert summary["coverage"].startswith("KCOV: ")
    growth = summary["coverage_growth"]
    for name in ("total", "fs/ext4", "fs/jbd2", "fs/namei.c"):
        assert 0 < growth["seeds"][name]["pcs"] <= growth["campaign"][name]["pcs"], name
    assert growth["campaign"]["total"]["pcs"] > growth["seeds"]["total"]["pcs"]
    assert "Kernel coverage (KCOV)" in (Path(summary["report"]) / "index.html").read_text()
    kernel = kcov_board.flashed().build_id
    kept = Corpus(corpus, ["vfs-ops"], kernel)
    entries = kept.entries["vfs-ops"]
    assert summary["corpus"] == len(entries) >= 2
    kept.coverage_file(entries[0]).unlink()   # cmin must measure this one on the board

    done = subprocess.run([sys.executable, "-m", "invoke", "fuzz.cmin", "--target", "vfs-ops", "--board",
                           kcov_board.name, "--corpus", str(corpus), "--json"],
                          capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["before"] == len(entries) and result["measured"] == 1 and 1 <= result["after"] <= len(entries)
    after = Corpus(corpus, ["vfs-ops"], kernel)
    left = after.entries["vfs-ops"]
    assert len(left) == result["after"]
    assert len(list((corpus / "removed" / "vfs-ops").glob("*.json"))) == len(entries) - len(left)
    # every PC of the whole corpus as cmin measured it (the run again may reach a few other PCs than
    # the campaign's run did: slow paths taken or not) is reached by what is kept
    removed = [kcov.load(path) for path in (corpus / "removed" / "vfs-ops").glob("*.cov")]
    kept_pcs = set().union(*(kcov.load(after.coverage_file(e)) for e in left))
    assert kept_pcs == kept_pcs.union(*removed) and result["pcs"] == len(kept_pcs)


def test_debian_kernel_fuzzes_without_coverage_and_says_so(board, tmp_path):
    summary = runner.start("fuzz", board.name, {"target": "vfs-paths", "duration": "8s",
                                                 "corpus": str(tmp_path / "corpus")}, 1, progress=lambda _: None)
    assert summary["execs"] > 0
    assert summary["coverage"].startswith("none: this kernel has no KCOV") and summary["coverage_growth"] is None
    assert summary["corpus"] > 0   # kept by outcome signature instead

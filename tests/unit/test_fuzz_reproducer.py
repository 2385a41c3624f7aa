"""Delta debugging of fuzz inputs and the planted-bug predicate (no VM)."""
import random

from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.ops import O_TRUNC
from sisctl.campaign.fuzz.planted import meets_planted_bug
from sisctl.campaign.fuzz.reproducer import ddmin


def test_ddmin_finds_the_pair_that_matters_with_few_runs():
    runs = []

    def fails(items):
        runs.append(items)
        return 3 in items and 17 in items

    assert ddmin(list(range(40)), fails) == [3, 17]
    assert len(runs) < 60


def test_ddmin_keeps_everything_when_everything_is_needed_and_empties_when_nothing_is():
    items = list(range(6))
    assert ddmin(items, lambda kept: len(kept) == 6) == items
    assert ddmin(items, lambda kept: True) == []
    assert ddmin([], lambda kept: True) == []


def test_ddmin_on_a_flaky_check_returns_a_sublist_that_failed_once():
    rng = random.Random(4)
    seen = []

    def flaky(items):
        result = 5 in items and rng.random() < 0.7
        if result:
            seen.append(list(items))
        return result

    smallest = ddmin(list(range(12)), flaky)
    assert smallest in seen and 5 in smallest




def test_planted_predicate_needs_the_flag_and_a_size_change_on_that_file(tmp_path):
    from sisctl.campaign.fuzz.seeds import InodeInfo, Seed, SeedSpec
    seed = Seed(SeedSpec("s", 64, ""), tmp_path / "s.img", 1024, 1,
                [InodeInfo(12, "file", "a", flags=0x80000), InodeInfo(12, "file", "hard", flags=0x80000),
                 InodeInfo(14, "dir", "d1", flags=0x80000)], [])
    seeds = {"s": seed}
    flag = ["inode", 12, "flags", 0x80040]
    assert meets_planted_bug(FuzzInput("ext4-image", "s", [flag], [["truncate", "hard", 0]]), seeds)
    assert meets_planted_bug(FuzzInput("ext4-image", "s", [flag], [["open", "a", O_TRUNC | 1]]), seeds)
    assert not meets_planted_bug(FuzzInput("ext4-image", "s", [flag], [["write", "a", 0, 1, 1]]), seeds)
    assert not meets_planted_bug(FuzzInput("ext4-image", "s", [["inode", 14, "flags", 0x80040]],
                                           [["truncate", "d1", 0]]), seeds)
    cleared = ["inode", 12, "flags", 0x80000]
    assert not meets_planted_bug(FuzzInput("ext4-image", "s", [flag, cleared], [["truncate", "a", 0]]), seeds)


def test_planted_predicate_drops_inputs_whose_raw_bytes_hit_that_inode_or_the_superblock(tmp_path):
    from sisctl.campaign.fuzz.seeds import InodeInfo, Seed, SeedSpec
    seed = Seed(SeedSpec("s", 64, ""), tmp_path / "s.img", 1024, 1,
                [InodeInfo(12, "file", "a", flags=0x80000, offset=5120)], [])
    flag, op = ["inode", 12, "flags", 0x80040], [["truncate", "a", 0]]
    assert meets_planted_bug(FuzzInput("ext4-image", "s", [flag, ["raw", 9000, "ff"]], op), {"s": seed})
    assert not meets_planted_bug(FuzzInput("ext4-image", "s", [flag, ["raw", 5120 + 0x7C, "ffff"]], op), {"s": seed})
    assert not meets_planted_bug(FuzzInput("ext4-image", "s", [flag, ["raw", 1024 + 0x3FC, "ffffffff"]], op),
                                 {"s": seed})

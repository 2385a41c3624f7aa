"""Fuzz coverage feedback without a VM: the agent's coverage region on the disk, the corpus kept by
new PCs, corpus minimisation, subsystem attribution of vmlinux objects, the options that turn
feedback and checksum repair off, and the coverage lines of the summary."""
import random
import struct

import pytest

from sisctl.campaign.fuzz import coverage as kcov
from sisctl.campaign.fuzz.campaign import Corpus, input_key
from sisctl.campaign.fuzz.cmin import cover
from sisctl.campaign.fuzz.options import config_from_options
from sisctl.campaign.fuzz.executor import guest_command, parse_kcov
from sisctl.campaign.fuzz.inputs import FuzzInput, generate, seed_inputs
from sisctl.campaign.fuzz.seeds import load_seeds
from sisctl.campaign.fuzz.summary import coverage_summary, growth_rows, terminal_summary
from sisctl.campaign.fuzz.symbols import _runs
from sisctl.errors import UsageError

BASE = 0xFFFFFFC008010000


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return load_seeds(tmp_path_factory.mktemp("cache"))


def agent_region(pcs: list[int], truncated: int = 0) -> bytes:
    """The bytes fuzzops.c's kcov_finish writes, built independently of coverage.py."""
    base = min(pcs)
    return (b"SISKCOV1" + struct.pack("<IIQ", len(pcs), truncated, base) + bytes(8)
            + b"".join(struct.pack("<I", pc - base) for pc in sorted(pcs)))


def test_the_agents_coverage_region_is_read_and_a_cleared_one_is_not(tmp_path):
    disk = tmp_path / "disk0.img"
    disk.write_bytes(bytes(4 << 20))
    pcs = [BASE + 4 * k for k in (5, 1, 900, 70000)]
    with open(disk, "r+b") as f:
        f.seek(kcov.REGION_OFFSET)
        f.write(agent_region(pcs, truncated=1))
    assert kcov.read_region(disk) == (sorted(pcs), True)
    with open(disk, "r+b") as f:
        kcov.clear_region(f)
    assert kcov.read_region(disk) is None       # the previous input's PCs are never taken for this one's
    with open(disk, "r+b") as f:                # a count past the region is refused, not read as garbage
        f.seek(kcov.REGION_OFFSET)
        f.write(b"SISKCOV1" + struct.pack("<IIQ", 1 << 30, 0, BASE) + bytes(8))
    assert kcov.read_region(disk) is None


def test_pc_sets_round_trip_compactly(tmp_path):
    rng = random.Random(1)
    pcs = {BASE + rng.randrange(1 << 20) * 4 for _ in range(20000)}
    kcov.save(tmp_path / "c.bin", pcs)
    assert kcov.load(tmp_path / "c.bin") == pcs
    assert (tmp_path / "c.bin").stat().st_size < 8 * len(pcs) / 2
    assert kcov.load(tmp_path / "missing.bin") == set()


def test_the_agents_kcov_line_and_the_coverage_environment():
    assert parse_kcov("mount 0\no 0 0\numount 0\nkcov 4512\n") == 4512
    assert parse_kcov("mount 0\numount -\nkcov -2\n") == -2
    assert parse_kcov("mount 0\numount 0\n") is None
    assert f"SISCTL_KCOV_OFFSET={kcov.REGION_OFFSET} sisagent fuzz fuzz0" in guest_command(1, coverage=True)
    assert "SISCTL_KCOV_OFFSET" not in guest_command(1)


def test_coverage_set_counts_only_new_pcs():
    seen = kcov.CoverageSet([1, 2, 3])
    assert seen.add([2, 3, 4, 5]) == 2 and len(seen) == 5
    assert seen.add([1, 5]) == 0


def test_corpus_keeps_coverage_per_kernel(tmp_path):
    one = FuzzInput("vfs-ops", "tiny", [], [["creat", "a"]])
    corpus = Corpus(tmp_path, ["vfs-ops"], kernel="aa" * 20)
    assert corpus.offer(one, input_key(one), [10, 20])
    assert not corpus.offer(one, input_key(one), [30])          # the same input twice is kept once
    assert corpus.known_pcs() == {10, 20}
    assert Corpus(tmp_path, ["vfs-ops"], kernel="aa" * 20).known_pcs() == {10, 20}   # a later campaign
    assert Corpus(tmp_path, ["vfs-ops"], kernel="bb" * 20).known_pcs() == set()     # another kernel


def test_cmin_keeps_a_cover_of_every_pc_and_drops_redundant_inputs():
    entries = {"big": {1, 2, 3, 4}, "sub": {2, 3}, "other": {5}, "mixed": {4, 5}, "empty": set()}
    kept = cover(entries)
    assert set().union(*(entries[k] for k in kept)) == {1, 2, 3, 4, 5}
    assert len(kept) == 2 and kept[0] == "big" and "sub" not in kept and "empty" not in kept


def test_subsystems_are_the_runs_of_their_objects_in_link_order():
    files = ["open.c", "namei.c", "fcntl.c", "inode.c", "balloc.c", "bitmap.c", "block_validity.c", "dir.c",
             "namei.c", "super.c", "orphan.c", "transaction.c", "commit.c", "journal.c", "inode.c", "namei.c"]
    owner = _runs(files)
    assert owner[1] == "fs/namei.c" and owner[8] == "fs/ext4"
    assert [owner.get(i) for i in (3, 4, 10, 11, 13, 14)] == [None, "fs/ext4", "fs/ext4", "fs/jbd2", "fs/jbd2", None]
    assert owner[15] == "fs/namei.c"   # any other namei.c is not ext4's


def test_coverage_and_checksum_repair_options():
    assert config_from_options("b", 1, {}).coverage == "on"
    assert config_from_options("b", 1, {}).checksum_repair == 0.8
    config = config_from_options("b", 1, {"coverage": "off", "checksum_repair": "0"})
    assert config.coverage == "off" and config.checksum_repair == 0.0
    for bad in ({"coverage": "maybe"}, {"checksum_repair": "1.5"}, {"checksum_repair": "x"},
                {"checksum_repair": "nan"}):
        with pytest.raises(UsageError, match="--coverage|--checksum-repair"):
            config_from_options("b", 1, bad)


def test_checksum_repair_share_decides_repair(seeds):
    made = [generate(random.Random(k), "ext4-image", seeds, repair_share=share)
            for share in (0.0, 1.0) for k in range(30)]
    assert not any(m.repair for m in made[:30]) and all(m.repair for m in made[30:])


def test_seed_inputs_are_the_seeds_unmutated_and_fixed(seeds):
    made = seed_inputs(["ext4-image", "vfs-paths"], seeds)
    assert {m.seed for m in made} == set(seeds) and not any(m.mutations for m in made)
    assert [m.to_json() for m in made] == [m.to_json() for m in seed_inputs(["ext4-image", "vfs-paths"], seeds)]
    assert any(m.target == "vfs-paths" for m in made)


def test_summary_says_which_feedback_ran():
    batches = [{"type": "batch", "feedback": "kcov", "coverage": 120}]
    figures = {"feedback": "kcov", "truncated_execs": 0,
               "seeds": {"total": {"pcs": 100, "functions": 10}, "fs/ext4": {"pcs": 40, "functions": 4}},
               "campaign": {"total": {"pcs": 150, "functions": 12}, "fs/ext4": {"pcs": 70, "functions": 6}}}
    on = coverage_summary("on", batches, figures)
    assert on["coverage"] == "KCOV: 150 kernel PCs reached, 100 by the seeds alone (+50, 50% more)"
    assert growth_rows(on["coverage_growth"])[1] == ["fs/ext4", 40, 70, "+30, 75% more", 4, 6]
    assert "fs/ext4" in terminal_summary({**on, "unique_crashes": []})
    none = coverage_summary("on", [{"type": "batch", "feedback": "none"}], {"feedback": "none"})
    assert none["coverage"].startswith("none: this kernel has no KCOV") and none["coverage_growth"] is None
    assert coverage_summary("off", batches, None)["coverage"].startswith("off")
    assert coverage_summary("on", batches, None)["coverage"] == "KCOV: 120 kernel PCs reached"   # killed: records only


def test_shards_take_turns_on_one_stream_of_inputs(tmp_path, seeds):
    from types import SimpleNamespace
    from sisctl.campaign.core.kind import Context
    from sisctl.campaign.fuzz.campaign import FuzzCampaign, next_input
    artifact = SimpleNamespace(vmlinux=None)
    board = SimpleNamespace(name="b", flashed=lambda: SimpleNamespace(build_id="ab" * 20, load_artifact=lambda: artifact))
    config = config_from_options("b", 7, {"target": "ext4-image", "corpus": str(tmp_path / "corpus")})

    def campaign(shard: tuple[int, int]) -> FuzzCampaign:
        return FuzzCampaign(Context(board, tmp_path, None, print, lambda points: None, {}, shard=shard,
                                    scratch=tmp_path / f"s{shard[0]}"), config)
    one, first, second = campaign((0, 1)), campaign((0, 2)), campaign((1, 2))
    assert [one.global_index(i) for i in range(4)] == [0, 1, 2, 3]     # one board: as before sharding
    assert [first.global_index(i) for i in range(3)] == [0, 2, 4]
    assert [second.global_index(i) for i in range(3)] == [1, 3, 5]
    want = next_input(7, 5, ["ext4-image"], first.seeds, None)
    assert want is not None and second.next_input(2).to_json() == want.to_json()
    assert first.reached is second.reached      # the shards of one campaign grow one coverage set

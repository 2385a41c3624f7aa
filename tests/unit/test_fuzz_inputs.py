"""Fuzz inputs: seeds, field-aware mutations with and without checksum repair, op encoding, path
cases, options, and the verdict over records (real mkfs.ext4, debugfs and e2fsck; no QEMU)."""
import errno
import random
import subprocess

import pytest

from sisctl.campaign.fuzz import mutate
from sisctl.campaign.fuzz.options import config_from_options
from sisctl.duration import parse_duration
from sisctl.campaign.fuzz.inputs import FuzzInput, evolve, generate
from sisctl.campaign.fuzz.ops import decode_arg, encode, encode_arg
from sisctl.campaign.fuzz.pathcases import CASES, path_cases, wrong_errnos
from sisctl.campaign.fuzz.reproducer_files import c_program
from sisctl.campaign.fuzz.seeds import MATRIX, load_seeds
from sisctl.campaign.fuzz.summary import cases, summarize
from sisctl.errors import UsageError


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return load_seeds(tmp_path_factory.mktemp("cache"))


def fsck(image) -> int:
    return subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True).returncode


def debugfs_stat(image, what: str) -> str:
    return subprocess.run(["debugfs", "-R", what, str(image)], capture_output=True, text=True).stdout


def test_every_seed_of_the_matrix_is_clean_and_populated(seeds):
    assert set(seeds) == {s.name for s in MATRIX}
    for seed in seeds.values():
        assert fsck(seed.image) == 0, seed.name
        paths = {i.path for i in seed.inodes}
        assert {"a", "hard", "sym", "d1/d2/g"} <= paths
        assert "user.one" in debugfs_stat(seed.image, "ea_list /a")
    assert seeds["csum-journal"].journal_blocks and not seeds["csum-4k"].journal_blocks
    assert seeds["csum-64bit-tinygroups"].groups > 1


def test_seeds_are_cached(seeds, tmp_path_factory):
    first = seeds["tiny"].image
    again = load_seeds(first.parent.parent.parent)
    assert again["tiny"].image == first


def test_repaired_inode_mutation_keeps_checksums_valid_and_stale_one_does_not(seeds, tmp_path):
    seed = seeds["csum-journal"]
    a = next(i for i in seed.inodes if i.path == "a")
    mutation = ["inode", a.ino, "flags", a.flags | 0x40]
    repaired, stale = tmp_path / "r.img", tmp_path / "s.img"
    mutate.apply(seed, [mutation], True, repaired)
    assert "Flags: 0x80040" in debugfs_stat(repaired, "stat <12>")
    assert "checksum" not in subprocess.run(["e2fsck", "-fn", str(repaired)], capture_output=True,
                                            text=True).stdout.lower()
    broken = mutate.stale_checksum(random.Random(1), seed, [mutation])
    mutate.apply(seed, [mutation, broken], False, stale)
    out = subprocess.run(["e2fsck", "-fn", str(stale)], capture_output=True, text=True).stdout
    assert "checksum" in out.lower()


def test_group_descriptor_checksum_is_repaired_only_when_asked(seeds, tmp_path):
    seed = seeds["csum-4k"]
    mutation = ["bg", 0, "free_blocks_count", 7]
    for repair in (True, False):
        image = tmp_path / f"{repair}.img"
        mutate.apply(seed, [mutation], repair, image)
        out = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True).stdout
        assert ("descriptor checksum" in out.lower() or "checksum is" in out.lower()) != repair


def test_raw_mutation_writes_the_bytes_given(seeds, tmp_path):
    image = tmp_path / "raw.img"
    mutate.apply(seeds["tiny"], [["raw", 5000, "deadbeef"]], True, image)
    assert image.read_bytes()[5000:5004] == bytes.fromhex("deadbeef")


def test_random_mutations_are_field_aware_and_applicable(seeds, tmp_path):
    rng = random.Random(7)
    kinds = set()
    for n in range(60):
        seed = seeds[rng.choice(sorted(seeds))]
        mutations = [mutate.random_mutation(rng, seed) for _ in range(3)]
        kinds |= {m[0] for m in mutations}
        mutate.apply(seed, mutations, True, tmp_path / "m.img")
        assert (tmp_path / "m.img").stat().st_size == seed.image.stat().st_size
    assert {"inode", "sb", "bg", "xattr", "raw"} <= kinds


def test_inputs_round_trip_and_aim_ops_at_mutated_inodes(seeds):
    rng = random.Random(3)
    images = [generate(rng, "ext4-image", seeds) for _ in range(40)]
    aimed = 0
    for fuzz_input in images:
        assert FuzzInput.from_dict(__import__("json").loads(fuzz_input.to_json())) == fuzz_input
        touched = {n.path for n in mutate.mutated_inodes(seeds[fuzz_input.seed], fuzz_input.mutations)}
        aimed += any(len(op) > 1 and op[1] in touched for op in fuzz_input.ops)
    assert aimed >= 10
    assert sum(not i.repair for i in images) >= 2 and sum(i.repair for i in images) >= 20
    child = evolve(rng, images[0], seeds)
    assert child.seed == images[0].seed and (child.mutations, child.ops) != (images[0].mutations, images[0].ops)


def test_encoding_round_trips_spaces_newlines_and_long_runs():
    for value in ("a b", "new\nline", "p/" + "./" * 2046 + "f", "", "100%", "x" * 300, "ü"):
        encoded = encode_arg(value)
        assert " " not in encoded and "\n" not in encoded
        assert decode_arg(encoded) == value
    assert len(encode_arg("p/" + "./" * 2046 + "f")) < 40
    assert encode([["rename", "a", "b", 2]]) == "rename a b 2\n"


def test_path_cases_expect_linux_errnos_and_flag_wrong_ones():
    ops, expect = path_cases(random.Random(1), len(CASES))
    assert len(ops) == len(expect)
    long_ok = next(i for i, op in enumerate(ops) if op[0] == "stat" and len(op[1]) == 4095)
    too_long = next(i for i, op in enumerate(ops) if op[0] == "stat" and len(op[1]) == 4097)
    assert expect[long_ok] == 0 and expect[too_long] == errno.ENAMETOOLONG
    got = list(expect)
    assert wrong_errnos(ops, expect, got) == []
    got[too_long] = errno.ENOENT
    wrong = wrong_errnos(ops, expect, got)
    assert len(wrong) == 1 and wrong[0]["expected"] == "ENAMETOOLONG" and wrong[0]["got"] == "ENOENT"


def test_with_parts_keeps_the_expectations_of_the_ops_kept():
    ops, expect = path_cases(random.Random(2), 5)
    fuzz_input = FuzzInput("vfs-paths", "csum-journal", [], ops, expect)
    smaller = fuzz_input.with_parts([], ops[-2:])
    assert smaller.expect == expect[-2:]


def test_options_are_validated():
    config = config_from_options("qemu-virt-0", 3, {"target": "vfs-paths", "duration": "90s"})
    assert config.duration_s == 90 and config.targets == ["vfs-paths"]
    assert parse_duration("10m", "--duration") == 600 and parse_duration(45, "--duration") == 45
    for bad in ({"duration": "10x"}, {"duration": "0s"}, {"target": "nfs"}, {"scenario": "x"}):
        with pytest.raises(UsageError):
            config_from_options("qemu-virt-0", 1, bad)


def test_reproducer_program_compiles_for_aarch64(tmp_path, seeds):
    fuzz_input = generate(random.Random(5), "vfs-ops", seeds)
    fuzz_input.ops += path_cases(random.Random(5), 10)[0]
    source = tmp_path / "repro.c"
    source.write_text(c_program(fuzz_input))
    done = subprocess.run(["aarch64-linux-gnu-gcc", "-static", "-O2", "-Wall", "-Werror", "-o",
                           str(tmp_path / "repro"), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_input_goes_on_its_disk_with_its_ops_after_the_image(tmp_path):
    from sisctl.campaign.fuzz.executor import OPS_HEADER, OPS_OFFSET, write_input
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(4 << 20))
    with open(disk, "r+b") as f:
        write_input(f, b"\xaa" * 3000, [["creat", "a"]])
        write_input(f, b"\xbb" * 1000, [["stat", "b b"], ["sync"]], stale=3000)   # a smaller image next
    data = disk.read_bytes()
    assert data[:1000] == b"\xbb" * 1000 and data[1000:3000] == bytes(2000)
    magic, length = OPS_HEADER.unpack_from(data, OPS_OFFSET)
    text = data[OPS_OFFSET + OPS_HEADER.size:OPS_OFFSET + OPS_HEADER.size + length].decode()
    assert magic == b"SISOPS01" and text == "stat b%20b\nsync\n"
    with open(disk, "r+b") as f, pytest.raises(ValueError, match="overlaps the ops"):
        write_input(f, bytes(OPS_OFFSET + 1), [])


def test_verdict_over_records():
    batch = {"type": "batch", "execs": 10, "seconds": 4.0, "mounted": 8, "fs_errors": 3, "restore_ms": 150.0,
             "corpus": 5}
    crash = {"type": "crash", "title": "WARNING in ext4_setattr", "title_id": "warning-in-ext4-setattr-abc",
             "kind": "WARNING", "usable_stack": True, "exec": 4}
    summary = summarize([batch, crash, dict(crash, exec=9)])
    assert summary["execs_per_s"] == 2.5 and summary["mounted_share"] == 0.8
    assert summary["unique_crashes"][0]["count"] == 2
    assert [c.passed for c in cases(summary)] == [False]
    clean = summarize([batch])
    assert [c.passed for c in cases(clean)] == [True]
    assert cases(summarize([])) == []   # an empty run has no verdict: the core reports it as an error


def test_a_minimised_finding_says_so_in_its_case_and_one_that_did_not_come_back_too():
    batch = {"type": "batch", "execs": 10, "seconds": 4.0, "mounted": 8, "fs_errors": 0, "corpus": 5}
    crash = {"type": "crash", "title": "WARNING in ext4_setattr", "title_id": "w", "kind": "WARNING",
             "usable_stack": True, "exec": 4}
    minimized = {"type": "minimized", "title_id": "w", "mutations": [5, 1], "ops": [12, 1],
                 "confirmed_cold_boot": True, "c_program_confirmed": True}
    summary = summarize([batch, crash, minimized])
    assert summary["unique_crashes"][0]["minimized"]["ops"] == [12, 1]
    assert "minimised to 1 mutation(s) and 1 op(s), confirmed on a cold boot" in cases(summary)[0].detail
    flaky = summarize([batch, crash, {"type": "minimized", "title_id": "w", "error": "did not give it again"}])
    assert "not minimised: its input did not give the title again" in cases(flaky)[0].detail
    assert "minimised" not in cases(summarize([batch, crash]))[0].detail


def test_each_oracle_catches_what_it_exists_to_catch(seeds, tmp_path):
    from sisctl.campaign.fuzz.oracles import judge
    from sisctl.campaign.fuzz.executor import ExecResult
    from sisctl.campaign.fuzz.triage import triage
    seed = seeds["csum-journal"]
    clean = FuzzInput("vfs-ops", seed.name, [], [["creat", "x"]])
    disk = tmp_path / "disk.img"
    disk.write_bytes(seed.image.read_bytes() + bytes(4096))
    assert judge(clean, ExecResult(mount=0, errnos=[0], umount=0, after=disk.read_bytes()), seeds, tmp_path) == []
    # e2fsck: the clean seed came back damaged after a clean unmount
    damaged = bytearray(disk.read_bytes())
    a = next(i for i in seed.inodes if i.path == "a")
    damaged[a.offset + 0x1A:a.offset + 0x1C] = (9).to_bytes(2, "little")   # i_links_count
    disk.write_bytes(bytes(damaged))
    found = judge(clean, ExecResult(mount=0, errnos=[0], umount=0, after=disk.read_bytes()), seeds, tmp_path)
    assert [f.kind for f in found] == ["fsck"] and found[0].title.startswith("e2fsck -fn fails")
    # ... but a mutated image is not expected to be clean
    mutated = FuzzInput("ext4-image", seed.name, [["sb", "state", 0]], [["creat", "x"]])
    assert judge(mutated, ExecResult(mount=0, errnos=[0], umount=0, after=disk.read_bytes()), seeds, tmp_path) == []
    # wrong errno on a path case
    paths = FuzzInput("vfs-paths", seed.name, [], [["stat", "p/f/"]], [errno.ENOTDIR])
    assert judge(paths, ExecResult(mount=0, errnos=[errno.ENOTDIR]), seeds, tmp_path) == []
    wrong = judge(paths, ExecResult(mount=0, errnos=[0]), seeds, tmp_path)
    assert [f.title for f in wrong] == ["wrong errno: stat gave success, expected ENOTDIR"]
    # hang and kernel report
    assert judge(mutated, ExecResult(hang="no answer"), seeds, tmp_path)[0].kind == "hang"
    stuck = FuzzInput("ext4-image", seed.name, [["sb", "state", 0]], [["creat", "x"], ["open", "x", 0]])
    assert judge(stuck, ExecResult(mount=0, errnos=[0, None], hang="timeout"), seeds,
                 tmp_path)[0].title == "hang: open did not return"
    crash = triage("[ 1.0] kernel BUG at fs/ext4/inode.c:1!\n[ 1.1] pc : ext4_iget+0x1/0x2\n")
    assert judge(mutated, ExecResult(crash=crash), seeds, tmp_path)[0].title == "kernel BUG in ext4_iget"


def test_page_sections_show_every_finding(tmp_path):
    from sisctl.campaign.fuzz.report import page_sections
    from sisctl.report.page import Group, Page, render
    batch = {"type": "batch", "execs": 10, "seconds": 4.0, "mounted": 8, "fs_errors": 3, "restore_ms": 150.0,
             "corpus": 5, "ended_at": 1000.0}
    crash = {"type": "crash", "title": "WARNING in ext4_setattr", "title_id": "warning-in-ext4-setattr-abc",
             "kind": "WARNING", "usable_stack": True, "exec": 4, "reproduce": "invoke fuzz.repro ..."}
    summary = dict(summarize([batch, dict(batch, ended_at=1004.0), crash]), report=str(tmp_path),
                   target="ext4-image", coverage="none")
    sections = page_sections(summary, [batch, dict(batch, ended_at=1004.0), crash])
    assert [s.anchor for s in sections if isinstance(s, Group)] == ["warning-in-ext4-setattr-abc"]
    html = render(Page("fuzz", "failed", sections=sections))
    assert "WARNING in ext4_setattr" in html and "fuzz.minimize" in html


def test_batched_output_and_console_are_split_by_slot():
    from sisctl.campaign.fuzz.executor import guest_command, split_by_slot
    assert guest_command(2) == "SISCTL_FUZZ_OPS=2097152 sisagent fuzz fuzz0,fuzz1 /mnt errors=continue"
    out = "== 0\nmount 0\no 0 0\numount 0\n== 1\nmount 22\no 0 2\numount -\n"
    assert split_by_slot(out, r"^== (\d+)$", 2) == ["mount 0\no 0 0\numount 0\n", "mount 22\no 0 2\numount -\n"]
    log = "[ 1.0] sisctl-fuzz: input 0\n[ 1.1] EXT4-fs (vdb): mounted\n[ 2.0] sisctl-fuzz: input 1\n[ 2.1] BUG: x\n"
    parts = split_by_slot(log, r"sisctl-fuzz: input (\d+)", 2)
    assert "mounted" in parts[0] and "BUG" in parts[1] and "BUG" not in parts[0]

"""repro.debugfs turns the seed into the finding's image byte for byte, raw bytes included: checked by
running each script with the real debugfs on a copy of the seed, as its header tells a user to."""
import random
import subprocess

import pytest

from sisctl.campaign.fuzz.inputs import FuzzInput, generate
from sisctl.campaign.fuzz.reproducer_files import WORK_IMAGE, check_script, write_reproducer, zap_commands
from sisctl.campaign.fuzz.seeds import load_seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return load_seeds(tmp_path_factory.mktemp("cache"))


def replay(folder, tmp_path) -> bytes:
    """What a user gets by following the header of folder/repro.debugfs (cp, debugfs -f, truncate)."""
    work = tmp_path / "replay"
    work.mkdir(exist_ok=True)
    (work / WORK_IMAGE).write_bytes((folder / "seed.img").read_bytes())
    (work / "repro.debugfs").write_text((folder / "repro.debugfs").read_text())
    subprocess.run(["debugfs", "-f", "repro.debugfs"], cwd=work, capture_output=True, check=True)
    subprocess.run(["truncate", "-s", str((folder / "image.img").stat().st_size), WORK_IMAGE], cwd=work, check=True)
    return (work / WORK_IMAGE).read_bytes()


def finding_folder(tmp_path, seeds, fuzz_input, name="crash"):
    folder = tmp_path / name
    folder.mkdir()
    fuzz_input.build_image(seeds, folder / "image.img")
    return folder, write_reproducer(folder, fuzz_input, seeds[fuzz_input.seed])


def test_minimised_input_with_raw_bytes_in_the_superblock_is_reproduced_byte_for_byte(tmp_path, seeds):
    """A structured change of the superblock and raw bytes over its checksum: closing the session
    rewrites the superblock, so the raw bytes must come after a reopen."""
    seed = seeds["csum-journal"]
    node = next(n for n in seed.inodes if n.path == "a")
    minimised = FuzzInput("ext4-image", seed.name, [["inode", node.ino, "flags", node.flags | 0x40],
                                                    ["sb", "mnt_count", 9], ["raw", 1024 + 0x3FC, "deadbeef"],
                                                    ["raw", node.offset + 0x7C, "0000"]],
                          [["truncate", "a", 0]], repair=False)
    folder, checked = finding_folder(tmp_path, seeds, minimised)
    assert checked == {"debugfs_exact": True}
    script = (folder / "repro.debugfs").read_text()
    assert "zap_block" in script and "# then write" not in script
    assert replay(folder, tmp_path) == (folder / "image.img").read_bytes()


def test_generated_inputs_are_reproduced_byte_for_byte(tmp_path, seeds):
    rng = random.Random(11)
    inputs = [generate(rng, "ext4-image", seeds) for _ in range(24)]
    assert sum(any(m[0] == "raw" for m in i.mutations) for i in inputs) >= 8
    exact = 0
    for n, fuzz_input in enumerate(inputs):
        folder, checked = finding_folder(tmp_path, seeds, fuzz_input, f"crash{n}")
        image = (folder / "image.img").read_bytes()
        if checked["debugfs_exact"]:
            exact += 1
            assert replay(folder, tmp_path) == image, fuzz_input.mutations
        else:   # only when the structured part leaves a superblock debugfs cannot open again
            assert "NOT EXACT" in (folder / "repro.debugfs").read_text()
    assert exact >= 22


def test_the_comparison_catches_a_wrong_script(tmp_path, seeds):
    seed = seeds["csum-4k"]
    fuzz_input = FuzzInput("ext4-image", seed.name, [["sb", "mnt_count", 3], ["raw", 9000, "0102ff"]], [])
    folder, checked = finding_folder(tmp_path, seeds, fuzz_input)
    assert checked["debugfs_exact"]
    image = (folder / "image.img").read_bytes()
    script = (folder / "repro.debugfs").read_text()
    assert check_script(script, seed.image, image) is None
    one_byte_off = script.replace("-p 255", "-p 254")
    assert one_byte_off != script
    assert check_script(one_byte_off, seed.image, image) == "1 bytes differ, the first at offset 9002"
    raw_as_comments = "\n".join(line for line in script.splitlines() if not line.startswith("zap_block"))
    assert check_script(raw_as_comments, seed.image, image) is not None


def test_raw_bytes_in_the_descriptors_need_the_reopen(tmp_path, seeds):
    """Written in the same session as a superblock change, raw bytes in the group descriptors (block 1
    of a 4 KiB file system) are undone when the session closes: the check sees it."""
    seed = seeds["csum-4k"]
    fuzz_input = FuzzInput("ext4-image", seed.name, [["sb", "mnt_count", 3], ["raw", 4096 + 2, "ab"]], [])
    folder, checked = finding_folder(tmp_path, seeds, fuzz_input)
    assert checked["debugfs_exact"]
    script = (folder / "repro.debugfs").read_text()
    zap = next(line for line in script.splitlines() if line.startswith("zap_block"))
    assert zap == "zap_block -o 2 -l 1 -p 171 1"
    same_session = (script.replace(f"open_filesys -w -c {WORK_IMAGE}\n{zap}\nclose_filesys\n", "")
                    .replace("set_super_value checksum calc\n", f"set_super_value checksum calc\n{zap}\n"))
    assert same_session.count("zap_block") == 1 and same_session.count("open_filesys") == 1
    assert check_script(same_session, seed.image, (folder / "image.img").read_bytes()) is not None


def test_zaps_are_one_per_run_of_equal_bytes_within_a_block():
    assert zap_commands([["raw", 1022, "aaaaaabb"]], 4096, 1024) == [
        "zap_block -o 1022 -l 2 -p 170 0", "zap_block -o 0 -l 1 -p 170 1", "zap_block -o 1 -l 1 -p 187 1"]
    assert zap_commands([["raw", 4094, "01020304"]], 4096, 1024) == [
        "zap_block -o 1022 -l 1 -p 1 3", "zap_block -o 1023 -l 1 -p 2 3"]   # cut at the image's end


def test_a_crash_folder_holds_everything_to_understand_and_rerun_the_finding(tmp_path, seeds):
    import json
    from sisctl.campaign.fuzz.crashes import CrashStore, Finding
    seed = seeds["tiny"]
    fuzz_input = FuzzInput("ext4-image", seed.name, [["raw", 5000, "ff"]], [["truncate", "a", 0]])
    image = tmp_path / "input.img"
    fuzz_input.build_image(seeds, image)
    store = CrashStore(tmp_path / "fuzz-ext4-image-x" / "crashes", seeds)
    finding = Finding("WARNING in ext4_setattr", "WARNING", True, "WARNING: CPU: 0 PID: 9 at fs/ext4/inode.c:1 ...")
    assert store.add(finding, fuzz_input, image, "[ 1.0] console\n", 4)
    folder = store.folder(finding.title_id)
    for name in ("crash.json", "input.json", "image.img", "seed.img", "console.log", "report.txt", "repro.debugfs",
                 "repro.c", "ops.txt", "mutations.json"):
        assert (folder / name).stat().st_size > 0, name
    meta = json.loads((folder / "crash.json").read_text())
    assert meta["title"] == finding.title and meta["count"] == 1 and meta["first_exec"] == 4
    assert meta["first_seen"] == meta["last_seen"] and meta["debugfs_exact"] is True
    assert meta["reproduce"] == f"invoke fuzz.repro --campaign fuzz-ext4-image-x --crash {finding.title_id}"
    assert replay(folder, tmp_path) == image.read_bytes()
    assert not store.add(finding, fuzz_input, image, "again\n", 9)
    meta = json.loads((folder / "crash.json").read_text())
    assert meta["count"] == 2 and meta["first_exec"] == 4 and meta["last_exec"] == 9
    assert (folder / "console.log").read_text() == "[ 1.0] console\n"   # the first occurrence's

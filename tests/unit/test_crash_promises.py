"""The host's oracle for kernels without the agent: promises read from console text, and a
recovered image's files held to them."""
from __future__ import annotations

import hashlib
import subprocess

from sisctl.board.target.prompt import CrashProfile
from sisctl.campaign.ext4crash.promises import broken_promises, read_promises
from sisctl.image.ext4 import make_ext4, read_files

PROFILE = CrashProfile(workload="w", verify="v")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def promises_of(text: str):
    return read_promises(text, PROFILE.promise_regex, PROFILE.changing_regex)


def test_the_latest_promise_counts_and_a_change_in_place_keeps_only_existence():
    text = (f"promise a/x {md5(b'1')}\r\nnoise promise b {md5(b'0')} inside a line\r\n"
            f"promise a/y {md5(b'2')}\r\nchanging a/y\r\npromise a/x {md5(b'3')}\r\nchanging never/promised\r\n"
            f"promise a/z {md5(b'4')[:20]}")   # cut off by the reset: not a promise
    promises = promises_of(text)
    assert promises.content == {"/a/x": md5(b"3")} and promises.existing == {"/a/y"}
    assert promises.paths == ["/a/x", "/a/y"] and len(promises) == 2


def test_lost_and_changed_files_are_violations_and_kept_ones_are_not():
    promises = promises_of(f"promise k {md5(b'kept')}\npromise c {md5(b'old')}\npromise l {md5(b'x')}\n"
                           f"promise e {md5(b'e')}\nchanging e\n")
    found = broken_promises(promises, {"/k": b"kept", "/c": b"new", "/l": None, "/e": b"anything"})
    assert [(v["kind"], v["path"]) for v in found] == [("changed", "/c"), ("lost", "/l")]
    assert broken_promises(promises, {"/k": b"kept", "/c": b"old", "/l": b"x"})[0]["path"] == "/e"


def test_debugfs_reads_files_of_an_image_without_mounting_it(tmp_path):
    tree = tmp_path / "tree"
    (tree / "incidents").mkdir(parents=True)
    (tree / "incidents" / "INC-1").write_bytes(b"\x00data\xff" * 1000)
    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", tree, image], check=True)
    files = read_files(image, ["/incidents/INC-1", "/incidents/INC-2"], tmp_path / "out")
    assert files == {"/incidents/INC-1": b"\x00data\xff" * 1000, "/incidents/INC-2": None}
    empty = tmp_path / "empty.img"
    make_ext4(empty, 16 << 20)
    assert read_files(empty, [], tmp_path / "out") == {}

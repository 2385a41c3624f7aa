"""Full and read-only disks for reports, state, cache and the telemetry spool: a clear error within
seconds naming the path, no hang, no traceback, and what was written before stays intact."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from sisctl import errors
from sisctl.board.errors import BoardError
from sisctl.board.qemu import Disk
from sisctl.telemetry.spool import Spool, SpoolError
from tests.conftest import qemu_processes_mentioning

INVOKE = str(Path(sys.executable).parent / "invoke")


class SmallDisk(type(Path())):
    """A folder on a 2 MiB tmpfs; fill(left) leaves that many bytes free."""

    def fill(self, left: int = 0) -> None:
        stat = os.statvfs(self)
        fd = os.open(self / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, b"\0" * max(0, stat.f_bavail * stat.f_frsize - left))
        except OSError:
            pass
        finally:
            os.close(fd)


@contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at `mount` for the test, unmounted after it."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(SmallDisk(tmp_path / "small"), "size=2m") as mount:
        yield mount


@pytest.fixture
def read_only(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mount:
        yield mount


def invoke(*args, timeout=120, **env):
    started = time.monotonic()
    done = subprocess.run([INVOKE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **{k: str(v) for k, v in env.items()}})
    return done, time.monotonic() - started


def assert_one_clear_line(done, path: Path, words: str):
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == errors.INFRASTRUCTURE, done.stderr
    assert "Traceback" not in done.stderr and last.startswith("error: ")
    assert str(path) in last and words in last, last


def test_full_reports_disk_before_the_session(board, small_disk):
    small_disk.fill()
    done, seconds = invoke("run", "--board", board.name, "--", "true", SISCTL_REPORTS=small_disk / "reports")
    assert_one_clear_line(done, small_disk, "No space left on device")
    assert seconds < 30


def test_reports_disk_filling_up_under_the_console_log(board, small_disk):
    small_disk.fill(left=96 * 1024)
    done, seconds = invoke("run", "--board", board.name, "--", "head", "-c", "400000", "/dev/zero",
                           SISCTL_REPORTS=small_disk / "reports")
    assert_one_clear_line(done, small_disk, "cannot write the console log")
    assert seconds < 60


@pytest.mark.parametrize("variable", ["SISCTL_REPORTS", "SISCTL_STATE"])
def test_read_only_reports_or_state(board, read_only, variable):
    done, seconds = invoke("run", "--board", board.name, "--", "true", **{variable: read_only / "sisctl"})
    assert_one_clear_line(done, read_only, "Read-only file system")
    assert seconds < 30


def test_read_only_build_cache(read_only):
    done, seconds = invoke("build", "--recipe", "linux-kbuild", SISCTL_CACHE=read_only / "cache")
    assert_one_clear_line(done, read_only, "Read-only file system")
    assert seconds < 30


def test_a_state_disk_too_small_for_the_snapshot_fails_the_flash_naming_it_and_keeps_no_partial(board, tmp_path):
    """The ready snapshot (tens of MiB) does not fit: exit 75 naming the file and the space left, the
    partial snapshot removed, no QEMU left."""
    with tmpfs(tmp_path / "state", "size=12m") as state:
        done, _ = invoke("flash", "--board", board.name, timeout=300, SISCTL_STATE=state)
        vmstate = state / "boards" / board.name / "vmstate.qcow2"
        assert_one_clear_line(done, vmstate, "MiB free on its disk; the partial snapshot was removed")
        assert not vmstate.exists() and shutil.disk_usage(state).used < 2 << 20
    assert not qemu_processes_mentioning(str(tmp_path / "state"))


def test_spool_on_a_full_disk_keeps_what_it_had(small_disk):
    spool = Spool(small_disk / "spool")
    kept = [f"m,run=a v={i}i {i}" for i in range(100)]
    spool.append(kept)
    small_disk.fill(left=1024)
    with pytest.raises(SpoolError, match=f"{small_disk / 'spool' / 'spool.lp'}: cannot keep 5000 .*No space"):
        spool.append([f"m,run=b v={i}i {i}" + "x" * 40 for i in range(5000)])
    assert spool.pending(max_lines=-1)[0] == kept          # no torn line, nothing lost
    assert Spool(small_disk / "spool").pending(max_lines=-1)[0] == kept


def test_guest_disk_log_on_a_full_disk_stops_the_session_fast(board, small_disk, tmp_path):
    image = tmp_path / "work.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    small_disk.fill(left=256 * 1024)
    disk = Disk("work", image, small_disk / "work.log")
    with board.session(fast=False, disks=[disk], label="full-log") as session:
        started = time.monotonic()
        with pytest.raises(BoardError, match="QEMU stopped the guest: a host write failed .*work.log"):
            session.run("dev=$(grep -l work /sys/block/vd*/serial | cut -d/ -f4); "
                        "dd if=/dev/urandom of=/dev/$dev bs=64k count=256 oflag=direct", timeout_s=120)
        assert time.monotonic() - started < 20


def test_campaign_on_a_full_reports_disk_stops_fast_with_records_intact(board, small_disk):
    """The disk fills during the campaign (images, write log, records): a clear error in well under
    the minutes a hang would take, and every record written before it parses."""
    done, seconds = invoke("campaign", "--board", board.name, "--scenario", "generated-2", "--runs", "3",
                           timeout=600, SISCTL_REPORTS=small_disk)
    assert_one_clear_line(done, small_disk, "")
    assert seconds < 180
    for records in small_disk.glob("*/records.jsonl"):
        for line in records.read_text().splitlines():
            json.loads(line)
    # Room again: the resumed campaign keeps every record and judges only the kernel (a state the
    # full disk cut short is checked again, never read as the kernel's failure)
    folder = next(p for p in small_disk.iterdir() if (p / "campaign.json").exists())
    before = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    subprocess.run(["mount", "-o", "remount,size=512m", str(small_disk)], check=True)
    done, _ = invoke("campaign", "--resume", folder.name, timeout=900, SISCTL_REPORTS=small_disk)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    after = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert after[:len(before)] == before and json.loads((folder / "summary.json").read_text())["status"] == "passed"

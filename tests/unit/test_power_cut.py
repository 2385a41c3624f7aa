"""The power-cut mode's reading of what the board printed, and what it asks of a board before boot."""
from __future__ import annotations

import pytest

from sisctl.board.spec import load_board
from sisctl.campaign.ext4crash import KIND
from sisctl.campaign.ext4crash.disk import Mark
from sisctl.campaign.ext4crash.options import CampaignConfig
from sisctl.campaign.ext4crash.onboard import parse_fsck_and_marks, recovery_script
from sisctl.errors import UsageError


def test_fsck_code_output_and_marks_are_read():
    fsck, marks = parse_fsck_and_marks("e2fsck 1.47.0\nPass 1\nfsck_exit 4\nmark 0 2\nmark 1 5\nmarks 2\n")
    assert (fsck.code, fsck.output, fsck.clean) == (4, "e2fsck 1.47.0\nPass 1", False)
    assert marks == [Mark(0, 2), Mark(1, 5)]


@pytest.mark.parametrize("text, says", [
    ("Pass 1\n", "no e2fsck result"),
    ("fsck_exit \nmarks 0\n", "no e2fsck result"),
    ("fsck_exit 0\nmark 0 2\n", "not whole (1 read, the board counted none)"),
    ("fsck_exit 0\nmark 0 2\nmark 1 3\nmarks 3\n", "not whole (2 read, the board counted 3)"),
])
def test_output_cut_short_is_never_judged(text, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_fsck_and_marks(text)


def test_the_recovery_script_quotes_the_device():
    script = recovery_script("/dev/disk one")
    assert "e2fsck -fn '/dev/disk one'" in script and "sisagent marks '/dev/disk one' " in script


def board(tmp_path, text: str):
    path = tmp_path / "lab-b.yaml"
    path.write_text("name: lab-b\n" + text)
    return type("B", (), {"spec": load_board(path), "name": "lab-b"})()


REAL = ("console: {url: 'rfc2217://127.0.0.1:4001'}\nboot: {method: uboot}\n"
        "power: {model: http, on_url: 'http://127.0.0.1:9/on', off_url: 'http://127.0.0.1:9/off'}\n")


def test_modes_that_crash_qemu_disks_are_refused_on_a_real_board(tmp_path):
    with pytest.raises(UsageError, match="--mode powerloss crashes QEMU's disks .* use --mode power-cut"):
        KIND.check_board(CampaignConfig("lab-b", ["concurrent_writes"]), board(tmp_path, REAL))


def test_power_cut_on_a_real_board_needs_named_storage_and_a_switch(tmp_path):
    config = CampaignConfig("lab-b", ["concurrent_writes"], mode="power-cut")
    with pytest.raises(UsageError, match="key 'storage': --mode power-cut destroys a scratch device"):
        KIND.check_board(config, board(tmp_path, REAL))
    manual = REAL.replace("model: http, on_url: 'http://127.0.0.1:9/on', off_url: 'http://127.0.0.1:9/off'",
                          "model: manual")
    with pytest.raises(UsageError, match="key 'power.model'"):
        KIND.check_board(config, board(tmp_path, manual + "storage: {scratch: {label: s}}\n"))
    KIND.check_board(config, board(tmp_path, REAL + "storage: {scratch: {label: s}}\n"))   # accepted


def test_fuzz_refuses_a_real_board_before_it_boots(tmp_path):
    from sisctl.campaign.fuzz import KIND as FUZZ
    with pytest.raises(UsageError, match="fuzz campaigns run on QEMU boards"):
        FUZZ.check_board(None, board(tmp_path, REAL))


def test_the_boards_log_listing_is_read_whole_without_its_end_mark():
    from pathlib import Path
    from sisctl.campaign.ext4crash.logwrites import parse_entries
    listing = "super 3 512\ne 0 8 8 0 1024\ne 1 0 0 1 5632\ne 2 0 0 8 6144\n"
    log = parse_entries(listing, Path("/dev/vdc"))
    assert (log.sectorsize, log.claimed_entries, [e.index for e in log.entries]) == (512, 3, [0, 1])
    assert log.flush_indexes() == [1] and log.entries[0].data_offset == 1024
    with pytest.raises(ValueError, match="listed 2 of the log's 3 entries"):
        parse_entries("super 3 512\ne 0 8 8 0 1024\ne 1 0 0 1 5632\n", Path("/dev/vdc"))
    with pytest.raises(ValueError, match="lacks its end mark after 2 entries: the log device filled up"):
        parse_entries("super 2 512\ne 0 8 8 0 1024\ne 1 0 0 1 5632\n", Path("/dev/vdc"))
    with pytest.raises(ValueError, match="no log super"):
        parse_entries("log: /dev/vdc: not a dm-log-writes log\n", Path("/dev/vdc"))

"""ext4-crash --mode power-cut on a real-board stand-in: QEMU running U-Boot, switched by an HTTP PDU
whose /off kills the QEMU process (the power cut), its console behind ser2net, its SD card a disk of
the board's own (a GPT with a boot partition and a scratch partition) that sisctl never attaches."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sisctl import errors
from sisctl.board.board import Board
from sisctl.board.storage import DeviceRef, StorageSpec, prove
from sisctl.campaign.core.records import read_records
from sisctl.campaign.core.runner import start
from sisctl.campaign.ext4crash.disk import DISK_BYTES
from sisctl.errors import UsageError
from sisctl.image.ext4 import make_ext4
from tests.integration.standins import SER2NET, UBOOT, sd_card, uboot_lab_board

pytestmark = pytest.mark.skipif(not (UBOOT.exists() and Path(SER2NET).exists()),
                                reason="u-boot-qemu and ser2net are needed")

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
BOOT_FILES = b"config.txt and kernel8.img of the board's own OS" * 100
STORAGE = {"scratch": {"label": "sis-scratch", "size_mib": 96}, "log": {"label": "sis-log"}, "boot": {"label": "bootfs"}}


@pytest.fixture
def sd_board(tmp_path, sshd, monkeypatch, lab_dirs):
    """The stand-in with its SD card: partition 1 'bootfs' (16 MiB, holding the board's boot files),
    partition 2 'sis-scratch' (96 MiB, what campaigns may destroy), partition 3 'sis-log' (32 MiB,
    where log-writes keeps its write log)."""
    card = tmp_path / "sdcard.img"
    plug = sd_card(card, [("bootfs", 16), ("sis-scratch", 96), ("sis-log", 32)])
    make_ext4(tmp_path / "old.img", 8 << 20)   # what an earlier user left on the scratch partition
    with open(card, "r+b") as f:
        f.seek(1 << 20)              # sfdisk starts the first partition at 1 MiB
        f.write(BOOT_FILES)
        f.seek(17 << 20)
        f.write((tmp_path / "old.img").read_bytes())

    def wired(storage: dict):
        return uboot_lab_board(tmp_path, sshd, monkeypatch, plug, {"storage": storage})
    return wired, card


def states(out: Path) -> list[dict]:
    return [r for r in read_records(out / "records.jsonl") if r.get("type") == "state"]


def boot_files_intact(card: Path) -> bool:
    with open(card, "rb") as f:
        f.seek(1 << 20)
        return f.read(len(BOOT_FILES)) == BOOT_FILES


@pytest.mark.slow
def test_log_writes_keeps_its_log_and_checks_every_state_on_the_board(sd_board, lab_dirs):
    wired, card = sd_board
    with wired(STORAGE) as (board, pdu, _):
        summary = start("ext4-crash", board.spec.source, {"scenario": "generated-1", "mode": "log-writes", "runs": 1}, 3,
                        progress=lambda _: None)
        ons = pdu.requests.count("/on")
        flashed = (Path(lab_dirs["state"]) / "boards" / "uboot-lab" / "flashed.json").stat().st_mtime
    records = states(Path(summary["report"]))
    assert summary["status"] == "passed" and summary["failed"] == 0, summary
    assert len(records) >= 2 and all(r["console"]["device"] == "/dev/vda2" for r in records)
    assert sum(r["facts_checked"] for r in records) > 0
    assert {r["crash_point"]["source"] for r in records} == {"/dev/vda3"}      # the log never left the board
    # One session (after the flash, when the campaign flashed): every state rebuilt and checked in it.
    assert ons == 1 + (flashed > records[0]["checked_at"] - 600 and ons == 2)
    assert boot_files_intact(card)


def test_scratch_devices_that_are_not_safe_to_destroy_are_refused_and_nothing_is_written(sd_board, lab_dirs):
    wired, card = sd_board
    need = {"scratch": 2 * DISK_BYTES}
    with wired({**STORAGE, "scratch": {"label": "bootfs"}}) as (board, pdu, _):
        summary = start("ext4-crash", board.spec.source, {"scenario": "write_during_data_write", "mode": "power-cut",
                                                         "runs": 1}, 5, progress=lambda _: None)
        assert summary["status"] == "aborted"
        assert "storage.scratch (partition label 'bootfs'): /dev/vda1 (label 'bootfs', 16 MiB) is the board's " \
               "boot device (storage.boot); nothing was written" in summary["reason"]
        assert states(Path(summary["report"])) == []
        with Board(board.spec).session(label="refusals") as session:   # flashed by the campaign
            spec = board.spec.storage
            with pytest.raises(UsageError, match="holds /dev/vda1, the board's boot device"):
                prove(session, StorageSpec(scratch=DeviceRef(serial="sdcard"), boot=spec.boot), need)
            with pytest.raises(UsageError, match="no such device on the board; found .*label 'sis-scratch'"):
                prove(session, StorageSpec(scratch=DeviceRef(label="scratch")), need)
            assert prove(session, StorageSpec(scratch=DeviceRef(label="sis-scratch")), need) == {"scratch": "/dev/vda2"}
            assert session.run("mkdir -p /mnt/x && mount -o ro /dev/vda2 /mnt/x").ok
            with pytest.raises(UsageError, match="/dev/vda2 is mounted at /mnt/x"):
                prove(session, StorageSpec(scratch=DeviceRef(label="sis-scratch")), need)
    assert boot_files_intact(card)


def test_power_cut_on_the_board_survives_its_power_switch_dying_mid_campaign(sd_board, lab_dirs):
    """Every state checked, boot and recovery timed; the PDU dies after run 0's state: exit 75 with
    the record kept, and --resume finishes the campaign."""
    wired, card = sd_board
    reports = lab_dirs["reports"]
    earlier = set(reports.glob("ext4-crash-power-cut-*"))
    with wired(STORAGE) as (board, pdu, _):
        child = subprocess.Popen([str(INVOKE), "campaign", "--kind", "ext4-crash", "--board", board.spec.source,
                                  "--mode", "power-cut", "--scenario", "write_during_data_write", "--runs", "2",
                                  "--seed", "5", "--json"], cwd=PROJECT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and child.poll() is None:   # the outlet dies after run 0's state
                found = set(reports.glob("ext4-crash-power-cut-*")) - earlier
                if found and states(found.pop()):
                    pdu.dead_after = len(pdu.requests)
                    break
                time.sleep(0.05)
            stdout, stderr = child.communicate(timeout=600)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == errors.INFRASTRUCTURE, stderr[-2000:]
        summary = json.loads(stdout)
        assert summary["status"] == "error" and "HTTP 503" in summary["reason"], summary["reason"]
        out = Path(summary["report"])
        kept = states(out)
        assert [r["state_key"] for r in kept] == ["write_during_data_write/0/power-cut"]
        assert "<error" in (out / "junit.xml").read_text()
        pdu.dead_after = None
        resumed = subprocess.run([str(INVOKE), "campaign", "--resume", str(out), "--json"], cwd=PROJECT,
                                 capture_output=True, text=True, timeout=900)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert pdu.board is None        # switched off at the end
    records = states(out)
    assert [r["state_key"] for r in records] == [f"write_during_data_write/{n}/power-cut" for n in (0, 1)]
    assert records[0] == kept[0] and json.loads(resumed.stdout)["failed"] == 0
    assert all(r["outcome"] == "ok" and r["e2fsck"]["code"] == 0 for r in records)
    assert all(r["boot_mode"] == "loader" and r["boot_s"] > 0 and r["recovery_ms"] > 0 for r in records)
    assert all(r["console"]["device"] == "/dev/vda2" for r in records)
    assert json.loads(resumed.stdout)["scenarios"]["write_during_data_write"]["boot_s_mean"] > 0
    assert boot_files_intact(card)
    with open(card, "rb") as f:       # the pristine copy sits behind the crash disk on the scratch partition
        f.seek((17 << 20) + DISK_BYTES)
        assert f.read(4096) == (out / "base.img").read_bytes()[:4096]

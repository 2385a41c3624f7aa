"""Corrupt state never bricks a board: a damaged snapshot file or a torn flash record is detected,
named, set aside and rebuilt (a cold boot saving a new snapshot, or a new flash)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sisctl.board.qemu import vmstate_problem

INVOKE = str(Path(sys.executable).parent / "invoke")


def cli_run(board, *args):
    return subprocess.run([INVOKE, "run", "--board", board.name, *args, "--", "echo", "alive"],
                          capture_output=True, text=True, timeout=600)


def mark_corrupt(image: Path) -> None:
    """What QEMU itself does on finding bad metadata: set the header's 'corrupt' bit."""
    with open(image, "r+b") as f:
        f.seek(72)
        features = int.from_bytes(f.read(8), "big")
        f.seek(72)
        f.write((features | 2).to_bytes(8, "big"))


def scramble_tables(image: Path) -> None:
    """Garbage over the refcount and L1 tables (the clusters after the header)."""
    with open(image, "r+b") as f:
        f.seek(65536)
        f.write(b"\xa5" * 3 * 65536)


@pytest.mark.parametrize("damage, cold", [(mark_corrupt, False), (scramble_tables, True)],
                         ids=["corrupt-bit", "scrambled-tables-cold"])
def test_a_damaged_snapshot_file_is_rebuilt(board, damage, cold):
    vmstate = board.state / "vmstate.qcow2"
    with board.session(label="snapshot-before"):
        pass                                            # a ready snapshot exists
    damage(vmstate)
    assert vmstate_problem(vmstate), "the damage must be the kind QEMU refuses"
    done = cli_run(board, *(["--cold"] if cold else []))
    assert done.returncode == 0 and done.stdout == "alive\n", done.stderr
    assert f"{vmstate} is damaged" in done.stderr and "a cold boot saves a new snapshot" in done.stderr
    assert (board.state / "vmstate.qcow2.damaged").exists() and vmstate_problem(vmstate) is None
    if not cold:
        with board.session(label="snapshot-after") as session:
            assert session.boot_mode == "snapshot"      # the rebuilt file holds a new ready snapshot


def test_a_torn_flash_record_leads_to_a_new_flash(board):
    record = board.state / "flashed.json"
    text = record.read_text()
    record.write_text(text[:len(text) // 2])            # cut mid-write
    done = cli_run(board)
    assert done.returncode == 0 and done.stdout == "alive\n", done.stderr
    assert f"{record} is damaged" in done.stderr and "flashing its default recipe" in done.stderr
    assert board.flashed().kernel_version                # a whole record again
    assert "Traceback" not in done.stderr

"""dm-log-writes logs (QEMU blklogwrites): parsing, crash states and replay."""
from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sisctl.campaign.ext4crash.blocklog import (DISCARD, FLUSH, FUA, MAGIC, CrashState, LogError, prefix_states, read_log,
                                      reorder_states, replay, write_log)

SS = 512
IMAGE = 64 * 1024


def sectors(byte: int, n: int = 1) -> bytes:
    return bytes([byte]) * (SS * n)


@pytest.fixture
def base(tmp_path) -> Path:
    path = tmp_path / "base.img"
    path.write_bytes(b"\xaa" * IMAGE)
    return path


def by_name(states: list[CrashState]) -> dict[str, CrashState]:
    return {s.name: s for s in states}


def replayed(log, base: Path, state: CrashState) -> bytes:
    out = base.parent / f"{state.name}.img"
    replay(log, base, out, state)
    return out.read_bytes()


def at(image: bytes, sector: int, n: int = 1) -> bytes:
    return image[sector * SS:(sector + n) * SS]


# --- reading -------------------------------------------------------------------------------------

def test_round_trip_gives_entries_flags_and_data_offsets(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(4, 0, sectors(1, 2)), (0, FLUSH, b""), (10, DISCARD, sectors(0, 3)), (7, 0, sectors(2))])
    log = read_log(path)
    assert (log.sectorsize, log.claimed_entries, log.path) == (SS, 4, path)
    got = [(e.index, e.sector, e.nr_sectors, e.flags, e.data_offset) for e in log.entries]
    # super | hdr 2 data | hdr | hdr (discard: no data) | hdr data
    assert got == [(0, 4, 2, 0, 2 * SS), (1, 0, 0, FLUSH, 5 * SS), (2, 10, 3, DISCARD, 6 * SS), (3, 7, 1, 0, 7 * SS)]
    raw = path.read_bytes()
    assert raw[2 * SS:4 * SS] == sectors(1, 2) and raw[7 * SS:8 * SS] == sectors(2)
    assert [(e.is_write, e.is_flush, e.is_discard) for e in log.entries] == [
        (True, False, False), (False, True, False), (False, False, True), (True, False, False)]


def test_round_trip_with_4k_log_sectors(tmp_path):
    path = tmp_path / "log"
    write_log(path, 4096, [(3, 0, b"\x05" * 8192)])
    (entry,) = read_log(path).entries
    assert (entry.sector, entry.nr_sectors, entry.data_offset) == (3, 2, 8192)


def test_wrong_magic_raises_naming_the_file(tmp_path):
    path = tmp_path / "notalog"
    write_log(path, SS, [(0, 0, sectors(1))])
    raw = bytearray(path.read_bytes())
    raw[0:8] = struct.pack("<Q", MAGIC ^ 1)
    path.write_bytes(bytes(raw))
    with pytest.raises(LogError, match="notalog.*magic"):
        read_log(path)


@pytest.mark.parametrize("size", [0, 10, 100, SS - 1])
def test_file_shorter_than_a_sector_raises(tmp_path, size):
    path = tmp_path / "short"
    write_log(path, SS, [])
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(LogError, match="short"):
        read_log(path)


@pytest.mark.parametrize("sectorsize", [0, 16, 100, 1 << 24])
def test_invalid_sector_size_in_the_super_raises(tmp_path, sectorsize):
    path = tmp_path / "log"
    path.write_bytes(struct.pack("<QQQI", MAGIC, 1, 0, sectorsize).ljust(2 * SS, b"\0"))
    with pytest.raises(LogError, match="log.*sector size"):
        read_log(path)


def test_zero_super_means_no_flush_yet(tmp_path):
    """QEMU writes the super only at a flush: a log killed before its first flush has a zero sector 0."""
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (2, 0, sectors(2))])
    path.write_bytes(bytes(SS) + path.read_bytes()[SS:])
    log = read_log(path)
    assert (log.sectorsize, log.claimed_entries, [e.sector for e in log.entries]) == (SS, 0, [1, 2])
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(4 * SS))
    with pytest.raises(LogError, match="zeros"):
        read_log(zeros)


def test_lazy_super_reads_all_complete_entries(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(i, 0, sectors(i + 1)) for i in range(5)], claimed=2)
    log = read_log(path)
    assert log.claimed_entries == 2
    assert [e.sector for e in log.entries] == [0, 1, 2, 3, 4]


def test_truncated_last_entry_is_not_read(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(i, 0, sectors(i + 1, 2)) for i in range(5)], claimed=2)
    path.write_bytes(path.read_bytes()[:-SS])          # header of entry 4 present, half its data gone
    assert [e.sector for e in read_log(path).entries] == [0, 1, 2, 3]


@pytest.mark.parametrize("garbage", [
    bytes(SS),                                          # a hole: zeros of an entry not written yet
    struct.pack("<QQQQ", 1, 1, 0x40, 0).ljust(2 * SS, b"\0"),   # unknown flag
    struct.pack("<QQQQ", 1 << 62, 1, 0, 0).ljust(2 * SS, b"\0"),  # absurd sector
])
def test_parsing_stops_at_the_first_implausible_entry(tmp_path, garbage):
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (0, FLUSH, b"")], claimed=1)
    with open(path, "ab") as f:
        f.write(garbage)
        f.write(struct.pack("<QQQQ", 2, 1, 0, 0).ljust(SS, b"\0") + sectors(9))   # a valid-looking entry after
    assert len(read_log(path).entries) == 2


# --- crash states --------------------------------------------------------------------------------

def test_prefix_states_one_per_flush_plus_start_and_end(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (0, FLUSH, b""), (2, 0, sectors(2)), (3, 0, sectors(3)),
                         (0, FLUSH, b""), (4, 0, sectors(4))])
    states = prefix_states(read_log(path))
    assert [(s.name, s.upto, s.dropped) for s in states] == [
        ("start", 0, frozenset()), ("flush-1", 2, frozenset()), ("flush-4", 5, frozenset()), ("end", 6, frozenset())]


def test_prefix_states_no_duplicate_when_log_ends_in_flush(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (0, FLUSH, b""), (2, 0, sectors(2)), (0, FLUSH, b"")])
    states = prefix_states(read_log(path))
    assert [(s.name, s.upto) for s in states] == [("start", 0), ("flush-1", 2), ("flush-3", 4)]
    assert len({s.upto for s in states}) == len(states)


def test_epochs_split_after_flushes(tmp_path):
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (0, FLUSH, b""), (0, FLUSH, b""), (2, DISCARD, sectors(0)),
                         (3, 0, sectors(3))])
    log = read_log(path)
    assert log.flush_indexes() == [1, 2]
    assert [[e.index for e in epoch] for epoch in log.epochs()] == [[0], [], [3, 4]]


def test_a_flush_with_data_and_a_fua_write_are_never_lost_before_their_time(tmp_path):
    """The kernel's dm-log-writes logs a PREFLUSH write as one entry and keeps FUA: the flush's own
    data belongs to the next epoch, and a FUA write is durable once complete (QEMU's log has neither)."""
    path = tmp_path / "log"
    write_log(path, SS, [(1, 0, sectors(1)), (2, 0, sectors(2)), (3, FLUSH, sectors(3)), (4, FUA, sectors(4)),
                         (5, 0, sectors(5)), (6, 0, sectors(6))])
    log = read_log(path)
    assert [[e.index for e in epoch] for epoch in log.epochs()] == [[0, 1], [2, 4, 5]]   # 2: after its flush; 3: FUA
    dropped = {i for state in reorder_states(log, random.Random(1), 8) for i in state.dropped}
    assert dropped and 3 not in dropped


# --- replay --------------------------------------------------------------------------------------

def test_replay_prefix_states_gives_exact_bytes(tmp_path, base):
    path = tmp_path / "log"
    write_log(path, SS, [(2, 0, sectors(0x11, 2)), (0, FLUSH, b""), (10, 0, sectors(0x22)), (20, 0, sectors(0x33))])
    log = read_log(path)
    states = by_name(prefix_states(log))
    original = base.read_bytes()
    assert replayed(log, base, states["start"]) == original
    flushed = replayed(log, base, states["flush-1"])
    assert flushed == original[:2 * SS] + sectors(0x11, 2) + original[4 * SS:]
    end = replayed(log, base, states["end"])
    assert at(end, 2, 2) == sectors(0x11, 2) and at(end, 10) == sectors(0x22) and at(end, 20) == sectors(0x33)
    assert at(flushed, 10) == at(flushed, 20) == sectors(0xAA)
    expected = bytearray(original)
    for sector, data in [(2, sectors(0x11, 2)), (10, sectors(0x22)), (20, sectors(0x33))]:
        expected[sector * SS:sector * SS + len(data)] = data
    assert end == bytes(expected)
    assert base.read_bytes() == original


def test_replay_discard_zeroes_its_range(tmp_path, base):
    path = tmp_path / "log"
    write_log(path, SS, [(8, DISCARD, sectors(0, 4)), (9, 0, sectors(0x44))])
    log = read_log(path)
    image = replayed(log, base, prefix_states(log)[-1])
    assert at(image, 8) == bytes(SS) and at(image, 9) == sectors(0x44) and at(image, 10, 2) == bytes(2 * SS)
    assert at(image, 7) == at(image, 12) == sectors(0xAA)


def test_replay_applies_writes_in_log_order(tmp_path, base):
    path = tmp_path / "log"
    write_log(path, SS, [(5, 0, sectors(0x01, 2)), (6, 0, sectors(0x02)), (5, 0, sectors(0x03))])
    log = read_log(path)
    image = replayed(log, base, prefix_states(log)[-1])
    assert at(image, 5) == sectors(0x03) and at(image, 6) == sectors(0x02)


@pytest.mark.parametrize("entry", [(IMAGE // SS - 1, 0, sectors(1, 2)), (IMAGE // SS, DISCARD, sectors(0))])
def test_replay_beyond_the_image_raises(tmp_path, base, entry):
    path = tmp_path / "log"
    write_log(path, SS, [(0, 0, sectors(1)), entry])
    log = read_log(path)
    out = tmp_path / "out.img"
    with pytest.raises(LogError, match=f"entry 1.*{base.name}"):
        replay(log, base, out, prefix_states(log)[-1])
    assert not out.exists()


# --- reordering ----------------------------------------------------------------------------------

def reorder_log(tmp_path) -> Path:
    path = tmp_path / "log"
    entries = [(0, 0, sectors(0x10))] + [(0, FLUSH, b"")]                  # epoch 0: one write, no subsets
    entries += [(10 + i, 0, sectors(0x20 + i)) for i in range(6)]           # epoch 1: indexes 2..7
    entries += [(0, FLUSH, b"")]                                            # flush at 8
    entries += [(30, 0, sectors(0x30)), (31, DISCARD, sectors(0)), (32, 0, sectors(0x32))]   # 9..11, unflushed
    write_log(path, SS, entries)
    return path


@pytest.mark.parametrize("seed", range(5))
def test_reorder_states_deterministic_and_proper_subsets(tmp_path, seed):
    log = read_log(reorder_log(tmp_path))
    states = reorder_states(log, random.Random(seed), per_epoch=10)
    assert states == reorder_states(log, random.Random(seed), per_epoch=10)
    assert states != reorder_states(log, random.Random(seed + 100), per_epoch=10)
    epoch1, tail = frozenset(range(2, 8)), frozenset({9, 10, 11})
    mid = [s for s in states if s.name.startswith("flush-1-drop-")]
    last = [s for s in states if s.name.startswith("flush-8-drop-")]
    assert len(mid) == 10 and len(last) == 6 and len(states) == 16     # 2**3 - 2 = 6 subsets, all of them
    assert all(s.upto == 8 and s.dropped and s.dropped < epoch1 for s in mid)
    assert all(s.upto == 12 and s.dropped and s.dropped < tail for s in last)
    assert len({s.dropped for s in states}) == len({s.name for s in states}) == 16


def test_reorder_state_replay_keeps_only_the_kept_writes(tmp_path, base):
    log = read_log(reorder_log(tmp_path))
    state = next(s for s in reorder_states(log, random.Random(1), per_epoch=5) if s.name.startswith("flush-1-"))
    image = replayed(log, base, state)
    assert at(image, 0) == sectors(0x10)                                   # the flushed prefix is there
    for i in range(6):
        expected = sectors(0xAA) if 2 + i in state.dropped else sectors(0x20 + i)
        assert at(image, 10 + i) == expected
    assert at(image, 30) == sectors(0xAA)                                  # nothing from after upto


# --- a real QEMU log -----------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("qemu-io") is None, reason="qemu-io not installed")
def test_replay_of_a_qemu_io_log_matches_the_disk_qemu_wrote(tmp_path, base):
    disk, path = tmp_path / "disk.img", tmp_path / "log"
    shutil.copyfile(base, disk)
    path.touch()
    opts = (f"driver=blklogwrites,discard=unmap,file.driver=file,file.filename={disk},"
            f"log.driver=file,log.filename={path}")
    cmds = ["write -P 0x11 0 4k", "flush", "write -P 0x22 8k 1k", "discard 16k 4k", "write -z 32k 4k",
            "write -P 0x33 8k 512"]
    subprocess.run(["qemu-io", "--image-opts", opts] + [a for c in cmds for a in ("-c", c)],
                   check=True, capture_output=True, timeout=60)
    log = read_log(path)
    assert log.claimed_entries == len(log.entries)
    assert [(e.sector, e.nr_sectors, e.is_discard) for e in log.entries if not e.is_flush] == [
        (0, 8, False), (16, 2, False), (32, 8, True), (64, 8, False), (16, 1, False)]
    assert replayed(log, base, prefix_states(log)[-1]) == disk.read_bytes()

"""QEMU blklogwrites logs (dm-log-writes format): read them and replay prefixes as power-loss crash states.

Layout (little-endian): sector 0 holds the super {magic, version, nr_entries, sectorsize}; from sector 1 on,
each entry is one header sector {sector, nr_sectors, flags, data_len} followed by nr_sectors data sectors
(none for a DISCARD). Disk sectors and data lengths are both in units of the log's sectorsize.
"""
from __future__ import annotations

import hashlib
import os
import random
import struct
from dataclasses import dataclass
from itertools import combinations, zip_longest
from pathlib import Path

from sisctl.image.sparse import copy_image

MAGIC = 0x6A736677736872
VERSION = 1
FLUSH, FUA, DISCARD, MARK = 1, 2, 4, 8
KNOWN_FLAGS = FLUSH | FUA | DISCARD | MARK
DEFAULT_SECTORSIZE = 512           # QEMU's default log-sector-size
MAX_DISK_BYTES = 1 << 60           # an entry reaching beyond this is garbage, not a write
_SUPER = struct.Struct("<QQQI")
_ENTRY = struct.Struct("<QQQQ")
_ZERO_CHUNK = 1 << 20


class LogError(Exception):
    """Not a dm-log-writes log, a corrupt super, or a state that does not fit the image."""


@dataclass(frozen=True)
class Entry:
    """One logged request."""
    index: int
    sector: int
    nr_sectors: int
    flags: int
    data_offset: int

    @property
    def is_flush(self) -> bool:
        return bool(self.flags & FLUSH)

    @property
    def is_discard(self) -> bool:
        return bool(self.flags & DISCARD)

    @property
    def is_write(self) -> bool:
        """Carries data to apply (not a bare flush, not a discard)."""
        return self.nr_sectors > 0 and not self.is_discard

    @property
    def changes_disk(self) -> bool:
        return self.is_write or self.is_discard


@dataclass
class BlockLog:
    """A parsed log: `claimed_entries` is the super's (lazily updated) count, `entries` what was found."""
    path: Path
    sectorsize: int
    claimed_entries: int
    entries: list[Entry]

    def flush_indexes(self) -> list[int]:
        return [e.index for e in self.entries if e.is_flush]

    def epochs(self) -> list[list[Entry]]:
        """The writes and discards a crash may lose, split at each flush: epoch k ends at the k-th
        flush; a trailing epoch without a closing flush is included when it is not empty.

        A flush that carries data (the kernel's dm-log-writes logs a PREFLUSH write as one entry;
        QEMU logs a bare flush) makes what came before durable before its own data, which belongs
        to the next epoch. A FUA write is durable once complete: never in an epoch, never lost."""
        epochs: list[list[Entry]] = []
        current: list[Entry] = []
        for e in self.entries:
            if e.is_flush:
                epochs.append(current)
                current = []
            if e.changes_disk and not e.flags & FUA:
                current.append(e)
        if current:
            epochs.append(current)
        return epochs


@dataclass(frozen=True)
class CrashState:
    """Entries with index < upto applied in log order, except those in `dropped`."""
    name: str
    upto: int
    dropped: frozenset[int] = frozenset()


def _valid_sectorsize(size: int) -> bool:
    return _ENTRY.size <= size < (1 << 24) and size & (size - 1) == 0


def _plausible(sector: int, nr_sectors: int, flags: int, sectorsize: int) -> bool:
    if flags & ~KNOWN_FLAGS:
        return False
    if nr_sectors == 0 and not flags & (FLUSH | MARK):
        return False                # an empty write: in practice zeros of a not yet written entry
    return (sector + nr_sectors) * sectorsize <= MAX_DISK_BYTES


def _scan(fd: int, size: int, sectorsize: int) -> list[Entry]:
    """Entries from sector 1 on, stopping at the first incomplete or implausible one."""
    entries: list[Entry] = []
    offset = sectorsize
    while offset + sectorsize <= size:
        sector, nr, flags, _data_len = _ENTRY.unpack(os.pread(fd, _ENTRY.size, offset))
        data_bytes = 0 if flags & DISCARD else nr * sectorsize
        if not _plausible(sector, nr, flags, sectorsize) or offset + sectorsize + data_bytes > size:
            break
        entries.append(Entry(len(entries), sector, nr, flags, offset + sectorsize))
        offset += sectorsize + data_bytes
    return entries


def read_log(path: Path) -> BlockLog:
    """Parse a log. Entries beyond the super's nr_entries are kept while complete and plausible.

    QEMU writes the super only at a flush, so an all-zero super means "no flush yet": it is read
    with the default 512-byte sectors and a claimed count of 0, and must be followed by an entry.
    """
    path = Path(path)
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        head = os.pread(fd, _SUPER.size, 0)
        if len(head) < _SUPER.size:
            raise LogError(f"{path}: {size} bytes, too short for a dm-log-writes super")
        magic, version, claimed, sectorsize = _SUPER.unpack(head)
        unwritten = not any(head)
        if unwritten:
            claimed, sectorsize = 0, DEFAULT_SECTORSIZE
        elif magic != MAGIC:
            raise LogError(f"{path}: not a dm-log-writes log (magic {magic:#x})")
        elif version != VERSION:
            raise LogError(f"{path}: unsupported dm-log-writes version {version}")
        if not _valid_sectorsize(sectorsize):
            raise LogError(f"{path}: invalid sector size {sectorsize} in the super")
        if size < sectorsize:
            raise LogError(f"{path}: {size} bytes, shorter than one {sectorsize}-byte sector")
        entries = _scan(fd, size, sectorsize)
    if unwritten and not entries:
        raise LogError(f"{path}: zero super and no entries, not a dm-log-writes log")
    return BlockLog(path, sectorsize, claimed, entries)


def prefix_states(log: BlockLog) -> list[CrashState]:
    """"start" (nothing applied), one "flush-<index>" per flush (up to and including it), and "end"
    (the whole log) unless the log ends with a flush, whose state is then the last one."""
    states = [CrashState("start", 0)]
    for i in log.flush_indexes():
        states.append(CrashState(f"flush-{i}", i + 1))
    if states[-1].upto < len(log.entries):
        states.append(CrashState("end", len(log.entries)))
    return states


def _drop_label(dropped: tuple[int, ...]) -> str:
    if len(dropped) <= 8:
        return "-".join(map(str, dropped))
    digest = hashlib.sha1(",".join(map(str, dropped)).encode()).hexdigest()[:10]
    return f"{len(dropped)}x{digest}"


def _drop_sets(epoch: list[Entry], rng: random.Random, per_epoch: int) -> list[tuple[int, ...]]:
    """Up to per_epoch distinct non-empty proper subsets of the epoch's indexes: all when they fit."""
    indexes = [e.index for e in epoch]
    n = len(indexes)
    if n < 2 or per_epoch <= 0:
        return []
    if n < 63 and (1 << n) - 2 <= per_epoch:
        return [c for k in range(1, n) for c in combinations(indexes, k)]
    seen: set[tuple[int, ...]] = set()
    picked: list[tuple[int, ...]] = []
    while len(picked) < per_epoch:
        dropped = tuple(sorted(rng.sample(indexes, rng.randint(1, n - 1))))
        if dropped not in seen:
            seen.add(dropped)
            picked.append(dropped)
    return picked


def reorder_states(log: BlockLog, rng: random.Random, per_epoch: int) -> list[CrashState]:
    """States that lose some unflushed writes: the prefix up to a flush (or the start) plus a random
    proper, non-empty subset of the following epoch's writes. Named "<flush state>-drop-<indexes>"."""
    states: list[CrashState] = []
    base = "start"
    for epoch, closing_flush in zip_longest(log.epochs(), log.flush_indexes()):
        for dropped in _drop_sets(epoch, rng, per_epoch):
            states.append(CrashState(f"{base}-drop-{_drop_label(dropped)}", epoch[-1].index + 1,
                                     frozenset(dropped)))
        if closing_flush is not None:
            base = f"flush-{closing_flush}"
    return states


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _zero(fd: int, offset: int, length: int) -> None:
    chunk = bytes(min(length, _ZERO_CHUNK))
    while length > 0:
        n = min(length, len(chunk))
        _pwrite_all(fd, chunk[:n] if n < len(chunk) else chunk, offset)
        offset, length = offset + n, length - n


def replay(log: BlockLog, base_image: Path, out_image: Path, state: CrashState) -> None:
    """Write out_image: base_image with the state's writes applied in log order (discards as zeros)."""
    if not 0 <= state.upto <= len(log.entries):
        raise ValueError(f"state {state.name}: upto {state.upto} outside 0..{len(log.entries)}")
    ss = log.sectorsize
    chosen = [e for e in log.entries[:state.upto] if e.changes_disk and e.index not in state.dropped]
    image_size = os.path.getsize(base_image)
    for e in chosen:
        if (e.sector + e.nr_sectors) * ss > image_size:
            raise LogError(f"{log.path}: entry {e.index} (sectors {e.sector}+{e.nr_sectors} of {ss} bytes) "
                           f"lies beyond the end of {base_image} ({image_size} bytes)")
    copy_image(base_image, out_image)
    with open(log.path, "rb") as logf, open(out_image, "r+b") as out:
        for e in chosen:
            length = e.nr_sectors * ss
            try:
                if e.is_discard:
                    _zero(out.fileno(), e.sector * ss, length)
                    continue
                data = os.pread(logf.fileno(), length, e.data_offset)
                if len(data) != length:
                    raise LogError(f"{log.path}: data of entry {e.index} is cut short")
                _pwrite_all(out.fileno(), data, e.sector * ss)
            except OSError as err:   # a full disk: name the image being written
                raise OSError(err.errno, err.strerror, str(out_image)) from None


def write_log(path: Path, sectorsize: int, entries: list[tuple[int, int, bytes]],
              claimed: int | None = None) -> None:
    """Write a log of (sector, flags, data) entries the way QEMU does (data_len 0). For a DISCARD,
    len(data) only gives the range and nothing is stored. `claimed` overrides the super's nr_entries."""
    if not _valid_sectorsize(sectorsize):
        raise ValueError(f"invalid sector size {sectorsize}")

    def padded(header: bytes) -> bytes:
        return header.ljust(sectorsize, b"\0")

    count = len(entries) if claimed is None else claimed
    with open(path, "wb") as f:
        f.write(padded(_SUPER.pack(MAGIC, VERSION, count, sectorsize)))
        for sector, flags, data in entries:
            if len(data) % sectorsize:
                raise ValueError(f"entry at sector {sector}: {len(data)} bytes is not whole sectors")
            f.write(padded(_ENTRY.pack(sector, len(data) // sectorsize, flags, 0)))
            if not flags & DISCARD:
                f.write(data)

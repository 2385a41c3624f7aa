"""Kernel coverage of fuzz inputs (KCOV): the PCs the agent wrote to the slot's disk, and the set of
PCs a campaign has reached.

The agent (firmware/agent/fuzzops.c, SISCTL_KCOV_OFFSET) writes after the file system, at
REGION_OFFSET of the disk: "SISKCOV1", u32 count, u32 truncated, u64 base, 8 bytes reserved, then
`count` u32 offsets from base, one per distinct PC, ascending.
"""
from __future__ import annotations

import os
import struct
import zlib
from array import array
from pathlib import Path

REGION_OFFSET = 3 << 20         # seeds end by 2 MiB; the disk is 4 MiB
REGION_BYTES = 1 << 20
HEADER = struct.Struct("<8sIIQ8x")
MAGIC = b"SISKCOV1"
NO_KCOV = "none: this kernel has no KCOV; the corpus keeps inputs with new outcome signatures instead"
OFF = "off (--coverage off): the corpus keeps inputs with new outcome signatures"


def clear_region(disk) -> None:
    """Forget the previous input's coverage (`disk` is an open r+b file)."""
    disk.seek(REGION_OFFSET)
    disk.write(bytes(HEADER.size))


def read_region(disk: Path) -> tuple[list[int], bool] | None:
    """The PCs the agent wrote and whether its buffer overflowed; None when there is no result."""
    with open(disk, "rb") as f:
        f.seek(REGION_OFFSET)
        head = f.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        magic, count, truncated, base = HEADER.unpack(head)
        if magic != MAGIC or count > (REGION_BYTES - HEADER.size) // 4:
            return None
        offsets = array("I")
        offsets.frombytes(f.read(4 * count))
    if len(offsets) != count:
        return None
    return [base + o for o in offsets], bool(truncated)


def pack(pcs) -> bytes:
    """A set of PCs, compactly (sorted u64 deltas, zlib)."""
    ordered = sorted(pcs)
    deltas = array("Q", (b - a for a, b in zip([0] + ordered, ordered)))
    return zlib.compress(deltas.tobytes(), 6)


def unpack(blob: bytes) -> list[int]:
    deltas = array("Q")
    deltas.frombytes(zlib.decompress(blob))
    out, total = [], 0
    for d in deltas:
        total += d
        out.append(total)
    return out


def save(path: Path, pcs) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(pack(pcs))
    os.replace(partial, path)


def load(path: Path) -> set[int]:
    try:
        return set(unpack(path.read_bytes()))
    except (FileNotFoundError, zlib.error):
        return set()


class CoverageSet:
    """The PCs reached so far; `add` tells how many of an input's PCs are new."""

    def __init__(self, pcs=()):
        self.pcs: set[int] = set(pcs)

    def add(self, pcs) -> int:
        before = len(self.pcs)
        self.pcs.update(pcs)
        return len(self.pcs) - before

    def __len__(self) -> int:
        return len(self.pcs)

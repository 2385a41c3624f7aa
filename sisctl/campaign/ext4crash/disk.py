"""Campaign disks: an ext4 image with a mark area after the file system, and host-side checks of it.

Layout: the file system fills the first FS_BYTES; after it, one 4 KiB block per
completed persistence call (written by `sisagent ops`) tells how far the
workload got before a crash.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from sisctl.image.ext4 import make_ext4

FS_BYTES = 32 << 20
MARK_BYTES = 8 << 20
DISK_BYTES = FS_BYTES + MARK_BYTES
MARK_SIZE = 4096
MARK_MAGIC = b"SISMARK1"


@dataclass(frozen=True)
class Mark:
    persist_index: int
    op_index: int


def make_base_image(path: Path) -> None:
    """A fresh ext4 on the first FS_BYTES of a DISK_BYTES image, fully initialised (no lazy init writes)."""
    make_ext4(path, FS_BYTES, DISK_BYTES)


def read_marks(image: Path) -> list[Mark]:
    """The marks present from index 0 on; the count is how many persistence calls completed."""
    marks: list[Mark] = []
    with open(image, "rb") as f:
        for n in range(MARK_BYTES // MARK_SIZE):   # each mark's head only: the area is 8 MiB
            f.seek(FS_BYTES + n * MARK_SIZE)
            block = f.read(20)
            if len(block) < 20 or block[:8] != MARK_MAGIC:
                break
            persist, op, crc = struct.unpack_from("<III", block, 8)
            if persist != n or crc != zlib.crc32(block[:16]):
                break
            marks.append(Mark(persist, op))
    return marks

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

from sisctl import proc

FS_BYTES = 32 << 20
MARK_BYTES = 8 << 20
DISK_BYTES = FS_BYTES + MARK_BYTES
MARK_SIZE = 4096
MARK_MAGIC = b"SISMARK1"

# e2fsck exit codes (a bit mask)
E2FSCK_MEANING = {0: "clean", 1: "errors fixed", 2: "errors fixed, reboot needed", 4: "errors left uncorrected",
                  8: "operational error", 16: "usage error", 32: "cancelled", 128: "shared library error"}


@dataclass(frozen=True)
class Mark:
    persist_index: int
    op_index: int


@dataclass(frozen=True)
class FsckResult:
    code: int
    output: str

    @property
    def clean(self) -> bool:
        return self.code == 0

    @property
    def meaning(self) -> str:
        return ", ".join(text for bit, text in E2FSCK_MEANING.items() if bit and self.code & bit) or "clean"


def make_base_image(path: Path) -> None:
    """A fresh ext4 on the first FS_BYTES of a DISK_BYTES image, fully initialised (no lazy init writes)."""
    with open(path, "wb") as f:
        f.truncate(DISK_BYTES)
    proc.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0",
              path, str(FS_BYTES // 4096)], timeout=60)


def read_marks(image: Path) -> list[Mark]:
    """The marks present from index 0 on; the count is how many persistence calls completed."""
    marks = []
    with open(image, "rb") as f:
        f.seek(FS_BYTES)
        area = f.read(MARK_BYTES)
    for n in range(len(area) // MARK_SIZE):
        block = area[n * MARK_SIZE:n * MARK_SIZE + 20]
        if block[:8] != MARK_MAGIC:
            break
        persist, op, crc = struct.unpack_from("<III", block, 8)
        if persist != n or crc != zlib.crc32(block[:16]):
            break
        marks.append(Mark(persist, op))
    return marks


def e2fsck(image: Path, timeout_s: float = 120) -> FsckResult:
    """`e2fsck -fn`: a read-only full check; the image must have been recovered (mounted) before."""
    done = proc.run(["e2fsck", "-fn", image], timeout=timeout_s, check=False)
    return FsckResult(done.returncode, (done.stdout + done.stderr).strip())

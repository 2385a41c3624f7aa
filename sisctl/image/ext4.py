"""ext4 images on the host: made fully initialised, checked read-only with e2fsck."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sisctl import proc

# e2fsck exit codes (a bit mask)
E2FSCK_MEANING = {0: "clean", 1: "errors fixed", 2: "errors fixed, reboot needed", 4: "errors left uncorrected",
                  8: "operational error", 16: "usage error", 32: "cancelled", 128: "shared library error"}


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


def make_ext4(path: Path, fs_bytes: int, image_bytes: int | None = None) -> None:
    """A fresh ext4 of `fs_bytes` at the start of an `image_bytes` file (no lazy init writes later)."""
    with open(path, "wb") as f:
        f.truncate(image_bytes or fs_bytes)
    proc.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0",
              path, str(fs_bytes // 4096)], timeout=60)


def make_ext4_with(path: Path, folder: Path, fs_bytes: int) -> None:
    """A fresh ext4 of `fs_bytes` holding a copy of `folder` (mkfs.ext4 -d)."""
    with open(path, "wb") as f:
        f.truncate(fs_bytes)
    proc.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", folder, path, str(fs_bytes // 4096)], timeout=120)


def e2fsck(image: Path, timeout_s: float = 120) -> FsckResult:
    """`e2fsck -fn`: a read-only full check; the image must have been recovered (mounted) before."""
    done = proc.run(["e2fsck", "-fn", image], timeout=timeout_s, check=False)
    return FsckResult(done.returncode, (done.stdout + done.stderr).strip())

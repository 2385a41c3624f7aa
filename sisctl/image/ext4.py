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


def read_files(image: Path, names: list[str], scratch: Path, timeout_s: float = 120) -> dict[str, bytes | None]:
    """The files `names` (absolute paths inside the file system) of an ext4 image, as debugfs reads
    them without mounting; None for one that is not there. One debugfs run for all of them."""
    if not names:
        return {}
    scratch.mkdir(parents=True, exist_ok=True)
    outs = {name: scratch / f"file-{i}" for i, name in enumerate(names)}
    for out in outs.values():
        out.unlink(missing_ok=True)
    for name in names:
        if any(c in name for c in "\"\\\n") or not name.startswith("/"):
            raise ValueError(f"not a plain absolute path: {name!r}")
    requests = "".join(f'dump "{name}" "{out}"\n' for name, out in outs.items())
    proc.run(["debugfs", "-f", "-", image], timeout=timeout_s, check=False, input=requests)
    return {name: out.read_bytes() if out.exists() else None for name, out in outs.items()}

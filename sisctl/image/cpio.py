"""Write gzip-compressed cpio archives in the kernel's 'newc' initramfs format."""
from __future__ import annotations

import gzip
import stat
from pathlib import Path


class CpioWriter:
    def __init__(self, path: Path):
        self._out = gzip.open(path, "wb", compresslevel=6)
        self._ino = 1

    def __enter__(self) -> "CpioWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _entry(self, name: str, mode: int, data: bytes = b"", nlink: int = 1,
               rdev: tuple[int, int] = (0, 0)) -> None:
        name_bytes = name.lstrip("/").encode() + b"\0"
        fields = [self._ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name_bytes), 0]
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + name_bytes + _pad(len(header) + len(name_bytes)))
        self._out.write(data + _pad(len(data)))

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode, nlink=2)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self) -> None:
        if self._out:
            self._entry("TRAILER!!!", 0)
            self._out.close()
            self._out = None


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)

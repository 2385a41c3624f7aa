"""What a QEMU binary supports, asked of the binary itself (once per binary per process)."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess


def find_binary(binary: str) -> str | None:
    """Full path of `binary` (a name on PATH or a path), or None if there is no such executable."""
    if "/" in binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return shutil.which(binary)


@functools.lru_cache(maxsize=8)
def machines(binary: str) -> frozenset[str]:
    """Machine names `binary -machine help` lists (aliases included)."""
    return frozenset(line.split()[0] for line in _help(binary, "-machine")[1:] if line.strip())


@functools.lru_cache(maxsize=8)
def cpus(binary: str) -> frozenset[str]:
    """CPU models `binary -cpu help` lists."""
    return frozenset(line.split()[0] for line in _help(binary, "-cpu")[1:]
                     if line.startswith(" ") and line.strip())


def _help(binary: str, option: str) -> list[str]:
    try:
        out = subprocess.run([binary, option, "help"], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.stdout.splitlines() if out.returncode == 0 else []

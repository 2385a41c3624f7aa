"""Where a result came from: kernel, board, emulator and tool versions."""
from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from sisctl import __version__


@functools.cache
def qemu_version(binary: str = "qemu-system-aarch64") -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def provenance(board: str, flashed, qemu_binary: str | None = None) -> dict:
    found = {"board": board, "kernel_version": flashed.kernel_version, "kernel_sha256": flashed.image_sha256,
             "build_id": flashed.build_id, "firmware": qemu_version(qemu_binary) if qemu_binary else "board",
             "sisctl_version": __version__}
    try:   # the manifest only: verifying the whole artifact here would hash it on every job
        source = json.loads((Path(flashed.artifact) / "manifest.json").read_text()).get("source")
    except (OSError, ValueError, TypeError, AttributeError):
        source = None   # the artifact is gone from the cache: its kernel's identity above still holds
    return {**found, **({"source": source} if source else {})}

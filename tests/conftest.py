"""Shared fixtures: isolated state and reports folders, the default kernel, a flashed board."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def qemu_processes_mentioning(text: str) -> list[int]:
    """PIDs of running QEMU processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-aarch64") and text.encode() in b" ".join(argv):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def lab_dirs(tmp_path_factory) -> dict[str, Path]:
    """Board state and reports of this test session live in a temporary folder (the build cache is shared)."""
    root = tmp_path_factory.mktemp("lab")
    dirs = {"state": root / "state", "reports": root / "reports"}
    os.environ["SISCTL_STATE"] = str(dirs["state"])
    os.environ["SISCTL_REPORTS"] = str(dirs["reports"])
    return dirs


@pytest.fixture(autouse=True, scope="module")
def no_orphan_qemu():
    """Every test module must leave no QEMU behind that it started."""
    yield
    state = os.environ.get("SISCTL_STATE")
    if state:
        left = qemu_processes_mentioning(state)
        assert not left, f"QEMU processes left running: {left}"

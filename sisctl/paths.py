"""Where sisctl keeps things: project files, the build cache, board state and reports."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Build cache (downloads, kernels, guest images); shared by all checkouts of a machine."""
    base = os.environ.get("SISCTL_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sisctl"
    return Path(base)


def state_dir() -> Path:
    """Board state: which artifact is flashed, VM snapshots, locks."""
    base = os.environ.get("SISCTL_STATE") or Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "sisctl"
    return Path(base)


def reports_dir() -> Path:
    return Path(os.environ.get("SISCTL_REPORTS") or PROJECT / "reports")


def boards_dir() -> Path:
    return PROJECT / "boards"


def recipes_dir() -> Path:
    return PROJECT / "firmware" / "recipes"


def unique_dir(parent: Path, name: str) -> Path:
    """Create and return parent/name, or parent/name-N if that exists already."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = parent / (name if n == 0 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent / name}: too many folders of that name")
